"""FractalNet (Larsson et al. 2016, 1605.07648): self-similar blocks of conv columns joined by element-wise means.

  f_1(z) = conv(z)            f_{C+1}(z) = join(f_C(f_C(z)), conv(z))

A block with C columns has 2^C - 1 conv units (conv3x3-BN-ReLU); its deepest column has 2^(C-1) of them. B blocks,
each followed by a 2x2 max-pool, make a net of B * 2^(C-1) conv layers + 1 fc (depth 20 for C=3, B=5).
The join averages its inputs; the innermost join of f_{C+1} is folded into the outer one, so the block ends in a
single C-way join (Fig. 1).

Drop-path (sec. 3.1), training only:
  local:  each join drops each input with probability p, keeping at least one;
  global: a fraction of mini-batches use one random column for the whole network.
Both draw from torch's generators (seeded by torch.manual_seed, as training does), never Python's `random`, so
two trainings with one seed drop the same paths.

Widths 64, 128, 256, 512, 512. A 1x1 conv raises the channels at the start of each block so every 3x3 conv in it
has the block's width; this gives the printed 38.6M (38,647,114). That conv is this project's reading (the
authors' Caffe generator feeds the block input to each column's first conv, 33.7M): see plans/fractalnet.py.
Dropout (the paper's "drop-path + dropout" rows) follows every 3x3 conv, before its BN, at each block's rate
(plans.fractalnet.dropout_rates: 0, 0.1, 0.2, 0.3, 0.4 for fractalnet20_dropout).
"""

from __future__ import annotations

import torch
from torch import nn

from explorer.models.layers import ConvUnit, conv1x1, he_initialised, make_head
from explorer.models.plans.fractalnet import dropout_rates
from explorer.models.spec import ArchSpec, layout


class Join(nn.Module):
    """Element-wise mean of the inputs; in training, local drop-path drops each input with probability p."""

    def __init__(self, drop_prob: float):
        super().__init__()
        self.drop_prob = drop_prob

    def kept(self, count: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Which of `count` inputs this pass keeps, as a bool tensor on `device` (never none)."""
        if not self.training or self.drop_prob == 0 or count == 1:
            return torch.ones(count, dtype=torch.bool, device=device)
        keep = torch.rand(count, device=device) >= self.drop_prob
        fallback = torch.arange(count, device=device) == torch.randint(count, (), device=device)
        return torch.where(keep.any(), keep, fallback)  # on the device: no host sync per join

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack(inputs)
        if not self.training or self.drop_prob == 0 or len(inputs) == 1:
            return stacked.mean(0)
        weights = self.kept(len(inputs), stacked.device).to(stacked.dtype)
        weights = weights.view(-1, *[1] * (stacked.dim() - 1))
        return (stacked * weights).sum(0) / weights.sum()  # the mean of the kept inputs

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class FractalPath(nn.Module):
    """f_C, returning its C column outputs unjoined (shallowest first), so the caller's join sees all of them."""

    def __init__(self, columns: int, channels: int, drop_prob: float, dropout: float = 0.0):
        super().__init__()
        self.columns = columns
        self.conv = ConvUnit(channels, channels, dropout=dropout)  # the shallow column: one conv
        if columns > 1:
            self.first = FractalPath(columns - 1, channels, drop_prob, dropout)
            self.join = Join(drop_prob)
            self.second = FractalPath(columns - 1, channels, drop_prob, dropout)

    def forward(self, x: torch.Tensor, column: int | None = None) -> list[torch.Tensor]:
        """All columns, or only `column` (0 = the shallow conv) when global drop-path picked one."""
        if column == 0 or self.columns == 1:
            return [self.conv(x)]
        inner = None if column is None else column - 1
        deep = self.second(self.join(self.first(x, inner)), inner)
        return deep if column is not None else [self.conv(x)] + deep


class FractalBlock(nn.Module):
    """1x1 conv to the block width (when it changes) -> C-column fractal -> join -> 2x2 max-pool."""

    def __init__(self, *, in_channels: int, out_channels: int, columns: int, drop_prob: float, dropout: float = 0.0):
        super().__init__()
        self.widen = conv1x1(in_channels, out_channels) if in_channels != out_channels else nn.Identity()
        self.path = FractalPath(columns, out_channels, drop_prob, dropout)
        self.join = Join(drop_prob)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor, column: int | None = None) -> torch.Tensor:
        return self.pool(self.join(self.path(self.widen(x), column)))


class FractalNet(nn.Module):
    """stage1 .. stageB (fractal blocks) -> head (fc). Global drop-path picks the column per forward pass."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        plan = layout(spec)
        self.columns = spec.fractal_columns
        self.global_fraction = spec.drop_path_global
        self.stage_names = [s.name for s in plan.stages]
        with he_initialised(self):
            for stage, dropout in zip(plan.stages, dropout_rates(spec)):
                setattr(self, stage.name, FractalBlock(in_channels=stage.in_channels,
                                                       out_channels=stage.block_widths[0],
                                                       columns=spec.fractal_columns, drop_prob=spec.drop_path_local,
                                                       dropout=dropout))
            self.head = make_head(plan.head_in, spec.num_classes)

    def pick_column(self) -> int | None:
        """Global drop-path: for this fraction of training batches, one random column (0 = shallowest).
        Drawn on the CPU: which modules run is decided in Python."""
        if self.training and torch.rand(()).item() < self.global_fraction:
            return int(torch.randint(self.columns, ()).item())
        return None

    def forward(self, x: torch.Tensor, column: int | None = None) -> torch.Tensor:
        """`column` forces one column (e.g. the deepest, C - 1, as the paper evaluates it); None: drop-path rules."""
        if column is None:
            column = self.pick_column()
        for name in self.stage_names:
            x = getattr(self, name)(x, column)
        return self.head(x)
