"""Languages (explorer.i18n, app.py, the catalogs): every marked string has a compiled Korean translation, the
URL's ?lang= and the switch pick the page's language, an unknown one is English, sessions keep their own, the CLI
reads LANG, and lazy text translates when shown."""

from __future__ import annotations

import gettext
import importlib.util
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from babel.messages import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po
from streamlit.testing.v1 import AppTest

from explorer import i18n
from explorer.i18n import _
from tests.test_browser import ARTIFACTS, _need, browser, free_port, server_url, wait_healthy  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 120
TEACHERS_KO = "**선생님께.**"  # the Home page's teachers' paragraph, in Korean
TEACHERS_EN = "**Teachers.**"


def load_catalogs_tool():
    """tools/catalogs.py, the script docs/i18n.md runs (a script, not a package: loaded from its file)."""
    spec = importlib.util.spec_from_file_location("catalogs", ROOT / "tools" / "catalogs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


catalogs = load_catalogs_tool()


def home(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


# ---------------------------------------------------------------- the catalogs

def test_the_scan_finds_the_apps_strings():
    marked = catalogs.marked()
    assert "Home" in marked and "Start here" in marked  # app.py's navigation and Home page
    assert all(not f.startswith(("/", ".venv")) for files in marked.values() for f in files)
    assert catalogs.languages() == ["ko"]
    assert set(catalogs.languages()) | {i18n.DEFAULT} == set(i18n.LANGUAGES)  # a catalog for every other language


@pytest.mark.parametrize("lang", ["ko"])
def test_every_catalog_compiles_and_reads_back(lang):
    mo = catalogs.compiles(lang)  # babel's compiler, as `pybabel compile`
    translations = gettext.GNUTranslations(io.BytesIO(mo))  # the reader the app uses
    assert translations.gettext("Home") == "홈"
    assert translations.info()["plural-forms"].startswith("nplurals=1")  # Korean: one form for every n


@pytest.mark.parametrize("lang", ["ko"])
def test_every_marked_string_is_translated_and_the_mo_is_current(lang):
    assert catalogs.problems(lang) == []


def test_the_check_catches_missing_fuzzy_empty_and_broken_translations(tmp_path, monkeypatch):
    catalog = Catalog(locale="ko")
    catalog.add("Home", "홈")
    catalog.add("Build", "설계", flags=["fuzzy"])
    catalog.add("Train", "")
    catalog.add("{n} layers", "{count}개 층")
    folder = tmp_path / "ko" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / "explorer.po", "wb") as f:
        write_po(f, catalog)
    stale = Catalog(locale="ko")
    stale.add("Home", "집")
    with open(folder / "explorer.mo", "wb") as f:
        write_mo(f, stale)
    monkeypatch.setattr(catalogs, "LOCALE", tmp_path)
    monkeypatch.setattr(catalogs, "ROOT", tmp_path)
    wanted = {m: ["app.py"] for m in ("Home", "Build", "Train", "{n} layers", "Compare")}
    found = "\n".join(catalogs.problems("ko", wanted))
    assert "missing (app.py): 'Compare'" in found
    assert "fuzzy, the English changed (app.py): 'Build'" in found
    assert "untranslated (app.py): 'Train'" in found
    assert "placeholders differ (app.py): '{n} layers'" in found
    assert "explorer.mo is out of date" in found
    assert "'Home'" not in found


def test_pybabel_compile_accepts_every_catalog_and_writes_the_committed_mo(tmp_path):
    """What CI must know: `pybabel compile` itself (not only our reader) takes every catalog without an error
    (it exits 1 on a broken entry), and what it writes is what is committed."""
    copy = tmp_path / "locale"
    for lang in catalogs.languages():
        (copy / lang / "LC_MESSAGES").mkdir(parents=True)
        (copy / lang / "LC_MESSAGES" / "explorer.po").write_bytes(catalogs.po_path(lang).read_bytes())
    status = CommandLineInterface().run(["pybabel", "-q", "compile", "-d", str(copy), "-D", "explorer"])
    assert status == 0
    for lang in catalogs.languages():
        with open(copy / lang / "LC_MESSAGES" / "explorer.mo", "rb") as fresh, \
                open(catalogs.po_path(lang).with_suffix(".mo"), "rb") as committed:
            assert dict(map(catalogs._entry, read_mo(fresh))) == dict(map(catalogs._entry, read_mo(committed)))


def test_the_check_tells_contexts_and_plurals_apart(tmp_path, monkeypatch):
    """A pgettext message is looked up with its context ("sweep state" queued is not the Train page's queued),
    and a plural's one Korean form counts as its translation."""
    marked = catalogs.marked()
    assert "sweep state\x04queued" in marked and "{n} point" in marked
    catalog = Catalog(locale="ko")
    catalog.add("queued", "대기열")  # the same English without the context
    catalog.add(("{n} point", "{n} points"), ("조합 {n}개",))
    folder = tmp_path / "ko" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / "explorer.po", "wb") as f:
        write_po(f, catalog)
    with open(folder / "explorer.mo", "wb") as f:
        write_mo(f, catalog)
    monkeypatch.setattr(catalogs, "LOCALE", tmp_path)
    monkeypatch.setattr(catalogs, "ROOT", tmp_path)
    found = catalogs.problems("ko", {"sweep state\x04queued": ["s.py"], "{n} point": ["s.py"]})
    assert found == ["missing (s.py): 'queued'; run `python tools/catalogs.py update`"]


