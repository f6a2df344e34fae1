"""Build and count every preset (issue 2): build time, count time, parameters and multiply-adds beside the papers.

    OMP_NUM_THREADS=1 python benchmarks/bench_build.py [--repeat 3] [--only resnet20,resnet1202] [--markdown]

Targets (issue 2, on the 2-core development machine): every CIFAR preset builds and counts in 0.3 s or less;
resnet1202 and preact_resnet1001 in 2 s or less. "count" is `explorer.models.cost` with its cache cleared (a meta-device
build and forward); "build" is the real He-initialised CPU build that `build_model` does after the count.
Timings are the best of --repeat runs, in wall-clock seconds, with CPU seconds beside them because the machine
is shared. Baselines from the same run: the naive count (a plain meta-device build and forward with hooks, as
`cost` did before it skipped value-only ops); the init floor (drawing as many normal numbers as the design has
parameters, which any He-initialised build must do); and torchvision's own constructors for the ImageNet presets.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torchvision  # noqa: E402
from torch import nn  # noqa: E402

from explorer import PRESETS, cost, layout  # noqa: E402
from explorer.models.builder import FAMILY_BUILDERS, build_unchecked  # noqa: E402
from explorer.models.cost import _macs_hook, trace  # noqa: E402
from explorer.models.published import published_for  # noqa: E402

CIFAR_TARGET_S = 0.3
DEEP_TARGET_S = 2.0
DEEP = ("resnet1202", "preact_resnet1001")


def _best(fn, repeat: int) -> tuple[float, float]:
    """Best wall-clock and CPU seconds of `repeat` calls."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return wall, cpu


def naive_count(spec) -> int:
    """The baseline: build on the meta device and run a hooked forward, with no shortcuts."""
    with torch.device("meta"):
        model = FAMILY_BUILDERS[spec.family](spec).eval()
    counter = [0, 0]
    hook = _macs_hook(counter)
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    size = layout(spec).input_size
    with torch.no_grad():
        model(torch.empty(1, 3, size, size, device="meta"))
    for h in handles:
        h.remove()
    return counter[0]


def _count_once(spec) -> None:
    cost.cache_clear()
    trace.cache_clear()  # cost reads the cached meta build
    cost(spec)


def _torchvision_build(name: str) -> nn.Module | None:
    ctor = getattr(torchvision.models, name, None)
    return ctor(weights=None) if ctor is not None and PRESETS[name].stem == "imagenet" else None


def header() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"Machine: {platform.machine()} {cpu}, {os.cpu_count()} cores (load {load}), Python "
            f"{platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, torch threads {torch.get_num_threads()}")


def _millions(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x / 1e6:,.{digits}f}M"


def _macs_text(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x / 1e9:.2f}G" if x >= 1e9 else f"{x / 1e6:.0f}M"


def _verdict(wall: float, cpu: float, target: float | None) -> str:
    if target is None:
        return "-"
    if wall <= target:
        return "PASS"
    # on the shared machine, wall time includes waiting for a core; CPU time is what the code itself took
    return f"FAIL (CPU {cpu:.2f} s {'within' if cpu <= target else 'over'} target)"


def run(names: list[str], repeat: int) -> list[dict]:
    rows = []
    for name in names:
        spec = PRESETS[name]
        c = cost(spec)
        count_wall, count_cpu = _best(lambda: _count_once(spec), repeat)
        build_wall, build_cpu = _best(lambda: build_unchecked(spec), repeat)
        naive_wall, _ = _best(lambda: naive_count(spec), 1)
        weights = torch.empty(c.params)
        floor_wall, _ = _best(lambda: weights.normal_(), repeat)  # drawing the weights alone: any build's floor
        del weights
        tv_wall = None
        if _torchvision_build(name) is not None:
            tv_wall, _ = _best(lambda: _torchvision_build(name), repeat)
        total = count_wall + build_wall
        if name in DEEP:
            target = DEEP_TARGET_S
        elif spec.stem == "cifar":
            target = CIFAR_TARGET_S
        else:
            target = None
        pub = published_for(name)
        rows.append(dict(
            name=name, count=count_wall, count_cpu=count_cpu, build=build_wall, build_cpu=build_cpu, total=total,
            naive=naive_wall, floor=floor_wall, torchvision=tv_wall, params=c.params, paper_params=pub.params_text if pub else None,
            macs=c.macs, paper_macs=pub.macs if pub else None, target=target,
            verdict=_verdict(total, count_cpu + build_cpu, target)))
    return rows


def table(rows: list[dict]) -> str:
    head = ("| preset | count | build | count+build (CPU s) | naive count | init floor | torchvision build | params "
            "| paper | multiply-adds | paper | target | verdict |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        tv = "-" if r["torchvision"] is None else f"{r['torchvision']:.3f} s"
        target = "-" if r["target"] is None else f"<= {r['target']} s"
        lines.append(
            f"| {r['name']} | {r['count']:.3f} s | {r['build']:.3f} s | {r['total']:.3f} s "
            f"({r['count_cpu'] + r['build_cpu']:.2f}) | {r['naive']:.3f} s | {r['floor']:.3f} s | {tv} | {r['params']:,} | "
            f"{r['paper_params'] or '-'} | {_macs_text(r['macs'])} | {_macs_text(r['paper_macs'])} | {target} | "
            f"{r['verdict']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the best is kept")
    parser.add_argument("--only", default="", help="comma-separated preset names (default: all)")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(PRESETS)
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        parser.error(f"unknown preset(s) {', '.join(unknown)}; choose from {', '.join(PRESETS)}")
    cost(PRESETS["resnet20"])  # import and first-call warm-up, not part of any row
    print(header())
    rows = run(names, args.repeat)
    print(table(rows))
    timed = [r for r in rows if r["target"] is not None]
    failed = [r["name"] for r in timed if r["verdict"].startswith("FAIL")]
    speedup = sum(r["naive"] for r in rows) / sum(r["count"] for r in rows)
    print(f"\n{len(timed) - len(failed)}/{len(timed)} presets with a target PASS"
          + (f"; FAIL: {', '.join(failed)}" if failed else "")
          + f". Count is {speedup:.1f}x faster than the naive meta count over these presets.")


if __name__ == "__main__":
    main()
