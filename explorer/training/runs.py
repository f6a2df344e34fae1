"""The run store: every training run and its metrics, in one SQLite file shared by the app, workers and the CLI.

A run is requested (a row, status "queued"), launched (one detached worker process, `explorer.training.worker`), claimed
by exactly one process, waits for a queue slot on its device, trains, and ends as finished, diverged, failed or
cancelled. Nothing lives in the Streamlit server's memory, so reloading the browser or restarting the app
neither kills nor duplicates a run: the page only reads this store.

Concurrency: SQLite in WAL mode (readers never block the one writer), a fresh connection per call (safe across
threads and processes), and `BEGIN IMMEDIATE` wherever a decision must be atomic (attach-or-create, claim,
take a queue slot), because IMMEDIATE takes the write lock before the first read.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.models.presets import preset_name
from explorer.models.spec import ArchSpec

ENDED = ("finished", "diverged", "failed", "cancelled")
# A new request attaches to a run in one of these; a failed or cancelled run is not a result, so it trains again.
ATTACHABLE = ("queued", "running", "finished", "diverged")
CSV_COLUMNS = ("kind", "epoch", "step", "train_loss", "train_error", "test_loss", "test_error", "lr",
               "images_per_sec", "elapsed")
FLUSH_SECONDS = 1.0  # step events are written in batches at most this often; epoch and end events at once
POLL_SECONDS = 0.5  # how often a worker re-reads its cancel flag and a queued run its queue position

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,            -- preset name or "family-depth", for tables
    request_key TEXT NOT NULL,      -- sha256 of the canonical spec + recipe JSON: identical requests share it
    spec TEXT NOT NULL,             -- ArchSpec.to_json()
    recipe TEXT NOT NULL,           -- Recipe.to_dict() as JSON
    status TEXT NOT NULL,           -- queued | running | finished | diverged | failed | cancelled
    device TEXT,                    -- "cpu" or "cuda:N" (canonical_device): the queue is per device
    device_name TEXT,               -- "NVIDIA H100 80GB HBM3" or "CPU (2 threads)"
    created REAL NOT NULL,          -- unix seconds
    started REAL,
    ended REAL,
    worker_pid INTEGER,             -- the process that claimed the run
    error TEXT,                     -- why it failed, diverged or was cancelled
    cancel_requested REAL           -- unix seconds of the Stop press; the worker polls it
);
CREATE INDEX IF NOT EXISTS runs_request_key ON runs(request_key);
CREATE TABLE IF NOT EXISTS metrics (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,             -- step | epoch
    step INTEGER,
    epoch REAL,
    data TEXT NOT NULL              -- the whole event as JSON
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, kind, seq);
"""


@dataclass(frozen=True)
class Run:
    """One row of the store. spec and recipe stay plain dicts so that old runs still list after a schema change."""

    id: str
    label: str
    request_key: str
    spec: dict[str, Any]
    recipe: dict[str, Any]
    status: str
    device: str | None
    device_name: str | None
    created: float
    started: float | None
    ended: float | None
    worker_pid: int | None
    error: str | None
    cancel_requested: float | None

    @property
    def ended_ok(self) -> bool:
        return self.status in ("finished", "diverged")

    @property
    def is_active(self) -> bool:
        return self.status in ("queued", "running")


def default_root() -> Path:
    return Path(os.environ.get("EXPLORER_RUNS_DIR", "runs"))


def canonical_device(device: str) -> str:
    """The queue's name for a device: "cpu" or "cuda:N" ("cuda" is device 0, as torch reads it in a fresh
    worker), so that runs asked for "cuda" and "cuda:0" wait in one queue for the one GPU."""
    text = device.strip().lower()
    if text == "cuda":
        return "cuda:0"
    if text == "cpu" or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise ValueError(f"device: expected cpu, cuda or cuda:N (N = 0, 1, ...); got {device!r}")


def max_concurrent() -> int:
    """Runs that may train at once on one device (`EXPLORER_MAX_CONCURRENT`, default 1)."""
    try:
        return max(1, int(os.environ.get("EXPLORER_MAX_CONCURRENT", "1")))
    except ValueError:
        return 1


