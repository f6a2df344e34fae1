"""Layout: the per-stage widths, block counts and spatial sizes of a design, derived in one place.

The builder and the renderers both read `layout(spec)`, so the graph can never disagree with the model. Each
family's layout is in its plan (explorer.models.plans); this module dispatches through `PLANS`.
"""

from __future__ import annotations

from explorer.models.fields import ArchFields
from explorer.models.plans import PLANS
from explorer.models.plans.base import Layout, StagePlan, stage1_width

__all__ = ["Layout", "StagePlan", "blocks_per_stage", "default_base_width", "layout"]


def layout(spec: ArchFields) -> Layout:
    """Per-stage widths, block counts and sizes of a spec (assumed valid)."""
    return PLANS[spec.family].layout(spec)


def default_base_width(spec: ArchFields) -> int:
    """The stage-1 width: spec.base_width, else the paper's (64 on ImageNet; on CIFAR the family's plan's)."""
    return stage1_width(spec, PLANS[spec.family].base_width)


def blocks_per_stage(spec: ArchFields) -> tuple[int, ...]:
    """Blocks in each stage (DenseNet: layers; VGG: convs; FractalNet: columns), read from the layout."""
    return tuple(stage.num_blocks for stage in layout(spec).stages)
