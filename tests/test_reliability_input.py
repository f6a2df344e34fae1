"""Bad input (issue 11): hostile or odd text from a link, a pasted spec or the run store reaches the pages only as
plain text (no live link, no image, no raw HTML, cut to pages.SHOWN_CHARS), never as a traceback; valid links
open the design they name."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import urlencode

import pytest
from streamlit.testing.v1 import AppTest

from explorer import ArchSpec, SpecError, cost
from explorer.models.presets import FAMILY_DEFAULTS
from pages import SHOWN_CHARS, plain

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120

PAYLOADS = {
    "link": "[x](http://evil)",
    "image": "![x](http://evil/p.png)",
    "html": "<img src=x onerror=alert(1)>",
    "autolink": "<http://evil> www.evil.com a@evil.com",
    "big": "A" * 100_000,
    "digits": "9" * 5000,
    "unicode": "ü\u202e\u200b 🐍 \u0000",
}
# What Markdown would turn into a link, an image or HTML, unescaped (a backslash before it makes it literal).
LIVE = re.compile(r"(?<!\\)\]\(|(?<!\\)<[a-zA-Z/!?]|(?<!\\)!(?<!\\)\[|https?://|www\.")


# GFM autolink literals, which backslash escapes do not stop (seen in Chromium): looked for after the escapes go.
AUTOLINK = re.compile(r"https?:|www\.|mailto:|xmpp:|[\w+-]@[\w-]+\.", re.IGNORECASE)


def unescape(markdown: str, *, joiners: bool = False) -> str:
    """The text a reader sees: escapes removed and, unless `joiners`, the word joiners plain() adds."""
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)
    return text if joiners else text.replace("\u2060", "")


def bodies(at: AppTest) -> list[str]:
    """The Markdown body of every element that renders Markdown (alerts, captions, markdown, text)."""
    kinds = ("error", "warning", "info", "success", "caption", "markdown", "text", "title", "header", "subheader")
    return [e.value for kind in kinds for e in getattr(at, kind) if isinstance(e.value, str)]


def assert_plain(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for body in bodies(at):
        assert not LIVE.search(body), body[:500]
        assert not AUTOLINK.search(unescape(body, joiners=True)), body[:500]
        assert len(body) < SHOWN_CHARS + 2000, len(body)  # a 100 kB value is cut


def open_page(page: str | None, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


# ---------------------------------------------------------------- the helper

@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_plain_shows_the_text_literally_and_cut(name):
    text = PAYLOADS[name]
    shown = plain(text)
    assert not LIVE.search(shown)
    assert not AUTOLINK.search(unescape(shown, joiners=True))
    expected = "".join(ch for ch in " ".join(text.split()) if unicodedata.category(ch)[0] != "C")
    expected = expected if len(expected) <= SHOWN_CHARS else expected[:SHOWN_CHARS] + "…"
    assert unescape(shown) == expected


def test_plain_keeps_no_line_structure():
    assert plain("a\n\n# heading\n    code\n- item") == r"a \# heading code \- item"


# ---------------------------------------------------------------- each page's query parameters

@pytest.mark.parametrize("name", sorted(PAYLOADS))
@pytest.mark.parametrize("field", ["family", "depth", "preset", "activation"])
def test_build_link_payloads_render_as_text(name, field):
    at = open_page("pages/build.py", {field: PAYLOADS[name]})
    assert_plain(at)
    assert any("The link's design is not valid" in w.value for w in at.warning)
    assert at.session_state["design"] == FAMILY_DEFAULTS["resnet"]


def test_build_link_with_a_markdown_link_shows_it_escaped():
    at = open_page("pages/build.py", {"family": "[x](http://evil)"})
    (warning,) = [w.value for w in at.warning]
    assert "\\[x\\]\\(http\u2060\\:\\/\\/evil\\)" in warning  # escaped, and a word joiner against autolinks
    assert "unknown value '[x](http://evil)'" in unescape(warning)


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_compare_link_payloads_render_as_text(name):
    at = open_page("pages/compare.py", {"designs": f"resnet20,{PAYLOADS[name]}",
                                        "custom": urlencode({"family": PAYLOADS[name]})})
    assert_plain(at)
    assert any("Ignored from the link" in w.value for w in at.warning)


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_lessons_link_payloads_render_as_text(name):
    at = open_page("pages/lessons.py", {"lesson": PAYLOADS[name]})
    assert_plain(at)


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_train_run_payloads_render_as_text(name, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=TIMEOUT)
    at.query_params["run"] = PAYLOADS[name]
    at.run()
    assert_plain(at)
    assert any("There is no run" in w.value for w in at.warning)


# ---------------------------------------------------------------- item 13: messages, not tracebacks

def test_the_classroom_config_hides_error_details_and_the_file_watcher():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["fileWatcherType"] == "none"


def test_a_design_over_the_budget_from_compare_does_not_break_build():
    custom = urlencode({"family": "wrn", "depth": "1000", "width_factor": "64"})
    at = open_page("pages/compare.py", {"designs": "resnet56", "custom": custom})
    assert not at.exception
    assert any("width_factor" in unescape(w.value) and "limit" in w.value for w in at.warning)
    at.switch_page("pages/build.py").run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_5000_digit_integer_in_pasted_json_is_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=TIMEOUT).run()
    at.radio(key="train_source").set_value("Paste JSON").run()
    at.text_area(key="train_json").set_value('{"family": "resnet", "depth": ' + "9" * 5000 + "}").run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = [e.value for e in at.error]
    assert error.startswith("This design is not valid.") and "thousands of digits" in error
    assert_plain(at)


def test_from_json_turns_a_huge_integer_into_a_spec_error():
    with pytest.raises(SpecError, match="thousands of digits"):
        ArchSpec.from_json('{"depth": ' + "1" * 5000 + "}")


# ---------------------------------------------------------------- item 14: valid links open what they name

@pytest.mark.parametrize("query", [
    {"family": "resnet", "base_width": "32"},
    {"family": "densenet", "compression": "0.01"},
    {"family": "wrn", "dropout": "0.97"},
    {"family": "highway", "depth": "500"},
])
def test_a_valid_link_opens_the_design_it_names(query):
    from explorer.models.urls import spec_from_params

    at = open_page("pages/build.py", query)
    assert not at.exception and not at.error and not at.warning, [e.value for e in at.error]
    assert at.session_state["design"] == spec_from_params(query)
    assert not any("moved to" in c.value for c in at.caption)


def test_a_deep_densenet_link_keeps_its_depth_and_says_why_it_cannot_be_shown():
    at = open_page("pages/build.py", {"family": "densenet", "depth": "1999"})  # 3n+4: valid, over the budget
    assert not at.exception
    assert at.sidebar.selectbox(key="b_depth").value == 1999
    assert not any("moved to" in c.value for c in at.caption)
    assert any("over the" in e.value and "limit" in e.value for e in at.error)


def test_an_unknown_run_says_the_newest_is_shown_instead(tmp_path, monkeypatch):
    from explorer import PRESETS
    from explorer.training.recipe import Recipe
    from explorer.training.runs import RunStore

    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    run_id, _ = RunStore(tmp_path / "runs").request(PRESETS["resnet20"], Recipe(dataset="synthetic", epochs=1))
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=TIMEOUT)
    at.query_params["run"] = "nope-1234"
    at.run()
    assert not at.exception
    assert any("no run 'nope-1234'" in unescape(w.value) and "newest" in w.value for w in at.warning)


# ---------------------------------------------------------------- item 15

@pytest.mark.parametrize("changes, field", [({"depth": [1]}, "depth"), ({"width_factor": {"k": 2}}, "width_factor"),
                                            ({"family": ["resnet"]}, "family")])
def test_cost_of_a_wrongly_typed_spec_is_a_spec_error(changes, field):
    with pytest.raises(SpecError, match=f"^{field}:"):
        cost(ArchSpec(**changes))


@pytest.mark.parametrize("name", ["link", "image", "html", "big", "unicode"])
def test_a_run_label_and_error_from_the_store_render_as_text(name, tmp_path, monkeypatch):
    import sqlite3

    from explorer import PRESETS
    from explorer.training.recipe import Recipe
    from explorer.training.runs import RunStore

    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    store = RunStore(tmp_path / "runs")
    run_id, _ = store.request(PRESETS["resnet20"], Recipe(dataset="synthetic", epochs=1))
    store.set_status(run_id, "failed", error=PAYLOADS[name])
    with sqlite3.connect(store.path) as db:  # as a hand-edited or rebuilt store could hold it
        db.execute("UPDATE runs SET label=? WHERE id=?", (PAYLOADS[name], run_id))
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=TIMEOUT)
    at.query_params["run"] = run_id
    at.run()
    assert_plain(at)
    assert any(e.value.startswith("Failed: ") for e in at.error)


def test_plain_drops_control_and_format_characters():
    assert plain("a\u0000b\u202ec\u200bd") == "abcd"
