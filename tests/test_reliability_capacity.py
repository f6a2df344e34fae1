"""One class must not take the server down (issue 11, capacity items 1 and 3-6): queued runs hold no process, the
queue is capped per session and in total, a run that would not fit in memory or would cost too much is refused
with what would fit, only a run's owner (or the teacher) can stop it, and lesson 7 refuses a net too deep to
lesion here before reading its checkpoint. Each test checks what the user sees and that nothing is lost.

Real worker processes are started only where the count of processes is the point; every one is killed and
reaped in teardown. The rest uses the store with this process standing in for a live worker.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from explorer import PRESETS
from explorer.lessons import lesion
from explorer.training import capacity, limits
from explorer.training.events import EpochEvent
from explorer.training.limits import Refused, owner_id
from explorer.training.queue import claim, dispatch, launch
from explorer.training.recipe import Recipe
from explorer.training.runs import RunStore
from explorer.training.worker import execute
from test_reliability_faults import _checkpoint, workers  # noqa: F401 (a fixture); tests/ is on sys.path
from test_train_page import texts

ROOT = Path(__file__).resolve().parent.parent
TINY = PRESETS["resnet20"].replace(depth=8)
GiB = 2**30


def tiny(**changes) -> Recipe:
    return Recipe(**{"dataset": "synthetic", "epochs": 1, "batch_size": 32, "train_size": 64, **changes})


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", "1")
    for name in ("EXPLORER_MAX_QUEUED", "EXPLORER_MAX_QUEUED_PER_SESSION", "EXPLORER_TEACHER_TOKEN",
                 "EXPLORER_MAX_IMAGE_EPOCHS_CPU", "EXPLORER_MAX_IMAGE_EPOCHS_CUDA"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "runs"


def children() -> set[int]:
    """Pids of this process's live (not zombie) children."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] not in ("Z", "X"):
            found.add(int(stat.parent.name))
    return found


def live_run(store: RunStore, recipe: Recipe, owner: str | None = None) -> str:
    """A running run whose worker is this process (alive, so it holds its slot, and no process is started)."""
    run_id, _ = store.request(TINY, recipe, owner=owner)
    claim(store, run_id, "cpu", pid=os.getpid())
    store.set_status(run_id, "running")
    return run_id


# -- item 1: queued runs wait as rows ------------------------------------------------------------------------

@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts processes through /proc")
def test_queued_runs_hold_no_process_and_a_dead_workers_slot_goes_to_the_next(root, workers):
    store = RunStore(root)
    before = children()
    ids = [store.request(TINY, tiny(seed=s, epochs=500))[0] for s in range(4)]
    for run_id in ids:
        worker = launch(store, run_id, "cpu")
        if worker is not None:
            workers.append(worker)
    assert len(workers) == 1 and workers[0].pid == store.get(ids[0]).worker_pid
    assert children() - before == {workers[0].pid}  # one worker for four runs
    waiting = [store.get(i) for i in ids[1:]]
    assert all(r.status == "queued" and r.worker_pid is None and r.device == "cpu" for r in waiting)
    assert launch(store, ids[0], "cpu") is None and launch(store, ids[1], "cpu") is None  # no double start
    assert children() - before == {workers[0].pid}
    # The worker dies (kill -9, no goodbye): the next render or launch gives its slot to the oldest waiting run.
    workers[0].kill()
    workers[0].wait(timeout=10)
    nxt = dispatch(store, "cpu")
    workers.extend(nxt.values())
    assert list(nxt) == [ids[1]] and children() - before == {nxt[ids[1]].pid}
    assert store.get(ids[0]).status == "failed" and "died" in store.get(ids[0]).error
    assert [r.id for r in store.list_runs()] == ids[::-1]  # nothing lost


def test_a_run_only_requested_is_not_started_by_the_queue(root):
    """The CLI requests a run, then trains it in its own process: a page rendering meanwhile must not start a
    worker for it (only launch puts a run in line)."""
    store = RunStore(root)
    run_id, _ = store.request(TINY, tiny())
    assert dispatch(store, "cpu") == {} and store.get(run_id).worker_pid is None


