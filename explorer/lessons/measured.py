"""What the app's own lesson runs gave when we measured them, from `assets/measured.json`.

A teacher compares the class's run with a known-good one: the training lessons show these tables beside the live
runs. Each table keeps its source (the command, machine, recipe and date that produced it), like the papers'
figures in `assets/published.json`. The file is read once and validated; a malformed file names the key.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

MEASURED_PATH = Path(__file__).resolve().parent.parent.parent / "assets" / "measured.json"


class MeasuredDataError(ValueError):
    """assets/measured.json is missing a key or holds a value of the wrong kind."""


@dataclass(frozen=True)
class Measured:
    table: pd.DataFrame
    source: str  # command, machine, recipe and date


def _fail(key: str, problem: str) -> MeasuredDataError:
    return MeasuredDataError(f"{MEASURED_PATH.name}: {key}: {problem}; fix the file or restore it from git")


def _parse(name: str, entry: Any) -> Measured:
    if not isinstance(entry, dict) or not isinstance(entry.get("source"), str) or not entry["source"].strip():
        raise _fail(name, "expected an object with a non-empty text 'source' and a list 'rows'")
    rows = entry.get("rows")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise _fail(f"{name}.rows", "expected a non-empty list of objects")
    columns = list(rows[0])
    for i, row in enumerate(rows):
        if list(row) != columns:
            raise _fail(f"{name}.rows[{i}]", f"expected the columns {columns}; got {list(row)}")
        for column, value in row.items():
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise _fail(f"{name}.rows[{i}].{column}", f"expected text or a number; got {value!r}")
    return Measured(pd.DataFrame(rows, columns=columns), entry["source"])


@functools.lru_cache(maxsize=1)
def _load(path: Path = MEASURED_PATH) -> dict[str, Measured]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise MeasuredDataError(f"{path.name}: cannot read it ({err}); restore it from git") from err
    if not isinstance(raw, dict):
        raise _fail("(top level)", "expected an object of named tables")
    return {name: _parse(name, entry) for name, entry in raw.items() if not name.startswith("_")}


def measured(name: str) -> Measured:
    """One named table (a copy: callers may change it)."""
    tables = _load()
    if name not in tables:
        raise KeyError(f"no measured table {name!r}; known: {', '.join(sorted(tables))}")
    found = tables[name]
    return Measured(found.table.copy(), found.source)
