"""build_model: the one way to turn an ArchSpec into a torch module."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from explorer.models.cost import check_budget, paused_gc
from explorer.models.families.densenet import DenseNet
from explorer.models.families.fractalnet import FractalNet
from explorer.models.families.highway import HighwayNet
from explorer.models.families.pyramidnet import PyramidNet
from explorer.models.families.resnet import ResNet
from explorer.models.families.shake_shake import ShakeShakeNet
from explorer.models.spec import ArchSpec, validate
from explorer.models.families.vgg import VGG

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


def build_model(spec: ArchSpec, device: str | torch.device = "cpu") -> nn.Module:
    """Validate the spec, refuse designs over the budget, then build it on `device` (He-initialised)."""
    validate(spec)
    check_budget(spec)
    return build_unchecked(spec, device)


def build_unchecked(spec: ArchSpec, device: str | torch.device = "cpu") -> nn.Module:
    """Build without the budget check; for `cost` itself, which builds on the meta device."""
    device = torch.device(device)
    with paused_gc():
        if device == torch.get_default_device():  # the device context would only add ~30% to building ResNet-1202
            return FAMILY_BUILDERS[spec.family](spec)
        with device:
            return FAMILY_BUILDERS[spec.family](spec)
