"""The run store and its workers: dedupe, claims, the queue, cancel, recovery after a kill, persistence.

Store-level tests use fake pids and a fake engine (fast, deterministic). Worker tests start real
`explorer.training.worker` processes on a tiny synthetic run; every one is killed in teardown, and every wait is
bounded.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from explorer import PRESETS, SpecError
from explorer.training import worker
from explorer.training.events import ENDED, EndEvent, EpochEvent, RunStatus, StepEvent
from explorer.training.queue import (canonical_device, cancel, claim, launch, pid_alive, queue_position, recover,
                                     try_start)
from explorer.training.recipe import Recipe
from explorer.training.runs import RunStore, request_key
from explorer.training.worker import default_device, execute

ROOT = Path(__file__).resolve().parent.parent
SPEC = PRESETS["resnet20"]
TINY = PRESETS["resnet20"].replace(depth=8)


def recipe(**changes) -> Recipe:
    """A tiny real recipe: the store keeps what Recipe.to_dict() gives."""
    return Recipe(split="45k/5k", epochs=1, batch_size=32, weight_decay=5e-4, train_size=64).replace(**changes)


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    return RunStore()


def dead_pid() -> int:
    """A pid that surely belonged to a process that has exited and been reaped."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# -- the store alone -----------------------------------------------------------------------------------------

def test_store_uses_env_root_and_wal(store, tmp_path):
    assert store.root == tmp_path / "runs"
    with store.connect() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_identical_requests_attach_and_different_ones_do_not(store):
    first, created = store.request(SPEC, recipe())
    assert created and first.startswith("resnet20-")
    assert store.request(SPEC, recipe()) == (first, False)
    for other in (store.request(SPEC, recipe(seed=1)), store.request(SPEC, recipe(dataset="cifar10")),
                  store.request(SPEC.replace(depth=32), recipe())):
        assert other[1] and other[0] != first
    assert len(store.list_runs()) == 4


@pytest.mark.parametrize("status, attaches", [("queued", True), ("running", True), ("finished", True),
                                              ("diverged", True), ("failed", False), ("cancelled", False)])
def test_which_runs_a_request_attaches_to(store, status, attaches):
    run_id, _ = store.request(SPEC, recipe())
    store.set_status(run_id, status, error="x" if status in ("failed", "cancelled") else None)
    again, created = store.request(SPEC, recipe())
    assert (again == run_id) is attaches and created is not attaches


def test_request_key_ignores_dict_order():
    a = recipe().to_dict()
    b = dict(reversed(list(a.items())))
    assert request_key(SPEC, a) == request_key(SPEC, b)


def test_status_timestamps_and_error(store):
    run_id, _ = store.request(SPEC, recipe())
    run = store.get(run_id)
    assert run.status == "queued" and run.started is None and run.ended is None
    assert run.status is RunStatus.QUEUED and Recipe.from_dict(run.recipe) == recipe()
    store.set_status(run_id, "running", device="cpu")
    store.set_status(run_id, "diverged", error="loss is nan at step 3; lower the learning rate")
    run = store.get(run_id)
    assert run.status == "diverged" and run.device == "cpu" and run.error.startswith("loss is nan")
    assert run.created <= run.started <= run.ended


def test_metrics_roundtrip_and_csv(store):
    run_id, _ = store.request(SPEC, recipe())
    events = [StepEvent(step=s, epoch=0, train_loss=2.3 - s / 10, train_error=0.9, lr=0.1, images_per_sec=100.0,
                        elapsed=s) for s in range(3)]
    events.append(EpochEvent(epoch=1, step=3, train_loss=2.0, train_error=0.8, test_loss=2.1, test_error=0.85,
                             lr=0.1, images_per_sec=100.0, elapsed=3.0))
    events.append(EndEvent(status=RunStatus.FINISHED))
    assert store.append_metrics(run_id, events) == 4
    assert store.metrics(run_id) == events[:4]  # typed events come back equal
    assert [e.step for e in store.metrics(run_id, "step")] == [0, 1, 2]
    (epoch,) = store.metrics(run_id, "epoch")
    assert epoch.test_error == 0.85
    assert isinstance(store.last_metric(run_id), EpochEvent) and store.last_metric(run_id, "step").step == 2
    assert store.last_metric("no-such-run") is None
    _, last = store.metrics_since(run_id)
    newer, seq = store.metrics_since(run_id, after=last - 2)  # a follower that has seen the first two
    assert newer == events[2:4] and seq == last and store.metrics_since(run_id, after=last) == ([], last)
    lines = store.metrics_csv(run_id).splitlines()
    assert lines[0] == "kind,epoch,step,train_loss,train_error,test_loss,test_error,lr,images_per_sec,elapsed"
    assert lines[1] == "step,0,0,2.3,0.9,,,0.1,100.0,0.0"
    assert lines[4] == "epoch,1,3,2.0,0.8,2.1,0.85,0.1,100.0,3.0"


