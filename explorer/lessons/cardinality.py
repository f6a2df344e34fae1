"""Lesson 11: ResNeXt's cardinality at equal complexity (Xie et al. 2017, 1611.05431, Tables 2 and 3).

ResNeXt-50 keeps ResNet-50's cost and splits each bottleneck's 3x3 conv into C paths of width d: 1x64d (ResNet-50
itself), 2x40d, 4x24d, 8x14d, 32x4d. The paper reports that top-1 error falls as C grows at equal complexity.
The app counts each template's parameters and multiply-adds on the model it builds, to check that they really
are of equal complexity.
"""

from __future__ import annotations

import pandas as pd

from explorer.i18n import N_
from explorer.lessons.budget import resnext_spec
from explorer.lessons.tables import counted
from explorer.models.published import table
from explorer.models.spec import ArchSpec

SOURCE = N_("Xie et al. 2017, Aggregated Residual Transformations (ResNeXt, 1611.05431), Table 2 and Table 3")
TABLE = "resnext_templates"  # assets/published.json: Table 3's rows (setting C x d, top-1 error)
TEMPLATES = ((1, 64), (2, 40), (4, 24), (8, 14), (32, 4))  # Table 2: C x d of ResNeXt-50 at ~4.1 GFLOPs
TOLERANCE = 0.05  # the paper's "similar complexity": every template within 5% of 1x64d


def template(depth: int, cardinality: int, width: int) -> ArchSpec:
    """ResNeXt-depth C x d on ImageNet (option B shortcuts, as torchvision's ResNeXt-50 32x4d)."""
    return resnext_spec("imagenet", cardinality, width).replace(depth=depth)


def template_costs(depth: int = 50) -> pd.DataFrame:
    """Each template's counted parameters and multiply-adds, and their ratio to 1x64d (ResNet-50)."""
    rows = []
    for cardinality, width in TEMPLATES:
        c = counted(template(depth, cardinality, width))
        rows.append({"template": f"{cardinality}x{width}d", "cardinality C": cardinality, "width d": width,
                     "params": c.params, "multiply-adds": c.macs})
    frame = pd.DataFrame(rows)
    frame["params vs 1x64d"] = frame["params"] / frame["params"].iloc[0] - 1
    frame["multiply-adds vs 1x64d"] = frame["multiply-adds"] / frame["multiply-adds"].iloc[0] - 1
    return frame


def published_templates() -> pd.DataFrame:
    """The paper's rows (ResNeXt-50 and -101, and any later template the file holds) with their top-1 error."""
    return pd.DataFrame(table(TABLE))


def lesson_table(depth: int = 50) -> pd.DataFrame:
    """The five templates of one depth: published top-1 error beside the app's counts."""
    counted = template_costs(depth)
    paper = published_templates()
    paper = paper[paper["depth"] == depth]
    errors = {(int(r.cardinality), int(r.width)): r.top1_error for r in paper.itertuples()}
    counted.insert(1, "top-1 error (%)", [errors.get((c, w)) for c, w in zip(counted["cardinality C"],
                                                                             counted["width d"])])
    return counted


def equal_complexity(frame: pd.DataFrame, tolerance: float = TOLERANCE) -> bool:
    """Whether every template's parameters and multiply-adds are within `tolerance` of 1x64d's."""
    return bool((frame[["params vs 1x64d", "multiply-adds vs 1x64d"]].abs() <= tolerance).all().all())
