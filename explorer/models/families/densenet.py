"""DenseNet (Huang et al. 2017, 1608.06993): each layer sees the concatenation of every earlier map in its block.

CIFAR: 3x3 conv stem (16 channels, or 2k for DenseNet-BC) -> three dense blocks with transitions -> BN-ReLU-
pool-fc. ImageNet (torchvision's densenet121/169/201 exactly): 7x7/2 conv + 3x3/2 max-pool stem, four blocks,
bottleneck size 4, a final BN. Composite function H = BN-ReLU-conv (sec. 3, "Composite function").
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from explorer.models.layers import (BlockSlot, StagedNet, Transition, he_initialised, make_head, make_stages,
                                    make_stem, named_ops)
from explorer.models.spec import ArchSpec, layout


def _bn_relu_conv(in_channels: int, out_channels: int, kernel: int, dropout: float, n: int) -> list:
    layers = named_ops(("bn", "relu"), in_channels, suffix=str(n)) + [
        (f"conv{n}", nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False))]
    if dropout > 0:  # sec. 4.2: dropout 0.2 after each conv when training without augmentation
        layers.append((f"dropout{n}", nn.Dropout(dropout)))
    return layers


class DenseLayer(nn.Module):
    """y = concat(x, H(x)); H = BN-ReLU-conv3x3(k), or with B: BN-ReLU-conv1x1(bn_size*k)-BN-ReLU-conv3x3(k)."""

    def __init__(self, *, in_channels: int, growth_rate: int, inner_channels: int, bottleneck: bool,
                 dropout: float = 0.0):
        super().__init__()
        if bottleneck:
            layers = (_bn_relu_conv(in_channels, inner_channels, 1, dropout, 1)
                      + _bn_relu_conv(inner_channels, growth_rate, 3, dropout, 2))
        else:
            layers = _bn_relu_conv(in_channels, growth_rate, 3, dropout, 1)
        self.residual = nn.Sequential(OrderedDict(layers))  # "residual" keeps summaries uniform across families

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.residual(x)], 1)


def make_block(spec: ArchSpec, slot: BlockSlot) -> DenseLayer:
    return DenseLayer(in_channels=slot.in_channels, growth_rate=spec.growth_rate, inner_channels=slot.inner_channels,
                      bottleneck=spec.block == "bottleneck", dropout=spec.dropout)


class DenseNet(StagedNet):
    """stem -> stage1, transition1, stage2, ... -> head (BN-ReLU-pool-fc)."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        plan = layout(spec)
        with he_initialised(self):
            imagenet = spec.stem == "imagenet"
            self.stem = make_stem(imagenet, plan.stem_channels, ("bn", "relu") if imagenet else ())
            stages = make_stages(plan.stages, lambda slot: make_block(spec, slot))
            for i, (stage, layers) in enumerate(stages):
                self.add_stage(stage.name, nn.Sequential(layers))
                if i + 1 < len(stages):  # BN-ReLU-conv1x1 to floor(theta * m) channels, 2x2 average pool
                    self.add_stage(f"transition{i + 1}", Transition(
                        stage.out_channels, plan.stages[i + 1].in_channels, 2, dropout=spec.dropout))
            self.head = make_head(plan.head_in, spec.num_classes, ("bn", "relu"))
