"""Packed runs (explorer.training.packing): how many runs train at once per device, each worker's share of it,
which processes a force-stop may kill, and that a packed run trains exactly as it does alone."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer import PRESETS
from explorer.training import packing
from explorer.training.events import ENDED
from explorer.training.liveness import is_worker_process, pid_alive
from explorer.training.queue import BOOT, cancel, claim, launch, max_concurrent, try_start
from explorer.training.recipe import Recipe
from explorer.training.runs import RunStore

ROOT = Path(__file__).resolve().parent.parent
TINY = PRESETS["resnet20"].replace(depth=8)
GiB = 2**30
WAIT = 120.0  # seconds: a worker imports torch (seconds on a busy 2-core machine), then trains a tiny net
SETTINGS = ("EXPLORER_MAX_CONCURRENT", "EXPLORER_CPU_THREADS_PER_RUN", "EXPLORER_GPU_RUN_BUDGET_GB",
            "EXPLORER_MAX_PACKED", "EXPLORER_PACKED", "EXPLORER_PACKED_SET")


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    packing._smi.cache_clear()
    yield
    packing._smi.cache_clear()


def tiny_recipe(**changes) -> Recipe:
    return Recipe(**{"dataset": "synthetic", "epochs": 1, "batch_size": 32, "train_size": 64, **changes})


# -- how many at once ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cores, threads_setting, threads, runs", [
    (2, None, 2, 1),  # this machine: two 1-thread runs train no faster together than one 2-thread run
    (3, None, 2, 1),
    (16, None, 4, 4),  # default threads per run: a quarter of the cores, at least 2
    (64, None, 16, 4),
    (2, "1", 1, 2),  # the operator asks for 1 thread a run: two at once
    (8, "16", 8, 1),  # more threads than cores: all of them, one run
    (8, "bad", 2, 4),  # an unreadable setting falls back to the default
])
def test_cpu_runs_at_once_are_cores_over_threads_per_run(monkeypatch, cores, threads_setting, threads, runs):
    monkeypatch.setattr(packing, "cpu_cores", lambda: cores)
    if threads_setting is not None:
        monkeypatch.setenv("EXPLORER_CPU_THREADS_PER_RUN", threads_setting)
    assert packing.cpu_threads_per_run() == threads
    assert packing.max_concurrent("cpu") == runs
    assert packing.threads_per_run("cpu", runs) == cores // runs  # each worker's share of the cores


H200 = 143_771 * 2**20  # bytes, as nvidia-smi reports an H200's memory.total (MiB)


@pytest.mark.parametrize("total, others, env, curve, runs", [
    (H200, 0, {}, None, 8),  # 0.9 x 140 GiB / 10 GiB = 12, capped at MAX_PACKED
    (H200, 100 * GiB, {}, None, 2),  # another program holds 100 GiB: (126 - 100) / 10
    (80 * GiB, 0, {}, None, 7),  # an A100 80 GB: 72 / 10
    (16 * GiB, 0, {}, None, 1),
    (8 * GiB, 0, {}, None, 1),  # never fewer than one
    (80 * GiB, 0, {"EXPLORER_GPU_RUN_BUDGET_GB": "4"}, None, 8),  # 18 by memory, capped at 8
    (80 * GiB, 0, {"EXPLORER_GPU_RUN_BUDGET_GB": "4", "EXPLORER_MAX_PACKED": "16"}, None, 16),
    # a recorded images/s curve that flattens after 4 runs: no more than its knee (95% of the best)
    (H200, 0, {}, {"1": 1000, "2": 1900, "4": 3000, "8": 3100}, 4),
    (H200, 0, {}, {"1": 1000, "2": 2000, "4": 4000, "8": 8000}, 8),  # still climbing: memory decides
    (H200, 100 * GiB, {}, {"1": 1000, "8": 8000}, 2),  # memory is the tighter of the two
    (H200, 0, {}, {"x": 5, "2": 0}, 8),  # a curve without one usable point is no curve
])
def test_gpu_runs_at_once_follow_free_memory_and_the_curve(monkeypatch, tmp_path, total, others, env, curve, runs):
    monkeypatch.setattr(packing, "gpu_memory", lambda device: (total, total - others, others))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if curve is not None:
        (tmp_path / packing.CURVE_FILE).write_text(json.dumps({"cuda:0": curve, "cpu": {"1": 1, "2": 100}}))
    assert packing.max_concurrent("cuda:0", tmp_path) == runs


def test_without_nvidia_smi_a_gpu_trains_one_run_and_the_default_device_is_the_cpu(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert packing.gpu_memory("cuda:0") is None
    assert packing.max_concurrent("cuda:1") == 1 and packing.default_device() == "cpu"


@pytest.mark.parametrize("curve, knee", [
    ({"1": 100, "2": 190, "3": 260, "4": 270}, 3),  # 260 >= 0.95 x 270
    ({"1": 100}, 1),
    ({"4": 50, "1": 100}, 1),  # fewer runs at a higher rate: one is enough
    ({}, None),
    ({"a": 1.0, "0x": 2}, None),
])
def test_curve_knee(curve, knee):
    assert packing.curve_knee(curve) == knee


@pytest.mark.parametrize("setting, runs", [("3", 3), ("1", 1), ("0", 1), ("many", 1)])
def test_explorer_max_concurrent_overrides_every_device(monkeypatch, setting, runs):
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", setting)
    monkeypatch.setattr(packing, "gpu_memory", lambda device: (H200, H200, 0))
    monkeypatch.setattr(packing, "cpu_cores", lambda: 64)
    assert packing.max_concurrent("cpu") == packing.max_concurrent("cuda:0") == runs


def fake_smi(tmp_path: Path, apps: list[tuple[int, int]], uuid: str = "GPU-test") -> None:
    """An nvidia-smi on PATH answering the two queries packing._smi asks (memory in MiB)."""
    rows = "\\n".join(f"{uuid}, {pid}, {mib}" for pid, mib in apps) + "\\nGPU-other, 1, 99999"
    script = tmp_path / "bin" / "nvidia-smi"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"""#!/bin/sh
