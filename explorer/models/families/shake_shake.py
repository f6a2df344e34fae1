"""Shake-Shake (Gastaldi 2017, 1705.07485): two residual branches mixed by random convex weights.

Forward:  y = x + alpha * F1(x) + (1 - alpha) * F2(x)
Backward: the branches receive beta * g and (1 - beta) * g, where beta is a fresh draw ("shake"), 0.5 ("even"),
or alpha itself ("keep"). At test time alpha = 0.5. Each branch is ReLU-conv3x3-BN-ReLU-conv3x3-BN and there is
no ReLU after the addition (author repo, xgastaldi/shake-shake). The downsampling shortcut is the paper's
sec. 2.3: two 1x1 convs on avg-pooled x and on x shifted by one pixel, concatenated, then BN.

With bottleneck blocks (the CIFAR-100 "29 2x4x64d", shakeshake.lua's resnext_bottleneck_C and
shakeshaketable.lua), each branch is a ResNeXt bottleneck, 1x1-BN-ReLU-grouped 3x3 (C groups, the stride on it)-
BN-ReLU-1x1-BN; the shortcut is option B (a 1x1 conv + BN where the width changes, else the identity), the sum is
followed by a ReLU, the stem is conv3x3-BN-ReLU and the head has no BN-ReLU of its own.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from explorer.models.blocks import ResidualUnit, branch_convs, residual_branch
from explorer.models.layers import BlockSlot, StagedNet, conv3x3
from explorer.models.shortcuts import make_shortcut
from explorer.models.spec import ArchSpec


class ShakeFunction(torch.autograd.Function):
    """alpha * a + (1 - alpha) * b forward; beta / (1 - beta) on the way back."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(beta)
        return alpha * a + (1 - alpha) * b

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (beta,) = ctx.saved_tensors
        return beta * grad, (1 - beta) * grad, None, None


class ShakeMix(nn.Module):
    """Draws alpha and beta per the modes and mixes two branches (a module so summaries list it)."""

    def __init__(self, forward_mode: str = "shake", backward_mode: str = "shake", level: str = "image"):
        super().__init__()
        self.forward_mode, self.backward_mode, self.level = forward_mode, backward_mode, level

    def coefficients(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (a.shape[0], 1, 1, 1) if self.level == "image" else (1, 1, 1, 1)
        half = torch.full(shape, 0.5, dtype=a.dtype, device=a.device)
        alpha = torch.rand(shape, dtype=a.dtype, device=a.device) if self.forward_mode == "shake" else half
        if self.backward_mode == "shake":
            beta = torch.rand(shape, dtype=a.dtype, device=a.device)
        else:
            beta = alpha if self.backward_mode == "keep" else half
        return alpha, beta

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return 0.5 * (a + b)
        alpha, beta = self.coefficients(a)
        return ShakeFunction.apply(a, b, alpha, beta)

    def extra_repr(self) -> str:
        return f"forward={self.forward_mode}, backward={self.backward_mode}, level={self.level}"


class ShakeShortcut(nn.Module):
    """Sec. 2.3: concat(conv1x1(avgpool(x)), conv1x1(avgpool(shift(x)))) -> BN, half the channels from each."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.conv1 = nn.Conv2d(in_channels, out_channels // 2, 1, bias=False)
        self.conv2 = nn.Conv2d(in_channels, out_channels - out_channels // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)  # the block input is a sum with no ReLU after it; the author's shortcut starts with one
        path1 = F.avg_pool2d(x, 1, self.stride)
        shifted = F.pad(x, (1, -1, 1, -1))  # one pixel right and down (author's code): the pool sees odd pixels
        path2 = F.avg_pool2d(shifted, 1, self.stride)
        return self.bn(torch.cat([self.conv1(path1), self.conv2(path2)], 1))


def _branch(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("relu1", nn.ReLU(inplace=False)), ("conv1", conv3x3(in_channels, out_channels, stride)),
        ("bn1", nn.BatchNorm2d(out_channels)), ("relu2", nn.ReLU(inplace=True)),
        ("conv2", conv3x3(out_channels, out_channels)), ("bn2", nn.BatchNorm2d(out_channels))]))


def _bottleneck_branch(in_channels: int, inner_channels: int, out_channels: int, stride: int, groups: int,
                       bottleneck_stride: str) -> nn.Sequential:
    """resnext_bottleneck_C's s1/s2: conv1x1-BN-ReLU-grouped conv3x3-BN-ReLU-conv1x1-BN."""
    convs = branch_convs(in_channels, inner_channels, out_channels, stride, True, groups, bottleneck_stride)
    return residual_branch(convs, "original")


class ShakeBlock(ResidualUnit):
    """y = post(h(x) + ShakeMix(F1(x), F2(x))), with optional SE and ResDrop on the mixed branch; post is a ReLU
    with bottleneck branches (ResNeXt's unit), nothing with basic ones."""

    def __init__(self, *, in_channels: int, out_channels: int, stride: int, shortcut: nn.Module, mix: ShakeMix,
                 se_reduction: int = 0, drop_prob: float = 0.0, bottleneck: bool = False, inner_channels: int = 0,
                 groups: int = 1, bottleneck_stride: str = "3x3"):
        super().__init__()
        for name in ("branch1", "branch2"):
            branch = (_bottleneck_branch(in_channels, inner_channels, out_channels, stride, groups, bottleneck_stride)
                      if bottleneck else _branch(in_channels, out_channels, stride))
            setattr(self, name, branch)
        self.mix = mix
        self.add_tail(out_channels, shortcut, se_reduction, drop_prob)
        self.post = nn.ReLU(inplace=True) if bottleneck else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.mix(self.branch1(x), self.branch2(x))
        out = self.tail(out)
        return self.post(self.shortcut(x) + out)

    def last_bns(self) -> list[nn.BatchNorm2d]:
        """Both branches' last BN: zeroed, the block starts as h(x)."""
        return [[m for m in b if isinstance(m, nn.BatchNorm2d)][-1] for b in (self.branch1, self.branch2)]


def make_block(spec: ArchSpec, slot: BlockSlot) -> ShakeBlock:
    mix = ShakeMix(spec.shake_forward, spec.shake_backward, spec.shake_level)
    sizes = dict(in_channels=slot.in_channels, out_channels=slot.out_channels, stride=slot.stride, mix=mix,
                 se_reduction=spec.se_reduction, drop_prob=slot.drop_prob)
    if spec.block == "bottleneck":  # shakeshake.lua's shortcut, type B: a 1x1 conv + BN where the width changes
        return ShakeBlock(**sizes, shortcut=make_shortcut("B", slot.in_channels, slot.out_channels, slot.stride),
                          bottleneck=True, inner_channels=slot.inner_channels, groups=spec.cardinality,
                          bottleneck_stride=spec.bottleneck_stride)
    changes = slot.stride != 1 or slot.in_channels != slot.out_channels
    shortcut = ShakeShortcut(slot.in_channels, slot.out_channels, slot.stride) if changes else nn.Identity()
    return ShakeBlock(**sizes, shortcut=shortcut)


class ShakeShakeNet(StagedNet):
    """stem (conv3x3-BN, 16 channels) -> three stages of shake blocks -> head (ReLU-pool-fc); with bottlenecks
    stem conv3x3-BN-ReLU (64 channels) and head pool-fc, the blocks ending in their own ReLU."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        bottleneck = spec.block == "bottleneck"
        self.build(spec, make_block, stem_ops=("bn", "relu") if bottleneck else ("bn",),
                   head_ops=() if bottleneck else ("relu",))
