"""Lesson 1: degradation (He et al. 2015, Fig. 6). Deeper plain nets train worse; deeper ResNets train better.

The lesson queues plain-20, plain-56, ResNet-20 and ResNet-56 with one short recipe and overlays their curves
the way Fig. 6 does: thin lines for training error, bold for test error.
"""

from __future__ import annotations

from explorer.presets import PRESETS
from explorer.spec import ArchSpec

DESIGNS: dict[str, ArchSpec] = {
    "plain-20": PRESETS["plain20"],
    "plain-56": PRESETS["plain56"],
    "ResNet-20": PRESETS["resnet20"],
    "ResNet-56": PRESETS["resnet56"],
}

EXPECTED = ("The deeper plain net (plain-56) ends with a higher error than plain-20, on the training data too: "
            "this is not overfitting, the deeper net is harder to optimise. With shortcuts the order flips: "
            "ResNet-56 ends below ResNet-20.")
SOURCE = "He et al. 2015, Deep Residual Learning (1512.03385), Fig. 6 (left: plain, middle: ResNet)"


def verdict(final: dict[str, float]) -> list[str]:
    """Plain-language checks of the final errors (label -> train error %) against the expected outcome."""
    lines = []
    if {"plain-20", "plain-56"} <= final.keys():
        worse = final["plain-56"] > final["plain-20"]
        lines.append(f"plain-56 {'is' if worse else 'is not'} worse than plain-20 on training data "
                     f"({final['plain-56']:.1f}% vs {final['plain-20']:.1f}%)"
                     + (": degradation." if worse else "; a longer run usually shows it."))
    if {"ResNet-20", "ResNet-56"} <= final.keys():
        better = final["ResNet-56"] < final["ResNet-20"]
        lines.append(f"ResNet-56 {'is' if better else 'is not yet'} better than ResNet-20 on training data "
                     f"({final['ResNet-56']:.1f}% vs {final['ResNet-20']:.1f}%).")
    return lines
