"""The ResNet-shaped networks: plain, ResNet and its Identity-Mappings variants, Wide ResNet, ResNeXt.

stem -> stage1 .. stageN (blocks named block1..) -> head. Widths and block counts come from `spec.layout`;
the blocks are in explorer.models.blocks (and families/resnext.py for the two other ResNeXt forms).
"""

from __future__ import annotations

from torch import nn

from explorer.models.blocks import PlainBlock, ResidualBlock, placement_parts
from explorer.models.families.resnext import make_resnext_block
from explorer.models.layers import BlockSlot, StagedNet
from explorer.models.shortcuts import AddMerge, DropoutShortcut, GateMerge, ProjectionShortcut, make_shortcut
from explorer.models.spec import ArchSpec


def make_shortcut_for(spec: ArchSpec, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """h(x): option A/B/C (He et al. 2015), or an Identity Mappings Table 1 variant."""
    if spec.shortcut_variant == "conv1x1":  # Table 1: a 1x1 conv on every shortcut
        return ProjectionShortcut(in_channels, out_channels, stride, norm=False)
    # A full pre-activation unit's projection is a bare 1x1 conv: it reads the unit's BN-ReLU'd input and is added
    # to a branch that ends in a conv, not a BN. So the authors built it: KaimingHe/resnet-1k-layers
    # resnet-pre-act.lua (preact-ResNet-164/1001) and szagoruyko/wide-residual-networks models/wide-resnet.lua
    # and pytorch/resnet.py ('convdim'). The original unit's option B/C projection keeps its BN (He et al. 2015;
    # torchvision's downsample, so the ImageNet presets, all 'original', stay equal to torchvision).
    norm = spec.activation != "full_preact"
    base = make_shortcut(spec.shortcut, in_channels, out_channels, stride, norm=norm)
    if spec.shortcut_variant == "dropout":
        return DropoutShortcut(base, spec.shortcut_dropout)
    return base


def make_merge(spec: ArchSpec, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """How F(x) and h(x) are joined: a plain or scaled sum, or a gate (Identity Mappings Table 1)."""
    if spec.shortcut_variant == "constant_scaling":
        return AddMerge(spec.shortcut_scale, spec.residual_scale)
    if spec.shortcut_variant in ("exclusive_gating", "shortcut_only_gating"):
        return GateMerge(in_channels, out_channels, stride, spec.gate_bias,
                         exclusive=spec.shortcut_variant == "exclusive_gating")
    return AddMerge()


def make_block(spec: ArchSpec, slot: BlockSlot) -> nn.Module:
    """The block at `slot`: plain, residual (any activation placement, shortcut variant, grouped ResNeXt) or
    a split/concat ResNeXt block."""
    bottleneck = spec.block == "bottleneck"
    sizes = dict(in_channels=slot.in_channels, inner_channels=slot.inner_channels,
                 out_channels=slot.out_channels, stride=slot.stride)
    if spec.family == "plain":
        return PlainBlock(**sizes, bottleneck=bottleneck, bottleneck_stride=spec.bottleneck_stride)
    shortcut = make_shortcut_for(spec, slot.in_channels, slot.out_channels, slot.stride)
    if spec.family == "resnext" and spec.resnext_form != "grouped":
        return make_resnext_block(spec.resnext_form, **sizes, groups=spec.cardinality, shortcut=shortcut,
                                  se_reduction=spec.se_reduction, drop_prob=slot.drop_prob,
                                  bottleneck_stride=spec.bottleneck_stride)
    return ResidualBlock(**sizes, bottleneck=bottleneck, groups=spec.cardinality, shortcut=shortcut,
                         merge=make_merge(spec, slot.in_channels, slot.out_channels, slot.stride),
                         activation=spec.activation, dropout=spec.dropout, se_reduction=spec.se_reduction,
                         drop_prob=slot.drop_prob, bottleneck_stride=spec.bottleneck_stride,
                         shared_preact=slot.number == 1 or not isinstance(shortcut, nn.Identity))


class ResNet(StagedNet):
    """Plain / ResNet / pre-activation / Wide ResNet / ResNeXt: stem -> stages -> head."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        pre, _, _, _ = placement_parts(spec.activation)
        # The stem's conv is followed by BN-ReLU, less what the first unit's pre-activation already does;
        # pre-activation nets end with that pre-activation, after the last addition (Identity Mappings sec. 4.1).
        self.build(spec, make_block, stem_ops=("bn", "relu")[:2 - len(pre)], head_ops=pre)