# The library's messages: marked where they are raised, in Korean where the language is Korean, and the English
# exactly as before (tests across the suite match the English text).
LIBRARY_MESSAGES = [
    ("explorer/models/plans/base.py", "a CIFAR {name} has {step}n+{offset} layers"),  # SpecError, depth
    ("explorer/models/convert.py", "must be a whole number"),
    ("explorer/models/rules.py", "only applies to {names}; got {value!r} for {family}, reset it to {default!r}"),
    ("explorer/models/cost.py", "{label} {value} gives about {params:,.0f}M parameters, over the {limit:.0f}M limit; "
                                "{fix}"),
    ("explorer/training/cifar.py", "{dataset} file {path} has {images} images but {labels} labels; download it again"),
    ("explorer/training/limits.py", "Only the session that started a run can stop it: {whose}; {teacher}."),
    ("explorer/training/recipe.py", "the learning rate must be in (0, 10]"),
    ("explorer/training/cli.py", "error: {message}"),
    ("explorer/sweep/cli.py", "results written to {path}"),
]


@pytest.mark.parametrize("path, message", LIBRARY_MESSAGES)
def test_the_librarys_messages_are_marked(path, message):
    assert path in catalogs.marked().get(message, []), message


@pytest.mark.parametrize("data, english, korean", [
    ({"depth": 21}, "depth: a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56, 110, ...); got 21, try 20 or 26",
     "depth: CIFAR용 ResNet의 층 수는 6n+2입니다 (20, 32, 44, 56, 110, ...). 입력한 값은 21입니다. 20 또는 26으로 바꿔 보세요"),
    ({"depth": "20"}, "depth: must be a whole number; got '20'", "depth: 정수여야 합니다. 입력한 값은 '20'입니다"),
    ({"shortcut": "D"}, "shortcut: unknown value 'D'; choose from A, B, C",
     "shortcut: 알 수 없는 값 'D'입니다. 다음 중에서 고르세요: A, B, C"),
    ({"family": "fractalnet", "depth": 30},
     "depth: FractalNet depth is B x 2^(C-1) = 20 for B=5, C=3; got 30, set depth to 20 or change B and C",
     "depth: FractalNet의 깊이는 B x 2^(C-1)이므로 B=5, C=3이면 20입니다. 입력한 값은 30입니다. depth를 20으로 바꾸거나 B와 C를 "
     "바꾸세요"),
])
def test_a_spec_error_speaks_the_current_language(data, english, korean):
    from explorer.models.spec import ArchSpec, SpecError
    for lang, expected in (("en", english), ("ko", korean), ("en", english)):  # and back: nothing sticks
        with i18n.using(lang), pytest.raises(SpecError) as err:
            ArchSpec.from_dict(data)
        assert str(err.value) == expected
        assert err.value.field == expected.split(":")[0]  # the field stays English: the URL's and the JSON's name