def pid_alive(pid: int | None) -> bool:
    """Whether a process exists and is not a zombie (a killed child nobody has reaped yet is dead to us)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust kill(0)
    return state not in ("Z", "X")


def request_key(spec: ArchSpec, recipe_dict: dict[str, Any]) -> str:
    canonical = json.dumps({"spec": spec.to_dict(), "recipe": recipe_dict}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_label(spec: ArchSpec) -> str:
    return preset_name(spec) or f"{spec.family}{spec.depth}"


class RunStore:
    """Runs and metrics in `root/runs.sqlite`; each run's files (checkpoint, worker log) in `root/<run id>/`."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "runs.sqlite"
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
            db.executescript(_SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)  # autocommit; BEGIN where atomic
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes, fast commits
        try:
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A transaction holding the write lock from its first statement: read-then-write decisions are atomic."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _row_to_run(row: sqlite3.Row) -> Run:
        d = dict(row)
        d["spec"] = json.loads(d["spec"])
        d["recipe"] = json.loads(d["recipe"])
        return Run(**d)

    # -- runs -------------------------------------------------------------------------------------------------

    def request(self, spec: ArchSpec, recipe: Any) -> tuple[str, bool]:
        """(run id, created). An identical request (same spec and recipe, seed and dataset included) attaches to
        the existing queued, running, finished or diverged run, so 30 students pressing Start train once."""
        recipe_dict = recipe.to_dict() if hasattr(recipe, "to_dict") else dict(recipe)
        key = request_key(spec, recipe_dict)
        with self._write() as db:
            marks = ",".join("?" * len(ATTACHABLE))
            row = db.execute(f"SELECT id FROM runs WHERE request_key=? AND status IN ({marks}) "
                             "ORDER BY created DESC LIMIT 1", (key, *ATTACHABLE)).fetchone()
            if row is not None:
                return row["id"], False
            label = run_label(spec)
            run_id = f"{label}-{secrets.token_hex(4)}"
            db.execute("INSERT INTO runs (id, label, request_key, spec, recipe, status, created) "
                       "VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                       (run_id, label, key, spec.to_json(), json.dumps(recipe_dict, sort_keys=True), time.time()))
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return run_id, True

    def get(self, run_id: str) -> Run | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return self._row_to_run(row) if row is not None else None

    def list_runs(self, limit: int | None = None) -> list[Run]:
        """Newest first."""
        sql = "SELECT * FROM runs ORDER BY created DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self._connect() as db:
            return [self._row_to_run(r) for r in db.execute(sql).fetchall()]

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoint.pt"

    def log_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "worker.log"

    def set_status(self, run_id: str, status: str, *, error: str | None = None, device: str | None = None,
                   device_name: str | None = None) -> None:
        """Record a status; an ended status also stamps `ended`. Fields left None keep their value."""
        assert status in ("queued", "running", *ENDED), status
        now = time.time()
        with self._write() as db:
            db.execute("UPDATE runs SET status=?, error=COALESCE(?, error), device=COALESCE(?, device), "
                       "device_name=COALESCE(?, device_name), "
                       "started=CASE WHEN ?='running' THEN COALESCE(started, ?) ELSE started END, "
                       "ended=CASE WHEN ? IN ('finished','diverged','failed','cancelled') THEN ? ELSE ended END "
                       "WHERE id=?", (status, error, device, device_name, status, now, status, now, run_id))

    def claim(self, run_id: str, device: str, device_name: str | None = None, pid: int | None = None) -> bool:
        """Make this process the run's only worker. False if the run is not queued or a live process owns it,
        which is what makes a second launch of the same run a no-op."""
        pid = pid or os.getpid()
        device = canonical_device(device)
        with self._write() as db:
            row = db.execute("SELECT status, worker_pid FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None or row["status"] != "queued":
                return False
            if row["worker_pid"] not in (None, pid) and pid_alive(row["worker_pid"]):
                return False
            db.execute("UPDATE runs SET worker_pid=?, device=?, device_name=? WHERE id=?",
                       (pid, device, device_name, run_id))
        return True

    def try_start(self, run_id: str) -> bool:
        """Move a claimed, queued run to running if its device has a free slot and no older live run waits for
        it (first come, first served). Dead workers hold no slot."""
        limit = max_concurrent()
        with self._write() as db:
            me = db.execute("SELECT status, device, created FROM runs WHERE id=?", (run_id,)).fetchone()
            if me is None or me["status"] != "queued":
                return False
            rows = db.execute("SELECT id, status, worker_pid FROM runs WHERE device=? AND status IN "
                              "('queued','running') ORDER BY created, id", (me["device"],)).fetchall()
            live = [r for r in rows if pid_alive(r["worker_pid"])]
            running = sum(r["status"] == "running" for r in live)
            waiting_before = 0
            for r in live:
                if r["id"] == run_id:
                    break
                waiting_before += r["status"] == "queued"
            if running + waiting_before >= limit:
                return False
            db.execute("UPDATE runs SET status='running', started=? WHERE id=?", (time.time(), run_id))
        return True

    def queue_position(self, run_id: str) -> int:
        """How many live runs on the same device are running or queued ahead of this one."""
        with self._connect() as db:
            me = db.execute("SELECT device, created FROM runs WHERE id=?", (run_id,)).fetchone()
            if me is None or me["device"] is None:
                return 0
            rows = db.execute("SELECT id, worker_pid FROM runs WHERE device=? AND status IN ('queued','running') "
                              "ORDER BY created, id", (me["device"],)).fetchall()
        ahead = 0
        for r in rows:
            if r["id"] == run_id:
                break
            ahead += pid_alive(r["worker_pid"])
        return ahead

    def cancel(self, run_id: str, *, force_after: float | None = None) -> None:
        """Ask the run to stop: the worker polls the flag between steps and ends the run as "cancelled".
        A queued run nobody has claimed is cancelled at once. With `force_after`, wait that many seconds and
        then kill a worker that has not stopped (for an engine stuck inside one long step)."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT status, worker_pid FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None or row["status"] in ENDED:
                return
            db.execute("UPDATE runs SET cancel_requested=COALESCE(cancel_requested, ?) WHERE id=?", (now, run_id))
            if not pid_alive(row["worker_pid"]):
                db.execute("UPDATE runs SET status='cancelled', ended=?, error='stopped before it started' "
                           "WHERE id=?", (now, run_id))
                return
        if force_after is None:
            return
        deadline = time.monotonic() + force_after
        while time.monotonic() < deadline:
            run = self.get(run_id)
            if run is None or run.status in ENDED:
                return
            time.sleep(0.1)
        run = self.get(run_id)
        if run is not None and run.status not in ENDED and pid_alive(run.worker_pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(run.worker_pid, signal.SIGKILL)
            self.set_status(run_id, "cancelled", error=f"stopped by force after {force_after:g} s")

    def cancel_requested(self, run_id: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT cancel_requested FROM runs WHERE id=?", (run_id,)).fetchone()
        return row is not None and row["cancel_requested"] is not None

    def recover(self) -> list[str]:
        """At start-up: a queued or running run whose worker process is gone is marked failed (its metrics stay).
        A queued run nobody ever claimed is left queued; the next Start (or launch) picks it up. Returns ids."""
        failed = []
        with self._write() as db:
            rows = db.execute("SELECT id, worker_pid FROM runs WHERE status IN ('queued','running') "
                              "AND worker_pid IS NOT NULL").fetchall()
            now = time.time()
            for r in rows:
                if not pid_alive(r["worker_pid"]):
                    db.execute("UPDATE runs SET status='failed', ended=?, error=? WHERE id=?",
                               (now, f"the worker process (pid {r['worker_pid']}) died: killed, crashed or the "
                                     "machine restarted. Its metrics up to then are kept; press Start to train "
                                     "it again.", r["id"]))
                    failed.append(r["id"])
        return failed

    # -- metrics ----------------------------------------------------------------------------------------------

    def append_metrics(self, run_id: str, events: Iterable[dict[str, Any]]) -> int:
        """Store step and epoch events in one transaction; other kinds are ignored. Returns how many were kept."""
        rows = [(run_id, e["kind"], e.get("step"), e.get("epoch"), json.dumps(e))
                for e in events if e.get("kind") in ("step", "epoch")]
        if rows:
            with self._write() as db:
                db.executemany("INSERT INTO metrics (run_id, kind, step, epoch, data) VALUES (?, ?, ?, ?, ?)", rows)
        return len(rows)

    def metrics(self, run_id: str, kind: str | None = None, after: int = 0) -> list[dict[str, Any]]:
        """Events in the order they were stored; each dict also carries "seq" (pass the last one as `after`)."""
        sql = "SELECT seq, data FROM metrics WHERE run_id=? AND seq>?"
        args: tuple = (run_id, after)
        if kind is not None:
            sql += " AND kind=?"
            args += (kind,)
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY seq", args).fetchall()
        return [{**json.loads(r["data"]), "seq": r["seq"]} for r in rows]

    def last_metric(self, run_id: str, kind: str | None = None) -> dict[str, Any] | None:
        """The newest stored event (of `kind`), for progress bars that need no history."""
        sql = "SELECT seq, data FROM metrics WHERE run_id=?" + (" AND kind=?" if kind else "")
        with self._connect() as db:
            row = db.execute(sql + " ORDER BY seq DESC LIMIT 1", (run_id, kind) if kind else (run_id,)).fetchone()
        return None if row is None else {**json.loads(row["data"]), "seq": row["seq"]}

    def metrics_csv(self, run_id: str) -> str:
        """Every stored event as CSV with a fixed header (errors as fractions 0..1, as the engine yields them)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for event in self.metrics(run_id):
            writer.writerow(event)
        return out.getvalue()


def execute(store: RunStore, run_id: str, on_event: Callable[[dict], None] | None = None,
            device: str | None = None) -> str:
    """Train the run in this process and return its final status (or follow it, if another process owns it).
    The executing half lives in `explorer.training.worker`; this name is the store's entry point for the CLI."""
    from explorer.training.worker import execute as execute_here

    return execute_here(store, run_id, on_event, device)


def launch(store: RunStore, run_id: str) -> subprocess.Popen | None:
    """Start one detached worker process for a queued run (its own session, so it outlives the app and the
    browser; output to the run's worker.log). Returns None, starting nothing, if the run has ended or a live
    process owns it. The new pid is recorded in the same transaction that checked, so 30 Start presses in the
    seconds before the worker has imported torch still start one process, not 30."""
    project = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(project), env.get("PYTHONPATH", "")) if p)
    store.run_dir(run_id).mkdir(parents=True, exist_ok=True)
    with store._write() as db:
        row = db.execute("SELECT status, worker_pid FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None or row["status"] != "queued" or pid_alive(row["worker_pid"]):
            return None
        with open(store.log_path(run_id), "ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "explorer.training.worker", run_id, "--root", str(store.root.resolve())],
                cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # The worker's claim accepts its own pid (the child is the worker: no shell in between).
        db.execute("UPDATE runs SET worker_pid=? WHERE id=?", (worker.pid, run_id))
    return worker
