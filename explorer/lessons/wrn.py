"""Lesson 10: width against depth (Zagoruyko & Komodakis 2016, Wide Residual Networks, 1605.07146, Tables 4-6).

WRN-d-k: a pre-activation ResNet of d layers whose every stage is k times wider. The paper's grid shows that a
16- or 28-layer net made wide beats a thin net ten times deeper, with more parameters but far fewer sequential
layers, so it trains faster on a GPU; dropout between the two convs of a block helps further. The lesson puts
the paper's errors beside the app's own parameter counts and a training speed measured on this machine.
"""

from __future__ import annotations

import pandas as pd

from explorer.i18n import N_
from explorer.lessons.budget import images_per_second, wrn_spec
from explorer.lessons.tables import counted
from explorer.models.published import table
from explorer.models.spec import ArchSpec

SOURCE = N_("Zagoruyko & Komodakis 2016, Wide Residual Networks (1605.07146), Tables 4, 5 and 6 (CIFAR-10)")
GRID_TABLE = "wrn_table4"  # assets/published.json: the depth x k rows (depth, k, params_m, c10, c100)
DROPOUT_TABLE = "wrn_table5"  # rows with c10 / c10_dropout / c100 / c100_dropout
DROPOUT = 0.3  # the paper's dropout between the two convs of a block (sec. 2.4)
SPEED_BATCH = 4  # images per timed step: small, so that a shared CPU answers in seconds
MAX_TIMED_MACS = 6e9  # multiply-adds per timed batch; larger designs are left to a GPU (a few seconds each here)


def design(depth: int, k: int, dropout: float = 0.0) -> ArchSpec:
    """WRN-depth-k (pre-activation, projection where the width changes), with dropout between the convs."""
    return wrn_spec(depth, k).replace(dropout=dropout)


def _counted(rows: list[dict]) -> pd.DataFrame:
    """The paper's rows with the app's parameter and multiply-add counts of each WRN-depth-k."""
    frame = pd.DataFrame(rows)
    costs = [counted(design(int(r["depth"]), int(r["k"]))) for r in rows]
    frame["params (app)"] = [c.params for c in costs]
    frame["multiply-adds (app)"] = [c.macs for c in costs]
    return frame


def grid() -> pd.DataFrame:
    """Table 4 (depth x k, CIFAR-10 and CIFAR-100 error) with the app's counts, thinnest design first."""
    return _counted(table(GRID_TABLE)).sort_values(["k", "depth"], ignore_index=True)


def error_grid(frame: pd.DataFrame, column: str = "c10") -> pd.DataFrame:
    """The grid itself: depth down, k across, the published error in each printed cell (NaN elsewhere)."""
    return frame.pivot(index="depth", columns="k", values=column).sort_index(ascending=False)


def dropout_table() -> pd.DataFrame:
    """Table 5 (the same nets with and without dropout) with the app's counts."""
    return _counted(table(DROPOUT_TABLE))


def timeable(macs: int, batch: int = SPEED_BATCH) -> bool:
    """Whether a design of `macs` per image is small enough to time here in a few seconds."""
    return macs * batch <= MAX_TIMED_MACS


def speed(depth: int, k: int, batch: int = SPEED_BATCH) -> float:
    """Training images per second of WRN-depth-k on this machine's CPU: forward + backward at `batch`."""
    return images_per_second(design(depth, k), batch_size=batch)


def verdict(frame: pd.DataFrame, column: str = "c10") -> list[str]:
    """What the grid shows, said from its numbers (`frame`: grid())."""
    printed = frame.dropna(subset=[column])
    thin = printed.loc[printed["params (app)"].idxmin()]
    best = printed.loc[printed[column].idxmin()]
    lines = [f"The thinnest net, {thin['model']} ({thin['params (app)'] / 1e6:.1f}M parameters), has "
             f"{thin[column]:.2f}%; the best, {best['model']}, has {best[column]:.2f}% with "
             f"{best['params (app)'] / 1e6:.1f}M."]
    for k, group in printed.groupby("k"):
        if len(group) > 1:
            group = group.sort_values("depth")
            cells = ", ".join(f"{int(r.depth)} layers {getattr(r, column):.2f}%" for r in group.itertuples())
            deepest = group.iloc[-1]
            lines.append(f"At k = {k}: {cells}" + (f"; the deepest ({int(deepest['depth'])}) is not the best."
                                                     if deepest[column] > group[column].min() else "."))
    return lines
