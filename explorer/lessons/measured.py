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
from typing import Annotated

import pandas as pd
from annotated_types import MinLen
from pydantic import StringConstraints
from typing_extensions import TypedDict  # pydantic reads typing_extensions' TypedDict on Python 3.11

from explorer.models.convert import SpecError, check

MEASURED_PATH = Path(__file__).resolve().parent.parent.parent / "assets" / "measured.json"


class MeasuredDataError(ValueError):
    """assets/measured.json is missing a key or holds a value of the wrong kind."""


@dataclass(frozen=True)
class Measured:
    table: pd.DataFrame
    source: str  # command, machine, recipe and date


class Table(TypedDict):
    """One named table of the file: where it comes from, and its rows (every row has the same columns)."""

    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    rows: Annotated[list[dict[str, str | int | float]], MinLen(1)]


def _fail(key: str, problem: str) -> MeasuredDataError:
    return MeasuredDataError(f"{MEASURED_PATH.name}: {key}: {problem}; fix the file or restore it from git")


def _parse(name: str, entry: object) -> Measured:
    try:
        table = check(Table, entry, "(table)")
    except SpecError as err:
        raise _fail(name if err.field == "(table)" else f"{name}.{err.field}", err.message) from None
    rows = table["rows"]
    columns = list(rows[0])
    for i, row in enumerate(rows):
        if list(row) != columns:
            raise _fail(f"{name}.rows[{i}]", f"expected the columns {columns}; got {list(row)}")
    return Measured(pd.DataFrame(rows, columns=columns), table["source"])


@functools.lru_cache(maxsize=1)
def _load(path: Path = MEASURED_PATH) -> dict[str, Measured]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise MeasuredDataError(f"{path.name}: cannot read it ({err}); restore it from git") from err
    if not isinstance(raw, dict):
        raise _fail("(top level)", f"expected an object of named tables; got {type(raw).__name__}")
    return {name: _parse(name, entry) for name, entry in raw.items() if not name.startswith("_")}


def measured(name: str) -> Measured:
    """One named table (a copy: callers may change it)."""
    tables = _load()
    if name not in tables:
        raise KeyError(f"no measured table {name!r}; known: {', '.join(sorted(tables))}")
    found = tables[name]
    return Measured(found.table.copy(), found.source)
