"""Published figures (parameters, errors, multiply-adds, tables, training recipes) from `assets/published.json`.

The papers mix best runs, means and medians, so every figure keeps its source and the kind of number beside
it. The tables are the one home of every figure: `figures_for(spec)` finds a design's numbers in all of them
(explorer.models.figures), and a preset's headline record (`published_for`) is derived from those. The file is
read once, validated (every row's design is built and checked), and cached; a malformed file fails with the file
and key named.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from annotated_types import MinLen
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads typing_extensions' TypedDict on Python 3.11

from explorer.models.convert import SpecError, check
from explorer.models.figures import ERROR_METRICS, Column, Dataset, Figure, dataset_of, design_spec, index
from explorer.models.presets import PRESETS
from explorer.models.spec import ArchSpec

PUBLISHED_PATH = Path(__file__).resolve().parents[2] / "assets" / "published.json"


class PublishedDataError(ValueError):
    """assets/published.json is missing a key or holds a value of the wrong kind."""


@dataclass(frozen=True, kw_only=True)
class Published:
    """A preset's headline figures: its first error, parameter count and multiply-adds in the tables' order."""

    preset: str
    params_m: float | None  # millions, as the paper prints them (None: not printed)
    params_text: str | None  # the printed figure, e.g. "0.85M" (ImageNet: torchvision's exact count "11,689,512")
    error: float | None  # CIFAR test error % or ImageNet top-1 error %
    error_kind: str  # "best of 5", "median of 5", "mean of 10", "single 224 crop", ... ("none": no error)
    dataset: Dataset
    macs: float | None  # published multiply-adds per image
    source: str  # paper and table of the error (else of the count)
    note: str
    params_exact: int | None = None  # an exact count where one is published (torchvision's ImageNet models)
    macs_source: str = ""  # where `macs` comes from when not the paper itself


@with_config(ConfigDict(extra="allow"))
class Sourced(TypedDict):
    """A table row, a recipe or a pitfall: any figures, and the source they come from."""

    source: str


@with_config(ConfigDict(extra="allow"))
class Paper(TypedDict):
    key: str
    arxiv: str | None  # None: a repository, not a paper


@with_config(ConfigDict(extra="allow"))
class PublishedFile(TypedDict):
    """The file's shape; each table's `columns` against its rows, `recipe_for_family` against `recipes`."""

    sources: list[Paper]
    tables: dict[str, Annotated[list[Sourced], MinLen(1)]]
    columns: dict[str, list[Column]]
    recipes: dict[str, Sourced]
    recipe_for_family: dict[str, str | None]
    pitfalls: list[Sourced]


def _fail(key: str, problem: str) -> PublishedDataError:
    return PublishedDataError(f"{PUBLISHED_PATH}: {key}: {problem}")


@functools.lru_cache(maxsize=1)
def _load() -> dict[str, object]:
    """Read and validate the whole file once."""
    try:
        data = json.loads(PUBLISHED_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishedDataError(f"{PUBLISHED_PATH}: file not found") from None
    except json.JSONDecodeError as err:
        raise PublishedDataError(f"{PUBLISHED_PATH}: not valid JSON ({err})") from None
    return validate_data(data)


def validate_data(data: object) -> dict[str, object]:
    """Check the file's structure and build every row's design; return it with the figures indexed by design."""
    try:
        checked = check(PublishedFile, data, "(top level)")
    except SpecError as err:
        raise _fail(err.field, err.message) from None
    for name, columns in checked["columns"].items():
        if name not in checked["tables"]:
            raise _fail(f"columns.{name}", "names no table in 'tables'")
        _check_rows(name, checked["tables"][name], columns)
    for family, key in checked["recipe_for_family"].items():
        if key is not None and key not in checked["recipes"]:
            raise _fail(f"recipe_for_family.{family}", f"names recipe {key!r}, which is not in 'recipes'")
    try:
        figures = index(checked["tables"], checked["columns"])
    except SpecError as err:
        raise _fail(err.field, err.message) from None
    return {**checked, "figures": figures}


def _check_rows(name: str, rows: list[dict], columns: list[Column]) -> None:
    """Each row has a unique key and either a design or the reason there is none; its figure fields are numbers."""
    keys = set()
    for i, row in enumerate(rows):
        where = f"tables.{name}[{i}]"
        key = row.get("key")
        if not isinstance(key, str) or key in keys:
            raise _fail(where, f"needs a 'key' that no other row of the table has; got {key!r}")
        keys.add(key)
        if isinstance(row.get("design"), dict) == isinstance(row.get("unbuildable"), str):
            raise _fail(f"tables.{name}[{key}]", "needs either a 'design' (an object) or an 'unbuildable' reason")
        for column in columns:
            value = row.get(column["field"])
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise _fail(f"tables.{name}[{key}].{column['field']}", f"must be a number or null; got {value!r}")


def figures_for(spec: ArchSpec) -> list[Figure]:
    """Every published number for exactly this design (in the file's order), each with its kind and source."""
    return list(_load()["figures"].get(spec, ()))


def row_design(name: str, key: str, field: str | None = None) -> ArchSpec:
    """The design a table row's figures belong to (in column `field`, default the table's first figure column):
    what a lesson's "open this design" link opens. KeyError for an unknown table, row or column, or a row with
    no design."""
    data = _load()
    row = next((r for r in data["tables"][name] if r["key"] == key), None)
    if row is None or "design" not in row:
        raise KeyError(f"table {name!r} has no row {key!r} with a design")
    cols = data["columns"].get(name, [])
    column = next((c for c in cols if field in (None, c["field"])), None)
    if column is None:
        raise KeyError(f"table {name!r} has no figure column {field!r}")
    return design_spec({**column.get("design", {}), **row["design"]}, column["dataset"], f"tables.{name}[{key}]")


def published_for(name: str) -> Published | None:
    """A preset's headline figures (from the tables), or None if no table has a figure for it."""
    spec = PRESETS.get(name)
    return headline(spec, name) if spec is not None else None


def all_published() -> dict[str, Published]:
    return {name: found for name in PRESETS if (found := published_for(name)) is not None}


@functools.lru_cache(maxsize=1024)
def headline(spec: ArchSpec, name: str = "") -> Published | None:
    """Any design's headline figures on its own dataset (`preset` = `name`), or None if no table has one."""
    dataset = dataset_of(spec)
    figures = [f for f in figures_for(spec) if f.dataset == dataset and f.value is not None]
    error = next((f for f in figures if f.metric in ERROR_METRICS), None)
    params = next((f for f in figures if f.metric == "parameters"), None)
    macs = next((f for f in figures if f.metric == "multiply-adds"), None)
    if error is None and params is None:
        return None
    first = error or params
    return Published(
        preset=name, params_m=params.value / 1e6 if params else None, params_text=params.text if params else None,
        error=error.value if error else None, error_kind=error.kind if error else "none", dataset=dataset,
        macs=macs.value if macs else None, source=first.source, note=first.note,
        params_exact=round(params.value) if params and params.kind == "exact count" else None,
        macs_source=macs.source if macs and macs.source != first.source else "")


def table(name: str) -> list[dict]:
    """A paper table as rows (each with its `key`, its `source`, and its `design` or why it has none):
    "identity_table1", "imagenet_table3", "wrn_table4", "resnext_templates", ... (see `table_names`)."""
    tables = _load()["tables"]
    if name not in tables:
        raise KeyError(f"no published table {name!r}; choose from {', '.join(tables)}")
    return copy.deepcopy(tables[name])  # callers may edit rows; the cache must not change


def table_names() -> list[str]:
    return list(_load()["tables"])


def columns(name: str) -> list[dict]:
    """A table's figure columns (field, metric, dataset, label, kind, ...); [] for a table of no figures."""
    return copy.deepcopy(_load()["columns"].get(name, []))


def recipe(family: str) -> dict | None:
    """The training recipe the family's paper used (CIFAR-10), or None if papers.md gives none.

    `family` is an ArchSpec family, or "preact" for the Identity Mappings recipe."""
    data = _load()
    key = data["recipe_for_family"].get(family)
    return copy.deepcopy(data["recipes"][key]) if key else None


def sources() -> list[dict]:
    """The papers and repositories the figures come from, with arXiv ids."""
    return [dict(s) for s in _load()["sources"]]


def pitfalls() -> list[dict]:
    """Known pitfalls reported by users of the public implementations, each with its source."""
    return [dict(p) for p in _load()["pitfalls"]]
