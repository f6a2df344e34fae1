"""The ResNet-shaped families' facts: plain, ResNet (and pre-activation), Wide ResNet, ResNeXt.

They share one layout (three doubling stages on CIFAR, He et al.'s Table 1 stages on ImageNet) and differ in
their widths, depth rule and rules; explorer.models.families.resnet builds all four.
"""

from __future__ import annotations

from explorer.i18n import N_, _
from explorer.models.convert import SpecError
from explorer.models.fields import FAMILY_LABELS, ArchFields, Block
from explorer.models.plans.base import (
    CifarDepth, Layout, Plan, SteppedDepth, basic_or_bottleneck, input_size, stage1_width, stem_size, strided_stages,
)

IMAGENET_RESNET_STAGES: dict[int, tuple[Block, tuple[int, ...]]] = {  # He et al. 2015, Table 1
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
_IMAGENET_RESNET = (N_("an ImageNet ResNet has 18, 34, 50, 101 or 152 layers"), tuple(sorted(IMAGENET_RESNET_STAGES)))


def _plain_depth(spec: ArchFields) -> CifarDepth:
    return basic_or_bottleneck(spec, "Plain")


def _resnet_depth(spec: ArchFields) -> CifarDepth:
    return basic_or_bottleneck(spec, "ResNet")


def _wrn_depth(spec: ArchFields) -> CifarDepth:
    return CifarDepth(6, 4, "Wide ResNet")  # WRN-d-k counts its 1x1 projections: 6n+4


def _resnext_depth(spec: ArchFields) -> CifarDepth:
    return CifarDepth(9, 2, "ResNeXt")


PLAIN_DEPTH = SteppedDepth(_plain_depth, _IMAGENET_RESNET)
RESNET_DEPTH = SteppedDepth(_resnet_depth, _IMAGENET_RESNET)
WRN_DEPTH = SteppedDepth(_wrn_depth, (N_("an ImageNet Wide ResNet has 50, 101 or 152 layers"), (50, 101, 152)))
RESNEXT_DEPTH = SteppedDepth(_resnext_depth, (N_("an ImageNet ResNeXt has 50, 101 or 152 layers"), (50, 101, 152)))
_DEPTHS = {"plain": PLAIN_DEPTH, "resnet": RESNET_DEPTH, "wrn": WRN_DEPTH, "resnext": RESNEXT_DEPTH}
_CIFAR_WIDTH = {"plain": 16, "resnet": 16, "wrn": 16, "resnext": 64}  # stage-1 width before k


def imagenet_block(spec: ArchFields) -> Block | None:
    """The block an ImageNet depth implies (He et al. 2015, Table 1)."""
    if spec.stem == "imagenet" and spec.depth in IMAGENET_RESNET_STAGES:
        return IMAGENET_RESNET_STAGES[spec.depth][0]
    return None


def layout(spec: ArchFields) -> Layout:
    imagenet = spec.stem == "imagenet"
    counts = IMAGENET_RESNET_STAGES[spec.depth][1] if imagenet else _DEPTHS[spec.family].blocks_per_stage(spec)
    bottleneck = spec.block == "bottleneck"
    expansion = 4 if bottleneck else 1
    base, k = stage1_width(spec, _CIFAR_WIDTH[spec.family]), spec.width_factor
    stem_channels = base if (imagenet or spec.family == "resnext") else 16

    def widths(i: int) -> tuple[int, int]:
        if spec.family == "resnext":  # C paths of width d * 2^i
            return spec.cardinality * spec.bottleneck_width * 2**i, base * 2**i * expansion
        if bottleneck:  # ImageNet WRN widens the inner 3x3 only (torchvision's wide_resnet50_2)
            return base * 2**i * k, base * 2**i * expansion * (1 if imagenet else k)
        return base * 2**i * k, base * 2**i * k

    stages = strided_stages(spec.block, counts, stem_channels, stem_size(spec), widths)
    weight_layers = 1 + sum(counts) * (3 if bottleneck else 2) + 1
    if spec.family == "wrn" and not imagenet:
        weight_layers = spec.depth  # WRN counts its 1x1 projections: 6n+4
    return Layout(input_size=input_size(spec), stem_channels=stem_channels, stem_size=stem_size(spec),
                  stages=stages, head_in=stages[-1].out_channels, weight_layers=weight_layers)


def _check_imagenet_block(spec: ArchFields) -> None:
    block = imagenet_block(spec)
    if block is not None and spec.block != block:
        raise SpecError("block", _("ImageNet {family}-{depth} uses {block} blocks; got {value!r}, use "
                                   "{block!r}").format(family=_(FAMILY_LABELS[spec.family]), depth=spec.depth,
                                                       block=block, value=spec.block))


def _check_resnet(spec: ArchFields) -> None:
    _check_imagenet_block(spec)
    if spec.shortcut_variant != "identity" and spec.activation != "original":
        raise SpecError("shortcut_variant", _("Table 1's shortcut variants use the original unit; got activation "
                                              "{value!r}, use activation 'original'").format(value=spec.activation))


def _check_wrn(spec: ArchFields) -> None:
    if spec.stem == "cifar" and spec.block != "basic":
        raise SpecError("block", _("a CIFAR Wide ResNet uses basic blocks; got {value!r}, use 'basic'").format(
            value=spec.block))
    _check_imagenet_block(spec)


def _check_resnext(spec: ArchFields) -> None:
    if spec.block != "bottleneck":
        raise SpecError("block", _("ResNeXt uses bottleneck blocks; got {value!r}, use 'bottleneck'").format(
            value=spec.block))
    # No rule that C divides the grouped width: the layout makes it C * d * 2^i, a multiple of C for every spec
    # (tests/test_spec.py::test_grouped_width_is_always_a_multiple_of_the_cardinality checks the bounds).
    _check_imagenet_block(spec)


PLAIN = Plan(default=dict(depth=20),  # plain20
             base_width=_CIFAR_WIDTH["plain"], depth_rule=PLAIN_DEPTH.rule, check_depth=PLAIN_DEPTH.check,
             layout=layout, check=_check_imagenet_block, imagenet_block=imagenet_block)
RESNET = Plan(default=dict(depth=20),  # resnet20
              base_width=_CIFAR_WIDTH["resnet"], depth_rule=RESNET_DEPTH.rule, check_depth=RESNET_DEPTH.check,
              layout=layout, check=_check_resnet, imagenet_block=imagenet_block)
WRN = Plan(default=dict(depth=16, width_factor=4, shortcut="B", activation="full_preact"),  # wrn_16_4
           base_width=_CIFAR_WIDTH["wrn"], depth_rule=WRN_DEPTH.rule, check_depth=WRN_DEPTH.check,
           layout=layout, check=_check_wrn, imagenet_block=imagenet_block)
RESNEXT = Plan(default=dict(block="bottleneck", depth=29, cardinality=8, shortcut="B"),  # resnext29_8x64d
               base_width=_CIFAR_WIDTH["resnext"], depth_rule=RESNEXT_DEPTH.rule, check_depth=RESNEXT_DEPTH.check,
               layout=layout, check=_check_resnext, imagenet_block=imagenet_block)
