"""AppTest: every lesson of pages/lessons.py renders, and the no-training lessons show their effect."""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import i18n
from explorer.lessons import LESSON_KEYS, lesson
from explorer.models.published import table

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "lessons.py")


@pytest.fixture(autouse=True)
def empty_store(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    from pages.lesson_views import no_training

    no_training.speed_bench.clear()  # the server-wide speeds: one test's fake speeds are not another's


def run_lesson(key: str, timeout: float = 120) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=timeout)
    at.query_params["lesson"] = key
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# What each lesson must show with an empty run store: its controls, its result (or the reference table that
# stands in until the class has runs) and its charts (Altair, counted as vega-lite elements).
SHOWS: dict[str, tuple[set[str], int]] = {
    "degradation": ({"button: Queue plain-20, plain-56, ResNet-20, ResNet-56", "subheader: The paper's numbers",
                     "column: train error, seed 0 (%)", "column: published test error (%)"}, 0),
    "gradients": ({"metric: plain-56: first layer / last layer gradient",
                   "metric: ResNet-56: first layer / last layer gradient", "widget: Initialization"}, 2),
    "shortcut": ({"subheader: Table 1: what the shortcut does (ResNet-110)", "column: open",
                  "subheader: Table 2: where BN and ReLU sit (ResNet-110 and ResNet-164)",
                  "button: Queue short runs of the chosen rows"}, 0),
    "budget": ({"subheader: Budget calculator", "column: vs target", "column: images/s (this CPU)",
                "button: Measure training speed on this machine", "widget: Show error against multiply-adds"}, 1),
    "forms": ({"metric: Max |difference| between outputs", "column: max |difference| to (c)",
               "widget: Template C x d"}, 1),
    "shake": ({"column: gradient to F1 (measured)", "column: 2x96d", "button: Play 20 steps",
               "widget: Training step (move it to step through)"}, 1),
    "lesion": ({"column: mean with one block deleted (%)", "button: Queue short runs of ResNet-56 and plain-20"},
               0),
    "dense": ({"subheader: Parameters against error", "column: activations per image (MB)",
               "widget: Growth rate k"}, 4),
    "imagenet": ({"subheader: ImageNet: the paper's errors, the app's counts", "column: top-1 error (%)",
                  "column: multiply-adds", "column: paper (%)", "button: Queue short runs of the chosen designs"}, 1),
    "wrn": ({"subheader: Table 4: error (%) by depth and width k", "column: images/s (this CPU)",
             "column: CIFAR-10 + dropout (%)", "button: Measure training speed of the small designs on this machine",
             "button: Cancel", "widget: Dataset"}, 1),
    "cardinality": ({"metric: Largest parameter difference to 1x64d", "column: top-1 error (%)",
                     "column: params vs 1x64d", "widget: Network"}, 1),
    "highway": ({"metric: Mean T(x) at initialization", "button: Train both for 30 steps (at most 20 s)",
                 "widget: Depth (layers)", "widget: BatchNorm inside H", "column: CIFAR-10 error (%)"}, 1),
    "stochastic": ({"metric: Blocks per training step, on average", "widget: p_L (survival of the last block)",
                    "column: CIFAR-10, stochastic (%)", "button: Queue both runs"}, 1),
}


def shown(at: AppTest) -> set[str]:
    """Every label on the page, each prefixed by what kind of element carries it."""
    widgets = [*at.radio, *at.selectbox, *at.select_slider, *at.slider, *at.toggle, *at.number_input,
               *at.multiselect]
    return ({f"subheader: {h.value}" for h in at.subheader} | {f"metric: {m.label}" for m in at.metric}
            | {f"button: {b.label}" for b in at.button} | {f"widget: {w.label}" for w in widgets}
            | {f"column: {c}" for t in [*at.table, *at.dataframe] for c in t.value.columns})


def test_every_lesson_has_an_expectation() -> None:
    assert set(SHOWS) == set(LESSON_KEYS)


