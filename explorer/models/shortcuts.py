"""Shortcut paths and the merges that join them with the residual branch F.

Every shortcut is a named module (never None or a lambda) so that summaries and graphs can label it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ZeroPadShortcut(nn.Module):
    """Option A (He et al. 2015): x subsampled by the stride, extra channels filled with zeros. No parameters."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, subsample: str = "slice"):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"zero padding cannot shrink {in_channels} channels to {out_channels}")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.subsample = subsample  # "slice" (ResNet: x[:, :, ::2, ::2]) or "avgpool" (PyramidNet)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            if self.subsample == "avgpool":
                x = F.avg_pool2d(x, self.stride, ceil_mode=True)
            else:
                x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_channels - self.in_channels
        return F.pad(x, (0, 0, 0, 0, 0, extra)) if extra else x

    def extra_repr(self) -> str:
        return f"{self.in_channels}->{self.out_channels}, stride={self.stride}, {self.subsample}"


class ProjectionShortcut(nn.Module):
    """Options B/C (He et al. 2015, eq. 2): W_s x, a strided 1x1 conv, with BN unless `norm=False`.
    The conv has a bias only when asked (`bias`; default: when there is no BN)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm: bool = True,
                 bias: bool | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.stride, self.norm = in_channels, out_channels, stride, norm
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=not norm if bias is None else bias)
        self.bn = nn.BatchNorm2d(out_channels) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class DropoutShortcut(nn.Module):
    """Identity Mappings Table 1 'dropout shortcut': dropout on the shortcut path (p=0.5 fails to converge)."""

    def __init__(self, inner: nn.Module, p: float):
        super().__init__()
        self.inner = inner
        self.dropout = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.inner(x))


class AddMerge(nn.Module):
    """y = lambda_s * h(x) + lambda_f * F(x); (1, 1) is the original residual unit."""

    def __init__(self, shortcut_scale: float = 1.0, residual_scale: float = 1.0):
        super().__init__()
        self.shortcut_scale, self.residual_scale = shortcut_scale, residual_scale

    def forward(self, residual: torch.Tensor, identity: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if (self.shortcut_scale, self.residual_scale) == (1.0, 1.0):
            return residual + identity
        return self.residual_scale * residual + self.shortcut_scale * identity

    def extra_repr(self) -> str:
        return f"shortcut_scale={self.shortcut_scale}, residual_scale={self.residual_scale}"


class GateMerge(nn.Module):
    """Identity Mappings Table 1 gating: g(x) = sigmoid(W_g x + b_g), a strided 1x1 conv of the block input.

    exclusive: y = g * F(x) + (1 - g) * h(x)   (Highway-style; b_g = -6 works)
    shortcut-only: y = F(x) + (1 - g) * h(x)
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, bias_init: float, exclusive: bool):
        super().__init__()
        self.gate = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=True)
        self.bias_init = bias_init
        self.exclusive = exclusive
        self.reset_gate()

    def reset_gate(self) -> None:
        """b_g back to its configured start (he_init calls this after zeroing every conv bias)."""
        nn.init.constant_(self.gate.bias, self.bias_init)

    def forward(self, residual: torch.Tensor, identity: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.gate(x))
        if self.exclusive:
            return g * residual + (1 - g) * identity
        return residual + (1 - g) * identity

    def extra_repr(self) -> str:
        return f"exclusive={self.exclusive}"


def make_shortcut(option: str, in_channels: int, out_channels: int, stride: int, norm: bool = True) -> nn.Module:
    """He et al. 2015 options: A zero-pad on shape change, B project on shape change, C project always.
    `norm=False`: the projection is a bare 1x1 conv (no BN, no bias), as pre-activation nets build it."""
    changes = stride != 1 or in_channels != out_channels
    if option == "C" or (option == "B" and changes):
        return ProjectionShortcut(in_channels, out_channels, stride, norm=norm, bias=False)
    if option == "A" and changes:
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return nn.Identity()