def test_the_queue_is_capped_per_session_and_in_total_with_the_reason(root, monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_QUEUED_PER_SESSION", "2")
    monkeypatch.setenv("EXPLORER_MAX_QUEUED", "3")
    store = RunStore(root)
    alice, bob, carol = owner_id("a" * 22), owner_id("b" * 22), owner_id("c" * 22)
    mine = [store.request(TINY, tiny(seed=s), owner=alice)[0] for s in (1, 2)]
    with pytest.raises(Refused, match=r"^queue: you already have 2 runs waiting or training, the most one session "
                                      r"may have at once \(2\); wait for one to finish or stop one"):
        store.request(TINY, tiny(seed=3), owner=alice)
    assert store.request(TINY, tiny(seed=1), owner=bob) == (mine[0], False)  # attaching adds nothing: allowed
    assert store.get(mine[0]).owner == alice  # and the run keeps its owner
    store.request(TINY, tiny(seed=4), owner=bob)
    with pytest.raises(Refused, match=r"the server already has 3 runs waiting or training, the most it holds at "
                                      r"once \(3\); try again when some have finished"):
        store.request(TINY, tiny(seed=5), owner=carol)
    assert len(store.list_runs()) == 3  # a refusal queues nothing
    store.set_status(mine[0], "finished")
    run_id, created = store.request(TINY, tiny(seed=5), owner=carol)
    assert created and store.get(run_id).owner == carol


def test_a_full_queue_is_said_on_the_train_page_and_nothing_is_queued(root, monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_QUEUED_PER_SESSION", "1")
    token = "t" * 22
    store = RunStore(root)
    live_run(store, tiny(seed=7), owner=owner_id(token))
    at = page(owner=token)
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_size").set_value(256)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any(t.startswith("The run was not queued: queue: you already have 1 runs waiting or training")
               for t in texts(at.error))
    assert len(store.list_runs()) == 1


# -- item 4: memory -------------------------------------------------------------------------------------------

def test_a_batch_that_does_not_fit_is_refused_with_the_batch_that_does(root, monkeypatch):
    monkeypatch.setattr(capacity, "ram_available", lambda: 6 * GiB)  # 4 GiB for a run after the reserve
    spec = PRESETS["resnet20"]
    with pytest.raises(Refused) as refused:
        capacity.check_run(spec, Recipe(batch_size=4096), "cpu")
    message = str(refused.value)
    assert message.startswith("batch_size: batch 4,096 needs about 16.3 GiB to train this design (3.8 MiB of "
                              "activations per image")
    assert "this machine has about 4.0 GiB for a run" in message
    fits = int(message.split("at most batch ")[1].split(" fits")[0].replace(",", ""))
    assert 780 < fits < 860  # (4 GiB - 0.9 GiB of weights, data and a worker) / 3.8 MB
    capacity.check_run(spec, Recipe(batch_size=fits), "cpu")  # the hint is true: it fits ...
    with pytest.raises(Refused):
        capacity.check_run(spec, Recipe(batch_size=fits + 1), "cpu")  # ... and is the largest that does
    with pytest.raises(Refused, match="does not fit even at batch 1: choose a shallower or narrower design"):
        monkeypatch.setattr(capacity, "ram_available", lambda: 2 * GiB + 2**20)
        capacity.check_run(PRESETS["wrn_28_10"], Recipe(batch_size=1), "cpu")


def test_the_train_page_refuses_a_batch_that_does_not_fit_before_start(root, monkeypatch):
    monkeypatch.setattr(capacity, "ram_available", lambda: 6 * GiB)  # the page runs in this process
    at = page()
    at.number_input(key="train_batch_resnet").set_value(4096).run()
    assert any(t.startswith("This run cannot train here. batch_size: batch 4,096 needs about 16.")
               and "at most batch" in t for t in texts(at.error))
    assert at.button(key="train_start").disabled and RunStore(root).list_runs() == []


def test_the_worker_refuses_a_stored_run_that_no_longer_fits_before_training(root, monkeypatch):
    monkeypatch.setattr(capacity, "ram_available", lambda: 3 * GiB)
    store = RunStore(root)
    run_id, _ = store.request(TINY, tiny(batch_size=2048, train_size=4096))
    assert execute(store, run_id, device="cpu") == "failed"
    run = store.get(run_id)
    assert run.error.startswith("batch_size: batch 2,048 needs about") and "at most batch" in run.error
    assert store.metrics(run_id) == [] and not store.checkpoint_path(run_id).exists()


def test_a_cpu_workers_memory_cap_turns_the_oom_killer_into_a_clean_error(root):
    code = ("import torch\nfrom explorer.training import capacity\ncapacity.cap_process_memory('cpu')\n"
            "try:\n    torch.empty(capacity.ram_available() // 4 * 3, dtype=torch.uint8).fill_(1)\n"
            "except RuntimeError as err:\n    print('refused', \"can't allocate memory\" in str(err))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    # 3/4 of the free RAM is under the cap (free - 1 GiB): it must be allowed ...
    assert out.returncode == 0 and "refused" not in out.stdout, out.stderr
    code = code.replace("// 4 * 3", "+ 2**30")  # ... and more than what is free must fail in the process
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and out.stdout.strip() == "refused True", out.stderr


# -- item 5: what one run may cost ------------------------------------------------------------------------------

def test_a_run_over_the_devices_cost_bound_is_refused_with_what_fits(root, monkeypatch):
    with pytest.raises(Refused, match=r"^epochs: 2,000 epochs of 50,000 images is 100,000,000 training images, "
                                      r"over the 500,000 one run may train on this server's CPU "
                                      r"\(EXPLORER_MAX_IMAGE_EPOCHS_CPU\); at most 10 epochs of 50,000 images"):
        capacity.check_run(TINY, Recipe(epochs=2000), "cpu")
    limits.check_cost(300, 50_000, "cuda:1")  # a GPU takes the papers' 300 epochs of CIFAR
    monkeypatch.setenv("EXPLORER_MAX_IMAGE_EPOCHS_CPU", "100")
    with pytest.raises(Refused, match="at most 1 epoch of 64 images"):
        limits.check_cost(2, 64, "cpu")
    store = RunStore(root)  # a stored run over the bound (queued before it was lowered) ends before training
    run_id, _ = store.request(TINY, tiny(epochs=3))
    assert execute(store, run_id, device="cpu") == "failed"
    assert store.get(run_id).error.startswith("epochs: 3 epochs of 64 images is 192 training images")


def test_the_train_page_shows_the_total_time_and_refuses_a_run_over_the_bound(root):
    at = page()
    at.number_input(key="train_epochs").set_value(4)
    # not a multiple of 256, so never the page's own suggestion (which a new epoch count would replace)
    at.number_input(key="train_size").set_value(1000)
    at.run()
    warning = texts(at.warning)[-1]
    assert "in all** (" in warning and "per epoch of 1,000 images" in warning
    assert not at.button(key="train_start").disabled
    at.number_input(key="train_size").set_value(0)
    at.number_input(key="train_epochs").set_value(2000).run()
    assert any(t.startswith("This run cannot train here. epochs: 2,000 epochs of 50,000 images")
               for t in texts(at.error))
    assert at.button(key="train_start").disabled


# -- item 6: ownership ----------------------------------------------------------------------------------------

def page(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def stop_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key in ("train_stop", "train_force_stop")]


def test_only_the_owner_sees_stop_and_the_teacher_token_works(root, monkeypatch):
    monkeypatch.setenv("EXPLORER_TEACHER_TOKEN", "let-me-stop-it")
    store = RunStore(root)
    owner = "o" * 22
    run_id = live_run(store, tiny(seed=3), owner=owner_id(owner))
    mine = page(owner=owner, run=run_id)
    assert stop_buttons(mine) == ["train_stop"]
    other = page(run=run_id)
    assert limits.valid_token(other.query_params["owner"]) and other.query_params["owner"] != owner
    assert stop_buttons(other) == []
    assert list(mine.dataframe[0].value["started by"]) == ["you"]
    assert list(other.dataframe[0].value["started by"]) == ["another session"]
    assert any(t.startswith("Only the session that started a run can stop it: another browser session started it; "
                            "the teacher can stop it") for t in texts(other.caption))
    other.text_input(key="teacher_token").input("wrong").run()
    assert stop_buttons(other) == [] and "That is not the teacher token." in texts(other.error)
    other.text_input(key="teacher_token").input("let-me-stop-it").run()
    assert stop_buttons(other) == ["train_stop"]
    other.button(key="train_stop").click().run()
    assert store.get(run_id).cancel_requested is not None  # the teacher's Stop reached the run


def test_a_class_run_without_owner_needs_the_teacher_and_none_is_set(root):
    store = RunStore(root)
    run_id = live_run(store, tiny(seed=4))  # as a lesson's button or the CLI queues it
    at = page(run=run_id)
    assert stop_buttons(at) == []
    assert any("it belongs to the whole class" in t and "no teacher token is set on this server" in t
               for t in texts(at.caption))


def test_a_bad_owner_token_in_the_link_is_replaced_and_said(root):
    at = page(owner="../../etc")
    assert limits.valid_token(at.query_params["owner"])
    assert any("owner token in this link is not one this app made" in t for t in texts(at.warning))


def test_an_old_store_gains_the_owner_column_without_losing_runs(root):
    root.mkdir(parents=True)
    with sqlite3.connect(root / "runs.sqlite") as db:  # a store as it was before owners (and heartbeats)
        db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, label TEXT NOT NULL, request_key TEXT NOT NULL, "
                   "spec TEXT NOT NULL, recipe TEXT NOT NULL, status TEXT NOT NULL, device TEXT, device_name TEXT, "
                   "created REAL NOT NULL, started REAL, ended REAL, worker_pid INTEGER, error TEXT, "
                   "cancel_requested REAL)")
        db.execute("CREATE TABLE metrics (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, kind TEXT "
                   "NOT NULL, step INTEGER, epoch REAL, data TEXT NOT NULL)")
        db.execute("INSERT INTO runs (id, label, request_key, spec, recipe, status, created) VALUES "
                   "('old-1', 'resnet8', 'k', ?, ?, 'finished', 1.0)", (TINY.to_json(), '{"epochs": 1}'))
    store = RunStore(root)
    (run,) = store.list_runs()
    assert run.id == "old-1" and run.owner is None and run.status == "finished"
    new_id, _ = store.request(TINY, tiny(), owner=owner_id("n" * 22))
    assert store.get(new_id).owner == owner_id("n" * 22)
    (root / "runs.sqlite").write_bytes(b"garbage")  # the rebuild from run.json keeps the owner too
    assert RunStore(root).get(new_id).owner == owner_id("n" * 22)


# -- item 3: the lesion lesson ----------------------------------------------------------------------------------

def finished(store: RunStore, spec, checkpoint: bytes | None = None) -> str:
    run_id, _ = store.request(spec, tiny(seed=len(store.list_runs())))
    claim(store, run_id, "cpu")
    store.set_status(run_id, "running")
    store.append_metrics(run_id, [EpochEvent(epoch=1, step=2, train_loss=2.0, train_error=0.8, test_loss=2.1,
                                             test_error=0.7, lr=0.1, images_per_sec=100.0, elapsed=1.0)])
    store.set_status(run_id, "finished")
    if checkpoint is not None:
        store.checkpoint_path(run_id).write_bytes(checkpoint)
    return run_id


def test_a_lesion_study_is_sized_to_the_device_and_a_too_deep_net_refused():
    def run(name):
        return SimpleNamespace(id=name, label=name, spec=PRESETS[name].to_dict(),
                               recipe=Recipe(dataset="cifar10").to_dict())
    rate = 5e9  # forward multiply-adds per second
    small = lesion.plan(run("resnet20"), rate)
    assert small.refused is None and small.blocks == 9 and small.images == 500
    assert small.seconds == pytest.approx(10 * 500 * 40.55e6 / rate, rel=0.01)
    deep = lesion.plan(run("resnet1202"), rate)
    assert deep.images == 0 and deep.blocks == 600
    assert deep.refused.startswith("resnet1202 has 600 blocks, so its lesion study re-tests the net 601 times")
    middle = lesion.plan(run("resnet56"), rate, budget=200)  # fewer images rather than a refusal
    assert middle.refused is None and 100 <= middle.images < 500 and middle.seconds <= 200


@pytest.mark.slow
def test_the_lesion_lesson_refuses_a_too_deep_run_quickly_and_studies_the_others(root):
    store = RunStore(root)
    deep = finished(store, PRESETS["resnet1202"], checkpoint=b"never read")
    small = finished(store, TINY)
    _checkpoint(store, small)
    at = AppTest.from_file(str(ROOT / "pages" / "lessons.py"), default_timeout=120)
    at.query_params["lesson"] = "lesion"
    start = time.monotonic()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect[0].value == [small]  # the too-deep run is not chosen by default ...
    assert any(small in t and t.startswith("Lesioned by default: resnet8") for t in texts(at.caption))
    at.multiselect[0].set_value([deep, small]).run()
    took = time.monotonic() - start
    warnings = texts(at.warning)
    assert any(t.startswith(f"Not lesioned: run {deep}. resnet1202 has 600 blocks") for t in warnings)
    assert not any("Skipped run" in t for t in warnings)  # ... and refused without reading its checkpoint
    assert took < 60, f"{took:.0f} s"  # two renders, the rate probe and one tiny study (a loaded 2-core machine)
    deadline = time.monotonic() + 60
    while not any("run" in t.value.columns for t in at.table):  # a study over WAIT_SECONDS goes on behind
        assert time.monotonic() < deadline
        time.sleep(1)
        at.run()
    assert len(next(t.value for t in at.table if "run" in t.value.columns)) == 1
    assert (store.run_dir(small) / f"lesion-{lesion.plans(store.list_runs())[small].images}.json").exists()


def test_a_lesion_result_is_kept_per_checkpoint(root, monkeypatch):
    store = RunStore(root)
    run_id = finished(store, TINY)
    _checkpoint(store, run_id)
    calls = []
    real = lesion.lesion_study
    monkeypatch.setattr(lesion, "lesion_study", lambda *a: calls.append(1) or real(*a))
    first = lesion.study_run(store, run_id, 50)
    assert lesion.study_run(store, run_id, 50).equals(first) and len(calls) == 1  # read back, not studied again
    _checkpoint(store, run_id)  # a new checkpoint: studied again
    os.utime(store.checkpoint_path(run_id), (time.time() + 5, time.time() + 5))
    lesion.study_run(store, run_id, 50)
    assert len(calls) == 2


def test_a_gpus_time_estimate_comes_from_its_earlier_runs(root):
    from explorer.models.cost import cost
    from explorer.training.events import StepEvent
    from explorer.training.speed import measured_rate

    store = RunStore(root)
    assert measured_rate(store, "cuda:0") is None  # the page says there is no estimate yet
    for seed, speed in ((1, 1000.0), (2, 3000.0), (3, 2000.0)):
        run_id = live_run(store, tiny(seed=seed))
        with store.connect() as db:
            db.execute("UPDATE runs SET device='cuda:0' WHERE id=?", (run_id,))
        store.append_metrics(run_id, [StepEvent(step=1, epoch=0.1, train_loss=2.0, train_error=0.8, lr=0.1,
                                                images_per_sec=speed, elapsed=1.0)])
    assert measured_rate(store, "cuda:0") == 3 * cost(TINY).macs * 2000.0  # the median run
    assert measured_rate(store, "cuda:1") is None  # another GPU's runs say nothing about this one


def test_the_train_pages_gpu_branch_shows_the_total_time_from_earlier_runs(root, monkeypatch):
    """No GPU is needed: the page is told there is one, and the memory figure it would read from it."""
    import streamlit as st
    import torch

    from explorer.training.events import StepEvent

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Fake GPU")
    monkeypatch.setattr(capacity, "free_memory", lambda device, in_worker: (80 * GiB, "a fake GPU"))
    store = RunStore(root)
    at = page()
    assert any("no time estimate until a first run has trained on it" in s.value for s in at.success)
    run_id = live_run(store, tiny(seed=5))
    with store.connect() as db:
        db.execute("UPDATE runs SET device='cuda:0' WHERE id=?", (run_id,))
    store.append_metrics(run_id, [StepEvent(step=1, epoch=0.1, train_loss=2.0, train_error=0.8, lr=0.1,
                                            images_per_sec=5000.0, elapsed=1.0)])
    st.cache_data.clear()  # the page re-reads the measured speed once a minute
    at = page()
    (shown,) = [s.value for s in at.success if s.value.startswith("Trains on the GPU: **Fake GPU**")]
    assert "250,000 training images, about **" in shown and "in all** at the speed of its earlier runs" in shown
