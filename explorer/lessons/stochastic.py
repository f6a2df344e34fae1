"""Lesson 13: stochastic depth (Huang et al. 2016, Deep Networks with Stochastic Depth, 1603.09382).

During training each residual block l is kept with probability p_l and otherwise reduced to its shortcut; at
test time every block runs. The survival probability falls linearly from 1 at the input to p_L at the last
block (eq. (4)): p_l = 1 - l / L (1 - p_L). The paper uses p_L = 0.5 and reports a shorter training time and a
lower test error for ResNet-110 and ResNet-1202 on CIFAR-10.

The app's field `stochastic_depth` is the *drop* probability of the last block, 1 - p_L (torchvision's
StochasticDepth takes a drop probability); the lesson reads the survival probabilities off the built model, so
the chart shows what the model does.
"""

from __future__ import annotations

import pandas as pd
from torchvision.ops import StochasticDepth

from explorer.models.cost import meta_model
from explorer.models.presets import PRESETS
from explorer.i18n import N_
from explorer.models.published import table
from explorer.models.spec import ArchSpec, SpecError

SOURCE = N_("Huang et al. 2016, Deep Networks with Stochastic Depth (1603.09382), eq. (4) (linear decay of the "
          "survival probability, p_L = 0.5) and Table 1 (CIFAR-10 test error)")
TABLE = "stochastic_depth"  # assets/published.json: the paper's Table 1 rows (constant depth against stochastic)
DEPTHS = (20, 56, 110, 1202)  # CIFAR ResNets 6n + 2; 110 and 1202 are the paper's


def design(depth: int, last_survival: float | None) -> ArchSpec:
    """The CIFAR ResNet of this depth (option A), trained with stochastic depth down to `last_survival` = p_L at
    the last block, or with constant depth (None)."""
    if last_survival is not None and not 0 < last_survival <= 1:
        raise SpecError("p_L", f"the last block's survival probability must be in (0, 1]; got {last_survival}")
    base = PRESETS["resnet20"].replace(depth=depth)
    return base if last_survival is None else base.replace(stochastic_depth=round(1 - last_survival, 6))


def linear_decay(blocks: int, last_survival: float) -> list[float]:
    """Eq. (4): p_l = 1 - l / L (1 - p_L) for l = 1 .. L."""
    return [1 - l / blocks * (1 - last_survival) for l in range(1, blocks + 1)]


def survival(spec: ArchSpec) -> pd.DataFrame:
    """Each residual block's survival probability in the built model (1 - its StochasticDepth drop probability;
    1 for a block without one): columns block (l = 1 .. L), name, survival."""
    model = meta_model(spec)  # shapes only: the probabilities are module attributes, no weights are needed
    rows = []
    for name, module in model.named_modules():
        if name.count(".") == 1 and name.split(".")[1].startswith("block"):
            drop = next((m.p for m in module.modules() if isinstance(m, StochasticDepth)), 0.0)
            rows.append({"block": len(rows) + 1, "name": name, "survival": 1 - drop})
    return pd.DataFrame(rows, columns=["block", "name", "survival"])


def expected_blocks(frame: pd.DataFrame) -> float:
    """Blocks a training step runs on average: the sum of the survival probabilities (the paper's E(L~))."""
    return float(frame["survival"].sum())


def paper_rows() -> pd.DataFrame:
    """The paper's CIFAR-10 rows (constant depth against stochastic depth), as assets/published.json holds them."""
    return pd.DataFrame(table(TABLE))
