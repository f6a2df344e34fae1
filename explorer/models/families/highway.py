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

from explorer.models.layers import (BlockSlot, ConvUnit, StagedNet, Transition, he_initialised, make_head,
                                    make_stages, make_stem)
from explorer.models.spec import ArchSpec, layout


class HighwayLayer(nn.Module):
    """y = H(x) * T(x) + x * (1 - T(x))."""

    def __init__(self, channels: int, gate_bias: float):
        super().__init__()
        self.transform = ConvUnit(channels, channels)
        self.gate = nn.Conv2d(channels, channels, 3, padding=1, bias=True)
        self.gate_bias = gate_bias

    def reset_gate(self) -> None:
        """b_T back to its configured start (he_init calls this after zeroing every conv bias)."""
        nn.init.constant_(self.gate.bias, self.gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x))
        return self.transform(x) * t + x * (1 - t)

    def extra_repr(self) -> str:
        return f"gate_bias={self.gate_bias}"


def make_block(spec: ArchSpec, slot: BlockSlot) -> HighwayLayer:
    return HighwayLayer(slot.out_channels, spec.gate_bias)


class HighwayNet(StagedNet):
    """stem (conv3x3-BN-ReLU) -> stages of highway layers, each after a transition -> head (pool-fc)."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        plan = layout(spec)
        with he_initialised(self):  # and HighwayLayer.reset_gate: b_T back to spec.gate_bias
            self.stem = make_stem(False, plan.stem_channels)
            for stage, layers in make_stages(plan.stages, lambda slot: make_block(spec, slot)):
                width = stage.block_widths[0]
                if stage.stride > 1 or stage.in_channels != width:
                    # 2x2 max-pool (as the paper's CIFAR nets), then 1x1 conv + BN to the next stage's width
                    transition = Transition(stage.in_channels, width, stage.stride, order=("pool", "conv", "bn"),
                                            pool="max")
                    layers = OrderedDict([("transition", transition), *layers.items()])
                self.add_stage(stage.name, nn.Sequential(layers))
            self.head = make_head(plan.head_in, spec.num_classes)
