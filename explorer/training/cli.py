"""`python -m explorer.training --preset resnet20 --epochs 5 --dataset synthetic`: train with a progress bar.

One process stores the run like the app does (the run store, then `explorer.training.worker.execute` in this
process); under `torchrun --nproc-per-node=N` every rank trains its shard with DDP and rank 0 prints the progress
(the run store is for one-process runs). The design is checked against the data before anything is requested;
its class count follows the dataset's (resnet20 on --dataset cifar100 trains with 100 outputs, and says so).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import get_args

from tqdm import tqdm

from explorer import i18n
from explorer.i18n import _
from explorer.models.presets import PRESETS
from explorer.models.spec import ArchSpec, SpecError
from explorer.training import distributed
from explorer.training.capacity import check_run
from explorer.training.data import ENV_VAR
from explorer.training.datasets import Dataset, Split, check_fits, dataset_info, follow_classes, steps_per_epoch
from explorer.training.engine import train
from explorer.training.events import EndEvent, EpochEvent, Event, StepEvent, describe, frame
from explorer.training.queue import canonical_device
from explorer.training.recipe import Recipe, Schedule, paper_recipe
from explorer.training.runs import RunStore
from explorer.training.worker import default_device, execute


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m explorer.training", description=__doc__.splitlines()[0])
    design = p.add_mutually_exclusive_group()
    design.add_argument("--preset", default="resnet20", help=_("a preset name, e.g. resnet20, resnet110, wrn_28_10"))
    design.add_argument("--spec", help=_("a spec JSON file (as the Build page's 'Download spec' gives)"))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--dataset", choices=get_args(Dataset), default="synthetic")
    p.add_argument("--split", choices=get_args(Split), default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--schedule", choices=get_args(Schedule), default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--warmup-steps", type=int, default=None, help=_("linear lr warm-up over N steps (0 = off)"))
    p.add_argument("--train-size", type=int, default=None, help=_("train on the first N images (0 = all)"))
    p.add_argument("--compile", action="store_true", help=_("torch.compile the model"))
    p.add_argument("--device", default=None, help=_("cpu, cuda or cuda:N (default: cuda if available)"))
    p.add_argument("--data-dir", default=None, help=_("data folder (default $EXPLORER_DATA_DIR or ./data)"))
    p.add_argument("--runs-dir", default=None, help=_("run store folder (default $EXPLORER_RUNS_DIR or ./runs)"))
    p.add_argument("--csv", default=None, help=_("also write the run's metrics to this CSV file"))
    return p


def design_and_recipe(args: argparse.Namespace) -> tuple[ArchSpec, Recipe, str | None]:
    """The design as it trains on the dataset, the family's paper recipe with the command line's changes, and a
    note when the design's class count was changed to the dataset's; SpecError or OSError if bad."""
    if args.spec:
        with open(args.spec) as f:
            spec = ArchSpec.from_json(f.read())
    elif args.preset in PRESETS:
        spec = PRESETS[args.preset]
    else:
        raise SpecError("preset", _("unknown preset {name!r}; try resnet20, resnet56 or wrn_28_10").format(
            name=args.preset))
    overrides = {"dataset": args.dataset, "split": args.split, "batch_size": args.batch_size, "lr": args.lr,
                 "schedule": args.schedule, "seed": args.seed, "train_size": args.train_size,
                 "warmup_steps": args.warmup_steps, "compile": args.compile or None}
    recipe = Recipe.from_dict({**paper_recipe(spec, args.epochs).to_dict(),
                               **{k: v for k, v in overrides.items() if v is not None}})
    spec, note = follow_classes(spec, recipe.dataset)
    check_fits(spec, recipe.dataset)
    return spec, recipe, note


def main(argv: list[str] | None = None) -> int:
    i18n.set_language(i18n.from_environ())  # LANG=ko_KR.UTF-8 speaks Korean where messages are translated
    args = parser().parse_args(argv)
    try:
        spec, recipe, note = design_and_recipe(args)
        device = args.device or default_device()
        canonical_device(device)  # refuse "gpu" before a run is requested; DDP ranks keep "cuda" (their own GPU)
        check_run(spec, recipe, device, in_worker=True)  # this process trains: over the cost bound or memory, say so
    except (OSError, ValueError) as err:  # SpecError is a ValueError
        print(_("error: {message}").format(message=err))
        return 2
    if note and distributed.rank() == 0:
        print(_("note: {message}").format(message=note))
    total = steps_per_epoch(dataset_info(recipe).train_size, recipe.batch_size) * recipe.epochs
    bar = tqdm(total=max(total, 1), unit="step", disable=distributed.rank() != 0)
    seen: list[Event] = []

    def on_event(event: Event) -> None:
        seen.append(event)
        if distributed.rank() != 0:
            return
        if isinstance(event, StepEvent):
            bar.update(event.step - bar.n)
            bar.set_postfix(loss=f"{event.train_loss:.3f}", err=f"{event.train_error:.1%}",
                            img_s=f"{event.images_per_sec:.0f}")
        elif isinstance(event, EpochEvent):
            bar.write(describe(event))

    if distributed.world_size() > 1:
        for event in train(spec, recipe, device=device, data_dir=args.data_dir):
            on_event(event)
    else:
        if args.data_dir:
            os.environ[ENV_VAR] = args.data_dir  # the worker reads the data folder from the environment
        store = RunStore(args.runs_dir)
        run_id, created = store.request(spec, recipe)
        if not created:
            print(_("an identical run exists: {run}; following it").format(run=run_id))
        execute(store, run_id, on_event=on_event, device=device)
    bar.close()
    end = next((e for e in reversed(seen) if isinstance(e, EndEvent)), None)
    if distributed.rank() == 0:
        if args.csv:
            frame(seen).to_csv(args.csv, index=False)
        print(json.dumps({"status": end and end.status.value, "message": end and end.message}))
    return 0 if end is not None and end.status == "finished" else 1
