"""Sweeps (explorer.sweep): the grid, its validation messages, re-queueing through the run store's
de-duplication, the queue cap, the results and CSV, the Sweep page under streamlit.testing, and (slow) a Ray
sweep on the CPU giving the same metrics as the local workers."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from explorer import PRESETS, SpecError
from explorer import i18n
from explorer import sweep as sw
from explorer.sweep import cli
from explorer.models.cost import cost
from explorer.training.events import EpochEvent, RunStatus
from explorer.training.queue import cancel
from explorer.training.recipe import Recipe
from explorer.training.runs import RunStore

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "sweep.py")
BASE = PRESETS["resnet20"]
TINY = Recipe(epochs=1, batch_size=32, train_size=64)


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # workers inherit it: no oversubscribed cores
    yield RunStore()
    for run in RunStore(tmp_path / "runs").list_runs():  # no worker outlives its test
        if run.worker_pid and run.worker_pid != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.worker_pid, signal.SIGKILL)


def finish(store: RunStore, run_id: str, test_error: float) -> None:
    """A synthetic finished run: one epoch event with this final test error (a fraction)."""
    store.set_status(run_id, RunStatus.RUNNING)
    store.append_metrics(run_id, [EpochEvent(epoch=1, step=2, train_loss=2.0, train_error=0.8, test_loss=2.1,
                                             test_error=test_error, lr=0.1, images_per_sec=100.0, elapsed=1.0)])
    store.set_status(run_id, RunStatus.FINISHED)


# -- the grid and its validation -----------------------------------------------------------------------------

def test_the_grid_is_every_value_pair_times_every_seed_in_order():
    sweep = sw.plan(BASE, [("depth", "8, 14"), ("width_factor", [1, 2])], "0, 1", TINY)
    assert [(p.values["depth"], p.values["width_factor"], p.seed) for p in sweep.points] == [
        (8, 1, 0), (8, 1, 1), (8, 2, 0), (8, 2, 1), (14, 1, 0), (14, 1, 1), (14, 2, 0), (14, 2, 1)]
    p = sweep.points[3]
    assert (p.spec.depth, p.spec.width_factor, p.spec.shortcut, p.recipe.seed, p.recipe.train_size) == (8, 2, "A", 1, 64)
    assert p.label == "depth=8, width_factor=2" and sweep.fields == ("depth", "width_factor")
    # the id is the definition's: asked again it is the same sweep; other seeds make another
    assert sw.plan(BASE, [("depth", [8, 14]), ("width_factor", "1,2")], [0, 1], TINY).id == sweep.id
    assert sw.plan(BASE, [("depth", [8, 14]), ("width_factor", "1,2")], [0], TINY).id != sweep.id
    assert re.fullmatch(r"sweep-resnet20-depth-width_factor-[0-9a-f]{8}", sweep.id)


def test_the_class_count_follows_the_dataset():
    sweep = sw.plan(BASE, [("depth", "8")], "0", TINY.replace(dataset="cifar100"))
    assert sweep.points[0].spec.num_classes == 100


@pytest.mark.parametrize("axes, seeds, message", [
    ([("foo", "1")], "0", "field: unknown design field 'foo'; choose from block, depth"),
    ([("cardinality", "2,4")], "0", "cardinality: means nothing for ResNet / pre-activation designs; choose from"),
    ([("family", "wrn")], "0", "family: cannot be swept: a sweep varies one family's design"),
    ([("num_classes", "10")], "0", "num_classes: cannot be swept: the class count follows the dataset"),
    ([("depth", "8, 21")], "0", "depth: a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56, 110, ...); got 21, try 20 or "
                                "26 (at depth=21); change or drop that value"),
    ([("depth", "8, 8")], "0", "depth: a value is listed twice: [8, 8]; list each value once"),
    ([("depth", " , ")], "0", "depth: no values given"),
    ([("shortcut", "A, D")], "0", "shortcut: unknown value 'D'; choose from A, B, C (at shortcut='D')"),
    ([("width_factor", "1, 2.5")], "0", "width_factor: must be a whole number; got 2.5"),
    ([("shortcut_scale", "0.5")], "0", "shortcut_scale"),  # needs shortcut_variant constant_scaling
    ([("depth", "8"), ("depth", "14")], "0", "depth: is listed twice; vary two different fields"),
    ([], "0", "fields: a sweep varies 1 or 2 fields; got 0"),
    ([("depth", "8")], "0, x", "seeds: each seed is a whole number in [0, 2^31); got 'x', try 0, 1, 2"),
    ([("depth", "8")], "1, 1", "seeds: a seed is listed twice"),
    ([("depth", "8")], "", "seeds: no seeds given"),
    ([("depth", ",".join(str(6 * n + 2) for n in range(1, 14)))], "0",
     "depth: 13 values, more than a sweep takes (12)"),
    ([("depth", "8,14,20,26,32,38,44,50"), ("width_factor", "1,2,3")], "0,1,2",
     "seeds: 24 points x 3 seeds = 72 runs, more than one sweep may queue (64); use fewer values or seeds"),
    ([("depth", ",".join(str(6 * n + 2) for n in range(1, 13))), ("width_factor", "1,2,3,4,5,6")], "0",
     "width_factor: 72 points x 1 seeds = 72 runs"),
])
def test_a_bad_sweep_is_refused_naming_the_field_the_value_and_a_fix(axes, seeds, message):
    with pytest.raises(SpecError) as err:
        sw.plan(BASE, axes, seeds, TINY)
    assert str(err.value).startswith(message) or message in str(err.value), str(err.value)


def test_values_parse_as_json_else_text():
    assert sw.parse_values("20, 0.5, true, None, null, A, ") == (20, 0.5, True, None, None, "A")


# -- queueing through the run store -------------------------------------------------------------------------

def test_a_requeued_sweep_attaches_to_its_runs_and_retrains_only_failed_ones(store):
    sweep = sw.plan(BASE, [("depth", "8,14")], "0,1", TINY)
    first, created, waiting = sw.submit(store, sweep, start=False)
    ids = [p.run_id for p in first.points]
    assert created == 4 and waiting is None and len(set(ids)) == 4 and len(store.list_runs()) == 4
    again, created, _ = sw.submit(store, sw.plan(BASE, [("depth", "8,14")], "0,1", TINY), start=False)
    assert created == 0 and [p.run_id for p in again.points] == ids
    store.set_status(ids[2], RunStatus.FAILED, error="killed")
    retried, created, _ = sw.submit(store, again, start=False)
    new_ids = [p.run_id for p in retried.points]
    assert created == 1 and new_ids[2] != ids[2] and new_ids[:2] + new_ids[3:] == ids[:2] + ids[3:]
    # the record on disk names the new run: the page finds it after a restart
    assert [p.run_id for p in sw.load(store.root, sweep.id).points] == new_ids
    assert sw.list_sweeps(store.root) == [sweep.id]
    assert {r.id for r in store.list_runs()} == set(ids) | set(new_ids)  # the store's own rebuild ignores the file


def test_a_full_queue_defers_the_rest_and_a_later_submit_queues_them(store, monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_QUEUED", "3")
    sweep, created, waiting = sw.submit(store, sw.plan(BASE, [("depth", "8,14")], "0,1", TINY), start=False)
    assert created == 3 and "the most it holds at once (3)" in waiting and sweep.points[3].run_id is None
    assert sw.counts(sw.progress(store, sweep)) == {"queued": 4, "running": 0, "finished": 0, "failed": 0}
    finish(store, sweep.points[0].run_id, 0.5)
    sweep, created, waiting = sw.submit(store, sweep, retry=False, start=False)
    assert created == 1 and waiting is None and all(p.run_id for p in sweep.points)
    assert sw.counts(sw.progress(store, sweep)) == {"queued": 3, "running": 0, "finished": 1, "failed": 0}


def test_results_mean_and_std_over_seeds_costs_published_figures_and_csv(store):
    sweep, _, _ = sw.submit(store, sw.plan(BASE, [("depth", "20,32")], "0,1,2", TINY.replace(dataset="cifar10")),
                            start=False)
    for p, error in zip(sweep.points, (0.10, 0.12, 0.14, 0.08, 0.09, 0.10)):
        finish(store, p.run_id, error)
    store.set_status(sweep.points[5].run_id, RunStatus.DIVERGED)  # not a result: left out of the mean
    table = sw.results(store, sweep)
    assert list(table["finished"]) == [3, 2]
    assert table["error mean (%)"].tolist() == pytest.approx([12.0, 8.5])
    assert table["error std (%)"].tolist() == pytest.approx([2.0, 0.5 ** 0.5])
    assert table["params (M)"].tolist() == [0.269722, 0.464154]  # resnet20, resnet32 (option A) as built here
    assert table["multiply-adds (M)"].tolist() == [cost(PRESETS[n]).macs / 1e6 for n in ("resnet20", "resnet32")]
    assert table["preset"].tolist() == ["resnet20", "resnet32"]
    assert table["published error (%)"].tolist() == [8.75, 7.51]  # He et al. 2015, Table 6
    assert sw.counts(sw.progress(store, sweep))["failed"] == 1
    back = pd.read_csv(io.StringIO(sw.to_csv(table)))
    assert list(back.columns) == list(table.columns) and back["error mean (%)"].tolist() == pytest.approx([12, 8.5])


@pytest.mark.parametrize("argv, message", [
    (["--vary", "depth=8,21"], "error: depth: a CIFAR ResNet has 6n+2 layers"),
    (["--vary", "depth"], "error: vary: expected FIELD=V1,V2,...; got 'depth', try depth=20,32,44"),
    (["--vary", "depth=8", "--seeds", "0,0"], "error: seeds: a seed is listed twice"),
    (["--preset", "nope", "--vary", "depth=8"], "error: preset: unknown preset 'nope'"),
    (["--show", "sweep-nope-00000000"], "error: no sweep 'sweep-nope-00000000' in"),
])
def test_the_command_line_refuses_bad_input_queueing_nothing(store, capsys, argv, message):
    assert cli.main(argv) == 2
    assert capsys.readouterr().out.splitlines()[-1].startswith(message)
    assert store.list_runs() == []


def test_the_command_line_shows_a_recorded_sweep_and_writes_its_csv(store, capsys, tmp_path):
    sweep, _, _ = sw.submit(store, sw.plan(BASE, [("depth", "20,32")], "0", TINY.replace(dataset="cifar10")),
                            start=False)
    finish(store, sweep.points[0].run_id, 0.25)
    assert cli.main(["--list"]) == 0 and capsys.readouterr().out.split() == [sweep.id]
    assert cli.main(["--show", sweep.id, "--csv", str(tmp_path / "out.csv")]) == 0
    out = capsys.readouterr().out
    assert "depth in 20, 32; 2 points x 1 seed = 2 runs, 1 epoch on cifar10" in out and "finished" in out
    back = pd.read_csv(tmp_path / "out.csv")
    assert back["error mean (%)"].tolist()[0] == 25.0 and back["published error (%)"].tolist() == [8.75, 7.51]
    assert back["error std (%)"].isna().all()  # one seed: no spread to report


# -- the page ------------------------------------------------------------------------------------------------

def page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def shown(elements) -> list[str]:
    """Element text as shown: untrusted parts come backslash-escaped (pages.plain)."""
    return [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", e.value).replace("\u2060", "") for e in elements]


def charts(at: AppTest) -> list[tuple[dict, list[pd.DataFrame]]]:
    found = []

    def walk(node):
        if getattr(node, "type", None) == "vega_lite_chart":
            found.append((json.loads(node.proto.spec),
                          [pa.ipc.open_stream(d.data.data).read_pandas() for d in node.proto.datasets]))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def test_the_page_renders_and_estimates_before_start(store):
    at = page()
    assert not at.exception
    assert "No sweeps yet" in " ".join(shown(at.info))
    estimate = next(t for t in shown(at.info) if "runs" in t)
    assert estimate.startswith("**6 runs** (3 points x 2 seeds), 24,576 training images in all")  # 20, 32, 44
    assert not at.button(key="sw_start").disabled


def test_the_page_speaks_korean(store):
    """As app.py sets it for a ?lang=ko session (the page alone has no app.py): labels, notices, the estimate."""
    i18n.set_session_language(lambda: "ko")
    try:
        at = page()
    finally:
        i18n.set_session_language(None)
    assert not at.exception
    assert at.title[0].value == "스윕" and at.button(key="sw_start").label == "스윕 시작"
    assert "아직 스윕이 없습니다." in " ".join(shown(at.info))
    estimate = next(t for t in shown(at.info) if "실행" in t)
    assert estimate.startswith("**실행 6개** (조합 3개 x seed 2개), 학습 이미지는 모두 24,576장"), estimate
    assert at.radio(key="sw_source").value == "preset"  # the values stay English; only their labels change


@pytest.mark.parametrize("values, message", [
    ("20, 21", "depth: a CIFAR ResNet has 6n+2 layers"),
    ("20, [x](http://evil.example)", "depth: must be a whole number; got '[x](http://evil.example)'"),
])
def test_the_page_refuses_a_bad_value_with_a_message_and_start_off(store, values, message):
    at = page()
    at.text_input(key="sw_values0_resnet_depth").set_value(values).run()
    assert not at.exception
    errors = shown(at.error)
    assert any(message in e for e in errors), errors
    assert at.button(key="sw_start").disabled
    assert all("](http" not in e.value for e in at.error)  # a link is never live


def test_start_queues_what_the_session_may_and_the_rest_waits_for_a_place(store, monkeypatch):
    started = []
    monkeypatch.setattr(sw, "launch", lambda store, run_id, device=None: started.append(run_id))  # no workers
    monkeypatch.setattr("explorer.training.queue.dispatch", lambda store, device=None: {})
    at = page()
    at.button(key="sw_start").click().run()
    assert not at.exception
    assert shown(at.success) == ["3 new run(s) queued, 0 attached to identical runs already in the store."]
    assert any("Some runs wait for a place in the queue: you already have 3 runs waiting or training" in t
               for t in shown(at.info))
    (sweep_id,) = sw.list_sweeps(store.root)
    assert at.query_params["sweep"] == sweep_id
    sweep = sw.load(store.root, sweep_id)
    assert [p.run_id is not None for p in sweep.points] == [True] * 3 + [False] * 3 and len(started) == 3
    assert {r.owner for r in store.list_runs()} == {sweep.owner} and sweep.owner is not None  # the session's
    assert at.dataframe[0].value["queued"].tolist() == [2, 2, 2]


@pytest.mark.parametrize("content", ["[1, 2]", '{"base": {}, "axes": 3}', "{not json", '{"id": 1}'])
def test_a_damaged_sweep_file_is_an_error_on_the_page_not_a_traceback(store, content):
    (store.root / "sweep-resnet20-depth-00000000.json").write_text(content)
    with pytest.raises(KeyError):
        sw.load(store.root, "sweep-resnet20-depth-00000000")
    at = page(sweep="sweep-resnet20-depth-00000000")
    assert not at.exception
    assert any(t.startswith("This sweep cannot be shown:") for t in shown(at.error)), shown(at.error)


def test_an_unknown_sweep_in_the_link_is_said_plainly(store):
    at = page(sweep="sweep-**bold**")
    assert not at.exception
    assert any("There is no sweep 'sweep-**bold**'" in t for t in shown(at.warning))
    assert all("**bold**" not in w.value for w in at.warning)  # escaped, not Markdown


def test_a_finished_sweep_shows_progress_chart_published_points_and_csv(store):
    sweep, _, _ = sw.submit(store, sw.plan(BASE, [("depth", "20,32")], "0,1", TINY.replace(dataset="cifar10")),
                            start=False)
    for p, error in zip(sweep.points, (0.10, 0.12, 0.08, 0.09)):
        finish(store, p.run_id, error)
    at = page(sweep=sweep.id)
    assert not at.exception
    states = at.dataframe[0].value
    assert states["point"].tolist() == ["depth=20", "depth=32"] and states["finished"].tolist() == [2, 2]
    ((spec, datasets),) = charts(at)
    assert len(spec["layer"]) == 3  # error bars, measured means, the papers' points
    measured = next(d for d in datasets if "error mean (%)" in d and d["error mean (%)"].notna().all())
    assert measured["error mean (%)"].tolist() == pytest.approx([11.0, 8.5])
    assert spec["layer"][1]["encoding"]["x"]["field"] == "params (M)"
    at.segmented_control(key="sw_against").set_value("multiply-adds (M)").run()
    ((spec, _),) = charts(at)
    assert spec["layer"][1]["encoding"]["x"]["field"] == "multiply-adds (M)"
    (download,) = at.get("download_button")
    assert download.proto.label == "Download the results (CSV)"


# -- Ray ------------------------------------------------------------------------------------------------------

def wait_done(store: RunStore, sweep: sw.Sweep, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not sw.done(sw.progress(store, sweep)):
        assert time.monotonic() < deadline, sw.progress(store, sweep).to_string()
        time.sleep(0.5)


def epoch_metrics(store: RunStore, sweep: sw.Sweep) -> list[tuple]:
    return [tuple((e.test_error, e.test_loss, e.train_loss) for e in store.metrics(p.run_id, "epoch"))
            for p in sweep.points]


@pytest.mark.slow
def test_a_ray_sweep_on_the_cpu_matches_the_local_backend_and_stops_on_cancel(tmp_path, monkeypatch):
    # CI installs the dev extra, which has ray: there the test must run, not skip.
    ray = importlib.import_module("ray") if os.environ.get("CI") else pytest.importorskip("ray")
    from explorer.sweep import on_ray

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # local workers and Ray's alike: one thread, the same sums
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", "2")
    plan = sw.plan(BASE, [("depth", "8,14"), ("width_factor", "1,2")], "0", TINY)
    local, remote = RunStore(tmp_path / "local"), RunStore(tmp_path / "ray")
    try:
        queued, created, _ = sw.submit(local, plan, device="cpu")  # local workers train while Ray starts
        assert created == 4
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        done = on_ray.run(remote, plan)
        assert done.id == plan.id
        wait_done(local, queued, 120)
        # Stop (the Train page's cancel flag) ends a Ray run as cancelled, and the driver returns
        long = sw.plan(BASE, [("depth", "8")], "5", TINY.replace(epochs=500))
        driver = threading.Thread(target=on_ray.run, args=(remote, long))
        driver.start()
        deadline = time.monotonic() + 60
        while (run_id := sw.load(remote.root, long.id).points[0].run_id if (remote.root / f"{long.id}.json").exists()
               else None) is None or remote.get(run_id).status != RunStatus.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        cancel(remote, run_id)
        driver.join(60)
        assert not driver.is_alive() and remote.get(run_id).status == RunStatus.CANCELLED
    finally:
        ray.shutdown()
        for run in local.list_runs():
            if run.worker_pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(run.worker_pid, signal.SIGKILL)
    assert sw.counts(sw.progress(remote, done)) == {"queued": 0, "running": 0, "finished": 4, "failed": 0}
    assert all(r.device_name.endswith(os.uname().nodename) for r in remote.list_runs())
    assert all(remote.checkpoint_path(p.run_id).exists() for p in done.points)
    mine, theirs = epoch_metrics(local, queued), epoch_metrics(remote, done)
    assert all(len(m) == 1 for m in mine) and mine == theirs