def test_events_round_trip_through_json_and_old_rows_keep_their_status_words():
    from explorer.training.events import from_dict, to_dict

    end = EndEvent(status=RunStatus.DIVERGED, message="loss is nan")
    assert to_dict(end) == {"kind": "end", "status": "diverged", "message": "loss is nan"}
    assert from_dict(to_dict(end)) == end and from_dict(to_dict(STEP)) == STEP
    assert from_dict({**to_dict(STEP), "seq": 7, "added_later": 1}) == STEP  # unknown keys of a newer version
    assert [s.value for s in RunStatus] == ["queued", "running", "finished", "diverged", "failed", "cancelled"]
    assert RunStatus("finished") == "finished" and f"{RunStatus.FAILED}" == "failed"


def test_a_design_that_does_not_fit_the_data_is_refused_before_it_is_queued(store):
    with pytest.raises(SpecError, match=r"^stem: .* 32x32 images, which need the CIFAR stem.*got 'imagenet'"):
        store.request(PRESETS["resnet18"], recipe())
    with pytest.raises(SpecError, match=r"^num_classes: CIFAR-10 has 10 classes.*got 100, try 10"):
        store.request(SPEC.replace(num_classes=100), recipe(dataset="cifar10"))
    assert store.list_runs() == []


def test_claim_is_exclusive_and_taken_over_from_a_dead_worker(store):
    run_id, _ = store.request(SPEC, recipe())
    assert claim(store, run_id, "cpu", pid=os.getpid())
    assert not claim(store, run_id, "cpu", pid=os.getppid())  # a live owner: a second worker is a no-op
    with store.connect() as db:
        db.execute("UPDATE runs SET worker_pid=? WHERE id=?", (dead_pid(), run_id))
    assert claim(store, run_id, "cpu", pid=os.getppid())
    store.set_status(run_id, "finished")
    assert not claim(store, run_id, "cpu", pid=os.getpid())


@pytest.mark.parametrize("limit", [1, 2])
def test_queue_is_first_come_first_served_up_to_the_limit(store, monkeypatch, limit):
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", str(limit))
    ids = [store.request(SPEC, recipe(seed=s))[0] for s in range(4)]
    for run_id in ids:
        assert claim(store, run_id, "cpu", pid=os.getpid())
    gpu_id = store.request(SPEC, recipe(seed=9))[0]
    assert claim(store, gpu_id, "cuda", pid=os.getpid())
    assert not try_start(store, ids[limit])  # the older ones come first
    started = [try_start(store, run_id) for run_id in ids]
    assert started == [True] * limit + [False] * (4 - limit)
    assert try_start(store, gpu_id)  # the queue is per device
    assert queue_position(store, ids[limit]) == limit
    store.set_status(ids[0], "finished")
    assert try_start(store, ids[limit])


@pytest.mark.parametrize("given, canonical", [("cpu", "cpu"), ("cuda", "cuda:0"), ("cuda:0", "cuda:0"),
                                               (" CUDA:1 ", "cuda:1")])
def test_canonical_device(given, canonical):
    assert canonical_device(given) == canonical


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "cuda0", "", "mps"])
def test_canonical_device_refuses_with_the_forms_it_takes(bad):
    with pytest.raises(ValueError, match=r"expected cpu, cuda or cuda:N"):
        canonical_device(bad)