@pytest.mark.parametrize("key", LESSON_KEYS)
def test_every_lesson_renders(key: str) -> None:
    torch.manual_seed(1234)  # a state no lesson's own seed reproduces
    random.seed(1234)
    rng = torch.get_rng_state(), random.getstate()
    at = run_lesson(key)
    assert torch.equal(torch.get_rng_state(), rng[0]) and random.getstate() == rng[1]  # the server's, shared
    item = lesson(key)
    assert at.query_params["lesson"] == key
    assert [h.value for h in at.header] == [item.title]
    assert at.markdown[0].value == f"**Question for the class:** {item.question}"
    assert any(c.value.startswith("Source: ") for c in at.caption)  # every lesson cites its paper
    expected, charts = SHOWS[key]
    assert expected - shown(at) == set()
    assert len(at.get("vega_lite_chart")) == charts


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
    designs = list(at.table[0].value["design"])
    assert designs == ["1x64d", "2x40d", "4x24d", "8x14d", "32x4d"]


def test_forms_lesson_shows_agreement() -> None:
    at = run_lesson("forms")
    metric = next(m for m in at.metric if m.label.startswith("Max |difference|"))
    assert float(metric.value) < 1e-12


def test_shortcut_lesson_links_rows_to_the_build_page() -> None:
    at = run_lesson("shortcut")
    links = list(at.dataframe[0].value["open"])
    assert len(links) == 11
    assert links[0] == "/build?preset=resnet110"
    assert "shortcut_variant=constant_scaling" in links[1]


@pytest.fixture()
def tiny_trained_runs(tmp_path, monkeypatch) -> dict[str, str]:
    """Two tiny runs trained in this process by the real engine on synthetic data, with checkpoints."""
    from explorer import PRESETS
    from explorer.training.recipe import Recipe
    from explorer.training.runs import RunStore
    from explorer.training.worker import execute

    root = tmp_path / "trained"
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(root))
    store = RunStore(root)
    recipe = Recipe(dataset="synthetic", epochs=1, train_size=256, batch_size=64)
    ids = {}
    for name in ("resnet20", "plain20"):
        run_id, _ = store.request(PRESETS[name].replace(depth=8), recipe)
        assert execute(store, run_id, device="cpu") == "finished"
        assert store.checkpoint_path(run_id).exists()
        ids[name] = run_id
    return ids


@pytest.mark.slow
def test_lesion_lesson_runs_on_a_tiny_trained_run(tiny_trained_runs: dict[str, str]) -> None:
    at = run_lesson("lesion")
    assert set(at.multiselect[0].value) == set(tiny_trained_runs.values())
    deadline = time.monotonic() + 60  # a study past lesion.WAIT_SECONDS finishes in the background: rerun for it
    while not any("run" in t.value.columns and len(t.value) == 2 for t in at.table):  # one study, then the other
        assert time.monotonic() < deadline, "the lesion study never finished"
        time.sleep(1)
        at.run()
    tables = [t.value for t in at.table]
    reference = next(t for t in tables if "blocks" in t.columns)  # our own runs, from assets/measured.json
    assert list(reference["net"]) == ["ResNet-56", "ResNet-20", "plain-20"]
    summary = next(t for t in tables if "run" in t.columns)
    assert len(summary) == 2
    assert ((summary["worst"] >= 0) & (summary["worst"] <= 100)).all()
    assert sum(w.value.startswith("Under-trained") for w in at.warning) == 2  # one epoch each: both are warned of


def displayed(table) -> pd.DataFrame:
    """What an st.table shows in the browser: its Styler's display values (st.table renders them as Markdown)."""
    return pa.ipc.open_stream(table.proto.arrow_data.styler.display_values).read_all().to_pandas()


def measured_speeds(at: AppTest) -> AppTest:
    """Wait for the budget lesson's background measurement, then draw the page once more."""
    at.session_state["budget_measurement"].future.result(timeout=60)
    return at.run()


def test_budget_speed_button_puts_each_designs_speed_in_its_row(monkeypatch) -> None:
    from explorer.lessons import budget

    timed = []

    def fake_speed(spec, **kw):  # a distinct speed per design, so a row showing another row's speed fails
        timed.append(spec)
        return 1000.0 / (spec.cardinality if spec.family == "resnext" else spec.width_factor + 100)

    monkeypatch.setattr(budget, "images_per_second", fake_speed)
    at = run_lesson("budget")
    next(b for b in at.button if b.label.startswith("Measure training speed")).click().run()
    measured_speeds(at)
    assert not at.exception
    families = [spec.family for spec in timed]
    assert families.count("resnext") == 5 and families.count("wrn") >= 1
    templates, pairs = at.table[0].value, at.table[1].value
    speeds = dict(zip(templates["design"], templates["images/s (this CPU)"]))
    assert speeds["1x64d"] == pytest.approx(1000.0) and speeds["32x4d"] == pytest.approx(31.25)
    for design, shown in zip(pairs["design"], pairs["images/s (this CPU)"]):
        k = int(design.split("-")[2])
        assert shown == pytest.approx(1000.0 / (k + 100))
    assert not at.warning
    assert any("Multiply-adds per second range from" in c.value for c in at.caption)


