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
from torchvision.ops import StochasticDepth

from explorer.models.blocks import SqueezeExcitation, conv1x1, conv3x3
from explorer.models.families.resnet import StagedNet
from explorer.models.layers import SkipDefaultConvInit, he_init
from explorer.models.shortcuts import ZeroPadShortcut
from explorer.models.spec import ArchSpec, layout


class PyramidBlock(nn.Module):
    """Pyramidal residual unit: y = F(x) + zero_pad(avgpool(x))."""

    def __init__(self, *, in_channels: int, inner_channels: int, out_channels: int, stride: int,
                 bottleneck: bool, shortcut: nn.Module, se_reduction: int = 0, drop_prob: float = 0.0):
        super().__init__()
        if bottleneck:
            layers = [("bn1", nn.BatchNorm2d(in_channels)), ("conv1", conv1x1(in_channels, inner_channels)),
                      ("bn2", nn.BatchNorm2d(inner_channels)), ("relu2", nn.ReLU(inplace=True)),
                      ("conv2", conv3x3(inner_channels, inner_channels, stride)),
                      ("bn3", nn.BatchNorm2d(inner_channels)), ("relu3", nn.ReLU(inplace=True)),
                      ("conv3", conv1x1(inner_channels, out_channels)), ("bn4", nn.BatchNorm2d(out_channels))]
        else:
            layers = [("bn1", nn.BatchNorm2d(in_channels)), ("conv1", conv3x3(in_channels, out_channels, stride)),
                      ("bn2", nn.BatchNorm2d(out_channels)), ("relu2", nn.ReLU(inplace=True)),
                      ("conv2", conv3x3(out_channels, out_channels)), ("bn3", nn.BatchNorm2d(out_channels))]
        self.residual = nn.Sequential(OrderedDict(layers))
        self.se = SqueezeExcitation(out_channels, se_reduction) if se_reduction else nn.Identity()
        self.stochastic_depth = StochasticDepth(drop_prob, "batch") if drop_prob else nn.Identity()
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        out = self.se(out)
        out = self.stochastic_depth(out)
        return out + self.shortcut(x)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.residual[-1]


class PyramidNet(StagedNet):
    """stem (conv3x3-BN, 16 channels) -> three stages of pyramidal blocks -> head (BN-ReLU-pool-fc)."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        with SkipDefaultConvInit():  # he_init below draws every conv weight; drawing them twice is wasted time
            self._build(spec)
        he_init(self, spec.zero_init_residual)

    def _build(self, spec: ArchSpec) -> None:
        plan = layout(spec)
        self.stem = nn.Sequential(OrderedDict(conv=conv3x3(3, plan.stem_channels),
                                              bn=nn.BatchNorm2d(plan.stem_channels)))
        total = sum(s.num_blocks for s in plan.stages)
        self.stage_names = [s.name for s in plan.stages]
        in_channels, seen = plan.stem_channels, 0
        for stage in plan.stages:
            blocks = OrderedDict()
            for i in range(stage.num_blocks):
                seen += 1
                stride = stage.stride if i == 0 else 1
                out_channels = stage.block_widths[i]
                blocks[f"block{i + 1}"] = PyramidBlock(
                    in_channels=in_channels, inner_channels=stage.inner_widths[i], out_channels=out_channels,
                    stride=stride, bottleneck=stage.kind == "bottleneck",
                    shortcut=ZeroPadShortcut(in_channels, out_channels, stride, subsample="avgpool"),
                    se_reduction=spec.se_reduction,
                    drop_prob=spec.stochastic_depth * seen / total)  # ResDrop linear decay rule
                in_channels = out_channels
            setattr(self, stage.name, nn.Sequential(blocks))
        self.head = nn.Sequential(OrderedDict([
            ("bn", nn.BatchNorm2d(in_channels)), ("relu", nn.ReLU(inplace=True)),
            ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
            ("fc", nn.Linear(in_channels, spec.num_classes))]))
