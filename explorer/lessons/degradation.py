"""Lesson 1: degradation (He et al. 2015, Fig. 6). Deeper plain nets train worse; deeper ResNets train better.

The lesson queues plain-20, plain-56, ResNet-20 and ResNet-56 with one short recipe and overlays their curves
the way Fig. 6 does: thin lines for training error, bold for test error.
"""

from __future__ import annotations

import pandas as pd

from explorer.i18n import N_, _, particles
from explorer.models.presets import PRESETS
from explorer.models.spec import ArchSpec

DESIGNS: dict[str, ArchSpec] = {
    "plain-20": PRESETS["plain20"],
    "plain-56": PRESETS["plain56"],
    "ResNet-20": PRESETS["resnet20"],
    "ResNet-56": PRESETS["resnet56"],
}

PAPER = N_("In the paper the deeper plain net (plain-56) ends with a higher error than plain-20, on the training data "
         "too: this is not overfitting, the deeper net is harder to optimise. With shortcuts the order flips: "
         "ResNet-56 ends below ResNet-20.")  # translated where shown: _(PAPER)
SOURCE = N_("He et al. 2015, Deep Residual Learning (1512.03385), Fig. 6 (left: plain, middle: ResNet)")


LEVEL = 1.0  # percentage points: final errors closer than this are run-to-run noise, not an ordering


def verdict(final: dict[str, float]) -> list[str]:
    """Plain-language checks of the final errors (label -> train error %) against the expected outcome."""
    lines = []
    if {"plain-20", "plain-56"} <= final.keys():
        p20, p56 = final["plain-20"], final["plain-56"]
        if p56 > p20 + LEVEL:
            lines.append(_("plain-56 is worse than plain-20 on training data ({p56}% vs {p20}%): degradation."
                           ).format(p56=f"{p56:.1f}", p20=f"{p20:.1f}"))
        else:
            lines.append(_("plain-56 is not worse than plain-20 on training data yet ({p56}% vs {p20}%); "
                           "a longer run usually shows it.").format(p56=f"{p56:.1f}", p20=f"{p20:.1f}"))
    if {"ResNet-20", "ResNet-56"} <= final.keys():
        r20, r56 = final["ResNet-20"], final["ResNet-56"]
        if r56 < r20 - LEVEL:
            lines.append(_("ResNet-56 is better than ResNet-20 on training data ({r56}% vs {r20}%): with "
                           "shortcuts, depth helps.").format(r56=f"{r56:.1f}", r20=f"{r20:.1f}"))
        elif r56 <= r20 + LEVEL:
            lines.append(_("ResNet-56 and ResNet-20 end level on training data ({r56}% vs {r20}%): both fit "
                           "it. The deeper net's edge needs a task hard enough that ResNet-20 cannot fit it "
                           "(CIFAR-10) or a longer run.").format(r56=f"{r56:.1f}", r20=f"{r20:.1f}"))
        else:
            lines.append(_("ResNet-56 is not yet better than ResNet-20 on training data ({r56}% vs {r20}%); "
                           "it needs more steps than this run gave it.").format(r56=f"{r56:.1f}", r20=f"{r20:.1f}"))
    if {"plain-56", "ResNet-56"} <= final.keys() and final["ResNet-56"] < final["plain-56"] - LEVEL:
        lines.append(_("ResNet-56 is far better than plain-56 ({r56}% vs {p56}%): the shortcuts rescue the deep net."
                       ).format(r56=f"{final['ResNet-56']:.1f}", p56=f"{final['plain-56']:.1f}"))
    return lines


def _order(deeper: float, shallower: float) -> str:
    return "below" if deeper < shallower - LEVEL else "above" if deeper > shallower + LEVEL else "level"


def seed_finals(reference: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The reference table's final training errors, per seed column (its name -> net label -> error %)."""
    nets = list(reference["net"])
    return {column: dict(zip(nets, reference[column].astype(float)))
            for column in reference.columns if "seed" in column}


def expected(seeds: dict[str, dict[str, float]]) -> str:
    """The paper's outcome, then what the reference runs shown beside it did, counted from their numbers: the
    lesson said "ResNet-56 ends below ResNet-20" beside a seed where it does not (issue 12, defect 8)."""
    if not seeds:
        return _(PAPER)
    n = len(seeds)
    plain = [_order(f["plain-56"], f["plain-20"]) for f in seeds.values() if {"plain-20", "plain-56"} <= f.keys()]
    res = [_order(f["ResNet-56"], f["ResNet-20"]) for f in seeds.values() if {"ResNet-20", "ResNet-56"} <= f.keys()]

    def counted(orders: list[str], deeper: str, shallower: str) -> str:
        templates = {"above": _("above {shallower} in {k} of {n} seeds"),
                     "below": _("below {shallower} in {k} of {n} seeds"),
                     "level": _("level with it (within {level} point) in {k} of {n} seeds")}
        parts = [templates[key].format(shallower=shallower, k=orders.count(key), n=len(orders), level=f"{LEVEL:g}")
                 for key in ("above", "below", "level") if orders.count(key)]
        return particles(_("{deeper} ends {parts}").format(deeper=deeper, parts=", ".join(parts)))

    text = _("{paper} Our {n} reference runs of these defaults (the table below), on training error: "
             ).format(paper=_(PAPER), n=n)
    lines = []
    if plain:
        lines.append(counted(plain, "plain-56", "plain-20"))
    if res:
        lines.append(counted(res, "ResNet-56", "ResNet-20"))
    text += "; ".join(lines) + "."
    if res and res.count("below") < len(res):
        text += _(" A short run shows the degradation of the plain net; the two ResNets both fit the training data, "
                 "so which of them ends lower is run-to-run noise here, not the paper's result.")
    return text
