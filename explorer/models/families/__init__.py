"""One module per network family: its blocks and its network (torch); the shared skeleton is in
explorer.models.layers. The family's plain-data facts (depth rule, layout, rules, canonical design) are its plan,
explorer.models.plans, which the network reads through `layout(spec)`.

`FAMILY_BUILDERS`: `ArchSpec.family` -> the network class, built from the spec (one line per family).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from explorer.models.families.densenet import DenseNet
from explorer.models.families.fractalnet import FractalNet
from explorer.models.families.highway import HighwayNet
from explorer.models.families.pyramidnet import PyramidNet
from explorer.models.families.resnet import ResNet
from explorer.models.families.shake_shake import ShakeShakeNet
from explorer.models.families.vgg import VGG
from explorer.models.spec import ArchSpec

FAMILY_BUILDERS: dict[str, Callable[[ArchSpec], nn.Module]] = {
    "plain": ResNet,
    "resnet": ResNet,
    "wrn": ResNet,
    "resnext": ResNet,
    "densenet": DenseNet,
    "vgg": VGG,
    "pyramidnet": PyramidNet,
    "shake_shake": ShakeShakeNet,
    "highway": HighwayNet,
    "fractalnet": FractalNet,
}
