"""The Ray backend of a sweep: each run a Ray task with a fractional GPU (or CPUs), reporting into the run store.

Ray is optional (`pip install -e .[ray]`) and imported only here, only when `--backend ray` asks for it.

Who writes the store: this process, the sweep's driver, never the Ray workers. The run store is SQLite in WAL
mode, which needs every writer on the machine that holds the file (WAL's shared memory does not work over NFS or
other network filesystems), so a task on another node could not write it safely. Each task runs the engine's
`train` (the training function the local worker runs, with the same seeded generators) and streams its events back
as a Ray streaming generator; the driver stores them as a local worker would (step events batched, epoch events
at once, a heartbeat, the final status) and keeps the finished run's checkpoint. So the cluster's nodes need no
shared filesystem, the Train and Sweep pages show Ray runs like any other, and a re-run sweep attaches to them.

The driver holds each run (its pid claims the row, so the app's local queue never starts a worker for it) and
must stay up until the sweep ends: if it dies, its runs are marked failed by the store's liveness check, and
running the sweep again re-queues them. A Stop on the Train page cancels the Ray task.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from explorer import sweep as sw
from explorer.models.spec import ArchSpec
from explorer.training import events as ev
from explorer.training.engine import train
from explorer.training.events import EndEvent, EpochEvent, RunStatus, StepEvent
from explorer.training.liveness import HEARTBEAT_SECONDS
from explorer.training.queue import claim
from explorer.training.recipe import Recipe
from explorer.training.runs import FLUSH_SECONDS, POLL_SECONDS, RunStore
from explorer.training.worker import device_name

PROJECT = Path(__file__).resolve().parents[2]
# Not uploaded with --ship-code: run folders, data, the environment, the history (Ray's working_dir limit is 100 MB)
SHIP_EXCLUDES = ["runs", "data", ".venv", ".git", "artifacts", "*.sqlite*", "__pycache__", "*.egg-info"]


class RayMissing(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached. The message says what to do."""


def _ray():
    try:
        import ray
    except ImportError:
        raise RayMissing("--backend ray needs Ray, which is not installed: pip install -e .[ray] "
                         "(or pip install 'ray[default]')") from None
    return ray


def _train_events(spec_json: str, recipe_json: str, device: str, data_dir: str | None) -> Iterator[dict]:
    """On a Ray worker: where it trains, then every event of engine.train as JSON-ready data, then the finished
    run's checkpoint bytes."""
    device = "cuda" if device == "cuda" and torch.cuda.is_available() else "cpu"
    yield {"kind": "start", "device": device, "device_name": f"{device_name(device)} on {socket.gethostname()}"}
    spec, recipe = ArchSpec.from_json(spec_json), Recipe.from_dict(json.loads(recipe_json))
    with tempfile.TemporaryDirectory(prefix="explorer-ray-") as tmp:
        checkpoint = os.path.join(tmp, "checkpoint.pt")
        for event in train(spec, recipe, device=device, data_dir=data_dir, checkpoint_path=checkpoint):
            if isinstance(event, EndEvent) and event.status == RunStatus.FINISHED and os.path.exists(checkpoint):
                yield {"kind": "checkpoint", "data": Path(checkpoint).read_bytes()}
            yield ev.to_dict(event)


