"""The run store's files on disk: checking the SQLite file, moving a broken one aside, and each run's run.json.

A run folder (`root/<run id>/`) holds the checkpoint, the worker log and `run.json`: the run's spec, recipe,
status and epoch metrics, rewritten atomically whenever they change. The database is the fast index; the folders
are enough to rebuild it, so a corrupt, truncated or emptied `runs.sqlite` loses no finished run.
Plain Python (no torch); the SQL schema stays in explorer.training.runs.
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
