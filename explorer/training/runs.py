"""The run store: every training run and its metrics, in one SQLite file shared by the app, workers and the CLI.

A run is requested (a row, status "queued"; a design that does not fit the data is refused here), then launched,
claimed and queued by explorer.training.queue, trained by explorer.training.worker, and ends as finished,
diverged, failed or cancelled. The store imports neither the queue, the worker nor the engine. Nothing lives in
the Streamlit server's memory, so reloading the browser or restarting the app neither kills nor duplicates a
run: the page only reads this store.

Concurrency: SQLite in WAL mode (readers never block the one writer), a fresh connection per call (safe across
threads and processes), and `BEGIN IMMEDIATE` wherever a decision must be atomic (attach-or-create, claim,
take a queue slot), because IMMEDIATE takes the write lock before the first read.

Faults: opening the store checks the file (explorer.training.storefile); a corrupt, truncated or emptied one is
moved aside and rebuilt from the run folders' run.json, and `RunStore.notice` says so. Reads never need a write
(a full disk still lists the runs). Reading or requesting runs marks those whose worker is gone as failed
(explorer.training.liveness: pid and heartbeat), so a request never attaches to a dead run.
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

from explorer.i18n import _
from explorer.models.presets import preset_name
from explorer.models.spec import ArchSpec
from explorer.training import storefile
from explorer.training.datasets import check_fits
from explorer.training.events import ACTIVE, RunStatus
from explorer.training.limits import check_queue
from explorer.training.liveness import DIED, worker_alive
from explorer.training.metrics import MetricsStore
from explorer.training.recipe import Recipe

# A new request attaches to a run in one of these; a failed or cancelled run is not a result, so it trains again.
ATTACHABLE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.FINISHED, RunStatus.DIVERGED)
FLUSH_SECONDS = 1.0  # step events are written in batches at most this often; epoch and end events at once
POLL_SECONDS = 0.5  # how often a worker re-reads its cancel flag and a queued run its queue position



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
    heartbeat: float | None = None
    owner: str | None = None  # limits.owner_id of the browser session that started it; None: the class's
    launched: float | None = None  # when queue.launch put it in line for a worker (None: never launched)

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


class StoreError(OSError):
    """The runs folder cannot hold a run store (missing rights, not a folder). The message names it and a fix."""


class RunStore(MetricsStore):
    """Runs and metrics in `root/runs.sqlite`; each run's files (checkpoint, worker log, run.json) in
    `root/<run id>/`. `notice`: what a repair of a broken store did, for the pages to show (else None)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.path = self.root / "runs.sqlite"
        self.read_only = False  # set when the disk lets the store be read but not written (full, read-only)
        fix = _("make it writable, or set EXPLORER_RUNS_DIR to a writable folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with storefile.locked(self.root):
                problem = storefile.check_database(self.path, ("runs", "metrics"))
                moved = storefile.quarantine(self.path, problem) if problem else None
                with self.connect() as db:
                    if self.read_only:
                        return  # read-only: the runs list, nothing can start (the worker's writes say why)
                    storefile.prepare(db)
                if moved is not None:
                    self._rebuild(moved, problem)
        except sqlite3.OperationalError as err:
            raise StoreError(_("the run store {path} cannot be opened ({error}): {fix}").format(
                path=self.path, error=err, fix=fix)) from None
        except OSError as err:
            raise StoreError(_("the runs folder {root} cannot be used ({error}): {fix}").format(
                root=self.root, error=err.strerror or err, fix=fix)) from None

    @property
    def notice(self) -> str | None:
        return storefile.notice(self.path)

    def _rebuild(self, moved: Path, problem: str) -> None:
        """Re-attach the run folders to a new, empty store from their run.json files, and write the notice."""
        found, missing = storefile.read_run_jsons(self.root)
        with self.transaction() as db:
            storefile.restore(db, found)
        storefile.write_notice(moved, problem, len(found), missing)

    def save_run_json(self, run_id: str) -> None:
        """Copy the run's row and epoch metrics to `<run id>/run.json` (what a lost database is rebuilt from)."""
        with self.connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
            epochs = [json.loads(r["data"]) for r in db.execute(
                "SELECT data FROM metrics WHERE run_id=? AND kind='epoch' ORDER BY seq", (run_id,))]
        if row is not None and self.run_dir(run_id).is_dir():
            storefile.write_json_atomic(self.run_dir(run_id) / storefile.RUN_JSON, storefile.run_json(row, epochs))

    # -- plumbing ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)  # autocommit; BEGIN where atomic
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes, fast commits
        except sqlite3.OperationalError:
            # A full or read-only disk cannot create the WAL's -shm file: read the file as it is (writes fail)
            db.close()
            if not self.path.exists():
                raise
            db = sqlite3.connect(f"file:{self.path}?immutable=1", uri=True, isolation_level=None)
            db.row_factory = sqlite3.Row
            self.read_only = True
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

    def request(self, spec: ArchSpec, recipe: Recipe, owner: str | None = None) -> tuple[str, bool]:
        """(run id, created). An identical request (same spec and recipe, seed and dataset included) attaches to
        the existing queued, running, finished or diverged run, so 30 students pressing Start train once; the run
        keeps its first owner. A new run belongs to `owner` (limits.owner_id of a browser session; None: the
        class's). Raises SpecError, queueing nothing, for a design that does not fit the recipe's dataset,
        limits.Refused when the queue is full (per owner or in total), and StoreError when a new run cannot be
        written (a full or read-only disk; attaching still works there)."""
        check_fits(spec, recipe.dataset)
        recipe_dict = recipe.to_dict()
        key = request_key(spec, recipe_dict)
        select = f"SELECT * FROM runs WHERE request_key=? AND status IN ({','.join('?' * len(ATTACHABLE))}) " \
                 "ORDER BY created DESC"
        try:
            return self._request(spec, recipe_dict, key, select, owner)
        except sqlite3.OperationalError as err:
            with self.connect() as db:
                rows = db.execute(select, (key, *ATTACHABLE)).fetchall()
            dead = set(self._dead(rows))
            if row := next((r for r in rows if r["id"] not in dead), None):
                return row["id"], False
            raise StoreError(_("a new run cannot be recorded in {path} ({error}): free some disk space or make the "
                               "runs folder writable").format(path=self.path, error=err)) from None

    def _request(self, spec: ArchSpec, recipe_dict: dict[str, Any], key: str, select: str,
                 owner: str | None) -> tuple[str, bool]:
        with self.transaction() as db:
            rows = db.execute(select, (key, *ATTACHABLE)).fetchall()
            dead = self._mark_dead(db, rows)
            row = next((r for r in rows if r["id"] not in dead), None)
            if row is not None:
                return row["id"], False
            active = db.execute("SELECT * FROM runs WHERE status IN ('queued','running')").fetchall()
            dead |= self._mark_dead(db, active)  # a dead worker's run holds no place in the queue
            active = [r for r in active if r["id"] not in dead]
            check_queue(len(active), sum(r["owner"] == owner for r in active), owner)
            label = run_label(spec)
            run_id = f"{label}-{secrets.token_hex(4)}"
            db.execute("INSERT INTO runs (id, label, request_key, spec, recipe, status, created, owner) "
                       "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                       (run_id, label, key, spec.to_json(), json.dumps(recipe_dict, sort_keys=True), time.time(),
                        owner))
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        self.save_run_json(run_id)
        for gone in dead:
            self.save_run_json(gone)
        return run_id, True

    @staticmethod
    def _dead(rows: Iterable[sqlite3.Row]) -> list[str]:
        now = time.time()
        return [r["id"] for r in rows if r["status"] in ACTIVE and r["worker_pid"] is not None
                and not worker_alive(r["worker_pid"], r["heartbeat"] or r["started"] or r["created"], now)]

    def _mark_dead(self, db: sqlite3.Connection, rows: list[sqlite3.Row]) -> set[str]:
        """Inside a transaction: end the active runs among `rows` whose worker is gone as failed."""
        dead = set(self._dead(rows))
        pids = {r["id"]: r["worker_pid"] for r in rows}
        for run_id in dead:
            db.execute("UPDATE runs SET status='failed', ended=?, error=? WHERE id=? AND status IN "
                       "('queued','running')", (time.time(), DIED.format(pid=pids[run_id]), run_id))
        return dead

    def reap(self, rows: Iterable[sqlite3.Row] | None = None) -> list[str]:
        """Mark the active runs whose worker is gone as failed (their metrics stay); returns their ids. Checks
        `rows` (read by the caller) or every active run. Writes only when one is dead; on a full or read-only
        disk the write is skipped and the runs are still listed."""
        if rows is None:
            with self.connect() as db:
                rows = db.execute("SELECT * FROM runs WHERE status IN ('queued','running')").fetchall()
        if not self._dead(rows):
            return []
        try:
            with self.transaction() as db:
                ids = [r["id"] for r in rows if r["status"] in ACTIVE]
                fresh = db.execute(f"SELECT * FROM runs WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall()
                dead = self._mark_dead(db, fresh)
        except sqlite3.OperationalError:
            return []
        for run_id in dead:
            self.save_run_json(run_id)
        return sorted(dead)

    def get(self, run_id: str) -> Run | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is not None and self.reap([row]):
            return self.get(run_id)
        return self._row_to_run(row) if row is not None else None

    def list_runs(self, limit: int | None = None) -> list[Run]:
        """Newest first."""
        sql = "SELECT * FROM runs ORDER BY created DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self.connect() as db:
            rows = db.execute(sql).fetchall()
        if self.reap(rows):
            return self.list_runs(limit)
        return [self._row_to_run(r) for r in rows]

    def beat(self, run_id: str) -> None:
        """The worker's sign of life (liveness.py); a full disk only skips it."""
        with contextlib.suppress(sqlite3.OperationalError), self.connect() as db:
            db.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time(), run_id))

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
        self.save_run_json(run_id)

    def cancel_requested(self, run_id: str) -> bool:
        with self.connect() as db:
            row = db.execute("SELECT cancel_requested FROM runs WHERE id=?", (run_id,)).fetchone()
        return row is not None and row["cancel_requested"] is not None
