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
from explorer.training.queue import claim
from explorer.training.recipe import Recipe
from explorer.training.runs import RunStore

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "train.py")
WAIT = 120.0  # seconds for the worker to import torch and train 2 steps on a busy 2-core machine


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
    at.number_input(key="train_size").set_value(64)
    return at


@pytest.mark.slow
def test_a_tiny_synthetic_run_from_start_to_charts_and_final_status(runs_dir):
    at = page()
    assert not at.exception
    assert any("No runs yet" in t for t in texts(at.info))
    assert not torch.cuda.is_available()  # this test machine: the page must say the run trains on the CPU
    (warning,) = [t for t in texts(at.warning) if "No GPU" in t]
    assert warning.startswith(f"No GPU on this machine: this run will train on the **CPU** ({torch.get_num_threads()}")
    assert "in all** (" in warning and "per epoch of 50,000 images" in warning and not at.success
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
    assert list(loss["split"]) == ["train", "test"]  # 2 steps logged once at the epoch's end, and its test
    assert list(loss["step"]) == [2, 2] and error["error (%)"].between(0, 100).all()
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
    assert warning.startswith(f"CIFAR-100 is not in {empty_data_dir / 'cifar-100-python'}: train is missing; "
                              "press 'Download CIFAR-100' on the Train page, run `python -m explorer.training.data "
                              "--download --dataset cifar100`")
    assert at.button(key="train_download_cifar100").label == "Download CIFAR-100 (169 MB)"
    assert CLASS_NOTE in texts(at.info)  # resnet20 (10 classes) trains with 100 outputs, and the page says so
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
    assert any(t.startswith(f"CIFAR-100 is in `{empty_data_dir}` (checksums match the published ones). 60k")
               for t in texts(at.caption))


@pytest.mark.slow
def test_a_cifar100_run_without_the_files_fails_with_the_download_hint(runs_dir, empty_data_dir):
    at = set_tiny_run(page())
    at.radio(key="train_dataset").set_value("cifar100").run()
    at.button(key="train_start").click().run()
    assert not at.exception
    run_id = at.query_params["run"]
    stored = RunStore(runs_dir).get(run_id)
    assert stored.spec["num_classes"] == 100 and stored.recipe["dataset"] == "cifar100"
    deadline = time.monotonic() + WAIT
    while not any(t.startswith("Failed") for t in texts(at.error)):
        assert time.monotonic() < deadline, RunStore(runs_dir).get(run_id)
        time.sleep(0.5)
        at.run()
    (failed,) = [t for t in texts(at.error) if t.startswith("Failed")]
    assert "CIFAR-100 is not in" in failed and "Download CIFAR-100" in failed and not at.exception
