"""The two other ResNeXt block forms (Xie et al. 2017, Fig. 3), equivalent to the grouped conv of Fig. 3(c).

  split  (Fig. 3a, split-transform-merge): sum over C paths of 1x1(d) - 3x3(d) - 1x1(out), then BN
  concat (Fig. 3b, early concatenation):   concat over C paths of 1x1(d) - 3x3(d), then one 1x1(out), BN
  grouped (Fig. 3c): 1x1(C*d) - grouped 3x3 - 1x1(out), the `ResidualBlock` in blocks.py

All three hold exactly the same parameters; `copy_weights_from_grouped` maps a grouped block's weights into the
other two so a lesson can show the outputs agree. BN after each path's 1x1 and 3x3 is per channel, so splitting
it by path changes nothing; the last BN must follow the sum (3a) or the shared 1x1 (3b) to stay equivalent.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from explorer.models.blocks import ResidualBlock, ResidualUnit
from explorer.models.layers import conv1x1, conv3x3


def _path(in_channels: int, width: int, out_channels: int | None, stride: int, bottleneck_stride: str) -> nn.Sequential:
    on_1x1 = bottleneck_stride == "1x1"  # the grouped block's choice, so the forms stay equivalent
    layers: list[tuple[str, nn.Module]] = [
        ("conv1", conv1x1(in_channels, width, stride if on_1x1 else 1)), ("bn1", nn.BatchNorm2d(width)),
        ("relu1", nn.ReLU(inplace=True)), ("conv2", conv3x3(width, width, 1 if on_1x1 else stride)),
        ("bn2", nn.BatchNorm2d(width)), ("relu2", nn.ReLU(inplace=True))]
    if out_channels is not None:
        layers.append(("conv3", conv1x1(width, out_channels)))
    return nn.Sequential(OrderedDict(layers))


class ResNeXtPathBlock(ResidualUnit):
    """y = ReLU(BN(aggregate of C paths) + h(x)): Fig. 3(a) when form == "split", Fig. 3(b) when "concat"."""

    def __init__(self, form: str, *, in_channels: int, inner_channels: int, out_channels: int, stride: int,
                 groups: int, shortcut: nn.Module, se_reduction: int = 0, drop_prob: float = 0.0,
                 bottleneck_stride: str = "3x3"):
        super().__init__()
        if form not in ("split", "concat"):
            raise ValueError(f"form must be 'split' or 'concat'; got {form!r}")
        if inner_channels % groups:
            raise ValueError(f"{groups} paths must divide the inner width {inner_channels}")
        self.form = form
        width = inner_channels // groups
        split = form == "split"
        self.paths = nn.ModuleList(_path(in_channels, width, out_channels if split else None, stride,
                                         bottleneck_stride) for _ in range(groups))
        self.conv3 = nn.Identity() if split else conv1x1(inner_channels, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.add_tail(out_channels, shortcut, se_reduction, drop_prob)
        self.post = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [path(x) for path in self.paths]
        out = torch.stack(outputs).sum(0) if self.form == "split" else self.conv3(torch.cat(outputs, 1))
        out = self.bn3(out)
        out = self.tail(out)
        return self.post(out + self.shortcut(x))

    def last_bns(self) -> list[nn.BatchNorm2d]:
        return [self.bn3]


def make_resnext_block(form: str, *, in_channels: int, inner_channels: int, out_channels: int, stride: int,
                       groups: int, shortcut: nn.Module, se_reduction: int = 0,
                       drop_prob: float = 0.0, bottleneck_stride: str = "3x3") -> nn.Module:
    """A ResNeXt bottleneck in the "split" or "concat" form; the "grouped" form is blocks.ResidualBlock."""
    return ResNeXtPathBlock(form, in_channels=in_channels, inner_channels=inner_channels, out_channels=out_channels,
                            stride=stride, groups=groups, shortcut=shortcut, se_reduction=se_reduction,
                            drop_prob=drop_prob, bottleneck_stride=bottleneck_stride)


def _copy_bn(source: nn.BatchNorm2d, target: nn.BatchNorm2d, channels: slice) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(target, name).copy_(getattr(source, name)[channels])
    target.num_batches_tracked.copy_(source.num_batches_tracked)


@torch.no_grad()
def copy_weights_from_grouped(grouped_block: ResidualBlock, other_block: ResNeXtPathBlock) -> None:
    """Give a split/concat block the weights of a grouped block, so that both compute the same function.

    Group g of the grouped 1x1 and 3x3 convs (output channels g*d .. (g+1)*d) becomes path g; the last 1x1's
    input channels are split the same way (3a) or kept whole (3b).
    """
    r = grouped_block.residual
    width = r.conv2.out_channels // len(other_block.paths)
    for g, path in enumerate(other_block.paths):
        part = slice(g * width, (g + 1) * width)
        path.conv1.weight.copy_(r.conv1.weight[part])
        path.conv2.weight.copy_(r.conv2.weight[part])  # a grouped conv's weight is (out, in/groups, k, k)
        _copy_bn(r.bn1, path.bn1, part)
        _copy_bn(r.bn2, path.bn2, part)
        if other_block.form == "split":
            path.conv3.weight.copy_(r.conv3.weight[:, part])
    if other_block.form == "concat":
        other_block.conv3.weight.copy_(r.conv3.weight)
    _copy_bn(r.bn3, other_block.bn3, slice(None))
    other_block.shortcut.load_state_dict(grouped_block.shortcut.state_dict())
    other_block.se.load_state_dict(grouped_block.se.state_dict())
