"""DenseNet (Huang et al. 2017, 1608.06993): each layer sees the concatenation of every earlier map in its block.

CIFAR: 3x3 conv stem (16 channels, or 2k for DenseNet-BC) -> three dense blocks with transitions -> BN-ReLU-
pool-fc. ImageNet (torchvision's densenet121/169/201 exactly): 7x7/2 conv + 3x3/2 max-pool stem, four blocks,
bottleneck size 4, a final BN. Composite function H = BN-ReLU-conv (sec. 3, "Composite function").
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from explorer.models.families.resnet import StagedNet
from explorer.models.layers import he_init
from explorer.models.spec import ArchSpec, layout


def _bn_relu_conv(in_channels: int, out_channels: int, kernel: int, dropout: float, n: int) -> list:
    layers = [(f"bn{n}", nn.BatchNorm2d(in_channels)), (f"relu{n}", nn.ReLU(inplace=True)),
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


class Transition(nn.Sequential):
    """Between dense blocks: BN-ReLU-conv1x1 to floor(theta * m) channels, then 2x2 average pool."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0):
        layers = _bn_relu_conv(in_channels, out_channels, 1, dropout, 1)
        layers = [(name.rstrip("1"), m) for name, m in layers]
        super().__init__(OrderedDict(layers + [("pool", nn.AvgPool2d(2, stride=2))]))


def _stem(imagenet: bool, out_channels: int) -> nn.Sequential:
    if imagenet:
        return nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(3, out_channels, 7, stride=2, padding=3, bias=False)),
            ("bn", nn.BatchNorm2d(out_channels)), ("relu", nn.ReLU(inplace=True)),
            ("maxpool", nn.MaxPool2d(3, stride=2, padding=1))]))
    return nn.Sequential(OrderedDict(conv=nn.Conv2d(3, out_channels, 3, padding=1, bias=False)))


class DenseNet(StagedNet):
    """stem -> stage1, transition1, stage2, ... -> head (BN-ReLU-pool-fc)."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        plan = layout(spec)
        bottleneck = spec.block == "bottleneck"
        self.stem = _stem(spec.stem == "imagenet", plan.stem_channels)
        self.stage_names: list[str] = []
        for i, stage in enumerate(plan.stages):
            layers, width = OrderedDict(), stage.in_channels
            for j in range(stage.num_blocks):
                layers[f"block{j + 1}"] = DenseLayer(in_channels=width, growth_rate=spec.growth_rate,
                                                     inner_channels=stage.inner_widths[j], bottleneck=bottleneck,
                                                     dropout=spec.dropout)
                width = stage.block_widths[j]
            setattr(self, stage.name, nn.Sequential(layers))
            self.stage_names.append(stage.name)
            if i + 1 < len(plan.stages):
                name = f"transition{i + 1}"
                setattr(self, name, Transition(width, plan.stages[i + 1].in_channels, spec.dropout))
                self.stage_names.append(name)
        self.head = nn.Sequential(OrderedDict([
            ("bn", nn.BatchNorm2d(plan.head_in)), ("relu", nn.ReLU(inplace=True)),
            ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
            ("fc", nn.Linear(plan.head_in, spec.num_classes))]))
        he_init(self)
