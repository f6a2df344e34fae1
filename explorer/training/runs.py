"""The run store: every training run and its metrics, in one SQLite file shared by the app, workers and the CLI.

A run is requested (a row, status "queued"; a design that does not fit the data is refused here), then launched,
claimed and queued by explorer.training.queue, trained by explorer.training.worker, and ends as finished,
diverged, failed or cancelled. The store imports neither the queue, the worker nor the engine. Nothing lives in
the Streamlit server's memory, so reloading the browser or restarting the app neither kills nor duplicates a
run: the page only reads this store.

Concurrency: SQLite in WAL mode (readers never block the one writer), a fresh connection per call (safe across
threads and processes), and `BEGIN IMMEDIATE` wherever a decision must be atomic (attach-or-create, claim,
take a queue slot), because IMMEDIATE takes the write lock before the first read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.models.presets import preset_name
from explorer.models.spec import ArchSpec
from explorer.training import events as ev
from explorer.training.datasets import check_fits
from explorer.training.events import ACTIVE, EpochEvent, RunStatus, StepEvent
from explorer.training.recipe import Recipe

# A new request attaches to a run in one of these; a failed or cancelled run is not a result, so it trains again.
ATTACHABLE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.FINISHED, RunStatus.DIVERGED)
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
    status: RunStatus
    device: str | None
    device_name: str | None
    created: float
    started: float | None
    ended: float | None
    worker_pid: int | None
    error: str | None
    cancel_requested: float | None

    @property
    def trained(self) -> bool:
        """Only a finished run's weights are a trained net (a diverged run's last checkpoint is not)."""
        return self.status is RunStatus.FINISHED

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


def default_root() -> Path:
    return Path(os.environ.get("EXPLORER_RUNS_DIR", "runs"))


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
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
            db.executescript(_SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)  # autocommit; BEGIN where atomic
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes, fast commits
        try:
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A transaction holding the write lock from its first statement: read-then-write decisions are atomic."""
        with self.connect() as db:
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
        d["status"] = RunStatus(d["status"])
        return Run(**d)

    # -- runs -------------------------------------------------------------------------------------------------

    def request(self, spec: ArchSpec, recipe: Recipe) -> tuple[str, bool]:
        """(run id, created). An identical request (same spec and recipe, seed and dataset included) attaches to
        the existing queued, running, finished or diverged run, so 30 students pressing Start train once.
        Raises SpecError, queueing nothing, for a design that does not fit the recipe's dataset."""
        check_fits(spec, recipe.dataset)
        recipe_dict = recipe.to_dict()
        key = request_key(spec, recipe_dict)
        with self.transaction() as db:
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
        with self.connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return self._row_to_run(row) if row is not None else None

    def list_runs(self, limit: int | None = None) -> list[Run]:
        """Newest first."""
        sql = "SELECT * FROM runs ORDER BY created DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self.connect() as db:
            return [self._row_to_run(r) for r in db.execute(sql).fetchall()]

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoint.pt"

    def log_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "worker.log"

    def set_status(self, run_id: str, status: RunStatus | str, *, error: str | None = None,
                   device: str | None = None, device_name: str | None = None) -> None:
        """Record a status; an ended status also stamps `ended`. Fields left None keep their value."""
        status = RunStatus(status).value
        now = time.time()
        with self.transaction() as db:
            db.execute("UPDATE runs SET status=?, error=COALESCE(?, error), device=COALESCE(?, device), "
                       "device_name=COALESCE(?, device_name), "
                       "started=CASE WHEN ?='running' THEN COALESCE(started, ?) ELSE started END, "
                       "ended=CASE WHEN ? IN ('finished','diverged','failed','cancelled') THEN ? ELSE ended END "
                       "WHERE id=?", (status, error, device, device_name, status, now, status, now, run_id))

    def cancel_requested(self, run_id: str) -> bool:
        with self.connect() as db:
            row = db.execute("SELECT cancel_requested FROM runs WHERE id=?", (run_id,)).fetchone()
        return row is not None and row["cancel_requested"] is not None

    # -- metrics ----------------------------------------------------------------------------------------------

    def append_metrics(self, run_id: str, events: Iterable[ev.Event]) -> int:
        """Store step and epoch events in one transaction; end events are ignored (the run's row holds the end).
        Returns how many were kept."""
        rows = [(run_id, e.kind, e.step, e.epoch, json.dumps(ev.to_dict(e)))
                for e in events if isinstance(e, (StepEvent, EpochEvent))]
        if rows:
            with self.transaction() as db:
                db.executemany("INSERT INTO metrics (run_id, kind, step, epoch, data) VALUES (?, ?, ?, ?, ?)", rows)
        return len(rows)

    def metrics_since(self, run_id: str, after: int = 0, kind: str | None = None,
                      ) -> tuple[list[StepEvent | EpochEvent], int]:
        """(events stored after sequence number `after`, in order; the last one's sequence number), for following
        a run: pass the number back as `after` to get only newer events."""
        sql = "SELECT seq, data FROM metrics WHERE run_id=? AND seq>?"
        args: tuple = (run_id, after)
        if kind is not None:
            sql += " AND kind=?"
            args += (kind,)
        with self.connect() as db:
            rows = db.execute(sql + " ORDER BY seq", args).fetchall()
        return [ev.from_dict(json.loads(r["data"])) for r in rows], (rows[-1]["seq"] if rows else after)

    def metrics(self, run_id: str, kind: str | None = None) -> list[StepEvent | EpochEvent]:
        """The run's stored events (only "step" or "epoch" ones with `kind`), in order."""
        return self.metrics_since(run_id, kind=kind)[0]

    def last_metric(self, run_id: str, kind: str | None = None) -> StepEvent | EpochEvent | None:
        """The newest stored event (of `kind`), for progress bars that need no history."""
        sql = "SELECT data FROM metrics WHERE run_id=?" + (" AND kind=?" if kind else "")
        with self.connect() as db:
            row = db.execute(sql + " ORDER BY seq DESC LIMIT 1", (run_id, kind) if kind else (run_id,)).fetchone()
        return None if row is None else ev.from_dict(json.loads(row["data"]))

    def metrics_csv(self, run_id: str) -> str:
        """Every stored event as CSV with a fixed header (errors as fractions 0..1, as the engine yields them)."""
        return ev.frame(self.metrics(run_id)).to_csv(index=False, lineterminator="\n")
