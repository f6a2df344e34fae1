"""The layers every family shares: conv helpers, the conv-BN-ReLU unit, SE, He init, stem, head, the stage builder.

A family's file defines only its blocks and how its layout maps onto them; the skeleton
(stem -> stage1 .. stageN -> head) and the per-block bookkeeping (widths, strides, the ResDrop schedule) live here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn
from torch.overrides import TorchFunctionMode


Op = Literal["bn", "relu", "dropout"]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


def make_op(op: Op, channels: int, *, inplace: bool = True, dropout: float = 0.0) -> nn.Module:
    """One non-conv op by its short name: "bn" (BatchNorm2d), "relu", "dropout" (rate `dropout`)."""
    if op == "bn":
        return nn.BatchNorm2d(channels)
    if op == "relu":
        return nn.ReLU(inplace=inplace)
    if op == "dropout":
        return nn.Dropout(dropout)
    raise ValueError(f"unknown op {op!r}; expected 'bn', 'relu' or 'dropout'")


def named_ops(ops: Iterable[Op], channels: int, suffix: str = "") -> list[tuple[str, nn.Module]]:
    """[("bn" + suffix, BN), ("relu" + suffix, ReLU), ...] for a run of ops on `channels` channels."""
    return [(f"{op}{suffix}", make_op(op, channels)) for op in ops]


class ConvUnit(nn.Sequential):
    """conv (k x k, same padding) -> [BN] -> ReLU; the conv has a bias only when there is no BN after it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 norm: bool = True):
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                         bias=not norm)
        super().__init__(OrderedDict([("conv", conv)] + named_ops(("bn", "relu") if norm else ("relu",),
                                                                   out_channels)))


class Transition(nn.Sequential):
    """Between stages: a 1x1 conv to the next width and a pool to the next size, in the family's order.

    DenseNet: BN-ReLU-conv1x1-[dropout]-avgpool (sec. 3, "Transition layers").
    Highway: maxpool-conv1x1-BN (a highway layer needs input and output of one shape).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, *,
                 order: tuple[str, ...] = ("bn", "relu", "conv", "pool"), pool: Literal["avg", "max"] = "avg",
                 dropout: float = 0.0):
        self.in_channels, self.out_channels, self.stride, self.pool_kind = in_channels, out_channels, stride, pool
        layers: list[tuple[str, nn.Module]] = []
        channels = in_channels
        for op in order:
            if op == "conv":
                layers.append(("conv", conv1x1(in_channels, out_channels)))
                channels = out_channels
                if dropout > 0:
                    layers.append(("dropout", nn.Dropout(dropout)))
            elif op == "pool":
                if stride > 1:
                    layers.append(("pool", nn.AvgPool2d(stride) if pool == "avg" else nn.MaxPool2d(stride)))
            else:
                layers.append((op, make_op(op, channels)))
        super().__init__(OrderedDict(layers))


class SqueezeExcitation(nn.Module):
    """SE (Hu et al. 2018): x * sigmoid(W2 relu(W1 avgpool(x))), reduction r."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        squeezed = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.relu(self.fc1(s))
        return x * torch.sigmoid(self.fc2(s))


class SkipDefaultConvInit(TorchFunctionMode):
    """Skip nn.Conv2d's default weight init (kaiming_uniform_ on a 4-D weight): `he_init` overwrites every conv
    weight right after, and drawing it twice was ~40% of building a wide net (68M draws for ResNeXt-29 16x64d)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is nn.init.kaiming_uniform_:
            weight = kwargs.get("tensor", args[0] if args else None)
            if weight is not None and weight.dim() == 4:
                return weight
        return func(*args, **kwargs)


def he_init(model: nn.Module, zero_init_residual: bool = False, *,
            fan: Literal["fan_out", "fan_in"] = "fan_out", linear: Literal["default", "he"] | float = "default") -> None:
    """He et al. 2015 (1502.01852) init: N(0, 2/fan) for convs, biases 0, BN (and GroupNorm) to (1, 0).

    fan: "fan_out" as torchvision's ResNet and VGG; "fan_in" preserves the forward variance (eq. 10).
    linear: "default" keeps PyTorch's init of fc layers, "he" draws them like the convs, a float s draws
    N(0, s^2) (torchvision's VGG: 0.01). Biases of fc layers are zeroed unless "default".
    Afterwards every module with a `reset_gate()` method (gates whose bias starts negative) re-applies its own
    bias, and with `zero_init_residual` every block's `last_bn()` is zeroed.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d) or (isinstance(m, nn.Linear) and linear == "he"):
            nn.init.kaiming_normal_(m.weight, mode=fan, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and not isinstance(linear, str):
            nn.init.normal_(m.weight, 0, linear)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in model.modules():
        if callable(getattr(m, "reset_gate", None)):
            m.reset_gate()
    if zero_init_residual:
        # Goyal et al. 2017 (1706.02677): each block starts as the identity; +0.2-0.3% on ImageNet.
        for m in model.modules():
            bn = m.last_bn() if callable(getattr(m, "last_bn", None)) else None
            if bn is not None:
                nn.init.zeros_(bn.weight)
