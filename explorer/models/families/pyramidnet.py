"""PyramidNet (Han et al. 2017, 1610.02915): the width grows a little at every block instead of doubling per stage.

Follows the author's code (dyhan0920/PyramidNet-PyTorch): no ReLU at the start of a block and none after the
addition (sec. 3.2: removing the first ReLU and adding a BN after the last conv helps); the shortcut is a zero-
padded identity, 2x2 average-pooled on downsampling; the head is BN-ReLU-pool-fc.
  basic:      x -> BN-conv3x3-BN-ReLU-conv3x3-BN -> (+)
  bottleneck: x -> BN-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1(4x)-BN -> (+)
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from explorer.models.blocks import ResidualUnit
from explorer.models.layers import BlockSlot, StagedNet, conv1x1, conv3x3
from explorer.models.shortcuts import ZeroPadShortcut
from explorer.models.spec import ArchSpec


class PyramidBlock(ResidualUnit):
    """Pyramidal residual unit: y = F(x) + zero_pad(avgpool(x))."""

    def __init__(self, *, in_channels: int, inner_channels: int, out_channels: int, stride: int,
                 bottleneck: bool, shortcut: nn.Module, se_reduction: int = 0, drop_prob: float = 0.0,
                 bottleneck_stride: str = "3x3"):
        super().__init__()
        if bottleneck:  # the authors' code strides the 3x3 (PyramidNet.py's Bottleneck.conv2)
            on_1x1 = bottleneck_stride == "1x1"
            layers = [("bn1", nn.BatchNorm2d(in_channels)),
                      ("conv1", conv1x1(in_channels, inner_channels, stride if on_1x1 else 1)),
                      ("bn2", nn.BatchNorm2d(inner_channels)), ("relu2", nn.ReLU(inplace=True)),
                      ("conv2", conv3x3(inner_channels, inner_channels, 1 if on_1x1 else stride)),
                      ("bn3", nn.BatchNorm2d(inner_channels)), ("relu3", nn.ReLU(inplace=True)),
                      ("conv3", conv1x1(inner_channels, out_channels)), ("bn4", nn.BatchNorm2d(out_channels))]
        else:
            layers = [("bn1", nn.BatchNorm2d(in_channels)), ("conv1", conv3x3(in_channels, out_channels, stride)),
                      ("bn2", nn.BatchNorm2d(out_channels)), ("relu2", nn.ReLU(inplace=True)),
                      ("conv2", conv3x3(out_channels, out_channels)), ("bn3", nn.BatchNorm2d(out_channels))]
        self.residual = nn.Sequential(OrderedDict(layers))
        self.add_tail(out_channels, shortcut, se_reduction, drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        out = self.tail(out)
        return out + self.shortcut(x)


def make_block(spec: ArchSpec, slot: BlockSlot) -> PyramidBlock:
    return PyramidBlock(in_channels=slot.in_channels, inner_channels=slot.inner_channels,
                        out_channels=slot.out_channels, stride=slot.stride, bottleneck=spec.block == "bottleneck",
                        shortcut=ZeroPadShortcut(slot.in_channels, slot.out_channels, slot.stride, "avgpool"),
                        se_reduction=spec.se_reduction, drop_prob=slot.drop_prob,
                        bottleneck_stride=spec.bottleneck_stride)


class PyramidNet(StagedNet):
    """stem (conv3x3-BN, 16 channels) -> three stages of pyramidal blocks -> head (BN-ReLU-pool-fc)."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        self.build(spec, make_block, stem_ops=("bn",), head_ops=("bn", "relu"))