def test_budget_speed_button_refuses_to_time_designs_too_large_for_a_cpu(monkeypatch) -> None:
    from explorer.lessons import budget

    timed = []
    monkeypatch.setattr(budget, "images_per_second", lambda spec, **kw: timed.append(spec) or 100.0)
    at = run_lesson("budget")
    at.number_input[0].set_value(50_000.0).run()  # 50G multiply-adds per image
    at.radio[1].set_value("macs").run()
    at.number_input[0].set_value(50_000.0).run()
    next(b for b in at.button if b.label.startswith("Measure training speed")).click().run()
    measured_speeds(at)
    assert not at.exception
    assert timed == []
    assert at.table[0].value["images/s (this CPU)"].isna().all()
    warning = at.warning[0].value
    assert warning.startswith("Not timed: 1x") and warning.count("too large to time here") == 5


def test_degradation_button_queues_four_runs_once(monkeypatch) -> None:
    from explorer.lessons import classruns

    launched = []
    monkeypatch.setattr(classruns, "launch", lambda store, run_id: launched.append(run_id))  # no worker processes
    at = run_lesson("degradation")
    reference = next(t.value for t in at.table if "seed 1 (%)" in t.value.columns)  # assets/measured.json
    assert list(reference["net"]) == ["plain-20", "plain-56", "ResNet-20", "ResNet-56"]
    button = next(b for b in at.button if b.label.startswith("Queue plain-20"))
    button.click().run()
    assert not at.exception
    assert len(launched) == 4
    status = at.dataframe[0].value
    assert list(status["net"]) == ["plain-20", "plain-56", "ResNet-20", "ResNet-56"]
    assert set(status["status"]) == {"queued"}
    next(b for b in at.button if b.label.startswith("Queue plain-20")).click().run()
    assert "reusing the identical runs" in " ".join(s.value for s in at.success)


# ------------------------------------------------------------------------------------ lessons 9-13 (issue 10)
def _row(name: str, key: str) -> dict:
    return next(r for r in table(name) if r["key"] == key)


def test_imagenet_lesson_shows_tables_2_and_3_and_queues_the_cifar_analogue(monkeypatch) -> None:
    from explorer.lessons import classruns

    launched = []
    monkeypatch.setattr(classruns, "launch", lambda store, run_id: launched.append(run_id))
    at = run_lesson("imagenet")
    shown = at.table[0].value.set_index("net")["top-1 error (%)"]
    assert shown["plain-34"] == _row("imagenet_table3", "plain34")["top1_error"]
    assert shown["ResNet-34 C"] == _row("imagenet_table3", "resnet34_C")["top1_error"]
    assert "worse than plain-18" in at.info[0].value
    next(b for b in at.button if b.label == "Queue short runs of the chosen designs").click().run()
    assert not at.exception and len(launched) == 5
    status = at.dataframe[-1].value
    assert list(status["net"]) == ["plain-20", "plain-56", "ResNet-56 A", "ResNet-56 B", "ResNet-56 C"]
    assert status.set_index("net").loc["ResNet-56 B", "paper (%)"] == "not in the paper"


def test_wrn_lesson_measures_only_the_small_designs(monkeypatch) -> None:
    from explorer.lessons import wrn

    timed = []

    def fake_speed(depth: int, k: int) -> float:  # distinct per design: a row showing another's speed fails
        timed.append((depth, k))
        return 1000.0 / (depth * k)

    monkeypatch.setattr(wrn, "speed", fake_speed)
    at = run_lesson("wrn")
    next(b for b in at.button if b.label.startswith("Measure training speed")).click().run()
    assert not at.exception
    table = next(t.value for t in at.table if "images/s (this CPU)" in t.value.columns).set_index("design")
    assert table.loc["WRN-40-1", "images/s (this CPU)"] == f"{1000.0 / 40:,.1f}"
    assert table.loc["WRN-28-10", "images/s (this CPU)"] == "too large for a CPU" and (28, 10) not in timed
    assert "WRN-28-10" in at.info[0].value  # the verdict names the best net of the grid


