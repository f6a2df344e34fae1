"""Shake-Shake's facts (Gastaldi 2017, 1705.07485): a ResNet-26 of two-branch basic blocks, branch width d."""

from __future__ import annotations

from explorer.models.convert import SpecError
from explorer.models.fields import ArchFields
from explorer.models.plans.base import (
    CifarDepth, Layout, Plan, SteppedDepth, basic_or_bottleneck, check_one_block_type, input_size, stage1_width,
    strided_stages,
)

BRANCH_WIDTH = 32  # the paper's smallest d (2x32d); stages double it
STEM_CHANNELS = 16


def _cifar_depth(spec: ArchFields) -> CifarDepth:
    return basic_or_bottleneck(spec, "Shake-Shake")  # the block rule below refuses a bottleneck


DEPTH = SteppedDepth(_cifar_depth)


def layout(spec: ArchFields) -> Layout:
    d = stage1_width(spec, BRANCH_WIDTH)
    stages = strided_stages(spec.block, DEPTH.blocks_per_stage(spec), STEM_CHANNELS, input_size(spec),
                            lambda i: (d * 2**i, d * 2**i))
    return Layout(input_size=input_size(spec), stem_channels=STEM_CHANNELS, stem_size=input_size(spec),
                  stages=stages, head_in=stages[-1].out_channels, weight_layers=spec.depth)


def check(spec: ArchFields) -> None:
    check_one_block_type(spec)
    if stage1_width(spec, BRANCH_WIDTH) < 2:
        raise SpecError("base_width", "Shake-Shake's shortcut concatenates two 1x1 convs of half the width each, "
                                      f"so widths need 2 channels or more; got {spec.base_width}, try 32")


SHAKE_SHAKE = Plan(default=dict(depth=26, base_width=32),  # shake_shake26_2x32d
                   base_width=BRANCH_WIDTH, depth_rule=DEPTH.rule, check_depth=DEPTH.check, layout=layout,
                   check=check)