@pytest.mark.parametrize("text, expected", [
    ("20 또는 26(으)로", "20 또는 26으로"), ("0.5(으)로", "0.5로"), ("10(으)로", "10으로"), ("1(으)로", "1로"),
    ("'cifar'(으)로", "'cifar'로"), ("'basic'(으)로", "'basic'으로"), ("'original'(으)로", "'original'로"),
    ("B(으)로", "B로"), ("JSON을(를)", "JSON을"), ("GPU이(가)", "GPU가"), ("깊이을(를)", "깊이를"),
    ("CIFAR-10이(가)", "CIFAR-10이"), ("resnet20(으)로", "resnet20으로"), ("'x'은(는)", "'x'는"),
    ("'full_preact'(으)로", "'full_preact'(으)로"),  # not certain how it is read: both forms stay
    ("sweep-a_b을(를)", "sweep-a_b을(를)"), ("(으)로", "(으)로"), ("no particles (here)", "no particles (here)"),
])
def test_korean_particles_follow_the_value_before_them(text, expected):
    assert i18n.particles(text) == expected


def test_limits_and_recipes_speak_korean():
    from explorer.training import limits
    from explorer.training.recipe import Recipe
    with i18n.using("ko"):
        with pytest.raises(ValueError) as err:
            limits.check_cost(epochs=10**6, images=50_000, device="cpu")
        assert "epoch을 학습하면" in str(err.value) and "EXPLORER_MAX_IMAGE_EPOCHS_CPU" in str(err.value)
        with pytest.raises(ValueError) as err:
            Recipe.from_dict({"lr": 50.0})
        assert str(err.value) == "lr: 학습률은 (0, 10] 범위여야 합니다. 입력한 값은 50.0입니다. 0.1로 바꿔 보세요"


def test_placeholders_are_str_format_fields():
    assert catalogs.fields("{n} layers of {width:.1f}") == {"n", "width"}
    assert catalogs.fields("50% {") == set()


# ---------------------------------------------------------------- the library

def test_translation_follows_the_context_and_an_explicit_language():
    assert i18n.language() == "en" and _("Home") == "Home"
    with i18n.using("ko"):
        assert _("Home") == "홈"
        assert _("Home", lang="en") == "Home"
        assert _("a message nobody marked") == "a message nobody marked"  # English where none exists
        assert i18n.ngettext("{n} block", "{n} blocks", 2) == "{n} blocks"  # no catalog entry: English plural
    assert _("Home") == "Home"
    with pytest.raises(ValueError, match="lang: one of en, ko; got 'fr'"):
        i18n.set_language("fr")


LABEL = i18n.lazy_gettext("Home")  # defined at import, as a field table's label is
MARKED = i18n.N_("Build")


def test_text_defined_at_import_translates_when_shown():
    with i18n.using("ko"):
        assert str(LABEL) == "홈" and f"[{LABEL}]" == "[홈]" and LABEL + "!" == "홈!"
        assert _(LABEL) == "홈" and _(MARKED) == "설계"
    assert str(LABEL) == "Home" and MARKED == "Build"
    assert LABEL == i18n.L_("Home") and hash(LABEL) == hash("Home")  # the same in every language
    assert LABEL != "Home"  # never mistaken for the English str it is not


