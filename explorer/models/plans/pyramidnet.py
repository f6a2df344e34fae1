"""PyramidNet's facts (Han et al. 2017, 1610.02915): every block widens, by alpha in total across the net."""

from __future__ import annotations

import math

from explorer.models.fields import ArchFields
from explorer.models.plans.base import (
    CifarDepth, Layout, Plan, StagePlan, SteppedDepth, basic_or_bottleneck, input_size,
)

START_WIDTH = 16  # the stem's channels and the width block 0 would have


def _cifar_depth(spec: ArchFields) -> CifarDepth:
    return basic_or_bottleneck(spec, "PyramidNet")  # 6n+2 basic, 9n+2 bottleneck (PyramidNet-272)


DEPTH = SteppedDepth(_cifar_depth)


def widths(spec: ArchFields, blocks: int) -> list[int]:
    """The inner width of each of the net's `blocks` blocks, as the authors' code computes it.

    Additive (eq. 2), dyhan0920/PyramidNet-PyTorch PyramidNet.py (`pyramidal_make_layer`): a float running sum
    16 + k * alpha / N, rounded per block (`int(round(featuremap_dim))`). The paper's equation floors; its printed
    1.7M (alpha=48) holds either way, and the released code is what the authors trained (1,772,706 parameters at
    alpha=48 against 1,739,730 floored). jhkim89/PyramidNet addpyramidnet.lua rounds the same running sum with
    floor(x + 0.5); the two differ only where a sum lands exactly on .5.
    Multiplicative (eq. 3), jhkim89/PyramidNet mulpyramidnet.lua (the only released multiplicative build): alpha is
    the ratio of the last block's width to the first's (4.75 there); each block multiplies a float running product
    16 * alpha^(k/N) and rounds it with floor(x + 0.5).
    """
    running, out = float(START_WIDTH), []
    if spec.pyramid_widening == "additive":
        step = spec.pyramid_alpha / blocks
        for _ in range(blocks):
            running += step
            out.append(int(round(running)))
    else:
        factor = spec.pyramid_ratio ** (1 / blocks)
        for _ in range(blocks):
            running *= factor
            out.append(math.floor(running + 0.5))
    return out


def layout(spec: ArchFields) -> Layout:
    """Han et al. 2017: three stages of N/3 blocks, every block a little wider (`widths`); a bottleneck block
    outputs 4x its inner width."""
    counts = DEPTH.blocks_per_stage(spec)
    expansion = 4 if spec.block == "bottleneck" else 1
    size, total = input_size(spec), sum(counts)
    inner = iter(widths(spec, total))
    stages, in_ch, cur = [], START_WIDTH, size
    for i, n in enumerate(counts):
        inners = [next(inner) for _ in range(n)]
        outs = [w * expansion for w in inners]
        stride = 1 if i == 0 else 2
        stages.append(StagePlan(name=f"stage{i + 1}", kind=spec.block, num_blocks=n, in_channels=in_ch,
                                block_widths=tuple(outs), inner_widths=tuple(inners), stride=stride,
                                in_size=cur, out_size=cur // stride))
        in_ch, cur = outs[-1], cur // stride
    layers = 1 + total * (3 if expansion == 4 else 2) + 1
    return Layout(input_size=size, stem_channels=START_WIDTH, stem_size=size, stages=tuple(stages),
                  head_in=in_ch, weight_layers=layers)


PYRAMIDNET = Plan(default=dict(depth=110, pyramid_alpha=48),  # pyramidnet110_a48
                  base_width=START_WIDTH, depth_rule=DEPTH.rule, check_depth=DEPTH.check, layout=layout)
