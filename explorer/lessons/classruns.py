"""Short training runs for the lessons that train (1, 3, 6, 7), queued through the run store.

A class presses one button; every student's page requests the same (spec, recipe), so the store attaches them
all to one run per design and a finished identical run is reused instead of trained again.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from explorer.training.data import cifar10_ready
from explorer.training.runs import RunStore, launch
from explorer.models.spec import ArchSpec
from explorer.training.engine import Recipe


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
    """The id of a queued, running or finished identical run, without creating one."""
    from explorer.training.runs import ATTACHABLE, request_key

    key = request_key(spec, recipe.to_dict())
    for run in store.list_runs():
        if run.request_key == key and run.status in ATTACHABLE:
            return run.id
    return None


def curves(store: RunStore, runs: dict[str, str]) -> pd.DataFrame:
    """Per-epoch train and test error (%) of several runs, long format: net, epoch, split, error."""
    rows = []
    for label, run_id in runs.items():
        for event in store.metrics(run_id, "epoch"):
            rows.append({"net": label, "epoch": event["epoch"], "split": "train", "error": 100 * event["train_error"]})
            rows.append({"net": label, "epoch": event["epoch"], "split": "test", "error": 100 * event["test_error"]})
    return pd.DataFrame(rows, columns=["net", "epoch", "split", "error"])


def status_table(store: RunStore, runs: dict[str, str]) -> pd.DataFrame:
    """One row per run: status, epochs done, last train and test error (%)."""
    rows = []
    for label, run_id in runs.items():
        run = store.get(run_id)
        epochs = store.metrics(run_id, "epoch")
        last = epochs[-1] if epochs else {}
        rows.append({"net": label, "run": run_id, "status": run.status if run else "missing",
                     "epochs": len(epochs), "train error (%)": 100 * last["train_error"] if last else None,
                     "test error (%)": 100 * last["test_error"] if last else None})
    return pd.DataFrame(rows)