def test_cardinality_lesson_switches_to_resnext101() -> None:
    at = run_lesson("cardinality")
    assert at.table[0].value["top-1 error (%)"].iloc[0] == _row("resnext_templates", "resnet50_1x64d")["top1_error"]
    at.radio[0].set_value(101).run()
    assert not at.exception
    frame = at.table[0].value
    assert frame["top-1 error (%)"].iloc[-1] == _row("resnext_templates", "resnext101_32x4d")["top1_error"]
    assert "of equal complexity" in at.info[0].value and "ResNet-101" in at.info[0].value


def test_highway_lesson_follows_the_bias_and_trains_in_seconds(monkeypatch) -> None:
    from pages.lesson_views import papers

    monkeypatch.setattr(papers, "HIGHWAY_STEPS", 2)
    at = run_lesson("highway")
    before = float(next(m for m in at.metric if m.label.startswith("Mean T(x)")).value)
    at.select_slider[0].set_value(10).run()
    at.select_slider[1].set_value(0.0).run()
    after = float(next(m for m in at.metric if m.label.startswith("Mean T(x)")).value)
    assert before < 0.3 < after < 0.7  # b_T = -2, then 0
    next(b for b in at.button if b.label.startswith("Train both")).click().run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 2  # gates (init and after) and the loss curves
    assert "After 2 steps" in at.info[0].value
    assert at.table[0].value["CIFAR-10 error (%)"].iloc[0] == _row("highway", "highway19")["error"]


def test_stochastic_lesson_reads_its_probabilities_and_queues_with_and_without(monkeypatch) -> None:
    from explorer.lessons import classruns

    launched = []
    monkeypatch.setattr(classruns, "launch", lambda store, run_id: launched.append(run_id))
    at = run_lesson("stochastic")
    assert at.table[0].value.set_index("model").loc["ResNet-110", "CIFAR-10, stochastic (%)"] == \
        _row("stochastic_depth", "resnet110")["c10_stochastic"]
    at.slider[0].set_value(1.0).run()
    metric = next(m for m in at.metric if m.label.startswith("Blocks per training step"))
    assert metric.value == "54.0 (100%)"  # p_L = 1: no block is ever dropped
    at.slider[0].set_value(0.5).run()
    at.radio[0].set_value(110).run()
    next(b for b in at.button if b.label == "Queue both runs").click().run()
    assert not at.exception and len(launched) == 2
    status = at.dataframe[-1].value.set_index("net")
    assert status.loc["ResNet-110, p_L = 0.5", "paper (%)"] == f"{_row('stochastic_depth', 'resnet110')['c10_stochastic']:.2f}"


def test_wrn_cancel_keeps_what_was_timed_and_times_nothing_more(monkeypatch) -> None:
    from explorer.lessons import wrn

    timed = []
    monkeypatch.setattr(wrn, "speed", lambda depth, k: timed.append((depth, k)) or 7.0)
    at = run_lesson("wrn")
    next(b for b in at.button if b.label == "Cancel").click().run()
    assert not at.exception and timed == []
    column = next(t.value for t in at.table if "images/s (this CPU)" in t.value.columns)["images/s (this CPU)"]
    assert set(column) == {"–"}  # nothing measured yet, and Cancel measured nothing


def test_highway_batchnorm_toggle_trains_another_net(monkeypatch) -> None:
    from pages.lesson_views import papers

    monkeypatch.setattr(papers, "HIGHWAY_STEPS", 2)
    at = run_lesson("highway")
    at.select_slider[0].set_value(10).run()
    for batchnorm in (False, True):
        at.toggle[0].set_value(batchnorm).run()
        next(b for b in at.button if b.label.startswith("Train both")).click().run()
        assert not at.exception
    runs = at.session_state["highway_runs"]
    assert set(runs) == {(10, -2.0, False), (10, -2.0, True)}  # one run per setting, kept for the session
    off, on = (runs[10, -2.0, bn].losses["loss"].tolist() for bn in (False, True))
    assert off != on  # BN inside H changes the net that trains
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for _, layer in papers.highway.gate_layers(
        runs[10, -2.0, False].highway) for m in layer.transform.modules())


# ---------------------------------------------------------------- issue 12, defects 6-8 and bad input


