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


def layout(spec: ArchFields) -> Layout:
    """Han et al. 2017, eq. (2): block k of N has floor(16 + k * alpha / N) channels (additive), or, eq. (3),
    floor(16 * r^k) with r chosen so the last block also reaches 16 + alpha (multiplicative).

    Additive widths use exact integer arithmetic: a float running sum (as in the author's code) lands on
    215.999... instead of 216 and changes pyramidnet272_a200_bottleneck's count. floor (the paper's equation)
    matches the printed 1.7M and 26.0M; the author's PyTorch code rounds instead (1.8M, 26.2M)."""
    counts = DEPTH.blocks_per_stage(spec)
    expansion = 4 if spec.block == "bottleneck" else 1
    size, total = input_size(spec), sum(counts)
    start, stages, in_ch, cur, index = START_WIDTH, [], START_WIDTH, size, 0
    factor = (1 + spec.pyramid_alpha / start) ** (1 / total)
    for i, n in enumerate(counts):
        outs, inners = [], []
        for _ in range(n):
            index += 1
            if spec.pyramid_widening == "additive":
                width = start + spec.pyramid_alpha * index // total
            else:
                width = int(math.floor(start * factor**index + 1e-9))
            inners.append(width)
            outs.append(width * expansion)
        stride = 1 if i == 0 else 2
        stages.append(StagePlan(name=f"stage{i + 1}", kind=spec.block, num_blocks=n, in_channels=in_ch,
                                block_widths=tuple(outs), inner_widths=tuple(inners), stride=stride,
                                in_size=cur, out_size=cur // stride))
        in_ch, cur = outs[-1], cur // stride
    layers = 1 + total * (3 if expansion == 4 else 2) + 1
    return Layout(input_size=size, stem_channels=start, stem_size=size, stages=tuple(stages),
                  head_in=in_ch, weight_layers=layers)


PYRAMIDNET = Plan(default=dict(depth=110, pyramid_alpha=48),  # pyramidnet110_a48
                  base_width=START_WIDTH, depth_rule=DEPTH.rule, check_depth=DEPTH.check, layout=layout)
