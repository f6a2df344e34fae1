"""Lesson 1: degradation (He et al. 2015, Fig. 6). Deeper plain nets train worse; deeper ResNets train better.

The lesson queues plain-20, plain-56, ResNet-20 and ResNet-56 with one short recipe and overlays their curves
the way Fig. 6 does: thin lines for training error, bold for test error.
"""

from __future__ import annotations

from explorer.models.presets import PRESETS
from explorer.models.spec import ArchSpec

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


LEVEL = 1.0  # percentage points: final errors closer than this are run-to-run noise, not an ordering


def verdict(final: dict[str, float]) -> list[str]:
    """Plain-language checks of the final errors (label -> train error %) against the expected outcome."""
    lines = []
    if {"plain-20", "plain-56"} <= final.keys():
        p20, p56 = final["plain-20"], final["plain-56"]
        if p56 > p20 + LEVEL:
            lines.append(f"plain-56 is worse than plain-20 on training data ({p56:.1f}% vs {p20:.1f}%): degradation.")
        else:
            lines.append(f"plain-56 is not worse than plain-20 on training data yet ({p56:.1f}% vs {p20:.1f}%); "
                         "a longer run usually shows it.")
    if {"ResNet-20", "ResNet-56"} <= final.keys():
        r20, r56 = final["ResNet-20"], final["ResNet-56"]
        if r56 < r20 - LEVEL:
            lines.append(f"ResNet-56 is better than ResNet-20 on training data ({r56:.1f}% vs {r20:.1f}%): with "
                         "shortcuts, depth helps.")
        elif r56 <= r20 + LEVEL:
            lines.append(f"ResNet-56 and ResNet-20 end level on training data ({r56:.1f}% vs {r20:.1f}%): both fit "
                         "it. The deeper net's edge needs a task hard enough that ResNet-20 cannot fit it "
                         "(CIFAR-10) or a longer run.")
        else:
            lines.append(f"ResNet-56 is not yet better than ResNet-20 on training data ({r56:.1f}% vs {r20:.1f}%); "
                         "it needs more steps than this run gave it.")
    if {"plain-56", "ResNet-56"} <= final.keys() and final["ResNet-56"] < final["plain-56"] - LEVEL:
        lines.append(f"ResNet-56 is far better than plain-56 ({final['ResNet-56']:.1f}% vs "
                     f"{final['plain-56']:.1f}%): the shortcuts rescue the deep net.")
    return lines