def test_budget_measurement_leaves_the_page_usable_and_cancel_stops_it(monkeypatch) -> None:
    """The speeds are timed in the background (the page was locked for 46 s) and Cancel stops after the design
    being timed; the designs timed so far keep their speed."""
    from explorer.lessons import budget

    release, started, timed = threading.Event(), threading.Event(), []

    def slow_speed(spec, **kw):
        timed.append(spec)
        started.set()
        assert release.wait(30)  # the first design takes "seconds": until the test has pressed Cancel
        return 50.0

    monkeypatch.setattr(budget, "images_per_second", slow_speed)
    at = run_lesson("budget")
    next(b for b in at.button if b.label.startswith("Measure training speed")).click().run()
    assert started.wait(30)
    assert not at.exception and at.session_state["budget_measurement"].running  # the script ended meanwhile
    assert any(p.proto.text.startswith("Timing 1x") for p in at.get("progress"))
    at.number_input[0].set_value(5.0).run()  # the rest of the page answers while the timer works
    assert not at.exception
    next(b for b in at.button if b.label == "Cancel").click().run()
    release.set()
    measured_speeds(at)
    assert not at.exception and len(timed) == 1  # nothing after the design that was being timed
    assert not any(b.label == "Cancel" for b in at.button)


def test_budget_macs_chart_only_when_asked_for() -> None:
    at = run_lesson("budget")
    assert len(at.get("vega_lite_chart")) == 1  # an expander's body runs even when closed: it counted every preset
    at.toggle(key="budget_macs").set_value(True).run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 2


@pytest.mark.parametrize("activation, init, batchnorm, plain_word", [
    ("sigmoid", "xavier", False, "vanishes"),
    ("relu", "he", True, "explodes"),  # ReLU + BatchNorm: plain-56's first layer gets ~1e4 times the last's
])
def test_gradient_lesson_says_what_its_metrics_show(activation, init, batchnorm, plain_word) -> None:
    """The box follows the ratios on screen; it said "the shortcut rescues it" with the same words for every
    setting, also when plain-56 explodes (issue 12, defect 8)."""
    at = run_lesson("gradients")
    at.radio[0].set_value(activation).run()
    at.radio[1].set_value(init).run()
    at.toggle[0].set_value(batchnorm).run()
    assert not at.exception
    ratio = float(next(m.value for m in at.metric if m.label.startswith("plain-56")))
    box = at.info[0].value
    assert f"**{plain_word}**" in box and f"{ratio:.2g}" in box
    assert ("explodes" in box) == (ratio > 100) and ("vanishes" in box) == (ratio < 0.01)


def test_degradation_expectation_counts_the_reference_seeds_shown() -> None:
    """It said "ResNet-56 ends below ResNet-20" beside a reference seed where it does not (defect 8)."""
    from explorer.lessons import degradation
    from explorer.lessons.measured import measured

    reference = measured("degradation").table.set_index("net")
    seeds = [c for c in reference.columns if "seed" in c]
    below = sum(reference.loc["ResNet-56", c] < reference.loc["ResNet-20", c] - degradation.LEVEL for c in seeds)
    at = run_lesson("degradation")
    box = at.info[0].value
    assert f"ResNet-56 ends below ResNet-20 in {below} of {len(seeds)} seeds" in box
    if below < len(seeds):
        assert "noise" in box


MARKDOWN = "[click](http://evil.example) ![i](http://evil.example/p.png) <b>x</b>"
LIVE = ("](", "<b>", "http://")  # what a Markdown cell would turn into a link, an image or HTML


def test_tables_of_lessons_1_6_7_show_file_text_literally(monkeypatch) -> None:
    """st.table renders Markdown in its cells: published.json's and measured.json's text went in raw."""
    from explorer.lessons import measured, shake
    from pages.lesson_views import training

    real_published, real_measured, real_paper = training.published_for, measured.measured, shake.paper_table

    def published(name):
        found = real_published(name)
        return found and dataclasses.replace(found, params_text=MARKDOWN)

    monkeypatch.setattr(training, "published_for", published)
    monkeypatch.setattr(training, "measured", lambda name: real_measured(name).__class__(
        real_measured(name).table.assign(net=MARKDOWN), real_measured(name).source))
    monkeypatch.setattr("pages.lesson_views.common.measured", training.measured)
    monkeypatch.setattr(shake, "paper_table", lambda: real_paper().assign(level=MARKDOWN))
    for key in ("degradation", "shake", "lesion"):
        at = run_lesson(key)
        cells = [str(v) for t in at.table for v in displayed(t).to_numpy().ravel()]
        assert any("click" in c for c in cells), key  # the payload is on screen ...
        assert not [c for c in cells if any(live in c for live in LIVE)], key  # ... as text