case "$*" in
  *query-gpu*) echo "143771, 140000, {uuid}" ;;
  *query-compute-apps*) printf '{rows}\\n' ;;
esac
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_nvidia_smi_memory_held_by_our_workers_is_not_counted_against_packing(tmp_path, monkeypatch):
    # A process whose command line names the worker module holds 30 GiB: it is one of our runs, not another
    # program; this process (the app, not a worker) holds 60 GiB and counts, as does a pid that has exited.
    worker_like = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "explorer.training.worker"])
    try:
        wait_for(lambda: is_worker_process(worker_like.pid), 10, "the stand-in worker's command line")
        fake_smi(tmp_path, [(worker_like.pid, 30 * 1024), (os.getpid(), 60 * 1024), (2**22 + 11, 1024)])
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
        total, free, others = packing.gpu_memory("cuda:0")
        assert (total, free, others) == (143_771 * 2**20, 140_000 * 2**20, 61 * 1024 * 2**20)
        # (0.9 x 140.4 GiB - 61 GiB) / 10 GiB a run
        assert packing.max_concurrent("cuda:0") == 6 and packing.default_device() == "cuda:0"
    finally:
        worker_like.kill()
        worker_like.wait()


# -- each worker's share -----------------------------------------------------------------------------------------

def test_worker_env_gives_each_worker_its_share_and_the_shared_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(packing, "cpu_cores", lambda: 8)
    env = packing.worker_env({"PATH": "/bin"}, tmp_path, "cpu", 4)
    assert {k: env[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "EXPLORER_PACKED")} == {
        "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE", "EXPLORER_PACKED": "cpu=4"}
    assert env["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path.resolve() / "inductor-cache")
    assert env["TORCHINDUCTOR_FX_GRAPH_CACHE"] == env["TORCHINDUCTOR_AUTOGRAD_CACHE"] == "1"
    assert env["PATH"] == "/bin"


def test_worker_env_keeps_the_operators_settings_through_every_worker(monkeypatch, tmp_path):
    monkeypatch.setattr(packing, "cpu_cores", lambda: 8)
    operator = {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE", "TORCHINDUCTOR_CACHE_DIR": "/fast/cache"}
    first = packing.worker_env(operator, tmp_path, "cpu", 2)
    assert (first["OMP_NUM_THREADS"], first["OMP_WAIT_POLICY"], first["TORCHINDUCTOR_CACHE_DIR"]) == (
        "3", "ACTIVE", "/fast/cache")
    assert first["MKL_NUM_THREADS"] == "4"  # not set by the operator: the worker's share
    # That worker, ending, starts the next with its own environment and a new decision (say 4 at once): what
    # worker_env set changes, what the operator set still does not.
    second = packing.worker_env(first, tmp_path, "cpu", 4)
    assert (second["OMP_NUM_THREADS"], second["OMP_WAIT_POLICY"], second["TORCHINDUCTOR_CACHE_DIR"]) == (
        "3", "ACTIVE", "/fast/cache")
    assert second["MKL_NUM_THREADS"] == "2" and second["EXPLORER_PACKED"] == "cpu=4"


@pytest.mark.parametrize("env, device, given", [
    ({"EXPLORER_PACKED": "cuda:0=3"}, "cuda:0", 3),
    ({"EXPLORER_PACKED": "cuda:0=3"}, "cuda:1", None),  # another device's decision
    ({"EXPLORER_PACKED": "cpu=2"}, "cpu", 2),
    ({"EXPLORER_PACKED": "cpu=2", "EXPLORER_MAX_CONCURRENT": "1"}, "cpu", None),  # the operator's override wins
    ({"EXPLORER_PACKED": "cpu=0"}, "cpu", None),
    ({"EXPLORER_PACKED": "cpu=x"}, "cpu", None),
    ({"EXPLORER_PACKED": "cpu"}, "cpu", None),
    ({}, "cpu", None),
])
def test_given_packing(env, device, given):
    assert packing.given_packing(env, device) == given


def test_a_worker_uses_the_packing_its_dispatcher_gave_it(monkeypatch):
    monkeypatch.setattr(packing, "cpu_cores", lambda: 2)
    assert max_concurrent("cpu") == 1
    monkeypatch.setenv("EXPLORER_PACKED", "cpu=2")  # decided when it was started: its slot check agrees
    assert max_concurrent("cpu") == 2 and max_concurrent("cuda:0") == packing.max_concurrent("cuda:0")


@pytest.mark.parametrize("runs, fraction", [(1, 1.0), (2, 0.48), (4, 0.23), (8, 0.105), (40, 0.05)])
def test_memory_fraction(runs, fraction):
    assert packing.memory_fraction(runs) == pytest.approx(fraction)  # 1/runs less 2% (the floor: 5%)


@pytest.mark.parametrize("packed, cap", [("cuda:0=4", 0.23), ("cuda:0=1", None), ("cpu=4", None)])
def test_a_packed_gpu_worker_caps_its_allocator_at_its_share(monkeypatch, packed, cap):
    import torch

    from explorer.training import capacity

    monkeypatch.setenv("EXPLORER_PACKED", packed)  # what its dispatcher decided (worker_env)
    monkeypatch.setattr(packing, "gpu_memory", lambda device: None)  # no decision of its own: one run
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    caps = []
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda share, index: caps.append((share, index)))
    capacity.cap_process_memory("cuda:0")
    assert caps == ([] if cap is None else [(pytest.approx(cap), 0)])
    # and the worker's memory check sees its share, not the whole GPU's free memory
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (100 * GiB, 140 * GiB))
    free, how = capacity.free_memory("cuda:0", in_worker=True)
    assert free == (int((cap or 1) * 140 * GiB) if cap else 100 * GiB)
    assert ("share of the GPU (23%)" in how) == (cap is not None)