def test_where_the_context_sets_none_the_sessions_reader_decides():
    """A Streamlit fragment's rerun runs in a fresh thread without app.py: the language comes from the reader
    app.py registers (its session state), one per session, here one per thread."""
    session = threading.local()
    seen = {}

    def fragment(lang: str) -> None:
        session.lang = lang  # what st.session_state holds for this thread's session
        seen[lang] = (i18n.language(), _("Home"))

    i18n.set_session_language(lambda: getattr(session, "lang", None))
    try:
        for lang in ("ko", "en"):
            t = threading.Thread(target=fragment, args=(lang,))
            t.start()
            t.join()
        assert seen == {"ko": ("ko", "홈"), "en": ("en", "Home")}
        assert i18n.language() == "en"  # this thread's session has none
        with i18n.using("ko"):
            session.lang = "en"
            assert i18n.language() == "ko"  # a language set in the context wins
        session.lang = "fr"
        assert i18n.language() == "en"  # an unsupported one is English
    finally:
        i18n.set_session_language(None)


def test_two_threads_keep_their_own_language():
    """Streamlit runs each session in its own thread: one visitor's Korean must not reach another's page."""
    barrier = threading.Barrier(2)
    seen: dict[str, list[str]] = {}

    def session(lang: str) -> None:
        i18n.set_language(lang)
        barrier.wait()  # both have set theirs before either reads
        seen[lang] = [_("Home") for _i in range(200)]

    threads = [threading.Thread(target=session, args=(lang,)) for lang in ("ko", "en")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(seen["ko"]) == {"홈"} and set(seen["en"]) == {"Home"}
    assert i18n.language() == "en"  # nor the test's own thread


@pytest.mark.parametrize("tag, lang", [
    ("ko", "ko"), ("KO", "ko"), ("ko-KR", "ko"), ("ko_KR.UTF-8", "ko"), ("en-US", "en"), ("en@quot", "en"),
    ("fr", None), ("C", None), ("POSIX", None), ("", None), ("korean", None), (None, None), (["ko"], None),
])
def test_normalize(tag, lang):
    assert i18n.normalize(tag) == lang


@pytest.mark.parametrize("header, lang", [
    ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
    ("en-US,en;q=0.9,ko;q=0.8", "en"),
    ("fr-FR,fr;q=0.9,ko;q=0.5", "ko"),  # the best one we have
    ("en;q=0.4, ko;q=0.6", "ko"),  # quality, not order, decides
    ("ko;q=0, en;q=0.1", "en"),  # q=0: not acceptable
    ("fr, de", None), ("", None), (None, None), ("ko;q=abc", None), ("*", None),
])
def test_accept_language(header, lang):
    assert i18n.from_accept_language(header) == lang


def test_browser_language_prefers_navigator_language_then_the_header():
    assert i18n.from_browser("ko-KR", "en-US") == "ko"
    assert i18n.from_browser(None, "ko-KR,ko;q=0.9") == "ko"
    assert i18n.from_browser("fr-FR", "de") == "en"


@pytest.mark.parametrize("environ, lang", [
    ({"LANG": "ko_KR.UTF-8"}, "ko"),
    ({"LC_ALL": "ko_KR.UTF-8", "LANG": "en_US.UTF-8"}, "ko"),
    ({"LC_ALL": "C", "LANG": "ko_KR.UTF-8"}, "en"),  # the first one set decides, as gettext reads them
    ({"LANGUAGE": "fr:ko", "LANG": "en_US.UTF-8"}, "ko"),
    ({"LANGUAGE": "", "LC_MESSAGES": "ko_KR"}, "ko"),
    ({"LANG": "C.UTF-8"}, "en"), ({}, "en"),
])
def test_cli_language_from_the_environment(environ, lang):
    assert i18n.from_environ(environ) == lang


def run_cli(module: str, args: list[str], lang: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in i18n.ENVIRON_KEYS} | {
        "LANG": lang, "EXPLORER_RUNS_DIR": str(tmp_path / "runs"), "EXPLORER_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


def test_the_training_cli_under_lang_ko_prints_the_korean_spec_error(tmp_path):
    """`LANG=ko_KR.UTF-8 python -m explorer.training --spec bad.json`: the SpecError in Korean, nothing trained."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"family": "resnet", "depth": 21}')
    korean = run_cli("explorer.training", ["--spec", str(bad)], "ko_KR.UTF-8", tmp_path)
    assert korean.returncode == 2, korean.stderr
    assert korean.stdout.strip() == ("오류: depth: CIFAR용 ResNet의 층 수는 6n+2입니다 (20, 32, 44, 56, 110, ...). "
                                     "입력한 값은 21입니다. 20 또는 26으로 바꿔 보세요")
    english = run_cli("explorer.training", ["--spec", str(bad)], "C.UTF-8", tmp_path)
    assert english.stdout.strip() == ("error: depth: a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56, 110, ...); "
                                      "got 21, try 20 or 26")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # refused before any run


def test_the_sweep_cli_under_lang_ko_speaks_korean(tmp_path):
    out = run_cli("explorer.sweep", ["--vary", "depth"], "ko_KR.UTF-8", tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stdout.strip() == ("오류: vary: FIELD=V1,V2,... 형식이어야 합니다. 입력한 값은 'depth'입니다. "
                                  "예: depth=20,32,44")


def test_a_cli_process_under_lang_ko_speaks_korean():
    code = "from explorer import i18n; i18n.set_language(i18n.from_environ()); print(i18n._('Train'))"
    env = {k: v for k, v in os.environ.items() if k not in i18n.ENVIRON_KEYS} | {"LANG": "ko_KR.UTF-8"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "학습"


# ---------------------------------------------------------------- the app

def test_lang_ko_in_the_link_opens_home_in_korean():
    at = home({"lang": "ko"})
    assert TEACHERS_KO in markdown(at) and TEACHERS_EN not in markdown(at)
    assert [s.value for s in at.subheader] == ["논문의 계보: 어떤 논문이 어떤 논문으로 이어졌나", "여기서 시작하세요"]
    assert at.button_group(key="lang").value == "ko"
    assert at.query_params["lang"] == "ko"  # still in the URL after the run, for the teacher to copy


@pytest.mark.parametrize("value", ["xx", "", "ko<script>", "en"])
def test_an_unknown_lang_is_english_without_an_error(value):
    at = home({"lang": value})
    assert TEACHERS_EN in markdown(at) and not at.error
    assert "lang" not in at.query_params  # English for an English browser: the URL stays clean


def test_no_lang_and_no_browser_language_is_english_and_adds_nothing_to_the_url():
    at = home()
    assert TEACHERS_EN in markdown(at) and at.button_group(key="lang").value == "en"
    assert dict(at.query_params) == {}


def test_the_switch_changes_the_language_and_the_url_and_pages_keep_it():
    at = home()
    at.button_group(key="lang").set_value("ko").run()
    assert TEACHERS_KO in markdown(at) and at.query_params["lang"] == "ko"
    at.switch_page("pages/build.py")
    at.run()  # Build writes its own parameters (preset=...) and must neither drop the language nor choke on it
    assert not at.exception and not at.error
    assert dict(at.query_params) == {"preset": "resnet20", "lang": "ko"}
    # AppTest serialises the widgets with their format_func in this thread: in the page's language (Korean)
    with i18n.using("ko"):
        at.button_group(key="lang").set_value("en").run()
    assert dict(at.query_params) == {"preset": "resnet20"}


def test_the_session_keeps_its_language_on_every_page_when_the_link_has_none():
    at = home()
    at.button_group(key="lang").set_value("ko").run()
    for page in ("pages/build.py", "pages/compare.py"):
        at.query_params.clear()  # a click in the sidebar opens the page with none of the old parameters
        at.switch_page(page)
        with i18n.using("ko"):  # AppTest serialises the Korean page's widgets with their format_func here
            at.run()
        assert not at.exception
        assert at.button_group(key="lang").value == "ko" and at.query_params["lang"] == "ko", page


def test_a_stale_link_does_not_undo_the_switch():
    at = home({"lang": "ko"})
    at.button_group(key="lang").set_value("en").run()  # the URL still said ko when the switch moved
    assert TEACHERS_EN in markdown(at) and "lang" not in at.query_params


def test_two_sessions_keep_their_own_language():
    korean, english = AppTest.from_file(APP, default_timeout=TIMEOUT), AppTest.from_file(APP, default_timeout=TIMEOUT)
    korean.query_params["lang"] = "ko"
    korean.run()
    english.run()
    korean.run()
    english.run()
    assert TEACHERS_KO in markdown(korean) and TEACHERS_EN in markdown(english)
    assert i18n.language() == "en"  # the sessions' threads did not set the test's


# ---------------------------------------------------------------- in a real browser

@pytest.mark.browser
@pytest.mark.parametrize("path, locale, name", [
    ("/?lang=ko", "en-US", "home_ko_link.png"),  # the teacher's link, on an English machine
    ("/", "ko-KR", "home_ko_browser.png"),  # no lang in the link: a Korean browser's language
])
def test_home_in_korean_in_chromium(browser, server_url, path, locale, name):  # noqa: F811 (fixtures)
    context = browser.new_context(viewport={"width": 1280, "height": 1500}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(server_url + path)
    page.get_by_text("선생님께.").wait_for()
    page.locator('[data-testid="stGraphVizChart"] svg g.node').first.wait_for()
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "설계" in nav and "수업" in nav, nav
    page.wait_for_function("() => window.location.search.includes('lang=ko')")  # a copied link keeps it
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    context.close()
    # Without a font that has Hangul, Chromium and graphviz draw every Korean letter as a box.
    fonts = subprocess.run(["fc-list", ":lang=ko"], capture_output=True, text=True).stdout
    _need(bool(fonts.strip()), "no Korean font (Debian: fonts-noto-cjk)")


FRAGMENT_APP = """
import streamlit as st
from explorer import i18n
st.session_state.setdefault("lang", i18n.from_query(st.query_params.get("lang")))
i18n.set_language(st.session_state["lang"])
i18n.set_session_language(lambda: st.session_state.get("lang"))  # as app.py does

@st.fragment
def part():
    st.button("again")
    st.write("fragment: " + i18n._("Home"))

part()
"""


@pytest.mark.browser
def test_a_fragments_rerun_keeps_the_sessions_language(browser, tmp_path):  # noqa: F811 (fixture)
    """Seen without the reader: the page said 'fragment: 홈', then 'fragment: Home' after the fragment's rerun
    (Streamlit runs it in a new thread, without the script's top). The pages' run_every fragments do this."""
    script = tmp_path / "fragment_app.py"
    script.write_text(FRAGMENT_APP)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true", "--server.port",
         str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server)
        page = browser.new_page()
        page.set_default_timeout(90_000)
        page.goto(f"{url}/?lang=ko")
        page.get_by_text("fragment: 홈").wait_for()
        for _i in range(3):
            page.get_by_role("button", name="again").click()
            page.wait_for_timeout(700)
        assert page.get_by_text("fragment: 홈").count() == 1 and page.get_by_text("fragment: Home").count() == 0
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_merge_puts_a_translators_json_into_the_catalog_and_names_what_it_cannot(tmp_path, monkeypatch):
    locale = tmp_path / "locale"
    (locale / "ko" / "LC_MESSAGES").mkdir(parents=True)
    (locale / "ko" / "LC_MESSAGES" / "explorer.po").write_bytes(catalogs.po_path("ko").read_bytes())
    monkeypatch.setattr(catalogs, "LOCALE", locale)
    some = next(m for m in catalogs.read_catalog("ko") if m.id and isinstance(m.id, str) and not m.context)
    assert catalogs.merge("ko", {some.id: "새 번역", "no such text": "x"}) == ["no such text"]
    merged = catalogs.read_catalog("ko")[some.id]
    assert merged.string == "새 번역" and "fuzzy" not in merged.flags
