"""Shake-Shake's facts (Gastaldi 2017, 1705.07485): a ResNet-26 of two-branch basic blocks, branch width d
(CIFAR-10, "26 2x32d"), or, with block "bottleneck", a ResNeXt-29 whose two branches are each a grouped
bottleneck of C paths of width d (the paper's CIFAR-100 "29 2x4x64d"; xgastaldi/shake-shake models/shakeshake.lua,
resnext_bottleneck_C): stage i has 256 * 2^i output and C * d * 2^i inner channels, after a 64-channel stem."""

from __future__ import annotations

from explorer.i18n import _
from explorer.models.convert import SpecError
from explorer.models.fields import ArchFields
from explorer.models.plans.base import (
    CifarDepth, Layout, Plan, SteppedDepth, basic_or_bottleneck, input_size, stage1_width, strided_stages,
)

BRANCH_WIDTH = 32  # the paper's smallest d (2x32d); stages double it
STEM_CHANNELS = 16


def _cifar_depth(spec: ArchFields) -> CifarDepth:
    return basic_or_bottleneck(spec, "Shake-Shake")  # 6n+2 (26 2x32d), 9n+2 with bottlenecks (29 2x4x64d)


DEPTH = SteppedDepth(_cifar_depth)


def layout(spec: ArchFields) -> Layout:
    d = stage1_width(spec, BRANCH_WIDTH)
    if spec.block == "bottleneck":  # shakeshake.lua: iChannels = k (the stem's 64), n = 64 * 2^i, out 4n
        stem = d

        def widths(i: int) -> tuple[int, int]:
            return spec.cardinality * spec.bottleneck_width * 2**i, d * 2**i * 4
    else:
        stem = STEM_CHANNELS

        def widths(i: int) -> tuple[int, int]:
            return d * 2**i, d * 2**i
    stages = strided_stages(spec.block, DEPTH.blocks_per_stage(spec), stem, input_size(spec), widths)
    return Layout(input_size=input_size(spec), stem_channels=stem, stem_size=input_size(spec),
                  stages=stages, head_in=stages[-1].out_channels, weight_layers=spec.depth)


def check(spec: ArchFields) -> None:
    if spec.block == "bottleneck":
        return  # the 1x1 projection shortcut takes any width
    if stage1_width(spec, BRANCH_WIDTH) < 2:
        raise SpecError("base_width", _("Shake-Shake's shortcut concatenates two 1x1 convs of half the width each, "
                                        "so widths need 2 channels or more; got {value}, try 32").format(
                                            value=spec.base_width))


SHAKE_SHAKE = Plan(default=dict(depth=26, base_width=32),  # shake_shake26_2x32d
                   base_width=BRANCH_WIDTH, depth_rule=DEPTH.rule, check_depth=DEPTH.check, layout=layout,
                   check=check)
