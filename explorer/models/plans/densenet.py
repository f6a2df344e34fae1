"""DenseNet's facts (Huang et al. 2016, 1608.06993): dense blocks of layers adding k channels each, joined by
transitions that keep a fraction theta of the channels (DenseNet-BC: bottleneck layers and theta = 0.5)."""

from __future__ import annotations

import math

from explorer.i18n import N_
from explorer.models.fields import ArchFields
from explorer.models.plans.base import CifarDepth, Layout, Plan, StagePlan, SteppedDepth, input_size, stem_size

IMAGENET_DENSENET_BLOCKS: dict[int, tuple[int, ...]] = {  # Table 1: layers per dense block
    121: (6, 12, 24, 16),
    169: (6, 12, 32, 32),
    201: (6, 12, 48, 32),
}


def _cifar_depth(spec: ArchFields) -> CifarDepth:
    """L = 3n + 4 (one conv per layer), or 6n + 4 with the bottleneck's two (DenseNet-B)."""
    return CifarDepth(6, 4, "DenseNet-B") if spec.block == "bottleneck" else CifarDepth(3, 4, "DenseNet")


DEPTH = SteppedDepth(_cifar_depth, (N_("ImageNet DenseNet has 121, 169 or 201 layers"),
                                    tuple(sorted(IMAGENET_DENSENET_BLOCKS))))


def layout(spec: ArchFields) -> Layout:
    k = spec.growth_rate
    bottleneck = spec.block == "bottleneck"
    if spec.stem == "imagenet":
        counts, in_ch = IMAGENET_DENSENET_BLOCKS[spec.depth], 2 * k
    else:
        counts = DEPTH.blocks_per_stage(spec)
        in_ch = 2 * k if (bottleneck or spec.compression < 1) else 16  # Huang et al. sec. 3: 16, or 2k for BC
    stages, cur = [], stem_size(spec)
    for i, n in enumerate(counts):
        widths = tuple(in_ch + k * (j + 1) for j in range(n))
        last = i == len(counts) - 1
        stages.append(StagePlan(name=f"stage{i + 1}", kind="dense", num_blocks=n, in_channels=in_ch,
                                block_widths=widths, inner_widths=(4 * k if bottleneck else k,) * n, stride=1,
                                in_size=cur, out_size=cur if last else cur // 2))
        out = widths[-1]
        in_ch = out if last else int(math.floor(out * spec.compression))
        cur = cur if last else cur // 2
    layers = 1 + sum(counts) * (2 if bottleneck else 1) + (len(counts) - 1) + 1
    stem_channels = 2 * k if spec.stem == "imagenet" else stages[0].in_channels
    return Layout(input_size=input_size(spec), stem_channels=stem_channels, stem_size=stem_size(spec),
                  stages=tuple(stages), head_in=in_ch, weight_layers=layers)


DENSENET = Plan(default=dict(depth=40, growth_rate=12),  # densenet40_k12
                base_width=16, depth_rule=DEPTH.rule, check_depth=DEPTH.check, layout=layout)
