"""Sweeps: a base design, one or two of its fields over lists of values, a few seeds and one recipe; one run per
point and seed, queued through the run store, and the results placed beside the papers' figures.

`plan(base, axes, seeds, recipe)` validates everything before anything is queued (each field through the ArchSpec
field table, each combination as a whole design), `submit(store, sweep)` requests every run (an identical run
attaches, a failed one trains again: the store's de-duplication and recovery hold), `progress` and `results` read
the store. `python -m explorer.sweep` is the command line (explorer.sweep.cli); `--backend ray` runs each point as
a Ray task (explorer.sweep.on_ray).

A sweep is recorded as one JSON file in the runs folder (`<runs>/sweep-....json`, written atomically): its
definition and each point's run id. A file, not a table in the run store: the run store's schema is not this
module's, a sweep is written once and re-written only when it is queued again (no concurrent writers to arbitrate),
and the file survives what the store survives (a rebuilt store keeps the run ids, which the file names). The
store's rebuild reads run folders only, so the files are left alone. The id is a hash of the definition, so the
same sweep asked for again is the same record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from explorer.i18n import N_, _, ngettext, pgettext
from explorer.models.convert import SpecError
from explorer.models.cost import check_budget
from explorer.models.fields import FAMILY_LABELS, SETTINGS, applies
from explorer.models.figures import ERROR_METRICS, dataset_of
from explorer.models.presets import preset_name
from explorer.models.published import figures_for
from explorer.models.spec import ArchSpec
from explorer.training.datasets import follow_classes
from explorer.training.events import ENDED, RunStatus
from explorer.training.limits import Refused
from explorer.training.queue import launch
from explorer.training.recipe import Recipe
from explorer.training.runs import RunStore, run_label
from explorer.training.storefile import write_json_atomic

MAX_AXES = 2
MAX_VALUES = 12  # values of one field
MAX_SEEDS = 10
MAX_RUNS = 64  # points x seeds of one sweep: the server's whole queue holds 60 (limits.MAX_QUEUED)
FIXED_FIELDS = {  # fields a sweep does not vary, and why
    "family": N_("a sweep varies one family's design; compare families on the Compare page"),
    "stem": N_("the training data are 32x32 images, which need the CIFAR stem"),
    "num_classes": N_("the class count follows the dataset"),
}
STATES = ("queued", "running", "finished", "failed")  # the progress view's columns: diverged and cancelled count
# as failed (no result), and a point not yet in the store (the queue was full) as queued


@dataclass(frozen=True)
class Axis:
    field: str  # an ArchSpec field
    values: tuple[Any, ...]  # distinct, each valid for the base design


@dataclass(frozen=True)
class Point:
    values: dict[str, Any]  # field -> value, in axis order
    seed: int
    spec: ArchSpec  # the base design with `values`, as it trains on the recipe's dataset
    recipe: Recipe  # the sweep's recipe with `seed`
    run_id: str | None = None  # None until the store has taken it (a full queue defers the rest)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values.items())


@dataclass(frozen=True)
class Sweep:
    id: str
    base: ArchSpec
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    recipe: Recipe  # seed 0; each point's recipe carries its own seed
    points: tuple[Point, ...]
    created: float
    backend: str = "local"  # "local": the store's workers; "ray": Ray tasks (explorer.sweep.on_ray)
    owner: str | None = None  # limits.owner_id of the browser session that started it; None: the class's

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(a.field for a in self.axes)


# -- validation ------------------------------------------------------------------------------------------------

def sweepable(base: ArchSpec) -> list[str]:
    """The fields a sweep of `base` may vary: those that mean something for its family."""
    return [name for name in SETTINGS if name not in FIXED_FIELDS and applies(name, base.family)]


def check_field(base: ArchSpec, name: str) -> None:
    if name in FIXED_FIELDS:
        raise SpecError(name, _("cannot be swept: {why}").format(why=_(FIXED_FIELDS[name])))
    choices = ", ".join(sweepable(base))
    if name not in SETTINGS:
        raise SpecError("field", _("unknown design field {name!r}; choose from {choices}").format(name=name,
                                                                                                choices=choices))
    if not applies(name, base.family):
        raise SpecError(name, _("means nothing for {family} designs; choose from {choices}").format(
            family=_(FAMILY_LABELS[base.family]), choices=choices))


def parse_values(text: str) -> tuple[Any, ...]:
    """Comma-separated values as a user types them: JSON where it parses (20, 0.5, true, null), else text (A)."""
    out = []
    for token in (t.strip() for t in str(text).split(",")):
        if token.lower() in _WORDS:
            out.append(_WORDS[token.lower()])
        elif token:
            try:
                out.append(json.loads(token))
            except (ValueError, RecursionError):  # JSONDecodeError is a ValueError: plain text, such as A
                out.append(token)
    return tuple(out)


_WORDS = {"true": True, "false": False, "null": None, "none": None}


def _design(base: ArchSpec, values: dict[str, Any], dataset: str) -> ArchSpec:
    """The base design with `values`, validated as a whole (the error names the field and the combination)."""
    try:
        spec = ArchSpec.from_dict({**base.to_dict(), **values})
        spec, _note = follow_classes(spec, dataset)
        check_budget(spec)
    except SpecError as err:
        combination = ", ".join(f"{k}={v!r}" for k, v in values.items())
        raise SpecError(err.field, _("{message} (at {combination}); change or drop that value").format(
            message=err.message, combination=combination)) from None
    return spec


def plan(base: ArchSpec, axes: list[tuple[str, Any]] | tuple[Axis, ...], seeds: Any, recipe: Recipe,
         *, backend: str = "local", owner: str | None = None) -> Sweep:
    """A validated sweep (nothing queued yet). `axes`: (field, values) pairs, values a list or comma-separated
    text. Raises SpecError naming the field, the value and what to do."""
    axes = [a if isinstance(a, Axis) else Axis(a[0], a[1]) for a in axes]
    if not 1 <= len(axes) <= MAX_AXES:
        raise SpecError("fields", _("a sweep varies 1 or {most} fields; got {count}").format(most=MAX_AXES,
                                                                                          count=len(axes)))
    if len({a.field for a in axes}) < len(axes):
        raise SpecError(axes[0].field, _("is listed twice; vary two different fields"))
    base, _note = follow_classes(base, recipe.dataset)
    checked = []
    for axis in axes:
        check_field(base, axis.field)
        values = parse_values(axis.values) if isinstance(axis.values, str) else tuple(axis.values)
        if not values:
            raise SpecError(axis.field, _("no values given; list them separated by commas, e.g. 20, 32, 44"))
        if len(values) > MAX_VALUES:
            raise SpecError(axis.field, _("{count} values, more than a sweep takes ({most}); drop some").format(
                count=len(values), most=MAX_VALUES))
        valid = tuple(getattr(_design(base, {axis.field: v}, recipe.dataset), axis.field) for v in values)
        if len(set(valid)) < len(valid):
            raise SpecError(axis.field, _("a value is listed twice: {values}; list each value once").format(
                values=list(values)))
        checked.append(Axis(axis.field, valid))
    seeds = _seeds(seeds)
    grid = [{}]
    for axis in checked:
        grid = [{**g, axis.field: v} for g in grid for v in axis.values]
    runs = len(grid) * len(seeds)
    if runs > MAX_RUNS:
        raise SpecError("seeds" if len(grid) <= MAX_RUNS else checked[-1].field,
                        _("{points} points x {seeds} seeds = {runs} runs, more than one sweep may queue ({most}); "
                          "use fewer values or seeds").format(points=len(grid), seeds=len(seeds), runs=runs,
                                                              most=MAX_RUNS))
    points = []
    for values in grid:
        spec = _design(base, values, recipe.dataset)
        points += [Point(values, s, spec, recipe.replace(seed=s)) for s in seeds]
    recipe = recipe.replace(seed=0)
    return Sweep(_sweep_id(base, checked, seeds, recipe), base, tuple(checked), seeds, recipe, tuple(points),
                 time.time(), backend, owner)


def _seeds(seeds: Any) -> tuple[int, ...]:
    values = parse_values(seeds) if isinstance(seeds, str) else tuple(seeds)
    if not values:
        raise SpecError("seeds", _("no seeds given; list them separated by commas, e.g. 0, 1, 2"))
    for s in values:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**31:
            raise SpecError("seeds", _("each seed is a whole number in [0, 2^31); got {value!r}, try 0, 1, 2").format(
                value=s))
    if len(set(values)) < len(values):
        raise SpecError("seeds", _("a seed is listed twice: {values}; list each seed once").format(values=list(values)))
    if len(values) > MAX_SEEDS:
        raise SpecError("seeds", _("{count} seeds, more than a sweep takes ({most}); drop some").format(
            count=len(values), most=MAX_SEEDS))
    return tuple(values)


def _sweep_id(base: ArchSpec, axes: list[Axis], seeds: tuple[int, ...], recipe: Recipe) -> str:
    definition = {"base": base.to_dict(), "axes": [[a.field, list(a.values)] for a in axes], "seeds": list(seeds),
                  "recipe": recipe.to_dict()}
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:8]
    name = re.sub(r"[^a-z0-9_-]+", "_", f"{run_label(base)}-{'-'.join(a.field for a in axes)}".lower())
    return f"sweep-{name}-{digest}"


# -- the record ------------------------------------------------------------------------------------------------

SWEEP_ID = re.compile(r"sweep-[a-z0-9_-]{1,120}")


def _path(root: Path, sweep_id: str) -> Path:
    if not isinstance(sweep_id, str) or not SWEEP_ID.fullmatch(sweep_id):
        raise KeyError(_("not a sweep id: {value!r}").format(value=str(sweep_id)[:80]))
    return Path(root) / f"{sweep_id}.json"


def save(root: Path, sweep: Sweep) -> None:
    data = {"id": sweep.id, "created": sweep.created, "backend": sweep.backend, "owner": sweep.owner,
            "base": sweep.base.to_dict(), "axes": [{"field": a.field, "values": list(a.values)} for a in sweep.axes],
            "seeds": list(sweep.seeds), "recipe": sweep.recipe.to_dict(),
            "runs": [p.run_id for p in sweep.points]}
    if not write_json_atomic(_path(root, sweep.id), data):
        raise OSError(_("the sweep {sweep} cannot be recorded in {root}: free some disk space or make it "
                        "writable").format(sweep=sweep.id, root=root))


def load(root: Path, sweep_id: str) -> Sweep:
    """A recorded sweep; KeyError when there is none or its file is damaged, SpecError when its definition no
    longer validates (a field this version renamed)."""
    path = _path(root, sweep_id)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise KeyError(_("no sweep {sweep!r} in {root}").format(sweep=sweep_id, root=root)) from None
    try:
        again = plan(ArchSpec.from_dict(data["base"]), [(a["field"], a["values"]) for a in data["axes"]],
                     data["seeds"], Recipe.from_dict(data["recipe"]), backend=str(data.get("backend", "local")),
                     owner=data.get("owner") if isinstance(data.get("owner"), str) else None)
        runs = list(data.get("runs") or [])[:len(again.points)]
        created = float(data.get("created", 0))
    except (KeyError, TypeError, AttributeError) as err:
        raise KeyError(_("the sweep file {name} is damaged ({error})").format(
            name=path.name, error=f"{type(err).__name__}: {err}")) from None
    runs += [None] * (len(again.points) - len(runs))
    points = tuple(dataclasses.replace(p, run_id=r if isinstance(r, str) else None)
                   for p, r in zip(again.points, runs))
    return dataclasses.replace(again, id=sweep_id, points=points, created=created)


def list_sweeps(root: Path) -> list[str]:
    """Recorded sweep ids, newest first."""
    files = [p for p in Path(root).glob("sweep-*.json") if SWEEP_ID.fullmatch(p.stem)]
    return [p.stem for p in sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)]


# -- queueing --------------------------------------------------------------------------------------------------

def submit(store: RunStore, sweep: Sweep, *, retry: bool = True, start: bool = True,
           device: str | None = None) -> tuple[Sweep, int, str | None]:
    """Request the sweep's runs and record it: (the sweep with its run ids, runs newly created, why some wait).
    `retry`: also points whose run failed or was cancelled (else only those not yet in the store, which a full
    queue left waiting). An identical run attaches. `start`: launch local workers (queue.launch) for new runs;
    the Ray backend starts its own. Stops at the first refusal of a full queue and returns its reason; the rest
    are requested by the next submit (the CLI's --wait and the Sweep page do that as runs end)."""
    points, created, waiting = [], 0, None
    for p in sweep.points:
        stale = p.run_id is None or (retry and _status(store, p.run_id) in ("failed", None))
        if waiting is None and stale:
            try:
                run_id, new = store.request(p.spec, p.recipe, owner=sweep.owner)
            except Refused as err:
                waiting = err.message
            else:
                created += new
                p = dataclasses.replace(p, run_id=run_id)
                if new and start:
                    launch(store, run_id, device)
        points.append(p)
    sweep = dataclasses.replace(sweep, points=tuple(points))
    save(store.root, sweep)
    return sweep, created, waiting


def _status(store: RunStore, run_id: str | None) -> str | None:
    """The point's state for the progress view (STATES), None when its run is not in the store."""
    run = store.get(run_id) if run_id else None
    if run is None:
        return None
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.FINISHED):
        return str(run.status)
    return "failed"


