"""How fast the Build page redraws after a setting change (issue 3: <= 1 s for resnet110, <= 3 s for resnet1202).

Measures, cold (every cache cleared) unless noted, for resnet20 (baseline), resnet110 and resnet1202:
  cost      explorer.models.cost.cost (cost.trace: one meta-device build and forward; the headline numbers)
  graph     overview_dot + block_dot right after it (they read the same cached trace, then walk the modules)
  summary   explorer.draw.summary.summarize right after it (torchinfo over the same meta model)
  redraw    AppTest rerun of pages/build.py after ticking "zero-init last BN" (a new spec, so nothing cached);
            designs over 400 weight layers draw the summary only on request, so their redraw excludes it
  +summary  the same redraw with the torchinfo summary switched on
  rerun     AppTest rerun with nothing changed (all cached): the floor Streamlit itself costs

Run: OMP_NUM_THREADS=1 python benchmarks/bench_pages.py   (prints a Markdown table for benchmarks/RESULTS.md)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import graphviz  # noqa: E402
import streamlit as st  # noqa: E402
import torch  # noqa: E402
import torchinfo  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from explorer import PRESETS  # noqa: E402
from explorer.models.cost import cost, trace  # noqa: E402
from explorer.draw.overview import block_dot, overview_dot  # noqa: E402
from explorer.draw.summary import summarize  # noqa: E402

TARGETS = {"resnet20": None, "resnet110": 1.0, "resnet1202": 3.0}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cold() -> None:
    cost.cache_clear()
    trace.cache_clear()
    st.cache_data.clear()


def redraw(name: str, with_summary: bool) -> tuple[float, float]:
    """Seconds for the rerun after a setting change, and for a rerun with no change."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.switch_page("pages/build.py")
    at.query_params["preset"] = name
    at.run()
    if with_summary and at.toggle:
        at.toggle(key="b_summary_big").set_value(True).run()
    cold()
    at.sidebar.checkbox(key="b_zero_init_residual").check()
    change = timed(at.run)
    assert not at.exception, [e.value for e in at.exception]
    rerun = timed(at.run)
    return change, rerun


def machine() -> str:
    try:
        dot = "graphviz " + ".".join(map(str, graphviz.version())) + f" (python package {graphviz.__version__})"
    except graphviz.ExecutableNotFound:
        dot = f"no dot binary (python package graphviz {graphviz.__version__})"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (load {load}), "
            f"Python {platform.python_version()}, torch {torch.__version__}, streamlit {st.__version__}, "
            f"torchinfo {torchinfo.__version__}, {dot}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")


def main() -> None:
    print(f"Machine: {machine()}\n")
    print("| design | cost | graph | summary | redraw | redraw + summary | rerun (cached) | target | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, target in TARGETS.items():
        spec = PRESETS[name]
        cold()
        t_cost = timed(lambda: cost(spec))
        t_graph = timed(lambda: (overview_dot(spec), block_dot(spec, 1, 0)))
        t_summary = timed(lambda: summarize(spec))
        t_redraw, t_rerun = redraw(name, with_summary=False)
        t_full, _ = redraw(name, with_summary=True)
        verdict = "baseline" if target is None else ("meets" if t_redraw <= target else "MISSES")
        print(f"| {name} | {t_cost:.2f} s | {t_graph * 1000:.0f} ms | {t_summary:.2f} s | {t_redraw:.2f} s | "
              f"{t_full:.2f} s | {t_rerun:.2f} s | {'-' if target is None else f'<= {target:g} s'} | {verdict} |")


if __name__ == "__main__":
    main()
