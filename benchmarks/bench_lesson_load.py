"""How long each lesson takes to draw in full, for the first visitor and for the next one (issue 12, defect 6).

Each lesson runs in a fresh Python process that has already imported streamlit, torch and the app's modules (a
running server has imported them too), with an empty run store: `first` is the first visitor's whole script run
(no cache warm, nothing measured yet), `again` is a second visitor in the same process (Streamlit's caches warm).
AppTest runs the page's script to its end, so a lesson whose slow part comes after its text is counted in full:
this is the time until the page stops changing, an upper bound on the time to first content.
Usage: python benchmarks/bench_lesson_load.py [--lessons gradients budget ...] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
from streamlit.testing.v1 import AppTest
import torch, pages.lesson_views, explorer.lessons  # what a running server has imported already
page, key = sys.argv[1], sys.argv[2]
out = []
for _ in range(2):
    at = AppTest.from_file(page, default_timeout=600)
    at.query_params["lesson"] = key
    start = time.perf_counter()
    at.run()
    out.append(time.perf_counter() - start)
    assert not at.exception, [e.value for e in at.exception]
print(json.dumps(out))
"""


def run_lesson(key: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as runs:
        env = dict(os.environ, PYTHONPATH=str(ROOT), EXPLORER_RUNS_DIR=runs)
        out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "pages" / "lessons.py"), key], cwd=ROOT,
                             env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{key}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    first, again = json.loads(out.stdout.strip().splitlines()[-1])
    return first, again


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from explorer.lessons import LESSON_KEYS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", nargs="*", default=list(LESSON_KEYS))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    import streamlit
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"python {platform.python_version()}, torch {torch.__version__}, streamlit {streamlit.__version__}")
    print(f"{'lesson':<14} {'first s':>8} {'again s':>8}")
    for key in args.lessons:
        runs = [run_lesson(key) for _ in range(args.repeats)]
        first = statistics.median(r[0] for r in runs)
        again = statistics.median(r[1] for r in runs)
        print(f"{key:<14} {first:>8.2f} {again:>8.2f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