# -- reading the results ---------------------------------------------------------------------------------------

def progress(store: RunStore, sweep: Sweep) -> pd.DataFrame:
    """One row per point and seed: the values, seed, run id, state (STATES), epochs done, final test error (%)."""
    runs = {r.id: r for r in store.list_runs()}
    rows = []
    for p in sweep.points:
        run = runs.get(p.run_id) if p.run_id else None
        epochs = store.metrics(p.run_id, "epoch") if run is not None else []
        state = "queued" if run is None else (
            str(run.status) if run.status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.FINISHED) else "failed")
        last = epochs[-1] if epochs else None
        rows.append({**p.values, "seed": p.seed, "run": p.run_id, "state": state,
                     "status": str(run.status) if run else "waiting for a queue slot",
                     "epochs": f"{len(epochs)}/{p.recipe.epochs}",
                     "test error (%)": 100 * last.test_error if last is not None and state == "finished" else None,
                     "message": (run.error or "") if run is not None and run.status in ENDED else ""})
    return pd.DataFrame(rows)


def counts(table: pd.DataFrame) -> dict[str, int]:
    """Runs per state (STATES) in a progress table."""
    return {s: int((table["state"] == s).sum()) if len(table) else 0 for s in STATES}


def by_point(sweep: Sweep, table: pd.DataFrame) -> pd.DataFrame:
    """Runs per state (STATES) of each point, from a progress table: the progress view of the whole sweep."""
    n = len(sweep.seeds)
    return pd.DataFrame([{"point": sweep.points[i].label, **counts(table.iloc[i:i + n])}
                         for i in range(0, len(sweep.points), n)])


