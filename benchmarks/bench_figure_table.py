"""What `st.table` costs for the Build page's table of published figures, with the pandas Styler it used before
(issue 11: a quarter of the server's CPU under a class's load) against the plain strings it uses now.

    python benchmarks/bench_figure_table.py [--preset wrn_28_10] [--repeat 200]

Times, in this process, the work Streamlit does to send the table: the Styler's HTML and CSS (marshall_styler)
plus the Arrow bytes, against the Arrow bytes of the same plain-text cells. Prints the machine and versions.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
import streamlit  # noqa: E402
from streamlit import dataframe_util  # noqa: E402
from streamlit.elements.lib.pandas_styler_utils import marshall_styler  # noqa: E402
from streamlit.proto.ArrowData_pb2 import ArrowData  # noqa: E402

from explorer import PRESETS  # noqa: E402
from pages import plain  # noqa: E402
from pages.design_views.figures import frame  # noqa: E402


def with_styler(df: pd.DataFrame) -> None:
    styler = df.reset_index(drop=True).map(plain).style.hide(axis="index")
    proto = ArrowData()
    marshall_styler(proto, styler, "bench")
    proto.data = dataframe_util.convert_pandas_df_to_arrow_bytes(styler.data)


def plain_strings(df: pd.DataFrame) -> None:
    ArrowData().data = dataframe_util.convert_pandas_df_to_arrow_bytes(df.map(plain))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="wrn_28_10")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    df = frame(PRESETS[args.preset])
    print(f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; Python "
          f"{platform.python_version()}, Streamlit {streamlit.__version__}, pandas {pd.__version__}")
    print(f"{args.preset}: {len(df)} rows x {len(df.columns)} columns, {args.repeat} runs each after one warm-up")
    medians = {}
    for how in (with_styler, plain_strings):
        how(df)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            how(df)
            times.append(time.perf_counter() - start)
        times.sort()
        medians[how.__name__] = statistics.median(times)
        print(f"{how.__name__:>14}: median {medians[how.__name__] * 1e3:6.2f} ms, "
              f"p90 {times[int(0.9 * len(times))] * 1e3:6.2f} ms")
    print(f"the Styler costs {medians['with_styler'] / medians['plain_strings']:.1f}x the plain table")


if __name__ == "__main__":
    main()