def test_lesion_lesson_passes_over_an_under_trained_run_and_says_which_it_uses(tmp_path, monkeypatch) -> None:
    """A 2-epoch run at 55% error was lesioned by default as if trained, and the lesson's "Expected" text then
    contradicted its chart (issue 12, defect 7)."""
    from explorer import PRESETS
    from explorer.training.events import EpochEvent
    from explorer.training.recipe import Recipe
    from explorer.training.runs import RunStore

    root = tmp_path / "fake"
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(root))
    store = RunStore(root)
    ids = {}
    for name, epochs, error in (("resnet32", 2, 0.55), ("resnet20", 8, 0.12), ("plain20", 8, 0.15)):
        run_id, _ = store.request(PRESETS[name], Recipe(dataset="synthetic", epochs=epochs, train_size=1000))
        store.append_metrics(run_id, [EpochEvent(epoch=e, step=10 * e, train_loss=1.0, train_error=error,
                                                 test_loss=1.0, test_error=error, lr=0.1, images_per_sec=1.0,
                                                 elapsed=1.0) for e in range(1, epochs + 1)])
        store.set_status(run_id, "finished")
        store.checkpoint_path(run_id).write_bytes(b"not a checkpoint")  # the study skips it: only the choice counts
        ids[name] = run_id
    at = run_lesson("lesion")
    assert at.multiselect[0].value == [ids["resnet20"], ids["plain20"]]  # not the deeper, under-trained ResNet-32
    caption = next(c.value for c in at.caption if c.value.startswith("Lesioned by default"))
    assert "the deepest residual run" in caption and "passing over under-trained ones" in caption
    assert "12.0% test error" in caption.replace("\\", "").replace("\u2060", "")
    assert not any("Under-trained" in w.value for w in at.warning)
    at.multiselect[0].select(ids["resnet32"]).run()
    assert not at.exception
    warning = next(w.value for w in at.warning if w.value.startswith("Under-trained"))
    assert "55% test error after 2 epochs" in warning.replace("\\", "").replace("\u2060", "")


# ------------------------------------------------------------------------------------------------ Korean (issue 13)
def run_lesson_ko(key: str) -> AppTest:
    """As app.py sets it for a ?lang=ko session (the page alone has no app.py)."""
    i18n.set_session_language(lambda: "ko")
    try:
        return run_lesson(key)
    finally:
        i18n.set_session_language(None)


def test_the_gradient_lesson_speaks_korean_and_keeps_its_values() -> None:
    at = run_lesson_ko("gradients")
    assert at.selectbox[0].label == "수업" and at.selectbox[0].value == "gradients"  # the value stays the key
    assert [h.value for h in at.header] == ["2. 기울기 소실"]
    assert at.markdown[0].value == "**이번 수업의 질문:** 초기화 직후, 첫 번째 층까지 기울기가 얼마나 전달될까요?"
    assert any(c.value.startswith("출처: He et al") and "Identity Mappings" in c.value for c in at.caption)
    assert {"metric: plain-56: 첫 층 / 마지막 층 기울기", "widget: 초기화", "widget: 통계량"} <= shown(at)
    assert at.radio[2].value == "mean slope"  # the statistic's value stays English; only its label is Korean
    idea = next(m.value for m in at.markdown if "잔차" in m.value)
    assert "$\\partial L/\\partial x_L$" in idea  # the LaTeX is the English's
    verdict = at.info[0].value
    assert verdict.startswith("**이 설정에서 보이는 것.**\n- plain-56: ") and "소실" in verdict, verdict
    assert "shortcut이 기울기를 살립니다. plain-56에서는 기울기 소실이 일어나지만" in verdict, verdict
    encoding = json.loads(at.get("vega_lite_chart")[0].proto.spec)["encoding"]
    assert (encoding["x"]["title"], encoding["y"]["title"]) == ("가중치 층 (1 = 입력 쪽)", "기울기 크기 (norm, 로그)")


