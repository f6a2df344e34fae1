"""Who trains which run, when: a launched run waits in line as a row of the run store, holding no process, until
its device has a free slot (`max_concurrent`); then `dispatch` starts its worker process, which claims it, trains
and, on its way out, starts the next one. Runs can be cancelled, and dead workers are recovered from. Every
decision is one `BEGIN IMMEDIATE` transaction on the run store.

The queue starts a worker by module name (`python -m explorer.training.worker`), so nothing here imports the
worker or the engine: the app queues and launches runs without loading torch's training code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from explorer.training import packing
from explorer.training.events import ENDED, RunStatus
from explorer.training.liveness import is_worker_process, pid_alive, worker_alive
from explorer.training.runs import RunStore


# The worker's entry: SIGTERM is blocked before Python imports torch (seconds), so a Stop in that time waits for
# the worker's handler (explorer.training.worker.main unblocks it) and ends the run as cancelled, not killed.
BOOT = ("import runpy, signal; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}); "
        "runpy.run_module('explorer.training.worker', run_name='__main__', alter_sys=True)")


def canonical_device(device: str) -> str:
    """The queue's name for a device: "cpu" or "cuda:N" ("cuda" is device 0, as torch reads it in a fresh
    worker), so that runs asked for "cuda" and "cuda:0" wait in one queue for the one GPU."""
    text = device.strip().lower()
    if text == "cuda":
        return "cuda:0"
    if text == "cpu" or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise ValueError(f"device: expected cpu, cuda or cuda:N (N = 0, 1, ...); got {device!r}")


def max_concurrent(device: str | None = None, root: str | Path | None = None) -> int:
    """Runs that may train at once on `device` (None: the default device): EXPLORER_MAX_CONCURRENT when set, else
    what the device has (explorer.training.packing). A worker uses the figure its dispatcher gave it
    (EXPLORER_PACKED), so the two never disagree about a slot."""
    device = canonical_device(device) if device else None
    if device is not None and (given := packing.given_packing(os.environ, device)) is not None:
        return given
    return packing.max_concurrent(device, root)


def claim(store: RunStore, run_id: str, device: str, device_name: str | None = None, pid: int | None = None) -> bool:
    """Make this process the run's only worker. False if the run is not queued or a live process owns it,
    which is what makes a second launch of the same run a no-op."""
    pid = pid or os.getpid()
    device = canonical_device(device)
    with store.transaction() as db:
        row = db.execute("SELECT status, worker_pid, heartbeat FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None or row["status"] != "queued":
            return False
        if row["worker_pid"] not in (None, pid) and worker_alive(row["worker_pid"], row["heartbeat"], time.time()):
            return False
        db.execute("UPDATE runs SET worker_pid=?, device=?, device_name=?, heartbeat=? WHERE id=?",
                   (pid, device, device_name, time.time(), run_id))
    return True

def try_start(store: RunStore, run_id: str) -> bool:
    """Move a claimed, queued run to running if its device has a free slot and no older live run waits for
    it (first come, first served). Dead workers hold no slot."""
    with store.transaction() as db:
        me = db.execute("SELECT status, device, created FROM runs WHERE id=?", (run_id,)).fetchone()
        if me is None or me["status"] != "queued":
            return False
        limit = max_concurrent(me["device"], store.root)
        rows = db.execute("SELECT id, status, worker_pid, heartbeat FROM runs WHERE device=? AND status IN "
                          "('queued','running') ORDER BY created, id", (me["device"],)).fetchall()
        now = time.time()
        live = [r for r in rows if worker_alive(r["worker_pid"], r["heartbeat"], now)]
        running = sum(r["status"] == "running" for r in live)
        waiting_before = 0
        for r in live:
            if r["id"] == run_id:
                break
            waiting_before += r["status"] == "queued"
        if running + waiting_before >= limit:
            return False
        db.execute("UPDATE runs SET status='running', started=?, heartbeat=? WHERE id=?", (now, now, run_id))
    store.save_run_json(run_id)
    return True

def queue_position(store: RunStore, run_id: str) -> int:
    """How many runs on the same device (or not yet on one) are running or waiting ahead of this one: live
    workers, and queued rows no process holds yet."""
    with store.connect() as db:
        me = db.execute("SELECT device, created FROM runs WHERE id=?", (run_id,)).fetchone()
        if me is None:
            return 0
        rows = db.execute("SELECT id, worker_pid, heartbeat FROM runs WHERE (device=? OR device IS NULL OR ? IS NULL) "
                          "AND status IN ('queued','running') ORDER BY created, id",
                          (me["device"], me["device"])).fetchall()
    ahead, now = 0, time.time()
    for r in rows:
        if r["id"] == run_id:
            break
        ahead += r["worker_pid"] is None or worker_alive(r["worker_pid"], r["heartbeat"], now)  # a row waits too
    return ahead

def cancel(store: RunStore, run_id: str, *, force_after: float | None = None) -> None:
    """Ask the run to stop: the worker polls the flag between steps and ends the run as "cancelled".
    A queued run nobody has claimed is cancelled at once. With `force_after`, wait that many seconds and
    then kill a worker that has not stopped (for an engine stuck inside one long step)."""
    now = time.time()
    with store.transaction() as db:
        row = db.execute("SELECT status, worker_pid, heartbeat FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None or row["status"] in ENDED:
            return
        db.execute("UPDATE runs SET cancel_requested=COALESCE(cancel_requested, ?) WHERE id=?", (now, run_id))
        ended = not worker_alive(row["worker_pid"], row["heartbeat"], now)
        if ended:
            db.execute("UPDATE runs SET status='cancelled', ended=?, error='stopped before it started' "
                       "WHERE id=?", (now, run_id))
    if ended:
        store.save_run_json(run_id)
        return
    if force_after is None:
        return
    deadline = time.monotonic() + force_after
    while time.monotonic() < deadline:
        run = store.get(run_id)
        if run is None or run.status in ENDED:
            return
        time.sleep(0.1)
    run = store.get(run_id)
    # Only a queue-started worker is killed: a Ray sweep driver (or this very process, or the CLI) holding the run
    # under its own pid keeps the cancel flag, which it obeys itself; killing it would end every run it holds.
    if run is not None and run.status not in ENDED and pid_alive(run.worker_pid) and is_worker_process(run.worker_pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(run.worker_pid, signal.SIGKILL)
        store.set_status(run_id, "cancelled", error=f"stopped by force after {force_after:g} s")


def recover(store: RunStore) -> list[str]:
    """A queued or running run whose worker is gone (liveness.py) is marked failed (its metrics stay). A queued
    run nobody ever claimed is left queued; the next Start (or launch) picks it up. Returns ids. Reading the store
    does the same (RunStore.reap); the app also calls this at start-up."""
    return store.reap()


def _slots(rows: list, now: float) -> tuple[dict[str | None, int], list]:
    """(live workers per device, the queued runs no process holds yet, oldest first). A live worker whose run has
    no device yet (a fresh worker that has not claimed it) is counted under None."""
    held: dict[str | None, int] = {}
    waiting = []
    for r in rows:
        if worker_alive(r["worker_pid"], r["heartbeat"] or r["created"], now):
            held[r["device"]] = held.get(r["device"], 0) + 1
        elif r["status"] == RunStatus.QUEUED and r["worker_pid"] is None and r["launched"] is not None:
            waiting.append(r)  # launched and waiting; a row only requested (the CLI's, before it trains) is not
    return held, waiting


def _due(rows: list, device: str | None, now: float, root: Path | None = None) -> list[tuple[str, str | None]]:
    """(run id, device) of each waiting run whose turn has come: first come, first served per device, at most
    max_concurrent() live workers per device. A run without a device goes to `device` (the caller's, or the one a
    worker picks by default when that is None too); a worker not yet on a device holds a slot on every device."""
    held, waiting = _slots(rows, now)
    due, full = [], set()
    for r in waiting:
        target = r["device"] or device
        limit = max_concurrent(target, root)
        busiest = max((n for d, n in held.items() if d is not None), default=0)
        used = held.get(None, 0) + (held.get(target, 0) if target else busiest)
        if target in full or used >= limit:
            full.add(target)  # later runs for this device wait behind this one
            continue
        held[target] = held.get(target, 0) + 1
        due.append((r["id"], target))
    return due


def _active_rows(db) -> list:
    return db.execute("SELECT id, status, device, worker_pid, heartbeat, created, launched FROM runs "
                      "WHERE status IN ('queued','running') ORDER BY created, id").fetchall()


def dispatch(store: RunStore, device: str | None = None) -> dict[str, subprocess.Popen]:
    """Start a worker process for each queued run whose turn has come (`_due`), and only for those: a queued run
    waits as a row, holding no process (a worker is about 700 MB). Called when a run is queued (`launch`), by a
    worker that has just ended its run, and by the Train page whenever it renders, so a slot freed by a killed
    worker is filled too. Returns {run id: worker}. Reads first and takes the write lock only when a start is due,
    so 30 pages rendering at once cost 30 reads."""
    device = canonical_device(device) if device else None
    with store.connect() as db:
        if not _due(_active_rows(db), device, time.time(), store.root):
            return {}
    project = Path(__file__).resolve().parents[2]
    env = dict(os.environ)  # + each worker's thread share, Inductor cache and packing: packing.worker_env
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(project), env.get("PYTHONPATH", "")) if p)
    started: dict[str, subprocess.Popen] = {}
    try:
        with store.transaction() as db:
            for run_id, target in _due(_active_rows(db), device, time.time(), store.root):
                try:
                    store.run_dir(run_id).mkdir(parents=True, exist_ok=True)
                    packed = max_concurrent(target, store.root)
                    with open(store.log_path(run_id), "ab") as log:
                        started[run_id] = subprocess.Popen(
                            [sys.executable, "-c", BOOT, run_id, "--root", str(store.root.resolve()),
                             *(["--device", target] if target else [])],
                            cwd=project, env=packing.worker_env(env, store.root, target, packed),
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                        )
                except OSError:
                    continue  # no room for its log, or no process to be had: it stays in line for the next call
                # Recorded in the transaction that decided, so 30 Start presses in the seconds before the worker
                # has imported torch still start one process, not 30. The worker's claim accepts its own pid.
                db.execute("UPDATE runs SET worker_pid=?, heartbeat=?, device=COALESCE(device, ?) WHERE id=?",
                           (started[run_id].pid, time.time(), target, run_id))
    except sqlite3.OperationalError:
        pass  # a full or read-only disk: the workers already started claim their runs (their pid is theirs)
    return started


def launch(store: RunStore, run_id: str, device: str | None = None) -> subprocess.Popen | None:
    """Put a queued run in line for `device` (canonical_device; None: the device its worker picks by default) and
    start the workers whose turn has come (`dispatch`). Returns this run's worker if it starts now, else None:
    it has ended, a live process owns it, or it waits in the queue as a row until a slot frees. Each worker runs
    detached (its own session, so it outlives the app and the browser; output to the run's worker.log)."""
    target = canonical_device(device) if device is not None else None
    with store.transaction() as db:
        db.execute("UPDATE runs SET launched=COALESCE(launched, ?), device=COALESCE(device, ?) WHERE id=? AND "
                   "status='queued' AND worker_pid IS NULL", (time.time(), target, run_id))
    return dispatch(store, device).get(run_id)
