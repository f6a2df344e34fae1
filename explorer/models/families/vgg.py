"""VGG (Simonyan & Zisserman 2014, 1409.1556): stacks of 3x3 convs, a 2x2 max-pool after each group.

ImageNet form is torchvision's `vgg11/13/16/19` exactly (no BN; 7x7 adaptive pool; 4096-4096 classifier with
dropout), so the parameter counts agree to the unit. CIFAR form is the common conv3x3-BN-ReLU stack with one
Linear(512, classes) on the 1x1 map left after five pools.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from explorer.models.layers import BlockSlot, ConvUnit, StagedNet, he_initialised, make_head, make_stages
from explorer.models.spec import ArchSpec, layout


def _imagenet_head(in_channels: int, num_classes: int) -> nn.Sequential:
    """torchvision's classifier: 7x7 adaptive pool, fc1-ReLU-dropout, fc2-ReLU-dropout, fc."""
    return nn.Sequential(OrderedDict([
        ("pool", nn.AdaptiveAvgPool2d(7)), ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(in_channels * 49, 4096)), ("relu1", nn.ReLU(inplace=True)), ("dropout1", nn.Dropout()),
        ("fc2", nn.Linear(4096, 4096)), ("relu2", nn.ReLU(inplace=True)), ("dropout2", nn.Dropout()),
        ("fc", nn.Linear(4096, num_classes)),
    ]))


def make_block(spec: ArchSpec, slot: BlockSlot) -> ConvUnit:
    return ConvUnit(slot.in_channels, slot.out_channels, norm=spec.stem != "imagenet")  # torchvision's has no BN


class VGG(StagedNet):
    """stage1 .. stage5 (each: convs, then `pool`) -> head. No stem and no shortcuts anywhere."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        plan = layout(spec)
        with he_initialised(self, linear=0.01):  # as torchvision's VGG: He for convs, N(0, 0.01) for the fc layers
            for stage, layers in make_stages(plan.stages, lambda slot: make_block(spec, slot)):
                layers["pool"] = nn.MaxPool2d(2, stride=2)
                self.add_stage(stage.name, nn.Sequential(layers))
            self.head = (_imagenet_head(plan.head_in, spec.num_classes) if spec.stem == "imagenet"
                         else make_head(plan.head_in, spec.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.head(x)
