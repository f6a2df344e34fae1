"""Residual and plain blocks. Blocks take explicit integers and ready-made shortcut and merge modules.

Activation placements follow Identity Mappings (1603.05027), Fig. 4:
  original          x -> conv-BN-ReLU-conv-BN -> (+) -> ReLU
  bn_after_add      x -> conv-BN-ReLU-conv    -> (+) -> BN-ReLU
  relu_before_add   x -> conv-BN-ReLU-conv-BN-ReLU -> (+)
  relu_only_preact  x -> ReLU-conv-BN-ReLU-conv-BN -> (+)
  full_preact       x -> BN-ReLU-conv-BN-ReLU-conv -> (+)
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from explorer.models.layers import SqueezeExcitation, conv1x1, conv3x3

PREACT = ("relu_only_preact", "full_preact")


def _transform(convs: list[tuple[str, nn.Conv2d]], activation: str, dropout: float) -> nn.Sequential:
    """The residual function F: the convs with BN and ReLU placed as the activation placement says."""
    preact = activation in PREACT
    layers: list[tuple[str, nn.Module]] = []
    for i, (name, conv) in enumerate(convs, start=1):
        last = i == len(convs)
        if i > 1 and dropout > 0 and last:
            layers.append(("dropout", nn.Dropout(dropout)))  # WRN: between the convs of a block
        layers.append((name, conv))
        if preact and not last:
            layers += [(f"bn{i}", nn.BatchNorm2d(conv.out_channels)), (f"relu{i}", nn.ReLU(inplace=True))]
        elif preact and activation == "relu_only_preact":
            layers.append((f"bn{i}", nn.BatchNorm2d(conv.out_channels)))
        elif not preact and not (last and activation == "bn_after_add"):
            layers.append((f"bn{i}", nn.BatchNorm2d(conv.out_channels)))
            if not last or activation == "relu_before_add":
                layers.append((f"relu{i}", nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(layers))


def _preact(activation: str, channels: int) -> nn.Module:
    if activation == "full_preact":
        return nn.Sequential(OrderedDict(bn=nn.BatchNorm2d(channels), relu=nn.ReLU(inplace=True)))
    if activation == "relu_only_preact":
        return nn.ReLU(inplace=False)
    return nn.Identity()


def _post(activation: str, channels: int) -> nn.Module:
    if activation == "original":
        return nn.ReLU(inplace=True)
    if activation == "bn_after_add":
        return nn.Sequential(OrderedDict(bn=nn.BatchNorm2d(channels), relu=nn.ReLU(inplace=True)))
    return nn.Identity()


class ResidualBlock(nn.Module):
    """Residual unit: y = post(merge(F(pre(x)), h(x))), with F basic (3x3, 3x3) or bottleneck (1x1, 3x3, 1x1)."""

    def __init__(self, *, in_channels: int, inner_channels: int, out_channels: int, stride: int,
                 bottleneck: bool, groups: int, shortcut: nn.Module, merge: nn.Module, activation: str,
                 dropout: float = 0.0, se_reduction: int = 0, drop_prob: float = 0.0, shared_preact: bool = False):
        super().__init__()
        if bottleneck:
            convs = [("conv1", conv1x1(in_channels, inner_channels)),
                     ("conv2", conv3x3(inner_channels, inner_channels, stride, groups)),  # stride here: V1.5
                     ("conv3", conv1x1(inner_channels, out_channels))]
        else:
            convs = [("conv1", conv3x3(in_channels, inner_channels, stride)),
                     ("conv2", conv3x3(inner_channels, out_channels))]
        self.preact = _preact(activation, in_channels)
        # Identity Mappings sec. 4.1: the first unit and projection shortcuts take the pre-activated input.
        self.shared_preact = shared_preact and activation in PREACT
        self.residual = _transform(convs, activation, dropout)
        self.se = SqueezeExcitation(out_channels, se_reduction) if se_reduction else nn.Identity()
        self.stochastic_depth = StochasticDepth(drop_prob, "batch") if drop_prob else nn.Identity()
        self.shortcut = shortcut
        self.merge = merge
        self.post = _post(activation, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.preact(x)
        identity = self.shortcut(pre if self.shared_preact else x)
        out = self.residual(pre)
        out = self.se(out)
        out = self.stochastic_depth(out)
        out = self.merge(out, identity, x)
        return self.post(out)

    def last_bn(self) -> nn.BatchNorm2d | None:
        """The BN after the branch's last conv, which zero_init_residual sets to 0 (none in pre-activation)."""
        modules = list(self.residual)
        last_conv = max(i for i, m in enumerate(modules) if isinstance(m, nn.Conv2d))
        after = [m for m in modules[last_conv:] if isinstance(m, nn.BatchNorm2d)]
        return after[0] if after else None


class PlainBlock(nn.Module):
    """Plain unit (He et al. 2015 baseline): y = ReLU(F(x)), the same stack with no shortcut."""

    def __init__(self, *, in_channels: int, inner_channels: int, out_channels: int, stride: int,
                 bottleneck: bool, groups: int = 1):
        super().__init__()
        if bottleneck:
            convs = [("conv1", conv1x1(in_channels, inner_channels)),
                     ("conv2", conv3x3(inner_channels, inner_channels, stride, groups)),
                     ("conv3", conv1x1(inner_channels, out_channels))]
        else:
            convs = [("conv1", conv3x3(in_channels, inner_channels, stride)),
                     ("conv2", conv3x3(inner_channels, out_channels))]
        self.residual = _transform(convs, "original", 0.0)
        self.post = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.residual(x))
