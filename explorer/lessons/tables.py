"""Lesson results that do not depend on the machine, computed ahead of time into `assets/lesson_tables.json.gz`.

Why: lesson 2's gradient profiles are one seeded forward and backward pass of a fixed batch through a seeded net,
so every machine computes the same numbers (up to float32 rounding, far below the chart's orders of magnitude),
yet the first visitor of a setting waited 2 to 4 s for them, and longer on a loaded class server (issue 12,
defect 6). The page reads the profile from here and computes only what the file lacks.

Regenerate after a change to how a profile is computed (tests/test_lessons_lib.py compares the file with a fresh
computation and fails until then):

    python -m explorer.lessons.tables

A stale file is not read. It records `code_version()`, a hash of the lesson's own code that computes a profile
(gradients.lesson_net, gradient_profile and their helpers, the seeding module, this module's `compute`) and of
torch's version; and before its first use in a process two of its profiles are computed again and must agree
(`SPOT_CHECKS`), which catches a change in the models it builds (explorer/models, edited far more often than the
profiles change, so not hashed). Regenerating takes about 6 minutes on a loaded 2-core CPU. Every entry holds the profile of one (family, depth, activation, init, batchnorm) at the lesson's defaults
(batch 8, seed 0, float32); the layer names are stored once per (family, depth).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import inspect
import itertools
import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from explorer import precompute
from explorer.lessons import gradients, seeding
from explorer.models.cost import Cost, cost
from explorer.models.spec import ArchSpec

TABLES_PATH = Path(__file__).resolve().parent.parent.parent / "assets" / "lesson_tables.json.gz"
DEPTHS = (20, 32, 44, 56, 110)  # the lesson's depth slider (plain and residual)
RESIDUAL_ONLY = (1202,)  # the lesson's "Residual net of 1202 layers" toggle
DIGITS = 6  # significant digits kept: the chart is on a log axis, the metric shows 2
# Computed again before the file's first use (0.1 s): a plain and a residual net, with different activations.
SPOT_CHECKS = (("plain", 20, "sigmoid", "xavier", False), ("resnet", 20, "relu", "he", True))
AGREE = 1e-3  # relative: float32 rounding on another CPU or thread count is far below this


def code_version() -> str:
    """A hash of the code that computes a profile: a file written by other code is never read."""
    digest = hashlib.sha256()
    computing = (gradients._swap, gradients.lesson_net, gradients.GradientProfile, gradients._slope,
                 gradients.gradient_profile, seeding, settings, _round, compute)
    for part in computing:
        digest.update(inspect.getsource(part).encode() + b"\0")
    digest.update(f"torch=={torch.__version__.split('+')[0]}\0".encode())
    return digest.hexdigest()[:16]


def _key(family: str, depth: int, activation: str, init: str, batchnorm: bool) -> str:
    return f"{family}-{depth}-{activation}-{init}-{'bn' if batchnorm else 'nobn'}"


def settings() -> list[tuple[str, int, str, str, bool]]:
    """Every (family, depth, activation, init, batchnorm) the lesson's controls can ask for."""
    choices = list(itertools.product(gradients.ACTIVATIONS, gradients.INITS, (False, True)))
    out = [(family, depth, *rest) for family in ("plain", "resnet") for depth in DEPTHS for rest in choices]
    return out + [("resnet", depth, *rest) for depth in RESIDUAL_ONLY for rest in choices]


def _round(values) -> list[float]:
    return [float(f"{float(v):.{DIGITS}g}") for v in values]


def compute() -> dict[str, Any]:
    """The file's content: every setting's gradient profile."""
    version = code_version()
    names: dict[str, list[str]] = {}
    profiles: dict[str, dict[str, list[float]]] = {}
    for family, depth, activation, init, batchnorm in settings():
        prof = gradients.gradient_profile(family, depth, activation, init, batchnorm)
        names.setdefault(f"{family}-{depth}", list(prof.layers["name"]))
        profiles[_key(family, depth, activation, init, batchnorm)] = {
            "grad_norm": _round(prof.layers["grad_norm"]), "mean": _round(prof.activations["mean"]),
            "std": _round(prof.activations["std"]), "slope": _round(prof.activations["slope"])}
    if code_version() != version:
        raise RuntimeError("the code changed while the profiles were computed; run it again")
    return {"version": version, "names": names, "gradients": profiles}


