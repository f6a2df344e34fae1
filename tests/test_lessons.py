"""AppTest: every lesson of pages/lessons.py renders, and the no-training lessons show their effect."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.lessons import LESSON_KEYS

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "lessons.py")


@pytest.fixture(autouse=True)
def empty_store(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))


def run_lesson(key: str, timeout: float = 120) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=timeout)
    at.query_params["lesson"] = key
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("key", LESSON_KEYS)
def test_every_lesson_renders(key: str) -> None:
    at = run_lesson(key)
    assert at.query_params["lesson"] == [key] or at.query_params["lesson"] == key
    assert at.header[0].value.split(". ", 1)[0].isdigit()


def test_unknown_lesson_falls_back() -> None:
    at = run_lesson("no-such-lesson")
    assert at.header[0].value == "2. Vanishing gradients"


def test_gradient_lesson_plain_sigmoid_vanishes() -> None:
    at = run_lesson("gradients")  # defaults: depth 56, sigmoid, Xavier, no BatchNorm
    metrics = {m.label: float(m.value) for m in at.metric}
    plain = metrics["plain-56: first layer / last layer gradient"]
    residual = metrics["ResNet-56: first layer / last layer gradient"]
    assert plain < 1e-10 < 0.05 < residual < 20


def test_budget_lesson_lists_the_paper_templates() -> None:
    at = run_lesson("budget")
    at.radio[0].set_value("imagenet").run()
    designs = list(at.dataframe[0].value["design"])
    assert designs == ["1x64d", "2x40d", "4x24d", "8x14d", "32x4d"]