def done(table: pd.DataFrame) -> bool:
    c = counts(table)
    return c["queued"] == 0 and c["running"] == 0


def published_error(spec: ArchSpec) -> tuple[float | None, str, str]:
    """(the papers' test error % for exactly this design on its dataset, the kind, the source), or (None, "", "")."""
    dataset = dataset_of(spec)
    found = next((f for f in figures_for(spec) if f.metric in ERROR_METRICS and f.dataset == dataset
                  and f.value is not None), None)
    return (found.value, found.kind, found.source) if found else (None, "", "")


def results(store: RunStore, sweep: Sweep) -> pd.DataFrame:
    """One row per point: its values, preset name (if any), finished runs of all seeds, mean and (sample)
    standard deviation of the final test error (%) over the finished seeds (none with one), this app's parameter and multiply-add counts,
    and the papers' error for the same design (figures_for), for an error-against-cost chart."""
    table = progress(store, sweep)
    rows = []
    for start in range(0, len(sweep.points), len(sweep.seeds)):
        p = sweep.points[start]
        mine = table.iloc[start:start + len(sweep.seeds)]
        errors = mine["test error (%)"].dropna()
        c = check_budget(p.spec)
        paper, kind, source = published_error(p.spec)
        rows.append({**p.values, "point": p.label, "preset": preset_name(p.spec) or "",
                     "runs": len(mine), "finished": len(errors),
                     "error mean (%)": errors.mean() if len(errors) else None,
                     "error std (%)": errors.std(ddof=1) if len(errors) > 1 else None,  # one seed: unknown
                     "params (M)": c.params / 1e6, "multiply-adds (M)": c.macs / 1e6,
                     "published error (%)": paper, "published kind": kind, "published source": source})
    return pd.DataFrame(rows)


