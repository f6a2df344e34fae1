"""The layers every family shares: conv helpers, the conv-BN-ReLU unit, SE, He init, stem, head, the stage builder.

A family's file defines only its blocks and how its layout maps onto them; the skeleton
(stem -> stage1 .. stageN -> head) and the per-block bookkeeping (widths, strides, the ResDrop schedule) live here.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from explorer.models.spec import ArchSpec, StagePlan, layout

Op = Literal["bn", "relu"]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


def make_op(op: Op, channels: int, *, inplace: bool = True) -> nn.Module:
    """One op of an op sequence by its short name: "bn" (BatchNorm2d on `channels`) or "relu"."""
    if op == "bn":
        return nn.BatchNorm2d(channels)
    if op == "relu":
        return nn.ReLU(inplace=inplace)
    raise ValueError(f"unknown op {op!r}; expected 'bn' or 'relu'")


def named_ops(ops: Iterable[Op], channels: int, suffix: str = "") -> list[tuple[str, nn.Module]]:
    """[("bn" + suffix, BN), ("relu" + suffix, ReLU), ...] for a run of ops on `channels` channels."""
    return [(f"{op}{suffix}", make_op(op, channels)) for op in ops]


class ConvUnit(nn.Sequential):
    """conv (k x k, same padding) -> [dropout] -> [BN] -> ReLU; the conv has a bias only when there is no BN after
    it. Dropout sits between the conv and its BN, as FractalNet's Caffe generator places it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 norm: bool = True, dropout: float = 0.0):
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                         bias=not norm)
        drop = [("dropout", nn.Dropout(dropout))] if dropout > 0 else []
        super().__init__(OrderedDict([("conv", conv)] + drop + named_ops(("bn", "relu") if norm else ("relu",),
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


def he_init(model: nn.Module, zero_init_residual: bool = False, *, fan: Literal["fan_out", "fan_in"] = "fan_out",
            linear: Literal["default", "he"] | float = "default") -> None:
    """He et al. 2015 (1502.01852) init: N(0, 2/fan) for convs, biases 0, BN (and GroupNorm) to (1, 0).

    fan: "fan_out" as torchvision's ResNet and VGG; "fan_in" preserves the forward variance (eq. 10).
    linear: "default" keeps PyTorch's init of fc layers, "he" draws them like the convs, a float s draws
    N(0, s^2) (torchvision's VGG: 0.01). Biases of fc layers are zeroed unless "default".
    Afterwards every module with a `reset_gate()` method (gates whose bias starts negative) re-applies its own
    bias, and with `zero_init_residual` every BN a block lists in `last_bns()` is zeroed.
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
            for bn in m.last_bns() if callable(getattr(m, "last_bns", None)) else ():
                nn.init.zeros_(bn.weight)


@contextlib.contextmanager
def he_initialised(model: nn.Module, zero_init_residual: bool = False, **options) -> Iterator[None]:
    """Build `model`'s modules inside this block: PyTorch's default conv init is skipped and `he_init(model,
    zero_init_residual, **options)` runs at the end, so every conv weight is drawn once."""
    with SkipDefaultConvInit():
        yield
    he_init(model, zero_init_residual, **options)


def make_stem(imagenet: bool, out_channels: int, ops: Sequence[Op] = ("bn", "relu")) -> nn.Sequential:
    """CIFAR: 3x3 conv on 32x32. ImageNet: 7x7/2 conv, then 3x3/2 max-pool (He et al. 2015, Table 1).
    `ops` follow the conv (pre-activation nets leave them to the first unit)."""
    conv = (nn.Conv2d(3, out_channels, 7, stride=2, padding=3, bias=False) if imagenet
            else conv3x3(3, out_channels))
    layers = [("conv", conv)] + named_ops(ops, out_channels)
    if imagenet:
        layers.append(("maxpool", nn.MaxPool2d(3, stride=2, padding=1)))
    return nn.Sequential(OrderedDict(layers))


def make_head(in_channels: int, num_classes: int, ops: Sequence[Op] = ()) -> nn.Sequential:
    """`ops` (e.g. the final BN-ReLU of a pre-activation net), global average pool, fc."""
    return nn.Sequential(OrderedDict(named_ops(ops, in_channels) + [
        ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(in_channels, num_classes))]))


@dataclass(frozen=True)
class BlockSlot:
    """Where one block sits, as the explicit integers a block takes (pycls: every block gets the same arguments)."""

    index: int  # 0-based position in its stage; the module is named f"block{index + 1}"
    number: int  # 1-based position among all the net's blocks: ResDrop's l
    in_channels: int
    out_channels: int
    inner_channels: int  # bottleneck / grouped-conv width (== out_channels for basic blocks)
    stride: int  # the stage's stride on its first block, 1 on the others
    drop_prob: float  # ResDrop (Huang et al. 2016, 1603.09382) linear decay rule: p_l = l / L * p_L


BlockFactory = Callable[[BlockSlot], nn.Module]


def make_stages(stages: Sequence[StagePlan], make_block: BlockFactory, stochastic_depth: float = 0.0
                ) -> list[tuple[StagePlan, OrderedDict[str, nn.Module]]]:
    """Each stage's blocks block1..blockN, made by `make_block(slot)` (torchvision's `_make_layer`, pycls's
    `AnyStage`). A block's input is the stage input for the first block, the previous block's output after."""
    total = sum(s.num_blocks for s in stages)
    built, number = [], 0
    for stage in stages:
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        for i in range(stage.num_blocks):
            number += 1
            slot = BlockSlot(index=i, number=number,
                             in_channels=stage.in_channels if i == 0 else stage.block_widths[i - 1],
                             out_channels=stage.block_widths[i], inner_channels=stage.inner_widths[i],
                             stride=stage.stride if i == 0 else 1, drop_prob=stochastic_depth * number / total)
            blocks[f"block{i + 1}"] = make_block(slot)
        built.append((stage, blocks))
    return built


class StagedNet(nn.Module):
    """stem -> stage1 .. stageN -> head. Subclasses set `stem` and `head` and add stages with `add_stage`."""

    def __init__(self) -> None:
        super().__init__()
        self.stage_names: list[str] = []  # forward's order; DenseNet interleaves its transitions

    def add_stage(self, name: str, module: nn.Module) -> None:
        setattr(self, name, module)
        self.stage_names.append(name)

    def add_stages(self, stages: Sequence[StagePlan], make_block: BlockFactory, stochastic_depth: float = 0.0
                   ) -> None:
        """One nn.Sequential of blocks per stage, named as the layout names the stage."""
        for stage, blocks in make_stages(stages, make_block, stochastic_depth):
            self.add_stage(stage.name, nn.Sequential(blocks))

    def build(self, spec: ArchSpec, make_block: Callable[[ArchSpec, BlockSlot], nn.Module], *,
              stem_ops: Sequence[Op], head_ops: Sequence[Op]) -> None:
        """The usual net: stem (conv, `stem_ops`) -> one Sequential of `make_block(spec, slot)` per stage, with
        ResDrop at spec.stochastic_depth -> head (`head_ops`, pool, fc); He-initialised."""
        plan = layout(spec)
        with he_initialised(self, spec.zero_init_residual):
            self.stem = make_stem(spec.stem == "imagenet", plan.stem_channels, stem_ops)
            self.add_stages(plan.stages, lambda slot: make_block(spec, slot), spec.stochastic_depth)
            self.head = make_head(plan.head_in, spec.num_classes, head_ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.head(x)
