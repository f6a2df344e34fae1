"""Published figures (parameters, errors, multiply-adds, tables, training recipes) from `assets/published.json`.

The papers mix best runs, means and medians, so every figure keeps its source and the kind of number beside
it. The file is read once, validated, and cached; a malformed file fails with the file and key named.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PUBLISHED_PATH = Path(__file__).resolve().parents[2] / "assets" / "published.json"
DATASETS = ("cifar10", "imagenet")
TOP_KEYS = ("sources", "presets", "tables", "recipes", "recipe_for_family", "pitfalls")


class PublishedDataError(ValueError):
    """assets/published.json is missing a key or holds a value of the wrong kind."""


@dataclass(frozen=True)
class Published:
    """What a paper printed for one preset."""

    preset: str
    params_m: float | None  # millions, as the paper prints them (None: not printed)
    params_text: str | None  # the printed figure, e.g. "0.85M" (ImageNet: torchvision's exact count "11,689,512")
    error: float | None  # CIFAR-10 test error % or ImageNet top-1 error %
    error_kind: str  # "best", "median of 5", "mean of 10", "top-1, single 224 crop", ...
    dataset: str  # "cifar10" or "imagenet"
    macs: float | None  # published multiply-adds per image
    source: str  # paper and table
    note: str


def _fail(key: str, problem: str) -> PublishedDataError:
    return PublishedDataError(f"{PUBLISHED_PATH}: {key}: {problem}")


def _number_or_none(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(key, f"expected a number or null; got {value!r}")
    return float(value)


def _text(key: str, value: Any, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _fail(key, f"expected text; got {value!r}")
    return value


def _parse_preset(name: str, row: Any) -> Published:
    key = f"presets.{name}"
    if not isinstance(row, dict):
        raise _fail(key, f"expected an object; got {type(row).__name__}")
    for field in ("params_m", "params_text", "error", "error_kind", "dataset", "macs", "source", "note"):
        if field not in row:
            raise _fail(f"{key}.{field}", "missing")
    dataset = _text(f"{key}.dataset", row["dataset"])
    if dataset not in DATASETS:
        raise _fail(f"{key}.dataset", f"expected one of {', '.join(DATASETS)}; got {dataset!r}")
    return Published(
        preset=name,
        params_m=_number_or_none(f"{key}.params_m", row["params_m"]),
        params_text=_text(f"{key}.params_text", row["params_text"], optional=True),
        error=_number_or_none(f"{key}.error", row["error"]),
        error_kind=_text(f"{key}.error_kind", row["error_kind"]),
        dataset=dataset,
        macs=_number_or_none(f"{key}.macs", row["macs"]),
        source=_text(f"{key}.source", row["source"]),
        note=_text(f"{key}.note", row["note"]),
    )


@functools.lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    """Read and validate the whole file once."""
    try:
        data = json.loads(PUBLISHED_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishedDataError(f"{PUBLISHED_PATH}: file not found") from None
    except json.JSONDecodeError as err:
        raise PublishedDataError(f"{PUBLISHED_PATH}: not valid JSON ({err})") from None
    return validate_data(data)


def validate_data(data: Any) -> dict[str, Any]:
    """Check the file's structure; return it with `presets` parsed into `Published` records."""
    if not isinstance(data, dict):
        raise _fail("(top level)", "expected a JSON object")
    for key in TOP_KEYS:
        if key not in data:
            raise _fail(key, "missing")
    for key in ("presets", "tables", "recipes", "recipe_for_family"):
        if not isinstance(data[key], dict):
            raise _fail(key, f"expected an object; got {type(data[key]).__name__}")
    for i, source in enumerate(data["sources"]):
        if not isinstance(source, dict) or "key" not in source or "arxiv" not in source:
            raise _fail(f"sources[{i}]", "expected an object with 'key' and 'arxiv'")
    for name, rows in data["tables"].items():
        if not isinstance(rows, list) or not rows:
            raise _fail(f"tables.{name}", "expected a non-empty list of rows")
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not isinstance(row.get("source"), str):
                raise _fail(f"tables.{name}[{i}]", "expected an object with a 'source' text")
    for family, key in data["recipe_for_family"].items():
        if key is not None and key not in data["recipes"]:
            raise _fail(f"recipe_for_family.{family}", f"names recipe {key!r}, which is not in 'recipes'")
    for name, recipe in data["recipes"].items():
        if not isinstance(recipe, dict) or not isinstance(recipe.get("source"), str):
            raise _fail(f"recipes.{name}", "expected an object with a 'source' text")
    parsed = {name: _parse_preset(name, row) for name, row in data["presets"].items()}
    return {**data, "parsed_presets": parsed}


def published_for(name: str) -> Published | None:
    """The published figures for a preset, or None if no paper printed any."""
    return _load()["parsed_presets"].get(name)


def all_published() -> dict[str, Published]:
    return dict(_load()["parsed_presets"])


def table(name: str) -> list[dict]:
    """A paper table as rows (each with its `source`): "identity_table1", "identity_table2",
    "shake_shake_table1", "reproductions", "imagenet", "imagenet_paper", "se", "wrn", ... (see `table_names`)."""
    tables = _load()["tables"]
    if name not in tables:
        raise KeyError(f"no published table {name!r}; choose from {', '.join(tables)}")
    return copy.deepcopy(tables[name])  # callers may edit rows; the cache must not change


def table_names() -> list[str]:
    return list(_load()["tables"])


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
