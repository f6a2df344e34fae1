"""Is the synthetic set hard enough? Train plain and residual nets of two depths with the paper recipe on it.

    python benchmarks/bench_synthetic.py --device cuda --epochs 6 --compile

Prints each net's final train and test error (fractions) on the synthetic shapes (not CIFAR-10).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from explorer import PRESETS  # noqa: E402
from explorer.training.engine import train  # noqa: E402
from explorer.training.events import EndEvent, EpochEvent  # noqa: E402
from explorer.training.recipe import paper_recipe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="plain20,resnet20,plain56,resnet56")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train-size", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--warmup", action="store_true", help="He et al.'s lr/10 warm-up for every net")
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        recipe = paper_recipe(PRESETS[name], args.epochs).replace(train_size=args.train_size, compile=args.compile)
        recipe = recipe.replace(warmup=recipe.warmup or args.warmup)
        start, last, end = time.perf_counter(), None, None
        for event in train(PRESETS[name], recipe, device=args.device, log_every=100):
            if isinstance(event, EpochEvent):
                last = event
            elif isinstance(event, EndEvent):
                end = event
        row = {"model": name, "epochs": args.epochs, "train_error": round(last.train_error if last else 1.0, 4),
               "test_error": round(last.test_error if last else 1.0, 4), "status": end and end.status.value,
               "seconds": round(time.perf_counter() - start, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n| model | epochs | train error | test error | wall s |  (synthetic shapes, {args.device})")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['epochs']} | {r['train_error']:.2%} | {r['test_error']:.2%} | {r['seconds']} |")


if __name__ == "__main__":
    main()
