"""Highway network (Srivastava et al. 2015, 1505.00387): gates decide how much of each layer's input to carry.

  y = H(x) * T(x) + x * (1 - T(x)),   T(x) = sigmoid(conv(x) + b_T)

H is conv3x3-BN-ReLU (BN is our addition, as in every later net here, so the model trains in the app); T is a
conv3x3 of the same width. b_T starts at `spec.gate_bias`: the paper's negative init (-1 .. -3) makes every
layer start close to carrying its input (sec. 2.2). Between stages a transition (2x2 max-pool, then a 1x1 conv
and BN to the new width) changes the shape, since a highway layer needs x and y of one shape.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from explorer.models.blocks import conv1x1, conv3x3
from explorer.models.families.resnet import StagedNet
from explorer.models.layers import he_init
from explorer.models.spec import ArchSpec, layout


class HighwayLayer(nn.Module):
    """y = H(x) * T(x) + x * (1 - T(x))."""

    def __init__(self, channels: int, gate_bias: float):
        super().__init__()
        self.transform = nn.Sequential(OrderedDict(conv=conv3x3(channels, channels), bn=nn.BatchNorm2d(channels),
                                                   relu=nn.ReLU(inplace=True)))
        self.gate = nn.Conv2d(channels, channels, 3, padding=1, bias=True)
        self.gate_bias = gate_bias

    def reset_gate(self) -> None:
        nn.init.constant_(self.gate.bias, self.gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x))
        return self.transform(x) * t + x * (1 - t)

    def extra_repr(self) -> str:
        return f"gate_bias={self.gate_bias}"


class Transition(nn.Sequential):
    """2x2 max-pool (as the paper's CIFAR nets), then 1x1 conv + BN to the next stage's width."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        layers: list[tuple[str, nn.Module]] = []
        if stride > 1:
            layers.append(("pool", nn.MaxPool2d(stride)))
        layers += [("conv", conv1x1(in_channels, out_channels)), ("bn", nn.BatchNorm2d(out_channels))]
        super().__init__(OrderedDict(layers))


class HighwayNet(StagedNet):
    """stem (conv3x3-BN-ReLU) -> stages of highway layers, each after a transition -> head (pool-fc)."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        plan = layout(spec)
        self.stem = nn.Sequential(OrderedDict(conv=conv3x3(3, plan.stem_channels),
                                              bn=nn.BatchNorm2d(plan.stem_channels), relu=nn.ReLU(inplace=True)))
        self.stage_names = [s.name for s in plan.stages]
        for stage in plan.stages:
            width = stage.block_widths[0]
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            if stage.stride > 1 or stage.in_channels != width:
                layers["transition"] = Transition(stage.in_channels, width, stage.stride)
            for i in range(stage.num_blocks):
                layers[f"block{i + 1}"] = HighwayLayer(width, spec.gate_bias)
            setattr(self, stage.name, nn.Sequential(layers))
        self.head = nn.Sequential(OrderedDict([("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
                                               ("fc", nn.Linear(plan.head_in, spec.num_classes))]))
        he_init(self)
        for m in self.modules():  # after he_init, which zeroes conv biases
            if isinstance(m, HighwayLayer):
                m.reset_gate()