def connect(address: str | None, ship_code: bool) -> Any:
    """ray.init on `address` (None: a local Ray on this machine); returns the ray module."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    runtime_env = {"working_dir": str(PROJECT), "excludes": SHIP_EXCLUDES} if ship_code else None
    try:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayMissing(f"cannot reach the Ray cluster at {address!r}: {str(err).splitlines()[0]}; start it with "
                         "`ray start --head` (docs/sweeps.md) or check --address") from None
    return ray


def resources(ray: Any, per_gpu: int, cpus_per_run: int) -> tuple[dict[str, float], str]:
    """(the task's Ray resources, the device it trains on): 1/per_gpu of a GPU when the cluster has GPUs, else
    `cpus_per_run` CPUs."""
    if ray.cluster_resources().get("GPU", 0) > 0:
        return {"num_gpus": 1 / max(1, per_gpu), "num_cpus": 1}, "cuda"
    return {"num_cpus": max(1, cpus_per_run)}, "cpu"


def run(store: RunStore, sweep: sw.Sweep, *, address: str | None = None, per_gpu: int = 4, cpus_per_run: int = 1,
        ship_code: bool = False, data_dir: str | None = None,
        on_line: Callable[[str], None] | None = None) -> sw.Sweep:
    """Request the sweep's runs, train each new one as a Ray task, store what they report, and return when
    all have ended (runs that already existed, finished or training elsewhere, are attached, not trained again)."""
    ray = connect(address, ship_code)
    options, device = resources(ray, per_gpu, cpus_per_run)
    task = ray.remote(_train_events).options(num_returns="streaming", max_retries=0, **options)
    sweep, created, waiting = sw.submit(store, sweep, start=False)
    if waiting:  # the store's queue cap: Ray runs hold rows too
        raise RayMissing(f"the run store refused some runs: {waiting}")
    say = on_line or (lambda line: None)
    say(f"{sweep.id}: {created} new run(s) on Ray ({', '.join(f'{k}={v:g}' for k, v in options.items())} each)")
    threads, held = [], {}
    for p in sweep.points:
        if p.run_id is None or not claim(store, p.run_id, "cuda:0" if device == "cuda" else "cpu", pid=os.getpid()):
            continue  # already trained, or another process trains it: the progress view follows it
        held[p.run_id] = task.remote(p.spec.to_json(), json.dumps(p.recipe.to_dict()), device, data_dir)
        threads.append(threading.Thread(target=_store_events, args=(ray, store, p.run_id, held[p.run_id]),
                                        daemon=True))
    stop = threading.Event()
    watch = threading.Thread(target=_watch, args=(ray, store, held, stop), daemon=True)
    watch.start()
    for t in threads:
        t.start()
    last = None
    try:
        while True:
            table = sw.progress(store, sweep)
            if (line := sw.summary(sw.counts(table))) != last:
                say(f"{time.strftime('%H:%M:%S')} {sweep.id}: {line}")
                last = line
            if sw.done(table) and not any(t.is_alive() for t in threads):
                return sweep
            time.sleep(1.0)
    finally:
        stop.set()


def _watch(ray: Any, store: RunStore, held: dict[str, Any], stop: threading.Event) -> None:
    """For the runs this driver holds: the heartbeat (liveness.py; a task still waiting in Ray's queue sends no
    events) and Stop (the Train page's cancel flag cancels the task, whether it trains or still waits)."""
    last_beat = 0.0
    while not stop.wait(POLL_SECONDS):
        beat = time.monotonic() - last_beat >= HEARTBEAT_SECONDS
        for run_id, generator in list(held.items()):
            if store.cancel_requested(run_id):
                ray.cancel(generator)
                del held[run_id]
            elif beat:
                store.beat(run_id)
        last_beat = time.monotonic() if beat else last_beat


def _store_events(ray: Any, store: RunStore, run_id: str, generator: Any) -> None:
    """Store one task's events as explorer.training.worker does for a local run, until its end."""
    pending: list[StepEvent | EpochEvent] = []
    end: EndEvent | None = None
    last_flush = time.monotonic()
    try:
        for ref in generator:
            data = ray.get(ref)
            if data["kind"] == "start":
                store.set_status(run_id, RunStatus.RUNNING, device_name=data["device_name"])
                continue
            if data["kind"] == "checkpoint":
                tmp = store.checkpoint_path(run_id).with_suffix(".tmp")
                tmp.write_bytes(data["data"])
                os.replace(tmp, store.checkpoint_path(run_id))
                continue
            event = ev.from_dict(data)
            if isinstance(event, EndEvent):
                end = event
                break
            pending.append(event)
            if event.kind == "epoch" or time.monotonic() - last_flush >= FLUSH_SECONDS:
                store.append_metrics(run_id, pending)
                pending, last_flush = [], time.monotonic()
    except Exception as err:  # noqa: BLE001 - cancelled (_watch), a lost node or a crashed task: say which
        last_line = str(err).strip().splitlines()[-1] if str(err).strip() else ""
        end = (EndEvent(status=RunStatus.CANCELLED, message="stopped") if store.cancel_requested(run_id) else
               EndEvent(status=RunStatus.FAILED, message=f"the Ray task failed: {type(err).__name__}: {last_line}"))
    finally:
        store.append_metrics(run_id, pending)
    if end is None:
        end = EndEvent(status=RunStatus.FAILED, message="the Ray task stopped without an end event")
    store.set_status(run_id, end.status, error=None if end.status == RunStatus.FINISHED else end.message or None)
