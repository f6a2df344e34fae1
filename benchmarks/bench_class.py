"""A class of N on one device (issue 14): N run requests, a mix of the CIFAR presets students pick, trained through
the real run store and queue (queue.launch -> dispatch -> worker processes), first one at a time (the baseline,
EXPLORER_MAX_CONCURRENT=1), then packed (the packing default for the device, or --packed K[,K2...]).

Reports, per mode: the time from the first Start until every run has ended, the aggregate training images/s
(images trained by all runs over that time), and against the serial baseline; per design: the peak memory of its
workers (the 'peak memory' line each worker logs: GPU memory allocated on a GPU, the process's peak RSS on the
CPU), each run's training rate (the median of its step events after the first, as the engine measures it), the
seconds a 50k-image epoch takes at that rate, and TFLOP/s (3 x forward multiply-adds per training image, 2 FLOP
per multiply-add). It also checks that packing changes no result: every packed run's final metrics against the
same request's serial run (exactly equal on the CPU when both trained with the same threads).

Each mode gets a fresh runs folder (so a cold Inductor cache: the first runs of a packed class compile together).
The synthetic set stands in for CIFAR-10 (same shapes, no download). The machine may be shared: each mode records
the load average (1 min) at its start, its end and its mean while it ran.

    python benchmarks/bench_class.py --device cuda --compile                       # 30 requests, 2 epochs each
    python benchmarks/bench_class.py --device cpu --requests 4 --train-size 512 --presets resnet8,plain8 --packed 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from explorer import PRESETS, cost  # noqa: E402
from explorer.models.spec import ArchSpec  # noqa: E402
from explorer.training import packing  # noqa: E402
from explorer.training.datasets import dataset_info, steps_per_epoch  # noqa: E402
from explorer.training.events import ENDED  # noqa: E402
from explorer.training.queue import canonical_device, cancel, launch  # noqa: E402
from explorer.training.recipe import Recipe  # noqa: E402
from explorer.training.runs import RunStore  # noqa: E402

# What a class of 30 picks on the Train page: mostly the small CIFAR ResNets, some plain nets beside them (the
# degradation lesson), a few deeper or wider ones. Cycled through in this order.
CLASS_MIX = ("resnet20", "resnet20", "resnet32", "plain20", "resnet44", "resnet56", "resnet20", "plain32",
             "wrn_16_4", "resnet110", "preact_resnet110", "densenet40_k12")
PEAK = re.compile(r"peak memory (\d+) MiB \((GPU|RSS)\)")
CLAIMED = re.compile(r"\((\d+) thread\(s\), ([^)]*)\)")


def design(name: str) -> ArchSpec:
    """A preset, or a shallower CIFAR ResNet/plain net by depth ("resnet8", "plain14") for a quick CPU run."""
    if name in PRESETS:
        return PRESETS[name]
    found = re.fullmatch(r"(resnet|plain)(\d+)", name)
    if found is None:
        raise SystemExit(f"--presets: unknown design {name!r}; use preset names or resnetN/plainN (N = 6n+2)")
    return PRESETS[f"{found[1]}20"].replace(depth=int(found[2]))


@dataclass
class RunResult:
    name: str
    seed: int
    status: str
    wait: float  # seconds from Start to the worker's start
    seconds: float  # the worker's run: start to end (data, building, compiling, training, evaluating)
    images: int  # training images
    rate: float | None  # median training images/s of the step events after the first
    peak_mib: int | None
    memory_kind: str
    threads: str
    final: dict = field(default_factory=dict)  # the last epoch's losses and errors


@dataclass
class Mode:
    label: str
    concurrent: int
    wall: float
    runs: list[RunResult]
    load_start: float
    load_end: float
    load_mean: float

    @property
    def images_per_sec(self) -> float:
        return sum(r.images for r in self.runs) / self.wall


def run_class(label: str, concurrent: int | None, requests: list[tuple[str, int]], recipe: Recipe, device: str,
              workdir: Path, timeout: float) -> Mode:
    """Queue every request in a fresh store at once, as a class pressing Start together, and wait for all."""
    if concurrent is None:
        os.environ.pop("EXPLORER_MAX_CONCURRENT", None)
    else:
        os.environ["EXPLORER_MAX_CONCURRENT"] = str(concurrent)
    store = RunStore(workdir / label.replace(" ", "-"))
    at_once = packing.max_concurrent(device, store.root)
    ids = [store.request(design(name), recipe.replace(seed=seed))[0] for name, seed in requests]
    loads, load_start = [], os.getloadavg()[0]
    start = time.time()
    for run_id in ids:
        launch(store, run_id, device)
    deadline, stopping = time.monotonic() + timeout, False
    while True:
        runs = [store.get(run_id) for run_id in ids]
        loads.append(os.getloadavg()[0])
        if all(r.status in ENDED for r in runs):
            break
        if time.monotonic() > deadline and not stopping:  # report what ended; stop the rest (not finished)
            print(f"# {label}: not done after {timeout:g} s; stopping the {sum(r.is_active for r in runs)} "
                  "runs left (they count as not finished)", flush=True)
            for r in runs:
                cancel(store, r.id)
            stopping, deadline = True, time.monotonic() + 60
        elif time.monotonic() > deadline:  # a worker stuck inside a step (compiling): killed
            for r in runs:
                cancel(store, r.id, force_after=0)
            deadline = math.inf
        time.sleep(0.5)
    wall = max(r.ended for r in runs) - start
    results = []
    info = dataset_info(recipe)
    for (name, seed), run in zip(requests, runs):
        log = store.log_path(run.id).read_text(errors="replace") if store.log_path(run.id).exists() else ""
        peak = PEAK.search(log)
        claimed = CLAIMED.search(log)
        steps = store.metrics(run.id, "step")
        rates = [e.images_per_sec for e in steps[1:]] or [e.images_per_sec for e in steps]
        epochs = store.metrics(run.id, "epoch")
        final = ({k: getattr(epochs[-1], k) for k in ("train_loss", "train_error", "test_loss", "test_error")}
                 if epochs else {})
        trained = len(epochs) * steps_per_epoch(info.train_size, recipe.batch_size) * min(recipe.batch_size,
                                                                                      info.train_size)
        results.append(RunResult(name=name, seed=seed, status=str(run.status),
                                 wait=(run.started or run.ended) - start, seconds=run.ended - (run.started or start),
                                 images=trained, rate=statistics.median(rates) if rates else None,
                                 peak_mib=int(peak[1]) if peak else None, memory_kind=peak[2] if peak else "",
                                 threads=claimed[1] if claimed else "?", final=final))
        if run.status != "finished":
            print(f"# {label}: {run.id} ({name}) {run.status}: {run.error}\n{log[-2000:]}", flush=True)
    return Mode(label=label, concurrent=at_once, wall=wall, runs=results, load_start=load_start,
                load_end=os.getloadavg()[0], load_mean=statistics.fmean(loads))


def gpu_name() -> str:
    """From nvidia-smi: this process makes no CUDA context (it would hold GPU memory the packing counts)."""
    import subprocess

    try:
        return subprocess.run(["nvidia-smi", "-i", "0", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "GPU"
    except OSError:
        return "GPU"


def machine(device: str) -> str:
    what = gpu_name() if device.startswith("cuda") else (platform.processor() or "CPU")
    return (f"{what}; {packing.cpu_cores()} CPU cores, torch {torch.__version__}, python {platform.python_version()}, "
            f"{platform.platform()}")


def tflops(name: str, images_per_sec: float | None) -> float | None:
    return None if not images_per_sec else 2 * 3 * cost(design(name)).macs * images_per_sec / 1e12


def same_results(serial: Mode, packed: Mode) -> str:
    """Whether every packed run ended with the metrics of the same request trained serially."""
    diffs = [abs(a.final[k] - b.final[k]) for a, b in zip(serial.runs, packed.runs) for k in a.final
             if k in b.final]
    if not diffs or len(diffs) < sum(len(a.final) for a in serial.runs):
        return "not comparable (a run did not finish)"
    threads = {(a.threads, b.threads) for a, b in zip(serial.runs, packed.runs)}
    same_threads = all(a == b for a, b in threads)
    verdict = "identical" if max(diffs) == 0 else f"max |difference| {max(diffs):.2e}"
    return verdict + ("" if same_threads else
                      f" (threads per run differ: serial {serial.runs[0].threads}, packed {packed.runs[0].threads})")


def print_tables(modes: list[Mode], device: str, requests: list[tuple[str, int]], recipe: Recipe) -> None:
    serial = modes[0]
    print(f"\n# A class of {len(requests)} on {device}: {machine(device)}")
    print(f"# {recipe.epochs} epochs of {dataset_info(recipe).train_size:,} synthetic images each, batch "
          f"{recipe.batch_size}, compile {recipe.compile}; designs: "
          + ", ".join(f"{n} x{sum(1 for m, _ in requests if m == n)}" for n in dict.fromkeys(m for m, _ in requests)))
    print("\n| mode | runs at once | finished | time until all finish (s) | aggregate img/s | vs serial | "
          "mean wait to start (s) | load start / mean / end |")
    print("|---|---|---|---|---|---|---|---|")
    for m in modes:
        finished = sum(r.status == "finished" for r in m.runs)
        print(f"| {m.label} | {m.concurrent} | {finished}/{len(m.runs)} | {m.wall:,.1f} | {m.images_per_sec:,.0f} | "
              f"{serial.wall / m.wall:.2f}x sooner | {statistics.fmean(r.wait for r in m.runs):,.1f} | "
              f"{m.load_start:.1f} / {m.load_mean:.1f} / {m.load_end:.1f} |")
    print("\n| design | mode | runs | forward MMACs | threads | peak memory (MiB) | img/s each (median) | "
          "s per 50k epoch | TFLOP/s each | TFLOP/s together |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(n for n, _ in requests):
        for m in modes:
            mine = [r for r in m.runs if r.name == name]
            rates = [r.rate for r in mine if r.rate]
            rate = statistics.median(rates) if rates else None
            peaks = [r.peak_mib for r in mine if r.peak_mib is not None]
            each = tflops(name, rate)
            together = tflops(name, sum(r.images for r in mine) / m.wall)
            print(f"| {name} | {m.label} | {len(mine)} | {cost(design(name)).macs / 1e6:,.1f} | "
                  f"{'/'.join(sorted({r.threads for r in mine}))} | "
                  f"{max(peaks):,} {mine[0].memory_kind if peaks else ''} | "
                  f"{f'{rate:,.0f}' if rate else '-'} | {f'{50_000 / rate:,.2f}' if rate else '-'} | "
                  f"{f'{each:.3f}' if each else '-'} | {f'{together:.3f}' if together else '-'} |")
    for m in modes[1:]:
        print(f"\n# {m.label} against serial, the same requests: {same_results(serial, m)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--presets", default=",".join(CLASS_MIX), help="designs, cycled through (preset names, or "
                        "resnetN / plainN for shallower CIFAR nets)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=0, help="synthetic training images (0: all 50k)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--compile", action="store_true", help="torch.compile every run (shared Inductor cache)")
    parser.add_argument("--device", default=packing.default_device())
    parser.add_argument("--packed", default="default", help="runs at once when packed, comma-separated: 'default' "
                        "(explorer.training.packing decides for the device) or numbers, e.g. 2,4,8")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one mode may take; then the runs "
                        "left are stopped and the mode reports what finished")
    parser.add_argument("--workdir", default=None, help="where each mode's runs folder goes (default: a temp dir)")
    parser.add_argument("--json", default=None, help="write every run's figures here too")
    parser.add_argument("--write-curve", default=None, metavar="RUNS_DIR", help="record aggregate img/s per runs at "
                        "once in RUNS_DIR/packing-curve.json, which packing.max_concurrent reads (its knee)")
    args = parser.parse_args()
    args.device = canonical_device(args.device)
    names = args.presets.split(",")
    for name in names:
        design(name)
    requests = [(names[i % len(names)], i) for i in range(args.requests)]  # seed i: no two requests attach
    recipe = Recipe(dataset="synthetic", epochs=args.epochs, batch_size=args.batch_size, train_size=args.train_size,
                    compile=args.compile)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-class-"))
    print(f"# runs folders under {workdir}; load (1 min) {os.getloadavg()[0]:.1f}", flush=True)
    modes = [run_class("serial", 1, requests, recipe, args.device, workdir, args.timeout)]
    print(f"# serial: {modes[0].wall:,.1f} s", flush=True)
    for k in args.packed.split(","):
        concurrent = None if k == "default" else int(k)
        label = "packed (default)" if concurrent is None else f"packed {concurrent}"
        modes.append(run_class(label, concurrent, requests, recipe, args.device, workdir, args.timeout))
        print(f"# {label}: {modes[-1].wall:,.1f} s, {modes[-1].concurrent} at once", flush=True)
    print_tables(modes, args.device, requests, recipe)
    if args.json:
        Path(args.json).write_text(json.dumps([{**vars(m), "runs": [vars(r) for r in m.runs]} for m in modes],
                                              indent=1))
    if args.write_curve:
        path = Path(args.write_curve) / packing.CURVE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        curves = json.loads(path.read_text()) if path.exists() else {}
        points = curves.setdefault(args.device, {})
        for m in modes:
            if all(r.status == "finished" for r in m.runs):  # a mode cut short is no point of the curve
                points[str(m.concurrent)] = round(m.images_per_sec, 1)
        path.write_text(json.dumps(curves, indent=1, sort_keys=True))
        print(f"# wrote {path}")


if __name__ == "__main__":
    main()
