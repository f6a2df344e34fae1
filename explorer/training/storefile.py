"""The run store's files on disk: checking the SQLite file, moving a broken one aside, and each run's run.json.

A run folder (`root/<run id>/`) holds the checkpoint, the worker log and `run.json`: the run's spec, recipe,
status and epoch metrics, rewritten atomically whenever they change. The database is the fast index; the folders
are enough to rebuild it, so a corrupt, truncated or emptied `runs.sqlite` loses no finished run.
Here: the file's schema and its migrations, and rebuilding it; the queries are explorer.training.runs'. Plain
Python, no torch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA = """
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
    cancel_requested REAL,          -- unix seconds of the Stop press; the worker polls it
    heartbeat REAL,                 -- unix seconds of the worker's latest sign of life (liveness.py)
    owner TEXT,                     -- limits.owner_id of the session that started it (NULL: the class's)
    launched REAL                   -- unix seconds queue.launch put it in line for a worker (NULL: not launched)
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
RUN_JSON = "run.json"
CORRUPT_TAG = ".corrupt-"  # runs.sqlite.corrupt-20261201T235959Z (+ -wal, -shm, .txt: what happened)


def write_json_atomic(path: Path, data: dict[str, Any]) -> bool:
    """Write JSON to a temporary file beside `path`, then rename it over `path`: a reader never sees half a file.
    False (nothing changed) when the disk is full or read-only: losing a copy must not end a run."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, path)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False


def read_run_jsons(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(the run.json of every run folder that has a readable one, the names of run folders without one)."""
    found, missing = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            data = json.loads((folder / RUN_JSON).read_text())
            if data.get("id") != folder.name:
                raise ValueError("names another run")
            found.append(data)
        except (OSError, ValueError):
            missing.append(folder.name)
    return found, missing


def has_run_folders(root: Path) -> bool:
    return any((p / RUN_JSON).exists() or (p / "checkpoint.pt").exists() for p in root.iterdir() if p.is_dir())


def check_database(path: Path, tables: tuple[str, ...]) -> str | None:
    """Why the store file at `path` cannot be used, or None if it is fine or absent. Read-only: no write needed,
    so a full disk does not make a healthy store look broken. A 0-byte file counts as lost when run folders say a
    store existed (a fresh store is also 0 bytes for the instant before its schema is written)."""
    if not path.exists():
        return "it is missing" if has_run_folders(path.parent) else None
    if path.stat().st_size == 0:
        return "the file is empty (0 bytes)" if has_run_folders(path.parent) else None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
        try:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            db.close()
    except sqlite3.OperationalError:
        return None  # locked, read-only, a full disk ("disk I/O error"): no sign of damage; the store says more
    except sqlite3.DatabaseError as err:  # "file is not a database", "database disk image is malformed"
        return f"SQLite: {err}"
    if result != "ok":
        return f"SQLite's integrity check: {result}"
    if not set(tables) <= names:
        return f"it is not a run store (no {', '.join(sorted(set(tables) - names))} table)"
    return None


def quarantine(path: Path, problem: str) -> Path:
    """Move the broken store and its -wal/-shm aside as `<name>.corrupt-<UTC time>`, with a .txt saying why."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = path.with_name(f"{path.name}{CORRUPT_TAG}{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, moved.with_name(moved.name + suffix))
    moved.with_name(moved.name + ".txt").write_text(problem)
    return moved


def notice(path: Path) -> str | None:
    """What the newest repair of this store did, for every page to show until the moved file is deleted."""
    notes = sorted(path.parent.glob(f"{path.name}{CORRUPT_TAG}*.txt"))
    return notes[-1].read_text() if notes else None


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """One process at a time checks and repairs the store (30 pages opening a broken store move it aside once)."""
    try:
        lock = open(root / ".store.lock", "a")
    except OSError:  # a read-only folder: nothing can be repaired there anyway
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def prepare(db: sqlite3.Connection) -> None:
    """WAL mode, the schema and its migrations, writing only what is missing: an existing store opens on a full disk."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
    if db.execute("SELECT count(*) FROM sqlite_master WHERE name='metrics_run'").fetchone()[0] == 0:
        db.executescript(SCHEMA)
    columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
    if "heartbeat" not in columns:
        db.execute("ALTER TABLE runs ADD COLUMN heartbeat REAL")  # a store from before heartbeats
    if "owner" not in columns:
        db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")  # a store from before owners: its runs are the class's
    if "launched" not in columns:
        db.execute("ALTER TABLE runs ADD COLUMN launched REAL")  # from before queued runs waited as rows


def run_json(row: sqlite3.Row, epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's row and epoch events as run.json holds them (no cancel flag or heartbeat: they mean nothing later)."""
    data = {k: row[k] for k in row.keys() if k not in ("spec", "recipe", "cancel_requested", "heartbeat")}
    data.update(spec=json.loads(row["spec"]), recipe=json.loads(row["recipe"]), epochs=epochs,
                final=epochs[-1] if epochs else None)
    return data


def restore(db: sqlite3.Connection, runs: list[dict[str, Any]]) -> None:
    """Insert runs read from run.json files (and their epoch events) into a new store, inside a transaction."""
    for run in runs:
        db.execute("INSERT OR IGNORE INTO runs (id, label, request_key, spec, recipe, status, device, device_name, "
                   "created, started, ended, worker_pid, error, owner, launched) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (run["id"], run["label"], run["request_key"], json.dumps(run["spec"]),
                    json.dumps(run["recipe"], sort_keys=True), run["status"], run.get("device"),
                    run.get("device_name"), run["created"], run.get("started"), run.get("ended"),
                    run.get("worker_pid"), run.get("error"), run.get("owner"), run.get("launched")))
        db.executemany("INSERT INTO metrics (run_id, kind, step, epoch, data) VALUES (?, 'epoch', ?, ?, ?)",
                       [(run["id"], e["step"], e["epoch"], json.dumps(e)) for e in run.get("epochs", [])])


def write_notice(moved: Path, problem: str, restored: int, missing: list[str]) -> None:
    where = (f"It was moved aside to {moved.name} (delete it to hide this notice)" if moved.exists()
             else f"(delete {moved.name}.txt to hide this notice)")
    text = (f"The run database could not be read ({problem}). {where} and a new one was started: {restored} run(s) "
            "were restored from their folders with their per-epoch metrics")
    text += f"; {len(missing)} folder(s) without a readable run.json were not: {', '.join(missing)}." if missing else "."
    moved.with_name(moved.name + ".txt").write_text(text)
