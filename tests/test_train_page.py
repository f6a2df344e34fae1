"""The Train page under streamlit.testing: a tiny synthetic run from Start to its final status and charts,
a reload returning to it through `?run=`, an identical Start attaching to it, bad input shown plainly, and
CIFAR-100 (missing, present, and a run whose class count followed it)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import PRESETS
from explorer.training.cifar import CIFAR100
from explorer.training.events import StepEvent
from explorer.training.queue import cancel, claim
from explorer.training.recipe import Recipe
from explorer.training.runs import RunStore

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "train.py")
WAIT = 180.0  # seconds for the worker to import torch and train 8 steps on a busy 2-core machine


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the worker inherits it: no oversubscribed cores
    yield tmp_path / "runs"
    if (tmp_path / "runs").exists():  # no worker outlives its test
        for run in RunStore(tmp_path / "runs").list_runs():
            if run.worker_pid and run.worker_pid != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(run.worker_pid, signal.SIGKILL)


def page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def texts(elements) -> list[str]:
    """The elements' text as shown: untrusted parts come backslash-escaped (pages.plain)."""
    return [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", e.value).replace("\u2060", "") for e in elements]


def charts(at: AppTest) -> list[tuple[dict, pd.DataFrame]]:
    """(Vega-Lite spec, data) of every Altair chart on the page (AppTest has no typed accessor for them)."""
    found = []

    def walk(node):
        if getattr(node, "type", None) == "vega_lite_chart":
            (dataset,) = node.proto.datasets
            found.append((json.loads(node.proto.spec), pa.ipc.open_stream(dataset.data.data).read_pandas()))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def set_tiny_run(at: AppTest) -> AppTest:
    at.selectbox(key="train_preset").set_value("resnet20")
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch_resnet").set_value(32)
    at.number_input(key="train_size").set_value(256)  # the page's minimum (fewer is refused)
    return at


@pytest.mark.slow
def test_a_tiny_synthetic_run_from_start_to_charts_and_final_status(runs_dir):
    at = page()
    assert not at.exception
    assert any("No runs yet" in t for t in texts(at.info))
    assert not torch.cuda.is_available()  # this test machine: the page must say the run trains on the CPU
    (warning,) = [t for t in texts(at.warning) if "No GPU" in t]
    assert warning.startswith(f"No GPU on this machine: this run will train on the **CPU** ({torch.get_num_threads()}")
    assert "in all** (" in warning and re.search(r"per epoch of [\d,]+ images", warning) and not at.success
    set_tiny_run(at).button(key="train_start").click().run()
    assert not at.exception
    run_id = at.query_params["run"]
    assert run_id.startswith("resnet20-")
    deadline = time.monotonic() + WAIT
    while not any(t.startswith("Finished") for t in texts(at.success)):
        assert time.monotonic() < deadline, (texts(at.error), RunStore(runs_dir).get(run_id))
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.error
    (loss_spec, loss), (error_spec, error) = charts(at)
    assert (loss_spec["title"], error_spec["title"]) == ("Loss (log scale)", "Error (%)")
    assert loss_spec["encoding"]["x"]["field"] == "step"  # a 1-epoch run is charted per step
    assert list(loss["split"]) == ["train", "test"]  # 8 steps (256 images, batch 32) logged once at the end, and its test
    assert list(loss["step"]) == [8, 8] and error["error (%)"].between(0, 100).all()
    assert any(t.startswith("resnet20 on Synthetic shapes (not CIFAR-10)") for t in texts(at.caption))
    table = at.dataframe[0].value
    assert list(table["run"]) == [run_id] and table["status"][0] == "finished"

    # A reload (a new session with the URL) returns to the run; an identical Start attaches to it.
    again = page(run=run_id)
    assert not again.exception and any(t.startswith("Finished") for t in texts(again.success))
    set_tiny_run(again).button(key="train_start").click().run()
    assert again.query_params["run"] == run_id
    assert any("already exists" in t for t in texts(again.info))
    assert len(RunStore(runs_dir).list_runs()) == 1


def test_pasted_json_errors_are_shown_not_raised(runs_dir):
    at = page()
    at.radio(key="train_source").set_value("Paste JSON").run()
    at.text_area(key="train_json").set_value('{"family": "resnet", "depth": 21}').run()
    assert not at.exception
    (error,) = texts(at.error)
    assert error.startswith("This design is not valid. depth:") and "20" in error
    assert at.button(key="train_start").disabled
    at.text_area(key="train_json").set_value("{not json").run()
    assert "not valid JSON" in texts(at.error)[0]


def test_an_imagenet_design_is_refused_for_training(runs_dir):
    at = page()
    at.radio(key="train_source").set_value("Paste JSON").run()
    at.text_area(key="train_json").set_value(PRESETS["resnet18"].to_json()).run()
    (error,) = texts(at.error)
    assert error == ("This design cannot train on this dataset. stem: Synthetic shapes (not CIFAR-10) has 32x32 "
                     "images, which need the CIFAR stem (a 3x3 conv); got 'imagenet', try 'cifar' (or a CIFAR "
                     "preset such as resnet20)")
    assert at.button(key="train_start").disabled


def test_an_unknown_run_in_the_url_says_so(runs_dir):
    at = page(run="nope-1234")
    assert not at.exception
    assert any("no run 'nope-1234'" in t for t in texts(at.warning))


def test_the_build_pages_design_is_offered(runs_dir):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["design"] = PRESETS["resnet56"]
    at.run()
    assert at.radio(key="train_source").value == "From the Build page"
    assert "The design from the Build page: resnet56." in texts(at.caption)
    assert any(t.startswith("0.85M parameters") for t in texts(at.caption))


def test_a_run_whose_worker_died_shows_as_failed_with_its_log(runs_dir):
    store = RunStore(runs_dir)
    run_id, _ = store.request(PRESETS["resnet20"], Recipe(dataset="synthetic", epochs=1))
    claim(store, run_id, "cpu", pid=2**22 + 7)  # above Linux's pid_max default: no such process
    store.log_path(run_id).write_text("Traceback ...\nImportError: something broke\n")
    at = page(run=run_id)
    assert not at.exception
    assert texts(at.error)[0].startswith("Failed: the worker process (pid 4194311) died")
    assert "ImportError: something broke" in at.code[0].value


@pytest.mark.slow
def test_stop_cancels_a_running_run(runs_dir):
    at = set_tiny_run(page())
    at.number_input(key="train_epochs").set_value(500)  # never finishes within the test
    at.button(key="train_start").click().run()
    run_id = at.query_params["run"]
    deadline = time.monotonic() + WAIT
    while not at.progress or at.progress[0].value == 0:  # running, with a step logged
        assert time.monotonic() < deadline, RunStore(runs_dir).get(run_id)
        time.sleep(0.5)
        at.run()
    assert "images/s" in at.progress[0].text and "left" in at.progress[0].text
    at.button(key="train_stop").click().run()
    while not any(t.startswith("Cancelled") for t in texts(at.warning)):
        assert time.monotonic() < deadline, RunStore(runs_dir).get(run_id)
        time.sleep(0.5)
        at.run()
    run = RunStore(runs_dir).get(run_id)
    assert run.status == "cancelled" and "stopped by the user" in run.error


CLASS_NOTE = ("CIFAR-100 has 100 classes, so this run's classifier has 100 outputs instead of the design's 10 "
              "(num_classes=100); the rest of the design is unchanged.")


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_cifar100_without_its_files_shows_the_download_hint(runs_dir, empty_data_dir):
    at = page()
    at.radio(key="train_dataset").set_value("cifar100").run()
    assert not at.exception and not at.error
    (warning,) = [t for t in texts(at.warning) if "CIFAR-100" in t]
    assert warning.startswith("CIFAR-100 is not in the server's data folder: train is missing; "
                              "press 'Download CIFAR-100' on the Train page, run `python -m explorer.training.data "
                              "--download --dataset cifar100`")
    assert warning.endswith(". Start stays off until the files are here; Synthetic shapes needs no download.")
    assert str(empty_data_dir) not in warning  # no server path (issue 12, defect 9)
    assert at.button(key="train_download_cifar100").label == "Download CIFAR-100 (169 MB)"
    assert CLASS_NOTE in texts(at.info)  # resnet20 (10 classes) trains with 100 outputs, and the page says so
    assert at.button(key="train_start").disabled  # a run would only fail, for everyone's queue
    at.radio(key="train_dataset").set_value("synthetic").run()
    assert not at.button(key="train_start").disabled
    at.radio(key="train_dataset").set_value("cifar10").run()  # CIFAR-10 keeps its own button and the design's 10
    assert at.button(key="train_download_cifar10").label == "Download CIFAR-10 (170 MB)"
    assert CLASS_NOTE not in texts(at.info) and not at.exception


def test_cifar100_files_that_check_out_are_ready(runs_dir, empty_data_dir, monkeypatch):
    from test_data import write_fake_cifar

    md5, _ = write_fake_cifar(empty_data_dir, CIFAR100)
    for name, digest in md5.items():  # the tiny files stand in for the published ones
        monkeypatch.setitem(CIFAR100.md5, name, digest)
    at = page()
    at.radio(key="train_dataset").set_value("cifar100").run()
    assert not at.exception and not at.error and not [t for t in texts(at.warning) if "CIFAR-100" in t]
    assert any(t.startswith("CIFAR-100 is on this server (checksums match the published ones). 60k")
               for t in texts(at.caption))


@pytest.mark.slow
def test_a_cifar100_run_without_the_files_fails_with_the_download_hint(runs_dir, empty_data_dir):
    from explorer.training.queue import launch

    store = RunStore(runs_dir)  # queued elsewhere (the command line): the page's Start is off without the files
    spec = PRESETS["resnet20"].replace(num_classes=100)
    run_id, _ = store.request(spec, Recipe(dataset="cifar100", epochs=1, batch_size=32, train_size=256))
    launch(store, run_id, "cpu")
    at = page(run=run_id)
    deadline = time.monotonic() + WAIT
    while not any(t.startswith("Failed") for t in texts(at.error)):
        assert time.monotonic() < deadline, RunStore(runs_dir).get(run_id)
        time.sleep(0.5)
        at.run()
    (failed,) = [t for t in texts(at.error) if t.startswith("Failed")]
    assert "CIFAR-100 is not in" in failed and "Download CIFAR-100" in failed and not at.exception
    assert str(empty_data_dir) not in failed


# -- issue 12: the walkthrough's defects ---------------------------------------------------------------------------

def running_run(store: RunStore, recipe: Recipe | None = None, spec=None) -> str:
    """A run this test process holds as its worker (claimed with its own pid, heartbeat fresh), running."""
    run_id, _ = store.request(spec or PRESETS["resnet20"], recipe or Recipe(dataset="synthetic", epochs=2,
                                                                            batch_size=32, train_size=256))
    claim(store, run_id, "cpu", pid=os.getpid())
    store.set_status(run_id, "running")
    return run_id


def step(n: int, per_epoch: int = 8) -> StepEvent:
    return StepEvent(step=n, epoch=n / per_epoch, train_loss=2.3, train_error=0.9, lr=0.1, images_per_sec=100.0,
                     elapsed=float(n))


def page_text(at: AppTest) -> str:
    return "\n".join(texts([*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success])
                     + [p.text for p in at.progress])


def test_progress_shows_the_phase_from_the_first_step(runs_dir):
    store = RunStore(runs_dir)
    run_id = running_run(store)  # 256 images in batches of 32: 8 steps an epoch, 16 in all
    at = page(run=run_id)
    assert at.progress[0].text.startswith("Loading the data and building the model (")
    store.append_metrics(run_id, [step(1)])
    at.run()
    assert at.progress[0].value == 6  # percent: 1 of 16 steps
    assert at.progress[0].text.startswith("training: epoch 1 of 2 · step 1 of 16")
    store.append_metrics(run_id, [step(8)])  # the epoch's last step is logged; its test is not done yet
    at.run()
    assert re.match(r"testing on the [\d,]+ test images after epoch 1 · step 8 of 16 · ", at.progress[0].text)


def test_the_run_selector_and_panel_follow_a_run_that_ended(runs_dir, monkeypatch):
    store = RunStore(runs_dir)
    run_id = running_run(store)
    monkeypatch.setenv("TRAIN_TEST_RUN", run_id)

    def script():
        import os

        import streamlit as st

        from explorer.training.runs import RunStore
        from pages.train_views.runs import rerun_when_changed

        st.session_state["renders"] = st.session_state.get("renders", 0) + 1
        rerun_when_changed(RunStore(os.environ["EXPLORER_RUNS_DIR"]), {os.environ["TRAIN_TEST_RUN"]: "running"})

    at = AppTest.from_function(script).run()
    assert at.session_state["renders"] == 1  # nothing changed: no redraw
    store.set_status(run_id, "finished")
    at.run()
    assert at.session_state["renders"] == 3  # one redraw of the whole page for the change, and no loop
    at = page(run=run_id)
    assert at.selectbox(key="train_pick").format_func(run_id) == f"{run_id} (finished)"


def chart_paths(at: AppTest) -> list[tuple[int, ...]]:
    paths = []

    def walk(node, path):
        if getattr(node, "type", None) == "vega_lite_chart":
            paths.append(path)
        for index, child in getattr(node, "children", {}).items():
            walk(child, (*path, index))

    walk(at._tree, ())
    return paths


def test_stopping_keeps_the_charts_in_their_place(runs_dir):
    store = RunStore(runs_dir)
    run_id = running_run(store)
    store.append_metrics(run_id, [step(1), step(2)])
    at = page(run=run_id).run()  # the second render: the link's one-time notice above the panel is gone
    running = chart_paths(at)
    assert len(running) == 2
    cancel(store, run_id)  # as Stop does (its owner's button): the flag, and the worker ends the run later
    at.run()
    assert "Stopping after the current step ..." in texts(at.caption) or at.caption
    assert chart_paths(at) == running
    store.set_status(run_id, "cancelled", error="stopped by the user at step 2 of 16")
    at.run()
    assert any(t.startswith("Cancelled") for t in texts(at.warning))
    assert chart_paths(at) == running  # one chart per place: none left behind where the Stop row was


def test_a_run_link_opens_that_runs_design_and_recipe(runs_dir):
    store = RunStore(runs_dir)
    recipe = Recipe(dataset="synthetic", epochs=7, batch_size=64, lr=0.05, seed=3, train_size=512,
                    schedule="cosine")
    run_id, _ = store.request(PRESETS["resnet56"], recipe)
    at = page(run=run_id)
    assert not at.exception
    assert at.radio(key="train_source").value == "Preset" and at.selectbox(key="train_preset").value == "resnet56"
    assert at.number_input(key="train_epochs").value == 7 and at.number_input(key="train_batch_resnet").value == 64
    assert at.number_input(key="train_lr_resnet").value == 0.05 and at.number_input(key="train_seed").value == 3
    assert at.number_input(key="train_size").value == 512
    assert at.selectbox(key="train_schedule_resnet").value == "cosine"


def test_a_train_size_under_the_minimum_is_refused(runs_dir):
    at = page()
    at.number_input(key="train_size").set_value(1).run()
    assert any(t.startswith("Train on at least 256 images (or 0 for all of them)") for t in texts(at.error))
    assert at.button(key="train_start").disabled
    at.number_input(key="train_size").set_value(0).run()
    assert not at.error and not at.button(key="train_start").disabled


def test_the_cpu_default_is_a_run_of_a_few_minutes(runs_dir, monkeypatch):
    from pages.train_views import common

    # this CPU's speed as the page measures it, fixed: the test checks the page's arithmetic, not this machine's load
    monkeypatch.setattr(common, "_cpu_probe", lambda: (1e10, 0.0))
    monkeypatch.setattr(common, "recent_cpu_rate", lambda root: None)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    at = page()
    assert at.number_input(key="train_epochs").value == 3
    size = at.number_input(key="train_size").value
    assert 256 <= size < 50_000 and size % 256 == 0  # not the 50,000 images x 5 epochs of the papers' split
    (warning,) = [t for t in texts(at.warning) if "No GPU" in t]
    total = re.search(r"roughly \*\*(\d+) (s|min) in all\*\*", warning)
    assert total and (total[2] == "s" or int(total[1]) <= 6), warning
    assert re.search(rf"per epoch of {size:,} images and the [\d,]+ test images, at this machine's load now", warning)
    at.number_input(key="train_epochs").set_value(1).run()  # untouched, the size follows the epochs
    assert at.number_input(key="train_size").value >= size
    at.number_input(key="train_size").set_value(1024).run()
    at.number_input(key="train_epochs").set_value(2).run()  # typed by the user: it stays
    assert at.number_input(key="train_size").value == 1024


def test_the_cpu_estimate_counts_the_load_and_recent_runs(monkeypatch):
    from pages.train_views import common

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(common, "_cpu_probe", lambda: (1e10, 0.0))  # measured on an idle machine
    monkeypatch.setattr(common, "recent_cpu_rate", lambda root: None)
    monkeypatch.setattr(os, "getloadavg", lambda: (cores + 3.0, 0.0, 0.0))
    assert common.cpu_macs_per_second() == pytest.approx(1e10 * cores / (cores + 4))
    monkeypatch.setattr(common, "recent_cpu_rate", lambda root: 1e8)  # this machine's runs were slower still
    assert common.cpu_macs_per_second() == 1e8


def test_no_server_path_is_shown(runs_dir, empty_data_dir):
    at = page()
    at.radio(key="train_dataset").set_value("cifar10").run()
    shown = page_text(at)
    assert str(runs_dir) not in shown and str(empty_data_dir) not in shown and "/tmp/" not in shown
    assert "No runs yet." in shown


# -- Korean (issue 13) ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def korean():
    """As app.py sets it for a ?lang=ko session (the page alone has no app.py)."""
    from explorer import i18n

    i18n.set_session_language(lambda: "ko")
    try:
        yield
    finally:
        i18n.set_session_language(None)


def test_the_setup_speaks_korean_and_its_buttons_are_the_ones_the_messages_name(runs_dir, empty_data_dir):
    with korean():
        at = page()
        assert not at.exception
        assert at.title[0].value == "학습" and at.button(key="train_start").label == "학습 시작"
        assert "아직 실행이 없습니다. 설계를 고르고 **학습 시작**을 누르세요." in texts(at.info)
        assert at.radio(key="train_source").value == "Preset"  # the values stay English; only their labels change
        assert at.number_input(key="train_epochs").label == "Epoch 수"
        # why_not_stoppable says '설정 맨 아래의 교사 항목': the Setup column's heading and its last expander
        assert "설정" in [s.value for s in at.subheader] and at.expander[-1].label == "교사"
        at.radio(key="train_dataset").set_value("cifar100").run()
    assert not at.exception
    (warning,) = [t for t in texts(at.warning) if "CIFAR-100" in t]
    button = at.button(key="train_download_cifar100").label
    assert button == "CIFAR-100 다운로드 (169 MB)"
    assert f"'{button.split(' (')[0]}'" in warning, warning  # the library's message names this very button
    assert warning.endswith("파일이 준비될 때까지 '학습 시작'은 꺼져 있습니다. 합성 도형은 다운로드가 필요 없습니다.")
    assert str(empty_data_dir) not in warning


def test_a_running_run_speaks_korean(runs_dir):
    store = RunStore(runs_dir)
    run_id = running_run(store)
    store.append_metrics(run_id, [step(1)])
    with korean():
        at = page(run=run_id)
    assert not at.exception
    assert at.progress[0].text.startswith("학습 중: epoch 1/2 · step 1/16 · 초당 이미지 100장 · 약 "), at.progress[0].text
    assert at.progress[0].text.endswith(" 남음")
    assert f"{run_id} (학습 중)" in at.selectbox(key="train_pick").options  # the value stays the run's id
    assert at.selectbox(key="train_pick").value == run_id
    assert any("badge[학습 중]" in s.value for s in at.subheader)
    assert at.dataframe[0].value.columns[:4].tolist() == ["실행", "설계", "데이터셋", "상태"]
    assert at.dataframe[0].value["상태"].tolist() == ["학습 중"]


def test_the_queue_and_durations_speak_korean():
    from explorer import i18n
    from explorer.training.waiting import Wait, describe
    from pages.train_views.runs import duration, status_text

    with i18n.using("ko"):
        assert describe(Wait(place=2, training=1, slots=1, device="cpu", seconds=300.0)) == (
            "cpu 대기열 2번째 (학습 중 1개, 한 번에 1개씩). 시작까지 약 5분 남았습니다.")
        assert (duration(45), duration(600), duration(7260)) == ("45초", "10분", "2시간 1분")
        assert status_text("cancelled") == "취소됨" and status_text("diverged") == "발산"
    assert describe(Wait(place=2, training=1, slots=1, device="cpu", seconds=300.0)) == (
        "2nd in line on cpu (1 training, 1 at a time); about 5 min until it starts.")  # English as before
    assert (duration(45), duration(600), duration(7260)) == ("45 s", "10 min", "2 h 1 min")
