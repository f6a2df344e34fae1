"""VGG's facts (Simonyan & Zisserman 2014, 1409.1556): groups of 3x3 convs, each group ending in a max-pool."""

from __future__ import annotations

from explorer.i18n import _
from explorer.models.fields import ArchFields
from explorer.models.plans.base import (
    Layout, Plan, StagePlan, check_listed_depth, check_one_block_type, input_size, stage1_width,
)

VGG_CONFIGS: dict[int, tuple[tuple[int, ...], ...]] = {  # Table 1, configurations A, B, D, E
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}
FIRST_WIDTH = 64  # base_width scales the table's widths by base_width / 64


def depth_rule(spec: ArchFields) -> tuple[str, list[int]]:
    return _("VGG has 11, 13, 16 or 19 layers"), sorted(VGG_CONFIGS)


def check_depth(spec: ArchFields) -> None:
    check_listed_depth(spec, depth_rule(spec))


def layout(spec: ArchFields) -> Layout:
    base = stage1_width(spec, FIRST_WIDTH)
    size = input_size(spec)
    stages, in_ch, cur = [], 3, size
    for i, group in enumerate(VGG_CONFIGS[spec.depth]):
        widths = tuple(w * base // FIRST_WIDTH for w in group)
        stages.append(StagePlan(name=f"stage{i + 1}", kind="conv", num_blocks=len(widths), in_channels=in_ch,
                                block_widths=widths, inner_widths=widths, stride=1, in_size=cur, out_size=cur // 2))
        in_ch, cur = widths[-1], cur // 2
    return Layout(input_size=size, stem_channels=3, stem_size=size, stages=tuple(stages), head_in=in_ch,
                  weight_layers=spec.depth)


VGG = Plan(default=dict(depth=16),  # vgg16_cifar
           base_width=FIRST_WIDTH, depth_rule=depth_rule, check_depth=check_depth, layout=layout,
           check=check_one_block_type)