def write(path: Path = TABLES_PATH) -> dict[str, Any]:
    """Compute the file and write it atomically; the same code writes the same bytes (no churn in git)."""
    table = compute()
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n"
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as out:
        out.write(text.encode())
    tmp.replace(path)
    _read.cache_clear()
    return table


@functools.lru_cache(maxsize=2)
def _read(path: Path = TABLES_PATH) -> dict[str, Any]:
    """The file's content when this code wrote it and it still agrees with the models (SPOT_CHECKS), else nothing
    (the page then computes, as before the file existed)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            table = json.load(f)
    except (OSError, EOFError, ValueError):
        return {}
    if not isinstance(table, dict) or table.get("version") != code_version():
        return {}
    for setting in SPOT_CHECKS:
        if not agrees(_entry(table, *setting), gradients.gradient_profile(*setting)):
            return {}
    return table


def agrees(shipped: gradients.GradientProfile | None, computed: gradients.GradientProfile) -> bool:
    """The same layers and, to AGREE (relative), the same gradient norms and activation statistics."""
    if shipped is None or list(shipped.layers["name"]) != list(computed.layers["name"]) \
            or len(shipped.activations) != len(computed.activations):
        return False
    grads = zip(shipped.layers["grad_norm"], computed.layers["grad_norm"])
    stats = [(a, b) for c in ("mean", "std", "slope") for a, b in zip(shipped.activations[c], computed.activations[c])]
    return (all(math.isclose(a, b, rel_tol=AGREE) for a, b in grads)  # norms span 1e-40..1e4: relative only
            and all(math.isclose(a, b, rel_tol=AGREE, abs_tol=1e-6) for a, b in stats))  # means sit near 0


def _entry(table: dict, family: str, depth: int, activation: str, init: str, batchnorm: bool
           ) -> gradients.GradientProfile | None:
    entry = table.get("gradients", {}).get(_key(family, depth, activation, init, batchnorm))
    names = table.get("names", {}).get(f"{family}-{depth}")
    try:
        layers = pd.DataFrame({"layer": range(1, len(names) + 1), "name": names, "grad_norm": entry["grad_norm"]})
        acts = pd.DataFrame({"index": range(1, len(entry["mean"]) + 1), "mean": entry["mean"], "std": entry["std"],
                             "slope": entry["slope"]})
    except (TypeError, KeyError, ValueError):  # not in the file, or an entry of the wrong shape
        return None
    return gradients.GradientProfile(layers=layers, activations=acts, seconds=0.0)  # read, not timed


def gradient_profile(family: str, depth: int, activation: str, init: str, batchnorm: bool,
                     path: Path = TABLES_PATH) -> gradients.GradientProfile | None:
    """The shipped profile of this setting (batch 8, seed 0, float32), or None where the file lacks it."""
    return _entry(_read(path), family, depth, activation, init, batchnorm)


def counted(spec: ArchSpec) -> Cost:
    """A design's counts, from the shipped preset table (explorer.precompute) when it holds this exact design, else
    counted once per process: the lessons count presets on the page's thread, and counting every preset of a chart
    took their first visitor 3 to 14 s (issue 12, defect 6)."""
    return _counted(spec.to_json())


@functools.lru_cache(maxsize=256)
def _counted(spec_json: str) -> Cost:
    hit = precompute.lookup(spec_json)
    return Cost(**hit["cost"]) if hit is not None else cost(ArchSpec.from_json(spec_json))


def main() -> None:
    start = time.perf_counter()
    try:
        table = write()
    except RuntimeError as err:
        raise SystemExit(f"not written: {err}") from None
    print(f"wrote {TABLES_PATH} ({len(table['gradients'])} gradient profiles, {TABLES_PATH.stat().st_size / 1e6:.2f} "
          f"MB, code {table['version']}) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
