"""Layout: the per-stage widths, block counts and spatial sizes of a design, derived in one place.

The builder and the renderers both read `layout(spec)`, so the graph can never disagree with the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from explorer.models.fields import FAMILY_LABELS, ArchFields, Block

IMAGENET_RESNET_STAGES: dict[int, tuple[Block, tuple[int, ...]]] = {  # He et al. 2015, Table 1
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_DENSENET_BLOCKS: dict[int, tuple[int, ...]] = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}
VGG_CONFIGS: dict[int, tuple[tuple[int, ...], ...]] = {  # Simonyan & Zisserman 2014, Table 1 (A, B, D, E)
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}
FRACTAL_WIDTHS = (64, 128, 256, 512, 512, 512, 512, 512)  # Larsson et al. 2016, sec. 4.1: doubles, capped at 512
# Srivastava et al. 2015 do not print their CIFAR widths. These give highway19 (6+6+5 highway layers) 2,295,722
# parameters, the published "2.3M"; plain doubling (32, 64, 128) would give 2.04M.
HIGHWAY_WIDTHS = (32, 80, 128)


def cifar_depth_step(spec: ArchFields) -> tuple[int, int, str]:
    """The CIFAR depth rule (step, offset, the family's name): depth = step * n + offset, n blocks per stage."""
    if spec.family == "wrn":
        return 6, 4, "Wide ResNet"
    if spec.family == "densenet":
        return (6, 4, "DenseNet-B") if spec.block == "bottleneck" else (3, 4, "DenseNet")
    if spec.family == "resnext":
        return 9, 2, "ResNeXt"
    name = FAMILY_LABELS[spec.family].split(" ")[0]
    return (9, 2, f"bottleneck {name}") if spec.block == "bottleneck" else (6, 2, name)



@dataclass(frozen=True, kw_only=True)
class StagePlan:
    """One stage: blocks between two downsamplings (a dense block, a fractal block, a VGG conv group)."""

    name: str  # module name, e.g. "stage1"
    kind: str  # block kind shown in graphs: "basic", "bottleneck", "dense", "fractal", "highway", "conv"
    num_blocks: int  # blocks (DenseNet: layers; VGG: convs) in this stage
    in_channels: int
    block_widths: tuple[int, ...]  # output channels of each block (PyramidNet widens every block)
    inner_widths: tuple[int, ...]  # bottleneck / grouped-conv width of each block (== output for basic)
    stride: int  # stride of the stage's first block
    in_size: int  # spatial size entering the stage
    out_size: int  # spatial size leaving the stage

    @property
    def out_channels(self) -> int:
        return self.block_widths[-1]


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Derived quantities read by the builder and the renderers alike."""

    input_size: int  # 32 (CIFAR) or 224 (ImageNet)
    stem_channels: int
    stem_size: int  # spatial size after the stem
    stages: tuple[StagePlan, ...]
    head_in: int  # channels entering the classifier
    weight_layers: int  # conv + fc layers on the longest path, as the papers count depth


def default_base_width(spec: ArchFields) -> int:
    if spec.base_width is not None:
        return spec.base_width
    if spec.stem == "imagenet" or spec.family in ("resnext", "vgg", "fractalnet"):
        return 64
    return {"shake_shake": 32, "highway": HIGHWAY_WIDTHS[0]}.get(spec.family, 16)


def layout(spec: ArchFields) -> Layout:
    """Per-stage widths, block counts and sizes of a spec (assumed valid)."""
    size = 224 if spec.stem == "imagenet" else 32
    stem_size = size // 4 if spec.stem == "imagenet" else size
    base = default_base_width(spec)
    f = spec.family
    if f == "vgg":
        return _vgg_layout(spec, size, base)
    if f == "densenet":
        return _densenet_layout(spec, size, stem_size)
    if f == "fractalnet":
        return _fractal_layout(spec, size, base)
    if f == "highway":
        return _highway_layout(spec, size, base)
    return _residual_layout(spec, size, stem_size, base)


def blocks_per_stage(spec: ArchFields) -> tuple[int, ...]:
    if spec.stem == "imagenet":
        return IMAGENET_RESNET_STAGES[spec.depth][1]
    step, offset, _ = cifar_depth_step(spec)
    n = (spec.depth - offset) // step
    stages = 3
    return (n,) * stages


def _residual_layout(spec: ArchFields, size: int, stem_size: int, base: int) -> Layout:
    counts = blocks_per_stage(spec)
    bottleneck = spec.block == "bottleneck"
    expansion = 4 if bottleneck else 1
    imagenet = spec.stem == "imagenet"
    k = spec.width_factor
    if spec.family == "pyramidnet":
        return _pyramid_layout(spec, size, counts, expansion)
    stem_channels = base if (imagenet or spec.family in ("resnext",)) else 16
    if spec.family == "shake_shake":
        stem_channels = 16
    stages, in_ch, cur = [], stem_channels, stem_size
    for i, n in enumerate(counts):
        if spec.family == "resnext":
            inner = spec.cardinality * spec.bottleneck_width * 2**i
            out = base * 2**i * expansion
        elif bottleneck:
            inner = base * 2**i * (k if imagenet else k)
            out = base * 2**i * expansion * (1 if imagenet else k)
        else:
            inner = out = base * 2**i * k
        stride = 1 if i == 0 else 2
        stages.append(StagePlan(name=f"stage{i + 1}", kind=spec.block, num_blocks=n, in_channels=in_ch,
                                block_widths=(out,) * n, inner_widths=(inner,) * n, stride=stride,
                                in_size=cur, out_size=cur // stride))
        in_ch, cur = out, cur // stride
    convs_per_block = 3 if bottleneck else 2
    weight_layers = 1 + sum(counts) * convs_per_block + 1
    if spec.family == "wrn" and not imagenet:
        weight_layers = spec.depth  # WRN counts its 1x1 projections: 6n+4
    return Layout(input_size=size, stem_channels=stem_channels, stem_size=stem_size, stages=tuple(stages),
                  head_in=in_ch, weight_layers=weight_layers)


def _pyramid_layout(spec: ArchFields, size: int, counts: tuple[int, ...], expansion: int) -> Layout:
    """Han et al. 2017, eq. (2): block k of N has floor(16 + k * alpha / N) channels (additive), or, eq. (3),
    floor(16 * r^k) with r chosen so the last block also reaches 16 + alpha (multiplicative).

    Additive widths use exact integer arithmetic: a float running sum (as in the author's code) lands on
    215.999... instead of 216 and changes pyramidnet272_a200_bottleneck's count. floor (the paper's equation)
    matches the printed 1.7M and 26.0M; the author's PyTorch code rounds instead (1.8M, 26.2M)."""
    total = sum(counts)
    start, stages, in_ch, cur, index = 16, [], 16, size, 0
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


def _densenet_layout(spec: ArchFields, size: int, stem_size: int) -> Layout:
    k = spec.growth_rate
    bottleneck = spec.block == "bottleneck"
    if spec.stem == "imagenet":
        counts, in_ch = IMAGENET_DENSENET_BLOCKS[spec.depth], 2 * k
    else:
        n = (spec.depth - 4) // (6 if bottleneck else 3)
        counts = (n, n, n)
        in_ch = 2 * k if (bottleneck or spec.compression < 1) else 16  # Huang et al. sec. 3: 16, or 2k for BC
    stages, cur = [], stem_size
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
    return Layout(input_size=size, stem_channels=2 * k if spec.stem == "imagenet" else stages[0].in_channels,
                  stem_size=stem_size, stages=tuple(stages), head_in=in_ch, weight_layers=layers)


def _vgg_layout(spec: ArchFields, size: int, base: int) -> Layout:
    stages, in_ch, cur = [], 3, size
    for i, group in enumerate(VGG_CONFIGS[spec.depth]):
        widths = tuple(w * base // 64 for w in group)
        stages.append(StagePlan(name=f"stage{i + 1}", kind="conv", num_blocks=len(widths), in_channels=in_ch,
                                block_widths=widths, inner_widths=widths, stride=1, in_size=cur, out_size=cur // 2))
        in_ch, cur = widths[-1], cur // 2
    return Layout(input_size=size, stem_channels=3, stem_size=size, stages=tuple(stages), head_in=in_ch,
                  weight_layers=spec.depth)


def _fractal_layout(spec: ArchFields, size: int, base: int) -> Layout:
    stages, in_ch, cur = [], 3, size
    for i in range(spec.fractal_blocks):
        w = FRACTAL_WIDTHS[i] * base // FRACTAL_WIDTHS[0]  # base_width scales the paper's widths
        stages.append(StagePlan(name=f"stage{i + 1}", kind="fractal", num_blocks=spec.fractal_columns,
                                in_channels=in_ch, block_widths=(w,) * spec.fractal_columns,
                                inner_widths=(w,) * spec.fractal_columns, stride=1, in_size=cur, out_size=cur // 2))
        in_ch, cur = w, cur // 2
    return Layout(input_size=size, stem_channels=3, stem_size=size, stages=tuple(stages), head_in=in_ch,
                  weight_layers=spec.depth)


def _highway_layout(spec: ArchFields, size: int, base: int) -> Layout:
    """Stem conv, then depth - 2 highway layers split over three stages (HIGHWAY_WIDTHS scaled by base_width)."""
    layers = spec.depth - 2
    counts = [layers // 3 + (1 if i < layers % 3 else 0) for i in range(3)]
    stages, in_ch, cur = [], base, size
    for i, n in enumerate(counts):
        w = HIGHWAY_WIDTHS[i] * base // HIGHWAY_WIDTHS[0]
        stride = 1 if i == 0 else 2
        stages.append(StagePlan(name=f"stage{i + 1}", kind="highway", num_blocks=n, in_channels=in_ch,
                                block_widths=(w,) * n, inner_widths=(w,) * n, stride=stride,
                                in_size=cur, out_size=cur // stride))
        in_ch, cur = w, cur // stride
    return Layout(input_size=size, stem_channels=base, stem_size=size, stages=tuple(stages), head_in=in_ch,
                  weight_layers=spec.depth)
