"""The ResNet-shaped networks: plain, ResNet and its Identity-Mappings variants, Wide ResNet, ResNeXt.

stem -> stage1 .. stageN (blocks named block1..) -> head. Widths and block counts come from `spec.layout`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from explorer.models.blocks import PREACT, PlainBlock, ResidualBlock
from explorer.models.layers import SkipDefaultConvInit, conv3x3, he_init
from explorer.models.shortcuts import AddMerge, DropoutShortcut, GateMerge, ProjectionShortcut, make_shortcut
from explorer.models.spec import ArchSpec, StagePlan, layout


def make_stem(spec: ArchSpec, out_channels: int, activation: str = "original") -> nn.Sequential:
    """CIFAR: 3x3 conv on 32x32. ImageNet: 7x7/2 conv + 3x3/2 max-pool (He et al. 2015, Table 1)."""
    if spec.stem == "imagenet":
        layers = [("conv", nn.Conv2d(3, out_channels, 7, stride=2, padding=3, bias=False))]
    else:
        layers = [("conv", conv3x3(3, out_channels))]
    if activation != "full_preact":  # full pre-activation: the first unit's BN-ReLU follows conv1 directly
        layers.append(("bn", nn.BatchNorm2d(out_channels)))
    if activation not in PREACT:
        layers.append(("relu", nn.ReLU(inplace=True)))
    if spec.stem == "imagenet":
        layers.append(("maxpool", nn.MaxPool2d(3, stride=2, padding=1)))
    return nn.Sequential(OrderedDict(layers))


def make_head(in_channels: int, num_classes: int, activation: str = "original") -> nn.Sequential:
    """Global average pool + fc; pre-activation nets add the final BN-ReLU after the last addition."""
    layers: list[tuple[str, nn.Module]] = []
    if activation == "full_preact":
        layers += [("bn", nn.BatchNorm2d(in_channels)), ("relu", nn.ReLU(inplace=True))]
    elif activation == "relu_only_preact":
        layers.append(("relu", nn.ReLU(inplace=True)))
    layers += [("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
               ("fc", nn.Linear(in_channels, num_classes))]
    return nn.Sequential(OrderedDict(layers))


def _shortcut(spec: ArchSpec, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if spec.shortcut_variant == "conv1x1":  # Table 1: a 1x1 conv on every shortcut
        return ProjectionShortcut(in_channels, out_channels, stride, norm=False)
    base = make_shortcut(spec.shortcut, in_channels, out_channels, stride)
    if spec.shortcut_variant == "dropout":
        return DropoutShortcut(base, spec.shortcut_dropout)
    return base


def _merge(spec: ArchSpec, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if spec.shortcut_variant == "constant_scaling":
        return AddMerge(spec.shortcut_scale, spec.residual_scale)
    if spec.shortcut_variant in ("exclusive_gating", "shortcut_only_gating"):
        return GateMerge(in_channels, out_channels, stride, spec.gate_bias,
                         exclusive=spec.shortcut_variant == "exclusive_gating")
    return AddMerge()


def make_block(spec: ArchSpec, stage: StagePlan, index: int, in_channels: int, drop_prob: float,
               first_in_net: bool) -> nn.Module:
    """Block `index` (0-based) of a stage, built from explicit integers."""
    out_channels = stage.block_widths[index]
    inner = stage.inner_widths[index]
    stride = stage.stride if index == 0 else 1
    bottleneck = stage.kind == "bottleneck"
    if spec.family == "plain":
        return PlainBlock(in_channels=in_channels, inner_channels=inner, out_channels=out_channels,
                          stride=stride, bottleneck=bottleneck)
    shortcut = _shortcut(spec, in_channels, out_channels, stride)
    merge = _merge(spec, in_channels, out_channels, stride)
    if spec.family == "resnext" and spec.resnext_form != "grouped":
        from explorer.models.families.resnext import make_resnext_block

        return make_resnext_block(spec.resnext_form, in_channels=in_channels, inner_channels=inner,
                                  out_channels=out_channels, stride=stride, groups=spec.cardinality,
                                  shortcut=shortcut, se_reduction=spec.se_reduction, drop_prob=drop_prob)
    return ResidualBlock(in_channels=in_channels, inner_channels=inner, out_channels=out_channels, stride=stride,
                         bottleneck=bottleneck, groups=spec.cardinality, shortcut=shortcut, merge=merge,
                         activation=spec.activation, dropout=spec.dropout, se_reduction=spec.se_reduction,
                         drop_prob=drop_prob, shared_preact=first_in_net or not isinstance(shortcut, nn.Identity))


class StagedNet(nn.Module):
    """stem -> stage1 .. stageN -> head. Subclasses set `stem`, `head` and the stages named in `stage_names`."""

    stage_names: list[str]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.head(x)


class ResNet(StagedNet):
    """Plain / ResNet / pre-activation / Wide ResNet / ResNeXt: stem -> stages -> head."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        with SkipDefaultConvInit():
            self._build(spec)
        he_init(self, spec.zero_init_residual)  # initialises every Conv2d, so none keeps uninitialised memory

    def _build(self, spec: ArchSpec) -> None:
        plan = layout(spec)
        self.stem = make_stem(spec, plan.stem_channels, spec.activation)
        total = sum(s.num_blocks for s in plan.stages)
        self.stage_names = [s.name for s in plan.stages]
        in_channels, seen = plan.stem_channels, 0
        for stage in plan.stages:
            blocks = OrderedDict()
            for i in range(stage.num_blocks):
                seen += 1
                drop = spec.stochastic_depth * seen / total  # ResDrop: linear decay rule, p_l = l/L * p_L
                blocks[f"block{i + 1}"] = make_block(spec, stage, i, in_channels, drop, first_in_net=seen == 1)
                in_channels = stage.block_widths[i]
            setattr(self, stage.name, nn.Sequential(blocks))
        self.head = make_head(in_channels, spec.num_classes, spec.activation)
