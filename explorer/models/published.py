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
from typing import Annotated, Literal

from annotated_types import MinLen
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads typing_extensions' TypedDict on Python 3.11

from explorer.models.convert import SpecError, check, from_untrusted

PUBLISHED_PATH = Path(__file__).resolve().parents[2] / "assets" / "published.json"
Dataset = Literal["cifar10", "imagenet"]


class PublishedDataError(ValueError):
    """assets/published.json is missing a key or holds a value of the wrong kind."""


@dataclass(frozen=True, kw_only=True)
class Published:
    """What a paper printed for one preset (one row of the file's `presets`, checked field by field)."""

    preset: str
    params_m: float | None  # millions, as the paper prints them (None: not printed)
    params_text: str | None  # the printed figure, e.g. "0.85M" (ImageNet: torchvision's exact count "11,689,512")
    error: float | None  # CIFAR-10 test error % or ImageNet top-1 error %
    error_kind: str  # "best", "median of 5", "mean of 10", "top-1, single 224 crop", ...
    dataset: Dataset
    macs: float | None  # published multiply-adds per image
    source: str  # paper and table
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
    """The file's shape; `presets` rows are checked as `Published`, `recipe_for_family` against `recipes`."""

    sources: list[Paper]
    presets: dict[str, dict[str, object]]
    tables: dict[str, Annotated[list[Sourced], MinLen(1)]]
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
    """Check the file's structure; return it with `presets` parsed into `Published` records."""
    try:
        checked = check(PublishedFile, data, "(top level)")
    except SpecError as err:
        raise _fail(err.field, err.message) from None
    parsed = {}
    for name, row in checked["presets"].items():
        try:
            parsed[name] = from_untrusted(Published, {**row, "preset": name}, f"presets.{name}")
        except SpecError as err:
            raise _fail(f"presets.{name}.{err.field}", err.message) from None
    for family, key in checked["recipe_for_family"].items():
        if key is not None and key not in checked["recipes"]:
            raise _fail(f"recipe_for_family.{family}", f"names recipe {key!r}, which is not in 'recipes'")
    return {**checked, "parsed_presets": parsed}


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