def test_the_degradation_lesson_speaks_korean() -> None:
    at = run_lesson_ko("degradation")
    assert [h.value for h in at.header] == ["1. 성능 저하(degradation)"]
    assert {"button: plain-20, plain-56, ResNet-20, ResNet-56 대기열에 추가", "subheader: 논문 수치",
            "column: 논문의 테스트 오류율 (%)", "column: 네트워크"} <= shown(at)
    expected = at.info[0].value
    assert expected.startswith("**예상되는 결과.** 논문에서는 더 깊은 plain 네트워크(plain-56)가"), expected
    assert "plain-56은 seed 3개 중" in expected, expected  # the particle resolved after the design's name
    assert "**성능 저하(degradation)**" in at.markdown[1].value and "$F(x) = H(x) - x$" in at.markdown[1].value
    assert any(c.value.startswith("짧은 실행 레시피: ") for c in at.caption)
    assert any(c.value.startswith("출처: He et al") and "Deep Residual Learning" in c.value for c in at.caption)
    assert at.info[1].value.startswith("아직 실행이 없습니다.")


def test_every_lesson_title_and_question_is_korean_in_the_picker() -> None:
    at = run_lesson_ko("gradients")
    options = at.selectbox[0].options
    assert options[0] == "1. 성능 저하(degradation)" and options[12] == "13. Stochastic depth"
    assert len(options) == len(LESSON_KEYS) and all(i18n.gettext(item, "ko") != item or item.startswith("13.")
                                                    for item in (lesson(k).title for k in LESSON_KEYS))


@pytest.mark.parametrize("key, korean", [
    ("shortcut", {"subheader: Table 1: shortcut이 하는 일 (ResNet-110)", "subheader: 직접 한 줄 돌려 보기",
                  "button: 선택한 줄을 짧은 실행으로 대기열에 추가", "widget: 학습할 설계 (짧은 실행, 반 전체가 함께 씀)"}),
    ("budget", {"subheader: 예산 계산기", "column: 목표 대비", "column: 이미지/초 (이 CPU)",
                "button: 이 컴퓨터에서 학습 속도 측정", "widget: 곱셈-덧셈 연산량 대비 오류율 보기"}),
    ("dense", {"subheader: 파라미터 수 대 오류율", "column: 이미지당 activation (MB)", "widget: Growth rate k"}),
    ("forms", {"metric: 출력 사이의 최대 |차이|", "column: (c)와의 최대 |차이|", "widget: 템플릿 C x d"}),
    ("shake", {"button: 20 step 재생", "widget: 학습 step (움직여서 한 step씩 보기)", "widget: 적용 단위",
               "button: 이 모드로 Shake-Shake 26 2x32d 짧은 실행을 대기열에 추가"}),
    ("lesion", {"button: ResNet-56과 plain-20 짧은 실행을 대기열에 추가"}),
    ("imagenet", {"subheader: ImageNet: 논문의 오류율과 앱이 센 값", "column: top-1 오류율 (%)",
                  "button: 선택한 설계를 짧은 실행으로 대기열에 추가"}),
    ("cardinality", {"metric: 1x64d와의 최대 파라미터 차이", "column: 1x64d 대비 파라미터", "widget: 네트워크"}),
    ("stochastic", {"metric: 학습 step당 평균 블록 수", "widget: p_L (마지막 블록의 생존 확률)",
                    "column: CIFAR-10, 고정 깊이 (%)", "button: 두 실행 모두 대기열에 추가"}),
    ("wrn", {"subheader: Table 4: 깊이와 너비 k에 따른 오류율 (%)", "button: 이 컴퓨터에서 작은 설계들의 학습 속도 측정",
             "button: 취소"}),
    ("highway", {"metric: 초기화 직후 T(x)의 평균", "widget: 깊이 (층 수)", "widget: H 안의 BatchNorm",
                 "button: 둘 다 30 step 학습 (최대 20초)"}),
])
def test_lessons_3_to_13_speak_korean(key: str, korean: set[str]) -> None:
    at = run_lesson_ko(key)
    assert korean - shown(at) == set()
    assert any(c.value.startswith("출처: ") for c in at.caption)


def test_the_budget_lesson_keeps_its_choice_values_in_korean() -> None:
    i18n.set_session_language(lambda: "ko")  # for the rerun too: AppTest formats the picker's value in this thread
    try:
        at = run_lesson("budget")
        assert at.radio[1].value == "params" and at.number_input[0].label == "목표 (M 파라미터)"
        at.radio[1].set_value("macs").run()
    finally:
        i18n.set_session_language(None)
    assert not at.exception and at.radio[1].value == "macs"  # the value stays English; its label is Korean
    assert at.number_input[0].label == "목표 (이미지당 M 곱셈-덧셈)"
