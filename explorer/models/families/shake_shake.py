"""Shake-Shake (Gastaldi 2017, 1705.07485): two residual branches mixed by random convex weights.

Forward:  y = x + alpha * F1(x) + (1 - alpha) * F2(x)
Backward: the branches receive beta * g and (1 - beta) * g, where beta is a fresh draw ("shake"), 0.5 ("even"),
or alpha itself ("keep"). At test time alpha = 0.5. Each branch is ReLU-conv3x3-BN-ReLU-conv3x3-BN and there is
no ReLU after the addition (author repo, xgastaldi/shake-shake). The downsampling shortcut is the paper's
sec. 2.3: two 1x1 convs on avg-pooled x and on x shifted by one pixel, concatenated, then BN.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from explorer.models.blocks import ResidualUnit
from explorer.models.layers import BlockSlot, StagedNet, conv3x3
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


class ShakeBlock(ResidualUnit):
    """y = h(x) + ShakeMix(F1(x), F2(x)), with optional SE and ResDrop on the mixed branch."""

    def __init__(self, *, in_channels: int, out_channels: int, stride: int, shortcut: nn.Module, mix: ShakeMix,
                 se_reduction: int = 0, drop_prob: float = 0.0):
        super().__init__()
        self.branch1 = _branch(in_channels, out_channels, stride)
        self.branch2 = _branch(in_channels, out_channels, stride)
        self.mix = mix
        self.add_tail(out_channels, shortcut, se_reduction, drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.mix(self.branch1(x), self.branch2(x))
        out = self.tail(out)
        return self.shortcut(x) + out

    def last_bns(self) -> list[nn.BatchNorm2d]:
        """Both branches' last BN: zeroed, the block starts as h(x)."""
        return [self.branch1.bn2, self.branch2.bn2]


def make_block(spec: ArchSpec, slot: BlockSlot) -> ShakeBlock:
    changes = slot.stride != 1 or slot.in_channels != slot.out_channels
    shortcut = ShakeShortcut(slot.in_channels, slot.out_channels, slot.stride) if changes else nn.Identity()
    return ShakeBlock(in_channels=slot.in_channels, out_channels=slot.out_channels, stride=slot.stride,
                      shortcut=shortcut, mix=ShakeMix(spec.shake_forward, spec.shake_backward, spec.shake_level),
                      se_reduction=spec.se_reduction, drop_prob=slot.drop_prob)


class ShakeShakeNet(StagedNet):
    """stem (conv3x3-BN, 16 channels) -> three stages of shake blocks -> head (ReLU-pool-fc)."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        self.build(spec, make_block, stem_ops=("bn",), head_ops=("relu",))
