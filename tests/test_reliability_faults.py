"""Faults say what happened and lose nothing (issue 11): a broken run database, a full disk, an unloadable
checkpoint, a dead worker, a diverging run. Each test checks what the user sees and that no run or metric is lost.

Worker tests start real `explorer.training.worker` processes on a tiny synthetic run; every one is killed in
teardown and every wait is bounded. The real full-disk test mounts a 1 MB tmpfs and is skipped where it cannot.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import torch

from explorer import PRESETS
from explorer.lessons import dense, lesion
from explorer.models.builder import build_model
from explorer.training import engine, liveness
from explorer.training.events import ENDED, DivergenceWatch, EpochEvent, RunStatus
from explorer.training.queue import claim, launch
from explorer.training.recipe import Recipe
from explorer.training.runs import RunStore, StoreError
from explorer.training.worker import execute
from test_runs import wait_for  # tests/ is on sys.path (pytest's default import mode)

TINY = PRESETS["resnet20"].replace(depth=8)
WAIT = 120.0  # seconds: a worker imports torch on a busy 2-core machine, then trains a tiny net


def tiny(**changes) -> Recipe:
    return Recipe(**{"dataset": "synthetic", "epochs": 1, "batch_size": 32, "train_size": 64, **changes})


EPOCH = EpochEvent(epoch=1, step=2, train_loss=2.0, train_error=0.8, test_loss=2.1, test_error=0.7, lr=0.1,
                   images_per_sec=100.0, elapsed=1.0)


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # workers inherit it: no oversubscribed cores
    return tmp_path / "runs"


@pytest.fixture
def workers(root):
    """The worker processes a test starts (Popen); each one is killed and reaped in teardown."""
    popens: list[subprocess.Popen] = []
    yield popens
    for p in popens:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def finished_run(store: RunStore, seed: int = 0) -> str:
    """A finished run with one epoch of metrics, as a worker leaves it (run.json included)."""
    run_id, _ = store.request(TINY, tiny(seed=seed))
    claim(store, run_id, "cpu")
    store.set_status(run_id, "running")
    store.append_metrics(run_id, [EPOCH])
    store.set_status(run_id, "finished")
    return run_id


# -- item 7: a corrupt, truncated, emptied or lost database ----------------------------------------------------

def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not an SQLite file " * 200)


def _truncated(path: Path) -> None:
    with sqlite3.connect(path) as db:  # everything into the main file first, then cut it
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _emptied(path: Path) -> None:
    path.write_bytes(b"")


def _deleted(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


@pytest.mark.parametrize("damage, kept", [(_garbage, True), (_truncated, True), (_emptied, True),
                                          (_deleted, False)])
def test_a_broken_database_is_moved_aside_and_rebuilt_from_the_run_folders(root, damage, kept):
    store = RunStore(root)
    runs = [finished_run(store, seed) for seed in range(3)]
    (root / "old-run").mkdir()  # a folder from before run.json: named in the notice, not invented
    before = store.path.read_bytes() if store.path.exists() else b""
    damage(store.path)
    damaged = store.path.read_bytes() if store.path.exists() else None

    again = RunStore(root)  # what every page and worker does: no exception
    notice = again.notice
    assert notice and "3 run(s) were restored" in notice and "old-run" in notice
    assert ("moved aside" in notice) is kept and ("missing" in notice) is not kept
    moved = list(root.glob("runs.sqlite.corrupt-*"))
    assert (len([m for m in moved if m.suffix != ".txt"]) >= 1) is kept
    if kept:  # the bad file is kept byte for byte, for whoever wants to dig in it
        assert any(m.read_bytes() == damaged for m in moved if m.suffix != ".txt" and not m.name.endswith("-wal")
                   and not m.name.endswith("-shm"))
    assert before  # the store existed
    assert sorted(r.id for r in again.list_runs()) == sorted(runs)
    for run_id in runs:
        assert again.get(run_id).status == "finished"
        assert again.metrics(run_id, "epoch") == [EPOCH]  # nothing lost
    assert again.request(TINY, tiny(seed=0)) == (runs[0], False)  # identical requests still attach
    assert RunStore(root).notice == notice  # the next page shows it too


def test_a_healthy_store_has_no_notice_and_a_fresh_empty_folder_is_not_a_loss(root):
    store = RunStore(root)
    finished_run(store)
    assert RunStore(root).notice is None and not list(root.glob("*.corrupt-*"))
    assert json.loads((root / store.list_runs()[0].id / "run.json").read_text())["final"]["test_error"] == 0.7


def test_a_runs_folder_that_cannot_be_used_gives_a_clear_message(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"runs folder .*a-file/runs cannot be used .*EXPLORER_RUNS_DIR"):
        RunStore(blocker / "runs")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions, so a chmod cannot make it read-only")
def test_a_read_only_runs_folder_gives_a_clear_message(root):
    store = RunStore(root)
    finished_run(store)
    os.remove(f"{store.path}-shm")
    root.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="writable"):
            RunStore(root)
    finally:
        root.chmod(0o755)


# -- item 8: disk full -----------------------------------------------------------------------------------------

def test_no_space_at_a_checkpoint_fails_the_run_keeps_metrics_and_the_previous_checkpoint(root, monkeypatch):
    store = RunStore(root)
    run_id, _ = store.request(TINY, tiny(epochs=3))
    real_save, saves = torch.save, []

    def save(obj, path, *args, **kwargs):
        saves.append(path)
        if len(saves) >= 2:
            Path(path).write_bytes(b"half a checkpoint")  # what a full disk leaves behind
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(engine.torch, "save", save)
    assert execute(store, run_id, device="cpu") == RunStatus.FAILED
    run = store.get(run_id)
    assert run.error.startswith("no space left on the device") and "epoch 2" in run.error
    assert [e.epoch for e in store.metrics(run_id, "epoch")] == [1, 2]  # metrics kept
    state = engine.load_checkpoint(str(store.checkpoint_path(run_id)))  # epoch 1's, whole
    assert state["step"] == 2 and saves[0] != str(store.checkpoint_path(run_id))  # written to a temp file first
    assert sorted(p.name for p in store.run_dir(run_id).iterdir()) == ["checkpoint.pt", "run.json"]


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip() or done.returncode}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk_fails_the_run_and_the_runs_still_list(small_disk):
    store = RunStore(small_disk / "runs")
    run_id, _ = store.request(TINY, tiny(epochs=20))  # a checkpoint is ~0.6 MB: the second one does not fit
    assert execute(store, run_id, device="cpu") == RunStatus.FAILED
    run = store.get(run_id)
    assert "no space left on the device" in run.error, run.error
    assert len(store.metrics(run_id, "epoch")) >= 1
    engine.load_checkpoint(str(store.checkpoint_path(run_id)))  # the last whole one
    filler = small_disk / "filler"
    with contextlib.suppress(OSError), open(filler, "wb") as f:  # whatever room is left, take it
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    again = RunStore(small_disk / "runs")  # reads need no write
    assert [r.id for r in again.list_runs()] == [run_id] and again.notice is None
    assert again.metrics_csv(run_id).count("\nepoch,") == len(store.metrics(run_id, "epoch"))
    with pytest.raises(StoreError, match="a new run cannot be recorded .* free some disk space"):
        again.request(TINY, tiny(seed=9))


# -- item 9: unloadable checkpoints in lessons 7 and 8 -----------------------------------------------------------

class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _checkpoint(store: RunStore, run_id: str, spec=TINY, weights_of=TINY) -> None:
    state = {"model": build_model(weights_of).state_dict(), "spec": spec.to_dict(), "recipe": tiny().to_dict(),
             "step": 2}
    torch.save(state, store.checkpoint_path(run_id))


@pytest.mark.parametrize("family", ["resnet", "densenet"])
def test_broken_checkpoints_are_skipped_with_their_reason(root, family):
    store = RunStore(root)
    spec = TINY if family == "resnet" else PRESETS["densenet40_k12"].replace(depth=10)
    good, truncated, evil, mismatched = (finished_run(store, seed) for seed in range(4))
    _checkpoint(store, good, spec, spec)
    _checkpoint(store, truncated, spec, spec)
    data = store.checkpoint_path(truncated).read_bytes()
    store.checkpoint_path(truncated).write_bytes(data[: len(data) // 3])
    store.checkpoint_path(evil).write_bytes(pickle.dumps(Evil()))
    other = spec.replace(depth=14 if family == "resnet" else 16)
    _checkpoint(store, mismatched, spec, other)
    reasons = {"truncated": truncated, "holds code": evil, "do not fit": mismatched}
    rng = torch.get_rng_state()
    if family == "resnet":
        frames, skipped = lesion.studies([truncated, evil, mismatched, good],
                                         lambda run_id: lesion.study_run(store, run_id))
        assert list(frames) == [good] and len(frames[good]) == 1 + 3  # intact + 3 blocks of a ResNet-8
    else:
        runs = [store.get(i) for i in (truncated, evil, mismatched, good)]
        model, run_id, skipped = dense.trained_model(store, runs)
        assert run_id == good and len(dense.feature_reuse(model))
    assert [s.run_id for s in skipped] == [truncated, evil, mismatched]
    assert torch.equal(torch.get_rng_state(), rng)  # the Streamlit server's other sessions see no RNG move
    for word, run_id in reasons.items():
        assert word in next(s.reason for s in skipped if s.run_id == run_id)


# -- item 10: dead workers, recycled pids, a Stop in the first second ---------------------------------------------

def test_a_recycled_pid_does_not_keep_a_run_running(root):
    store = RunStore(root)
    run_id, _ = store.request(TINY, tiny())
    not_a_worker = os.getppid()  # alive, and not `explorer.training.worker`
    claim(store, run_id, "cpu", pid=not_a_worker)
    store.set_status(run_id, "running")
    assert store.get(run_id).status == "running"  # a fresh heartbeat: given the benefit of the doubt
    with store.connect() as db:
        db.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time() - liveness.STALE_AFTER - 1, run_id))
    run = store.get(run_id)
    assert run.status == "failed" and "without saying why" in run.error
    again, created = store.request(TINY, tiny())
    assert created and again != run_id


def test_a_quiet_live_worker_keeps_its_run(root):
    store = RunStore(root)
    run_id, _ = store.request(TINY, tiny())
    claim(store, run_id, "cpu")  # this process trains in-process (execute): a worker, however quiet
    store.set_status(run_id, "running")
    with store.connect() as db:
        db.execute("UPDATE runs SET heartbeat=0 WHERE id=?", (run_id,))
    assert store.get(run_id).status == "running" and store.request(TINY, tiny()) == (run_id, False)


@pytest.mark.slow
def test_kill_9_then_an_identical_request_trains_again_without_a_restart(root, workers):
    store = RunStore(root)
    run_id, _ = store.request(TINY, tiny(epochs=500))
    workers.append(launch(store, run_id))
    wait_for(lambda: store.metrics(run_id, "epoch"), what="the first epoch")
    os.kill(workers[0].pid, signal.SIGKILL)
    workers[0].wait(timeout=10)
    again, created = store.request(TINY, tiny(epochs=500))  # the same Start press, no app restart
    assert created and again != run_id
    old = store.get(run_id)
    assert old.status == "failed" and "without saying why" in old.error
    assert len(store.metrics(run_id, "epoch")) >= 1
    assert json.loads((root / run_id / "run.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_sigterm_in_a_workers_first_second_cancels(root, workers):
    store = RunStore(root)
    run_id, _ = store.request(TINY, tiny(epochs=500))
    workers.append(launch(store, run_id))
    time.sleep(0.3)  # the worker is still importing torch
    os.kill(workers[0].pid, signal.SIGTERM)
    assert workers[0].wait(timeout=WAIT) == 0
    run = store.get(run_id)
    assert run.status == "cancelled", (run, store.log_path(run_id).read_text())


# -- item 11: divergence ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("losses, epoch_mean, diverged", [
    ([2.3, 2.0, 1.5, 1.2], 1.7, None),                                     # learning
    ([2.3, 9.0, 12.0, 6.0, 3.0, 2.4, 2.2], 5.0, None),                     # a spike that recovers
    ([2.3, float("nan")], None, "became nan"),
    ([2.3, 50.0, 1e3, 1e6, 1e9, 6.7e12], None, "exploded"),                # lr = 10
    ([2.3, 3.0, 4.0, 5.5, 7.0, 8.0, 9.5], 7.2, "stayed high"),             # slow: never NaN, never 20
])
def test_divergence_rules(losses, epoch_mean, diverged):
    watch = DivergenceWatch(tiny(lr=1.0), classes=10)
    ends = [watch.step(loss, step) for step, loss in enumerate(losses, start=1)]
    ends.append(watch.epoch(epoch_mean) if epoch_mean is not None else None)
    found = [e for e in ends if e is not None]
    if diverged is None:
        assert found == []
    else:
        assert found[0].status == RunStatus.DIVERGED and diverged in found[0].message
        assert "lower learning rate than 1.0 (e.g. 0.1)" in found[0].message


def test_a_run_at_lr_10_ends_diverged_and_identical_requests_attach_to_its_result(root):
    store = RunStore(root)
    run_id, _ = store.request(TINY, tiny(epochs=4, lr=10.0, train_size=256))
    assert execute(store, run_id, device="cpu") == RunStatus.DIVERGED
    run = store.get(run_id)
    assert re.search(r"lower learning rate than 10", run.error), run.error
    assert run.status in ENDED and not run.trained
    assert store.request(TINY, tiny(epochs=4, lr=10.0, train_size=256)) == (run_id, False)


# -- what the pages show -----------------------------------------------------------------------------------------

PAGES = Path(__file__).resolve().parent.parent / "pages"


def _unescaped(elements) -> list[str]:
    return [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", e.value) for e in elements]


def test_the_train_page_says_the_store_was_rebuilt_and_lists_the_runs(root):
    from streamlit.testing.v1 import AppTest

    store = RunStore(root)
    run_id = finished_run(store)
    _garbage(store.path)
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("moved aside" in w and "1 run(s) were restored" in w for w in _unescaped(at.warning))
    assert f"{run_id} (finished)" in [o for s in at.selectbox if s.label == "Run" for o in s.options]


def test_the_train_page_names_an_unusable_runs_folder(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "a-file" / "runs"))
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be used" in e and "EXPLORER_RUNS_DIR" in e for e in _unescaped(at.error))


@pytest.mark.slow
def test_the_lesion_lesson_lists_a_broken_run_and_studies_the_others(root):
    from streamlit.testing.v1 import AppTest

    store = RunStore(root)
    good, broken = finished_run(store, 0), finished_run(store, 1)
    _checkpoint(store, good)
    store.checkpoint_path(broken).write_bytes(pickle.dumps(Evil()))
    at = AppTest.from_file(str(PAGES / "lessons.py"), default_timeout=120)
    at.query_params["lesson"] = "lesion"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.multiselect[0].set_value([good, broken]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"Skipped run {broken}" in w and "holds code" in w for w in _unescaped(at.warning))
    assert not any(str(root) in w or str(Path(root).resolve()) in w for w in _unescaped(at.warning))  # no server path
    assert len(next(t.value for t in at.table if "run" in t.value.columns)) == 1