# -- which processes a force-stop may kill ---------------------------------------------------------------------

def wait_for(predicate, timeout: float = WAIT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def worker_env_for(store: RunStore) -> dict[str, str]:
    return {**os.environ, "EXPLORER_RUNS_DIR": str(store.root), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    return RunStore()


@pytest.fixture
def children():
    """Processes a test starts, killed in teardown."""
    procs: list[subprocess.Popen] = []
    yield procs
    for p in filter(None, procs):
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


def hold(store: RunStore, pid: int) -> str:
    """A running run on the CPU held by `pid` (as a Ray driver or the CLI holds runs under its own pid)."""
    run_id, _ = store.request(TINY, tiny_recipe(epochs=500, seed=100 + pid % 1000))
    assert claim(store, run_id, "cpu", "CPU", pid=pid) and try_start(store, run_id)
    return run_id


def test_only_a_queue_started_worker_counts_as_one(store, children, monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", "1")
    hold(store, os.getpid())  # the only CPU slot: the worker below claims its run and waits in line
    waiting, _ = store.request(TINY, tiny_recipe(seed=7))
    worker = subprocess.Popen([sys.executable, "-c", BOOT, waiting, "--root", str(store.root), "--device", "cpu"],
                              cwd=ROOT, env=worker_env_for(store), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    # The CLI's command line names the training package but not the worker module: it is no queue worker.
    cli_like = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", "explorer.training"])
    children.extend([worker, sleeper, cli_like])
    wait_for(lambda: store.get(waiting).worker_pid == worker.pid, what="the worker to claim its run")
    assert is_worker_process(worker.pid)
    assert not is_worker_process(os.getpid()) and not is_worker_process(sleeper.pid)
    assert not is_worker_process(cli_like.pid)
    assert not is_worker_process(0) and not is_worker_process(2**22 + 13)  # no pid, an exited one

    # Force-stop kills the real worker (stopped with SIGSTOP, so it cannot end the run itself first) ...
    stop_outside_a_transaction(store, worker.pid)
    cancel(store, waiting, force_after=0)
    run = store.get(waiting)
    assert run.status == "cancelled" and "by force" in run.error
    wait_for(lambda: worker.poll() is not None, 10, "the killed worker to exit")
    assert worker.returncode == -signal.SIGKILL


def stop_outside_a_transaction(store: RunStore, pid: int) -> None:
    """SIGSTOP a worker, but not while it holds the store's write lock (it polls its queue slot in a BEGIN
    IMMEDIATE every half second): stopped there, it would lock every other writer out."""
    for _ in range(100):
        os.kill(pid, signal.SIGSTOP)
        db = sqlite3.connect(store.path, timeout=0.1)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.05)
        finally:
            db.close()
    raise AssertionError(f"pid {pid} held the store's write lock every time it was stopped")


@pytest.mark.parametrize("holder", ["this process", "python -c sleep"])
def test_force_stop_never_kills_a_process_that_is_not_a_worker(store, children, holder):
    if holder == "this process":
        pid = os.getpid()
    else:
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        pid = children[-1].pid
    run_id = hold(store, pid)
    cancel(store, run_id, force_after=0)
    run = store.get(run_id)
    # The holder keeps the run and the cancel flag, which it obeys itself between steps.
    assert pid_alive(pid) and run.status == "running" and run.cancel_requested is not None
    if holder != "this process":
        assert children[-1].poll() is None


# -- packed workers: results and faults --------------------------------------------------------------------------

def measured(store: RunStore, run_id: str) -> list[dict]:
    """A run's stored metrics without the timing fields (speed and elapsed depend on the neighbours)."""
    rows = []
    for event in store.metrics(run_id):
        row = {k: v for k, v in vars(event).items() if k not in ("images_per_sec", "elapsed")}
        rows.append({"kind": event.kind, **row})
    return rows


def wait_ended(store: RunStore, run_id: str, timeout: float = WAIT) -> str:
    try:
        return wait_for(lambda: (r := store.get(run_id)).status in ENDED and r.status, timeout, f"{run_id} to end")
    except AssertionError:
        log = store.log_path(run_id)
        raise AssertionError(f"{store.get(run_id)}\nlog:\n{log.read_text() if log.exists() else ''}") from None


@pytest.mark.slow  # three workers, one after two: about 20 s on a loaded 2-core machine
def test_a_packed_run_gives_exactly_the_metrics_it_gives_alone(tmp_path, monkeypatch, children):
    # Two runs at once on this CPU (one thread each, as packing gives them), against the same run alone under
    # the same setting: a run's thread count follows the device's setting, never its neighbours.
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", "2")
    run = tiny_recipe(epochs=2, train_size=256, seed=3)
    alone = RunStore(tmp_path / "alone")
    alone_id, _ = alone.request(TINY, run)
    children.append(launch(alone, alone_id, "cpu"))
    assert wait_ended(alone, alone_id) == "finished"

    packed = RunStore(tmp_path / "packed")
    ids = [packed.request(TINY, run)[0], packed.request(PRESETS["resnet20"].replace(depth=14), run)[0]]
    for run_id in ids:
        children.append(launch(packed, run_id, "cpu"))
    assert all(children[1:]), "both runs should start at once: EXPLORER_MAX_CONCURRENT=2"
    assert [wait_ended(packed, run_id) for run_id in ids] == ["finished", "finished"]
    a, b = (packed.get(run_id) for run_id in ids)
    assert max(a.started, b.started) < min(a.ended, b.ended), "the two runs did not train at the same time"
    assert "cpu=2" in packed.log_path(ids[0]).read_text()  # the worker logged its packing
    assert "1 thread(s)" in packed.log_path(ids[0]).read_text()
    assert re.search(r"finished; peak memory \d+ MiB \(RSS\)", packed.log_path(ids[0]).read_text())  # bench_class
    got, want = measured(packed, ids[0]), measured(alone, alone_id)
    assert [r["kind"] for r in want].count("epoch") == 2
    assert got == want  # exactly: same seed, same threads, on the CPU


def test_killing_one_packed_worker_fails_its_run_alone(store, monkeypatch, children):
    monkeypatch.setenv("EXPLORER_MAX_CONCURRENT", "2")
    doomed, _ = store.request(TINY, tiny_recipe(epochs=500))
    survivor, _ = store.request(TINY, tiny_recipe(epochs=6, train_size=128, seed=1))
    for run_id in (doomed, survivor):
        children.append(launch(store, run_id, "cpu"))
    assert all(children), "both runs should start at once: EXPLORER_MAX_CONCURRENT=2"
    wait_for(lambda: store.metrics(doomed, "epoch") and store.get(survivor).status == "running",
             what="the doomed run's first epoch while the other trains")
    pid = store.get(doomed).worker_pid
    os.kill(pid, signal.SIGKILL)
    children[0].wait(timeout=10)
    run = store.get(doomed)
    assert run.status == "failed" and f"pid {pid}" in run.error
    assert len(store.metrics(doomed, "epoch")) >= 1  # what it measured is kept
    assert store.get(survivor).status == "running"  # the kill did not touch it
    assert wait_ended(store, survivor) == "finished"
    assert [e.epoch for e in store.metrics(survivor, "epoch")] == [1, 2, 3, 4, 5, 6]
