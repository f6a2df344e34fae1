"""Short training runs for the lessons that train (1, 3, 6, 7), queued through the run store.

A class presses one button; every student's page requests the same (spec, recipe), so the store attaches them
all to one run per design and a finished identical run is reused instead of trained again.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from explorer.models.spec import ArchSpec
from explorer.training import events
from explorer.training.data import cifar10_ready
from explorer.training.queue import launch
from explorer.training.recipe import Recipe
from explorer.training.runs import ATTACHABLE, RunStore, request_key

WARMUP_STEPS = 40  # about half an epoch of 10k images at batch 128


def short_recipe(dataset: str | None = None, epochs: int = 8, train_size: int = 10_000) -> Recipe:
    """He et al.'s recipe cut to a few epochs on a subset: enough to show the effects within minutes on a GPU.
    CIFAR-10 when it is on disk, else the offline synthetic shapes (the page says which)."""
    if dataset is None:
        dataset = "cifar10" if cifar10_ready() else "synthetic"
    # The same short linear warm-up for every net (fair): without it ResNet-56 has a loss spike in its first steps
    # and trails ResNet-20 in a short run (measured on the synthetic set; benchmarks/RESULTS.md).
    return Recipe(dataset=dataset, epochs=epochs, train_size=train_size, milestones=(0.5, 0.75),
                  warmup_steps=WARMUP_STEPS)


@dataclass(frozen=True)
class Queued:
    label: str  # what the lesson calls this run ("plain-56")
    run_id: str
    created: bool  # False: an identical run existed and is reused
    launched: bool  # a worker process was started for it now


def queue(store: RunStore, designs: dict[str, ArchSpec], recipe: Recipe, start: bool = True) -> list[Queued]:
    """Request each design with `recipe`; start a worker for each queued run that has none."""
    out = []
    for label, spec in designs.items():
        run_id, created = store.request(spec, recipe)
        proc = launch(store, run_id) if start else None
        out.append(Queued(label, run_id, created, proc is not None))
    return out


def find(store: RunStore, spec: ArchSpec, recipe: Recipe) -> str | None:
    """The id of a queued, running, finished or diverged identical run, without creating one."""
    key = request_key(spec, recipe.to_dict())
    for run in store.list_runs():
        if run.request_key == key and run.status in ATTACHABLE:
            return run.id
    return None


def epochs(store: RunStore, run_id: str) -> pd.DataFrame:
    """A run's epoch events as a table (explorer.training.events.frame)."""
    return events.frame(store.metrics(run_id, "epoch"))


def curves(store: RunStore, runs: dict[str, str]) -> pd.DataFrame:
    """Per-epoch train and test error (%) of several runs, long format: net, epoch, split, error."""
    frames = []
    for label, run_id in runs.items():
        per_epoch = epochs(store, run_id).rename(columns={"train_error": "train", "test_error": "test"})
        long = per_epoch.melt(id_vars="epoch", value_vars=["train", "test"], var_name="split", value_name="error")
        long = long.sort_values("epoch", kind="stable")  # epoch by epoch: train, then test
        frames.append(long.assign(net=label, error=100 * long["error"]))
    columns = ["net", "epoch", "split", "error"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def status_table(store: RunStore, runs: dict[str, str]) -> pd.DataFrame:
    """One row per run: status, epochs done, last train and test error (%)."""
    rows = []
    for label, run_id in runs.items():
        run = store.get(run_id)
        done = epochs(store, run_id)
        last = done.iloc[-1] if len(done) else None
        rows.append({"net": label, "run": run_id, "status": str(run.status) if run else "missing",
                     "epochs": len(done), "train error (%)": 100 * last["train_error"] if last is not None else None,
                     "test error (%)": 100 * last["test_error"] if last is not None else None})
    return pd.DataFrame(rows)
