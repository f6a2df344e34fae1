"""Residual and plain blocks. Blocks take explicit integers and ready-made shortcut and merge modules.

Activation placements follow Identity Mappings (1603.05027), Fig. 4, written out in `PLACEMENTS` below.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from explorer.models.layers import Op, SqueezeExcitation, conv1x1, conv3x3, make_op

# The residual unit of a basic block, read left to right as in Fig. 4; "add" is the addition of the shortcut.
# What precedes the first conv is the unit's `preact`; what follows "add" is its `post`; a bottleneck's extra
# middle conv is followed by what follows conv1.
PLACEMENTS: dict[str, tuple[str, ...]] = {
    "original":         ("conv", "bn", "relu", "conv", "bn", "add", "relu"),  # (a)
    "bn_after_add":     ("conv", "bn", "relu", "conv", "add", "bn", "relu"),  # (b)
    "relu_before_add":  ("conv", "bn", "relu", "conv", "bn", "relu", "add"),  # (c)
    "relu_only_preact": ("relu", "conv", "bn", "relu", "conv", "bn", "add"),  # (d)
    "full_preact":      ("bn", "relu", "conv", "bn", "relu", "conv", "add"),  # (e)
}
PREACT = tuple(name for name, ops in PLACEMENTS.items() if ops[0] != "conv")


def placement_parts(activation: str) -> tuple[tuple[Op, ...], tuple[Op, ...], tuple[Op, ...], tuple[Op, ...]]:
    """Fig. 4 cut into (pre: before conv1, inner: after each conv but the last, last: after the last conv before
    the addition, post: after the addition)."""
    if activation not in PLACEMENTS:
        raise ValueError(f"activation must be one of {sorted(PLACEMENTS)}; got {activation!r}")
    ops = PLACEMENTS[activation]
    first, second, add = ops.index("conv"), ops.index("conv", ops.index("conv") + 1), ops.index("add")
    return ops[:first], ops[first + 1:second], ops[second + 1:add], ops[add + 1:]


def _run(ops: Sequence[Op], channels: int, *, on_input: bool = False) -> nn.Module:
    """A run of ops as one module: nothing -> Identity, one op -> itself, several -> a named Sequential.
    A ReLU on the block input is not in place: the shortcut still reads that input."""
    if not ops:
        return nn.Identity()
    if len(ops) == 1:
        return make_op(ops[0], channels, inplace=not on_input)
    return nn.Sequential(OrderedDict((op, make_op(op, channels, inplace=not (on_input and i == 0)))
                                     for i, op in enumerate(ops)))


def branch_convs(in_channels: int, inner_channels: int, out_channels: int, stride: int, bottleneck: bool,
                 groups: int = 1, bottleneck_stride: str = "3x3") -> list[tuple[str, nn.Conv2d]]:
    """F's convs: basic (3x3, 3x3) or bottleneck (1x1, 3x3 with the groups, 1x1). A bottleneck's stride is on the
    3x3 ("3x3", torchvision's V1.5) or on the first 1x1 ("1x1", the authors' CIFAR code and the original ResNet);
    see AUTHORS_BOTTLENECK_STRIDE in explorer.models.fields."""
    if bottleneck:
        on_1x1 = bottleneck_stride == "1x1"
        return [("conv1", conv1x1(in_channels, inner_channels, stride if on_1x1 else 1)),
                ("conv2", conv3x3(inner_channels, inner_channels, 1 if on_1x1 else stride, groups)),
                ("conv3", conv1x1(inner_channels, out_channels))]
    return [("conv1", conv3x3(in_channels, inner_channels, stride)),
            ("conv2", conv3x3(inner_channels, out_channels))]


def residual_branch(convs: list[tuple[str, nn.Conv2d]], activation: str, dropout: float = 0.0) -> nn.Sequential:
    """The residual function F: the convs with BN and ReLU where `PLACEMENTS[activation]` puts them, named
    conv1, bn1, relu1, ... (an op is numbered after the conv it follows)."""
    _, inner, last, _ = placement_parts(activation)
    layers: list[tuple[str, nn.Module]] = []
    for i, (name, conv) in enumerate(convs, start=1):
        final = i == len(convs)
        if final and i > 1 and dropout > 0:
            layers.append(("dropout", nn.Dropout(dropout)))  # WRN: between the convs of a block
        layers.append((name, conv))
        layers += [(f"{op}{i}", make_op(op, conv.out_channels)) for op in (last if final else inner)]
    return nn.Sequential(OrderedDict(layers))


class ResidualUnit(nn.Module):
    """What every residual block shares after its branch F: optional SE and ResDrop on F, and the shortcut h."""

    def add_tail(self, out_channels: int, shortcut: nn.Module, se_reduction: int, drop_prob: float) -> None:
        """Register se, stochastic_depth and shortcut, in that order, after the branch's modules."""
        self.se = SqueezeExcitation(out_channels, se_reduction) if se_reduction else nn.Identity()
        self.stochastic_depth = StochasticDepth(drop_prob, "batch") if drop_prob else nn.Identity()
        self.shortcut = shortcut

    def tail(self, out: torch.Tensor) -> torch.Tensor:
        """F(x) after SE and ResDrop: what is added to the shortcut."""
        return self.stochastic_depth(self.se(out))

    def last_bns(self) -> list[nn.BatchNorm2d]:
        """The BN after each branch's last conv, which zero_init_residual sets to 0 so the block starts as h(x)
        (none in pre-activation, whose branch ends in a conv)."""
        modules = list(self.residual)
        last_conv = max(i for i, m in enumerate(modules) if isinstance(m, nn.Conv2d))
        return [m for m in modules[last_conv:] if isinstance(m, nn.BatchNorm2d)][:1]


class ResidualBlock(ResidualUnit):
    """Residual unit: y = post(merge(F(pre(x)), h(x))), with F basic (3x3, 3x3) or bottleneck (1x1, 3x3, 1x1)."""

    def __init__(self, *, in_channels: int, inner_channels: int, out_channels: int, stride: int,
                 bottleneck: bool, groups: int, shortcut: nn.Module, merge: nn.Module, activation: str,
                 dropout: float = 0.0, se_reduction: int = 0, drop_prob: float = 0.0, shared_preact: bool = False,
                 bottleneck_stride: str = "3x3"):
        super().__init__()
        pre, _, _, post = placement_parts(activation)
        self.activation = activation
        self.preact = _run(pre, in_channels, on_input=True)
        # Identity Mappings sec. 4.1: the first unit and projection shortcuts take the pre-activated input.
        self.shared_preact = shared_preact and activation in PREACT
        convs = branch_convs(in_channels, inner_channels, out_channels, stride, bottleneck, groups, bottleneck_stride)
        self.residual = residual_branch(convs, activation, dropout)
        self.add_tail(out_channels, shortcut, se_reduction, drop_prob)
        self.merge = merge
        self.post = _run(post, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.preact(x)
        identity = self.shortcut(pre if self.shared_preact else x)
        out = self.residual(pre)
        out = self.tail(out)
        out = self.merge(out, identity, x)
        return self.post(out)


class PlainBlock(nn.Module):
    """Plain unit (He et al. 2015 baseline): y = ReLU(F(x)), the same stack with no shortcut."""

    def __init__(self, *, in_channels: int, inner_channels: int, out_channels: int, stride: int,
                 bottleneck: bool, groups: int = 1, bottleneck_stride: str = "3x3"):
        super().__init__()
        convs = branch_convs(in_channels, inner_channels, out_channels, stride, bottleneck, groups, bottleneck_stride)
        self.residual = residual_branch(convs, "original")
        self.post = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.residual(x))