def test_cuda_and_cuda0_share_one_queue(store, monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", "1")
    first, second = (store.request(SPEC, recipe(seed=s))[0] for s in (1, 2))
    assert claim(store, first, "cuda", pid=os.getpid())
    assert claim(store, second, "cuda:0", pid=os.getpid())
    assert store.get(first).device == store.get(second).device == "cuda:0"
    assert try_start(store, first)
    assert not try_start(store, second)  # the same GPU: it waits
    assert queue_position(store, second) == 1


def test_worker_refuses_a_bad_device_and_claims_nothing(store, capsys):
    run_id, _ = store.request(SPEC, recipe(seed=3))
    assert worker.main([run_id, "--root", str(store.root), "--device", "gpu"]) == 2
    assert "expected cpu, cuda or cuda:N" in capsys.readouterr().err
    assert store.get(run_id).status == "queued" and store.get(run_id).worker_pid is None


def test_a_dead_worker_holds_no_queue_slot(store, monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", "1")
    stale, _ = store.request(SPEC, recipe(seed=1))
    fresh, _ = store.request(SPEC, recipe(seed=2))
    claim(store, stale, "cpu", pid=dead_pid())
    with store.connect() as db:
        db.execute("UPDATE runs SET status='running' WHERE id=?", (stale,))
    claim(store, fresh, "cpu", pid=os.getpid())
    assert try_start(store, fresh)


def test_recover_fails_dead_workers_keeps_metrics_and_live_runs(store):
    dead, _ = store.request(SPEC, recipe(seed=1))
    live, _ = store.request(SPEC, recipe(seed=2))
    unclaimed, _ = store.request(SPEC, recipe(seed=3))
    claim(store, dead, "cpu", pid=dead_pid())
    claim(store, live, "cpu", pid=os.getpid())
    for run_id in (dead, live):
        store.set_status(run_id, "running")
    store.append_metrics(dead, [STEP])
    assert recover(RunStore(store.root)) == [dead]
    assert store.get(dead).status == "failed" and "died" in store.get(dead).error
    assert len(store.metrics(dead)) == 1
    assert store.get(live).status == "running" and store.get(unclaimed).status == "queued"


def test_cancel_of_an_unclaimed_run_is_immediate(store):
    run_id, _ = store.request(SPEC, recipe())
    cancel(store, run_id)
    assert store.get(run_id).status == "cancelled"
    assert launch(store, run_id) is None


def test_zombie_is_dead():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while pid_alive(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(p.pid)  # exited, not yet reaped: a zombie
    p.wait()
    assert pid_alive(os.getpid())


def _fake_engine(monkeypatch, events: list | None = None, raises: Exception | None = None):
    """Replace the worker's engine with a generator of the given events: the store's bookkeeping, no torch work."""
    def fake_train(spec, recipe, *, device="cpu", data_dir=None, checkpoint_path=None, should_stop=None,
                   log_every=20):
        for event in events or []:
            if should_stop is not None and should_stop():
                yield EndEvent(status=RunStatus.CANCELLED, message="stopped")
                return
            yield event
        if raises is not None:
            raise raises

    monkeypatch.setattr(worker, "train", fake_train)


STEP = StepEvent(step=1, epoch=0, train_loss=2.0, train_error=0.8, lr=0.1, images_per_sec=10.0, elapsed=0.1)


@pytest.mark.parametrize("events, raises, status, message", [
    ([STEP, EndEvent(status=RunStatus.FINISHED)], None, "finished", None),
    ([STEP, EndEvent(status=RunStatus.DIVERGED, message="loss is nan")], None, "diverged", "loss is nan"),
    ([STEP], RuntimeError("CUDA out of memory"), "failed", "RuntimeError: CUDA out of memory"),
    ([STEP], None, "failed", "the engine stopped without an end event"),
])
def test_execute_records_the_end(store, monkeypatch, events, raises, status, message):
    _fake_engine(monkeypatch, events, raises)
    run_id, _ = store.request(SPEC, recipe())
    seen = []
    assert execute(store, run_id, on_event=seen.append, device="cpu") == status
    run = store.get(run_id)
    assert run.status == status and run.error == message and run.worker_pid == os.getpid()
    assert store.metrics(run_id) == [STEP]  # kept even when the run failed
    assert seen[0] == STEP and seen[-1] == EndEvent(status=status, message=message or seen[-1].message)
    # A second execute of the ended run follows it: the stored events, then the end.
    replay = []
    assert execute(store, run_id, on_event=replay.append) == status
    assert [e.kind for e in replay] == ["step", "end"] and replay[-1].status == status


def test_execute_honours_a_cancel(store, monkeypatch):
    _fake_engine(monkeypatch, [STEP] * 5)
    run_id, _ = store.request(SPEC, recipe())
    claim(store, run_id, "cpu")
    with store.connect() as db:
        db.execute("UPDATE runs SET cancel_requested=1 WHERE id=?", (run_id,))
    assert execute(store, run_id) == "cancelled"


# -- the real engine, in this process --------------------------------------------------------------------------

def test_an_injected_nan_is_stored_as_diverged(store, monkeypatch):
    import explorer.training.engine as engine
    from explorer.models.builder import build_model

    def nan_model(spec, device="cpu"):
        model = build_model(spec, device)
        model.register_forward_hook(lambda module, inputs, out: out * float("nan"))
        return model

    monkeypatch.setattr(engine, "build_model", nan_model)
    run_id, _ = store.request(TINY, Recipe(train_size=64, batch_size=32, epochs=1))
    assert execute(store, run_id, device="cpu") == "diverged"
    run = store.get(run_id)
    assert run.status is RunStatus.DIVERGED and not run.trained and run.ended is not None
    assert run.error.startswith("the training loss became nan at step 2; try a lower learning rate than 0.1")
    assert store.metrics(run_id) == []  # the NaN step is not stored as a measurement, and no epoch ended
    assert not store.checkpoint_path(run_id).exists()  # nothing a lesson could load as a trained net


def test_a_stored_design_that_does_not_fit_fails_in_the_worker_before_training(store):
    """A row written by an older version, which request() would now refuse: the worker ends it with the rule."""
    run_id, _ = store.request(TINY, tiny_recipe())
    with store.connect() as db:
        db.execute("UPDATE runs SET spec=? WHERE id=?", (PRESETS["resnet18"].to_json(), run_id))
    seen = []
    assert execute(store, run_id, on_event=seen.append, device="cpu") == "failed"
    run = store.get(run_id)
    assert run.error.startswith("stem: Synthetic shapes (not CIFAR-10) has 32x32 images")
    assert "got 'imagenet'" in run.error
    assert seen == [EndEvent(status=RunStatus.FAILED, message=run.error)] and store.metrics(run_id) == []


# -- real worker processes -------------------------------------------------------------------------------------

WAIT = 120.0  # seconds: a worker imports torch (a few seconds on a busy 2-core machine), then trains a tiny net


def tiny_recipe(**changes) -> Recipe:
    return Recipe(**{"dataset": "synthetic", "epochs": 1, "batch_size": 32, "train_size": 64, **changes})


def long_recipe(**changes) -> dict:
    """Hundreds of epochs: only ever cancelled or killed, never finished, in a test."""
    return tiny_recipe(epochs=500, **changes)


@pytest.fixture
def workers(store):
    """Kill, in teardown, every worker process the test's store knows of (and any Popen handed in)."""
    popens: list[subprocess.Popen] = []
    yield popens
    pids = {r.worker_pid for r in store.list_runs() if r.worker_pid} | {p.pid for p in popens}
    for pid in pids - {os.getpid()}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for p in popens:
        if p is not None:
            p.wait(timeout=10)


def wait_for(predicate, timeout: float = WAIT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def wait_status(store, run_id, statuses=ENDED, timeout: float = WAIT) -> str:
    def check():
        run = store.get(run_id)
        return run.status if run.status in statuses else None
    try:
        return wait_for(check, timeout, f"run {run_id} to reach {statuses}")
    except AssertionError:
        log = store.log_path(run_id)
        raise AssertionError(f"run {run_id}: {store.get(run_id)}\nlog:\n{log.read_text() if log.exists() else ''}")


def python(code: str, env_root: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "EXPLORER_RUNS_DIR": str(env_root), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
def test_a_run_outlives_its_launcher_and_lists_after_a_restart(store, workers):
    launcher = python(f"""
        from explorer import PRESETS
        from explorer.training.queue import launch
        from explorer.training.recipe import Recipe
        from explorer.training.runs import RunStore
        store = RunStore()
        run_id, _ = store.request(PRESETS["resnet20"].replace(depth=8), Recipe.from_dict({tiny_recipe().to_dict()!r}))
        first, second = launch(store, run_id), launch(store, run_id)  # a double launch starts one worker
        print(run_id, first.pid, 0 if second is None else second.pid)
    """, store.root)
    out, err = launcher.communicate(timeout=WAIT)
    assert launcher.returncode == 0, err
    run_id, *pids = out.split()
    restarted = RunStore(store.root)  # the app restarting: a new store object on the same folder
    assert [r.id for r in restarted.list_runs()] == [run_id]
    assert wait_status(restarted, run_id) == "finished"
    run = restarted.get(run_id)
    assert run.worker_pid == int(pids[0]) and pids[1] == "0" and run.device == default_device()
    assert [e.epoch for e in restarted.metrics(run_id, "epoch")] == [1]  # trained once, not twice
    assert recover(restarted) == [] and restarted.get(run_id).status == "finished"


@pytest.mark.slow
def test_duplicate_requests_from_processes_at_once_attach_to_one_run(store, tmp_path):
    go = tmp_path / "go"
    code = f"""
        import pathlib, time
        from explorer import PRESETS
        from explorer.training.recipe import Recipe
        from explorer.training.runs import RunStore
        store = RunStore()
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.01)
        print(*store.request(PRESETS["resnet20"], Recipe.from_dict({recipe().to_dict()!r})))
    """
    procs = [python(code, store.root) for _ in range(2)]
    time.sleep(0.5)
    go.touch()
    outs = [p.communicate(timeout=WAIT) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    ids = [o[0].split()[0] for o in outs]
    created = sorted(o[0].split()[1] for o in outs)
    assert len(set(ids)) == 1 and created == ["False", "True"]
    assert len(store.list_runs()) == 1


@pytest.mark.slow
def test_a_killed_worker_leaves_a_failed_run_with_its_metrics(store, workers):
    run_id, _ = store.request(TINY, long_recipe())
    workers.append(launch(store, run_id))
    wait_for(lambda: store.metrics(run_id, "epoch"), what="the first epoch")
    pid = store.get(run_id).worker_pid
    os.kill(pid, signal.SIGKILL)
    workers[0].wait(timeout=10)
    run = store.get(run_id)  # the worker could not say goodbye: reading the run notices (no restart needed)
    assert run.status == "failed" and f"pid {pid}" in run.error and "without saying why" in run.error
    assert recover(RunStore(store.root)) == []
    assert len(store.metrics(run_id, "epoch")) >= 1


@pytest.mark.slow
def test_a_queued_run_waits_as_a_row_and_the_ending_worker_starts_it(store, workers, monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", "1")  # the workers inherit it
    first, _ = store.request(TINY, long_recipe())
    second, _ = store.request(TINY, tiny_recipe(seed=1))
    workers.append(launch(store, first, "cpu"))
    wait_for(lambda: store.get(first).status == "running", what="the first run to start")
    assert launch(store, second, "cpu") is None  # its turn has not come: no process is started for it
    waiting = store.get(second)
    assert waiting.status == "queued" and waiting.worker_pid is None and waiting.device == "cpu"
    assert queue_position(store, second) == 1
    wait_for(lambda: store.metrics(first, "epoch"), what="the first run's first epoch")
    cancel(store, first)
    assert wait_status(store, first) == "cancelled"
    assert wait_status(store, second) == "finished"  # started by the first worker on its way out
    a, b = store.get(first), store.get(second)
    assert "stopped by the user" in a.error and b.started >= a.ended and b.worker_pid != a.worker_pid


@pytest.mark.slow
def test_sigterm_cancels_and_force_stop_kills(store, workers):
    run_id, _ = store.request(TINY, long_recipe())
    workers.append(launch(store, run_id))
    wait_for(lambda: store.get(run_id).status == "running", what="the run to start")
    os.kill(store.get(run_id).worker_pid, signal.SIGTERM)
    assert wait_status(store, run_id) == "cancelled"
    # A worker that ignores the flag (stopped with SIGSTOP here) is killed after the grace period.
    again, created = store.request(TINY, long_recipe())
    assert created and again != run_id
    workers.append(launch(store, again))
    wait_for(lambda: store.get(again).status == "running", what="the second run to start")
    os.kill(store.get(again).worker_pid, signal.SIGSTOP)
    cancel(store, again, force_after=0.5)
    run = store.get(again)
    assert run.status == "cancelled" and "by force" in run.error
    wait_for(lambda: not pid_alive(run.worker_pid), 10, "the stopped worker to die")


def test_the_cpu_epoch_estimate_scales_with_multiply_adds_and_images():
    from explorer.models.cost import cost
    from explorer.training.speed import estimate_epoch_seconds, training_macs_per_second

    rate = training_macs_per_second("cpu")
    assert 1e8 < rate < 1e13  # multiply-adds per second: from a slow core to a large server
    small, big = PRESETS["resnet20"], PRESETS["resnet56"]
    ratio = estimate_epoch_seconds(big, 1000) / estimate_epoch_seconds(small, 1000)
    assert ratio == pytest.approx(cost(big).macs / cost(small).macs)  # ~3.06: the layers added
    assert estimate_epoch_seconds(small, 2000) == pytest.approx(2 * estimate_epoch_seconds(small, 1000))


def _row(run_id, status="queued", device=None, pid=None, launched=1.0):
    return {"id": run_id, "status": status, "device": device, "worker_pid": pid, "heartbeat": time.time(),
            "created": 0.0, "launched": launched}


@pytest.mark.parametrize("limit, rows, device, due", [
    # one slot: the oldest launched run waiting for it, and only it
    (1, [_row("a", device="cpu"), _row("b", device="cpu")], "cpu", [("a", "cpu")]),
    # a live worker holds the slot: nothing is due
    (1, [_row("a", "running", "cpu", os.getpid()), _row("b", device="cpu")], "cpu", []),
    # a dead worker holds nothing (its run is reaped as failed elsewhere)
    (1, [_row("a", "running", "cpu", 2**22 + 7), _row("b", device="cpu")], "cpu", [("b", "cpu")]),
    # per device: the GPU's queue moves while the CPU is busy
    (1, [_row("a", "running", "cpu", os.getpid()), _row("b", device="cpu"), _row("c", device="cuda:0")], "cpu",
     [("c", "cuda:0")]),
    # a run without a device goes to the caller's; a requested, never launched run waits for no one
    (2, [_row("a", launched=None), _row("b"), _row("c")], "cpu", [("b", "cpu"), ("c", "cpu")]),
    # a worker that has not said its device yet holds a slot on every device
    (1, [_row("a", pid=os.getpid()), _row("b", device="cuda:0")], None, []),
])
def test_which_waiting_runs_are_due(monkeypatch, limit, rows, device, due):
    from explorer.training.queue import _due

    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", str(limit))
    assert _due(rows, device, time.time()) == due


# -- a queued run's place in line and when it starts (explorer.training.waiting) --------------------------------

def _line(store, monkeypatch, slots: int):
    """On the CPU, `slots` at a time: a run training (held by this process, at step 4 of 16 at 64 images/s),
    then runs b and c launched and waiting, a run never launched (the CLI's request), one on the GPU, and d
    behind c. Returns the ids (a, b, c) and the seconds a's remaining evaluations take."""
    from explorer.training.datasets import dataset_info

    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", str(slots))
    plan = tiny_recipe(epochs=2, train_size=256)  # 8 steps of 32 an epoch
    ids = []
    for seed in range(6):
        run_id, _ = store.request(TINY, plan.replace(seed=seed))
        ids.append(run_id)
    a, b, cli, gpu, c, d = ids
    assert claim(store, a, "cpu", "CPU") and try_start(store, a)
    store.append_metrics(a, [StepEvent(step=4, epoch=0.5, train_loss=2.0, train_error=0.9, lr=0.1,
                                       images_per_sec=64.0, elapsed=3.0)])
    for run_id in (b, c, d):
        launch_row(store, run_id, "cpu")
    launch_row(store, gpu, "cuda:0")
    eval_seconds = dataset_info(plan).eval_size / (3 * 64.0)  # one forward an image: 3x the training rate
    return a, b, c, eval_seconds


def launch_row(store, run_id, device):
    """What queue.launch records, without starting a worker."""
    with store.transaction() as db:
        db.execute("UPDATE runs SET launched=?, device=? WHERE id=?", (time.time(), device, run_id))


def rate_for(images_per_sec: float) -> float:
    """The device's training multiply-adds per second at which TINY trains `images_per_sec`."""
    from explorer.models.cost import cost

    return images_per_sec * 3 * cost(TINY).macs


@pytest.mark.parametrize("slots", [1, 2])
def test_a_queued_run_knows_its_place_and_when_it_starts(store, monkeypatch, slots):
    from explorer.training.waiting import wait_of

    a, b, c, eval_seconds = _line(store, monkeypatch, slots)
    a_left = 12 * 32 / 64.0 + 2 * eval_seconds  # 12 steps of 32 at its own 64 images/s, and 2 evaluations
    b_total = 5.0 + 16 * 32 / 32.0 + 2 * 2 * eval_seconds  # its start, 16 steps at 32 images/s, 2 evaluations
    wait = wait_of(store, c, rate_for(32.0), start_seconds=5.0)
    assert (wait.place, wait.training, wait.slots, wait.device) == (2, 1, slots, "cpu")
    # one slot: c starts when a has ended and then b; two: b takes the free slot, c the first to free up
    expected = a_left + b_total if slots == 1 else min(a_left, b_total)
    assert wait.seconds == pytest.approx(expected)
    first = wait_of(store, b, rate_for(32.0), start_seconds=5.0)
    assert first.place == 1 and first.seconds == pytest.approx(a_left if slots == 1 else 0.0)
    assert wait_of(store, a, rate_for(32.0)) is None  # training, not waiting


def test_without_a_speed_a_queued_run_gets_no_estimate(store, monkeypatch):
    from explorer.training.waiting import describe, wait_of

    a, b, c, _ = _line(store, monkeypatch, 1)
    with store.transaction() as db:  # a has not trained a step yet
        db.execute("DELETE FROM metrics WHERE run_id=?", (a,))
    wait = wait_of(store, c, None)
    assert wait.place == 2 and wait.seconds is None
    assert "no estimate" in describe(wait) and "2nd in line on cpu (1 training, 1 at a time)" in describe(wait)


@pytest.mark.parametrize("seconds, says", [
    (30.0, "it should start within a minute"), (240.0, "about 4 min until it starts"),
    (3 * 3600.0, "about 3.0 h until it starts"),
])
def test_the_wait_is_said_in_minutes_or_hours(seconds, says):
    from explorer.training.waiting import Wait, describe

    text = describe(Wait(place=3, training=2, slots=2, device="cuda:0", seconds=seconds))
    assert text.startswith("3rd in line on cuda:0 (2 training, 2 at a time); ") and says in text


@pytest.mark.parametrize("n, word", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
                                     (13, "13th"), (21, "21st"), (22, "22nd"), (101, "101st"), (111, "111th")])
def test_ordinal(n, word):
    from explorer.training.waiting import ordinal

    assert ordinal(n) == word


def test_the_train_page_shows_a_queued_runs_place_and_wait(store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    _, _, c, _ = _line(store, monkeypatch, 1)  # the slot is held by this process: the page starts no worker
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=60)
    at.query_params["run"] = c
    at.run()
    shown = [e.value.replace("\\", "").replace("\u2060", "") for e in at.info]
    assert any(re.search(r"2nd in line on cpu \(1 training, 1 at a time\); (about \d+ min until it starts|it should "
                         r"start within a minute)", t) for t in shown), shown
    assert store.get(c).worker_pid is None  # still a row in line
