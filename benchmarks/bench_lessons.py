"""How long lessons 2, 4 and 5 take to show their first result at depth 56 (target: <= 3 s on a CPU).

Each case runs in a fresh Python process with the library already imported (the app's server has imported it
too), so no cache is warm: the first student to open the lesson waits this long. Baselines, in the same run:
  - one float32 forward + backward of ResNet-56 at batch 16: the floor any gradient lesson pays;
  - the naive budget calculator: count every WRN depth/k pair and bisect each ResNeXt width with `cost()`,
    which the lesson's exact quadratic fits replace.
Usage: python benchmarks/bench_lessons.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 3.0

CASES: dict[str, str] = {
    "lesson 2: plain-56 + ResNet-56 gradient profiles (float32, renormalised, batch 8)": """
from explorer.lessons import gradients
t = time.perf_counter()
for family in ("plain", "resnet"):
    gradients.gradient_profile(family, 56, "sigmoid", "xavier", False)
""",
    "lesson 4: published chart + ResNeXt templates + WRN pairs": """
from explorer.lessons import budget
t = time.perf_counter()
budget.published_chart()
budget.resnext_templates(4.9e6, "params", "cifar")
budget.wrn_pairs(4.9e6, "params")
""",
    "lesson 5: three ResNeXt forms, agreement + timing (8x4d)": """
from explorer.lessons import forms
from explorer.draw.overview import to_svg
from explorer.draw.block import block_dot
t = time.perf_counter()
forms.compare_forms(8, 4)
to_svg(block_dot(forms.block_spec(4, 4, "split")))
""",
    "baseline: ResNet-56 forward + backward, float32, batch 16": """
import torch
from explorer import PRESETS, build_model
model = build_model(PRESETS["resnet56"])
x = torch.randn(16, 3, 32, 32)
t = time.perf_counter()
model(x).sum().backward()
""",
    "baseline: naive budget calculator (cost() per candidate)": """
from explorer.models.cost import cost
from explorer.lessons import budget
t = time.perf_counter()
for depth in budget.WRN_DEPTHS:
    for k in budget.WRN_WIDTHS:
        cost(budget.wrn_spec(depth, k))
for card in budget.CARDINALITIES:
    lo, hi = 1, 128
    while lo < hi:
        mid = (lo + hi) // 2
        if cost(budget.resnext_spec("cifar", card, mid)).params < 4.9e6:
            lo = mid + 1
        else:
            hi = mid
""",
}


def run_case(code: str) -> float:
    script = "import time, json\n" + code + "\nprint(json.dumps(time.perf_counter() - t))\n"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"python {platform.python_version()}, torch {torch.__version__}")
    print(f"{'case':<82} {'median s':>9} {'min s':>7}  target")
    failed = False
    for name, code in CASES.items():
        times = [run_case(code) for _ in range(args.repeats)]
        median = statistics.median(times)
        lesson = name.startswith("lesson")
        verdict = ("ok" if median <= TARGET_S else "SLOW") if lesson else "-"
        failed |= lesson and median > TARGET_S
        print(f"{name:<82} {median:>9.2f} {min(times):>7.2f}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
