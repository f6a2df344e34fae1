"""VGG (Simonyan & Zisserman 2014, 1409.1556): stacks of 3x3 convs, a 2x2 max-pool after each group.

ImageNet form is torchvision's `vgg11/13/16/19` exactly (no BN; 7x7 adaptive pool; 4096-4096 classifier with
dropout), so the parameter counts agree to the unit. CIFAR form is the common conv3x3-BN-ReLU stack with one
Linear(512, classes) on the 1x1 map left after five pools.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from explorer.models.spec import ArchSpec, layout


class ConvUnit(nn.Sequential):
    """conv3x3 -> [BN] -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, norm: bool):
        layers: list[tuple[str, nn.Module]] = [("conv", nn.Conv2d(in_channels, out_channels, 3, padding=1,
                                                                  bias=not norm))]
        if norm:
            layers.append(("bn", nn.BatchNorm2d(out_channels)))
        layers.append(("relu", nn.ReLU(inplace=True)))
        super().__init__(OrderedDict(layers))


def _imagenet_head(in_channels: int, num_classes: int) -> nn.Sequential:
    """torchvision's classifier: 7x7 adaptive pool, fc1-ReLU-dropout, fc2-ReLU-dropout, fc."""
    return nn.Sequential(OrderedDict([
        ("pool", nn.AdaptiveAvgPool2d(7)), ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(in_channels * 49, 4096)), ("relu1", nn.ReLU(inplace=True)), ("dropout1", nn.Dropout()),
        ("fc2", nn.Linear(4096, 4096)), ("relu2", nn.ReLU(inplace=True)), ("dropout2", nn.Dropout()),
        ("fc", nn.Linear(4096, num_classes)),
    ]))


def _cifar_head(in_channels: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
                                      ("fc", nn.Linear(in_channels, num_classes))]))


class VGG(nn.Module):
    """stage1 .. stage5 (each: convs, then `pool`) -> head. No shortcuts anywhere."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        plan = layout(spec)
        imagenet = spec.stem == "imagenet"
        self.stage_names = [s.name for s in plan.stages]
        in_channels = plan.stem_channels
        for stage in plan.stages:
            units: OrderedDict[str, nn.Module] = OrderedDict()
            for i, width in enumerate(stage.block_widths):
                units[f"block{i + 1}"] = ConvUnit(in_channels, width, norm=not imagenet)
                in_channels = width
            units["pool"] = nn.MaxPool2d(2, stride=2)
            setattr(self, stage.name, nn.Sequential(units))
        head = _imagenet_head if imagenet else _cifar_head
        self.head = head(in_channels, spec.num_classes)
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.head(x)


def _init(model: nn.Module) -> None:
    """He init for convs (as torchvision's VGG), N(0, 0.01) for the fc layers, BN to (1, 0)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