def to_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n", float_format=lambda x: f"{x:.6g}")


def state_label(state: str) -> str:
    """A progress state (STATES) in the current language, as the summary line and the Sweep page say it."""
    labels = {"queued": pgettext("sweep state", "queued"), "running": pgettext("sweep state", "running"),
              "finished": pgettext("sweep state", "finished"), "failed": pgettext("sweep state", "failed")}
    return labels.get(state, state)


def summary(c: dict[str, int]) -> str:
    # TRANSLATORS: one part of "3 queued, 1 running, ...": {n} runs in the state {state}
    return ", ".join(_("{n} {state}").format(n=n, state=state_label(s)) for s, n in c.items())


def describe(sweep: Sweep) -> str:
    """One line: what varies, over how many runs."""
    axes = "; ".join(_("{field} in {values}").format(field=a.field, values=", ".join(map(str, a.values)))
                     for a in sweep.axes)
    n, seeds, epochs = len(sweep.points) // len(sweep.seeds), len(sweep.seeds), sweep.recipe.epochs
    return _("{design}: {axes}; {points} x {seeds} = {runs} runs, {epochs} on {dataset}").format(
        design=run_label(sweep.base), axes=axes, points=ngettext("{n} point", "{n} points", n).format(n=n),
        seeds=ngettext("{n} seed", "{n} seeds", seeds).format(n=seeds), runs=len(sweep.points),
        epochs=ngettext("{n} epoch", "{n} epochs", epochs).format(n=epochs), dataset=sweep.recipe.dataset)
