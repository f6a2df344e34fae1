"""`python -m explorer.sweep --preset resnet20 --vary depth=20,32,44 --seeds 0,1 --epochs 1 --wait --csv out.csv`

A sweep from the command line (explorer.sweep): plans and validates it, queues one run per point and seed through
the run store (local workers, or Ray tasks with `--backend ray`), prints progress, and with `--wait` the results
table. `--show SWEEP_ID` prints a recorded sweep, `--list` the recorded ones. The design and recipe options are
the training CLI's (python -m explorer.training), except that `--seeds` takes a list.
"""

from __future__ import annotations

import argparse
import time

from explorer import i18n
from explorer import sweep as sw
from explorer.i18n import _
from explorer.sweep import on_ray  # imports Ray itself only when a Ray sweep starts
from explorer.models.spec import SpecError
from explorer.training import cli
from explorer.training.queue import canonical_device, dispatch
from explorer.training.runs import RunStore, StoreError

POLL_SECONDS = 2.0  # how often --wait re-reads the store


def parser() -> argparse.ArgumentParser:
    # The design and recipe options exactly as `python -m explorer.training` takes them; "resolve" lets the
    # options below replace its --seed and --csv.
    p = argparse.ArgumentParser(prog="python -m explorer.sweep", description=__doc__.splitlines()[0].strip("`"),
                                parents=[cli.parser()], conflict_handler="resolve")
    p.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help=_("a design field and its values (once or twice), e.g. depth=20,32,44 or width_factor=1,2"))
    p.add_argument("--seeds", "--seed", dest="seeds", default="0", help=_("comma-separated seeds (default 0)"))
    p.add_argument("--csv", default=None, help=_("write the results table (one row per point) to this CSV file"))
    p.add_argument("--wait", action="store_true", help=_("wait until every run has ended, then print the results"))
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help=_("local: the run store's workers on this machine; ray: one Ray task per run (waits)"))
    p.add_argument("--address", default=None, help=_("Ray: the cluster's address (default: start a local Ray)"))
    p.add_argument("--per-gpu", type=int, default=4, help=_("Ray: runs sharing one GPU (num_gpus = 1/N)"))
    p.add_argument("--cpus-per-run", type=int, default=1, help=_("Ray without GPUs: CPUs per run"))
    p.add_argument("--ship-code", action="store_true",
                   help=_("Ray: upload this checkout to the cluster (runtime_env working_dir) instead of using the "
                          "copy installed on every node"))
    p.add_argument("--show", default=None, metavar="SWEEP_ID", help=_("print a recorded sweep's progress and results"))
    p.add_argument("--list", action="store_true", help=_("list the recorded sweeps"))
    return p


def axes(pairs: list[str]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        field, sep, values = pair.partition("=")
        if not sep:
            raise SpecError("vary", _("expected FIELD=V1,V2,...; got {value!r}, try depth=20,32,44").format(value=pair))
        out.append((field.strip(), values))
    return out


def report(store: RunStore, sweep: sw.Sweep, csv: str | None) -> None:
    print(sw.progress(store, sweep).to_string(index=False))
    table = sw.results(store, sweep)
    print()
    print(table.drop(columns=["published source"]).to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if csv:
        with open(csv, "w") as f:
            f.write(sw.to_csv(table))
        print(_("results written to {path}").format(path=csv))


def wait(store: RunStore, sweep: sw.Sweep, device: str | None) -> sw.Sweep:
    """Until every run has ended: queue the points a full queue deferred, start due workers, print changes."""
    last = None
    while True:
        if any(p.run_id is None for p in sweep.points):
            sweep, _created, _waiting = sw.submit(store, sweep, retry=False, device=device)
        dispatch(store, device)
        table = sw.progress(store, sweep)
        line = sw.summary(sw.counts(table))
        if line != last:
            print(f"{time.strftime('%H:%M:%S')} {sweep.id}: {line}", flush=True)
            last = line
        if sw.done(table):
            return sweep
        time.sleep(POLL_SECONDS)


def main(argv: list[str] | None = None) -> int:
    i18n.set_language(i18n.from_environ())  # LANG=ko_KR.UTF-8 speaks Korean, as python -m explorer.training does
    args = parser().parse_args(argv)
    try:
        store = RunStore(args.runs_dir)
        if args.list:
            for sweep_id in sw.list_sweeps(store.root):
                print(sweep_id)
            return 0
        if args.show:
            sweep = sw.load(store.root, args.show)
            print(sw.describe(sweep))
            report(store, sweep, args.csv)
            return 0
        args.seed = None  # design_and_recipe reads it; each point sets its own
        spec, recipe, note = cli.design_and_recipe(args)
        device = canonical_device(args.device) if args.device else None
        sweep = sw.plan(spec, axes(args.vary), args.seeds, recipe, backend=args.backend)
    except (OSError, ValueError) as err:  # SpecError and StoreError are among them
        print(_("error: {message}").format(message=err))
        return 2
    except KeyError as err:  # no such sweep, or a damaged file
        print(_("error: {message}").format(message=err.args[0]))
        return 2
    if note:
        print(_("note: {message}").format(message=note))
    print(sw.describe(sweep))
    if args.backend == "ray" and args.address not in (None, "auto", "local"):
        print(_("note: the run store stays in {root} on this machine, which must stay up until the sweep ends; "
                "every node needs this checkout installed (or --ship-code) and the dataset (docs/sweeps.md)").format(
                    root=store.root))
    if args.backend == "ray":
        try:
            sweep = on_ray.run(store, sweep, address=args.address, per_gpu=args.per_gpu,
                                  cpus_per_run=args.cpus_per_run, ship_code=args.ship_code, data_dir=args.data_dir,
                                  on_line=lambda line: print(line, flush=True))
        except on_ray.RayMissing as err:
            print(_("error: {message}").format(message=err))
            return 2
    else:
        try:
            sweep, created, waiting = sw.submit(store, sweep, device=device)
        except StoreError as err:
            print(_("error: {message}").format(message=err))
            return 2
        attached = sum(p.run_id is not None for p in sweep.points) - created
        print(_("{sweep}: {created} new run(s), {attached} already in the store").format(
            sweep=sweep.id, created=created, attached=attached))
        if waiting:
            print(_("some runs wait to be queued: {waiting}").format(waiting=waiting))
        if not args.wait:
            print(_("follow it with: python -m explorer.sweep --show {sweep} (or the Sweep page)").format(
                sweep=sweep.id))
            return 0
        sweep = wait(store, sweep, device)
    report(store, sweep, args.csv)
    return 0 if sw.counts(sw.progress(store, sweep))["failed"] == 0 else 1
