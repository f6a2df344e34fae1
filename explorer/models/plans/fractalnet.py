"""FractalNet's facts (Larsson et al. 2016, 1605.07648): B fractal blocks of C columns, each block followed by a
2x2 max-pool; the deepest column has 2^(C-1) convs, so depth = B x 2^(C-1).

The 1x1 widening conv at the start of each block (64 -> 128 channels, ...) is this project's reading, not the
paper's text or the authors' code: the paper gives the widths (64, 128, 256, 512, 512) but not how a block's
input reaches them, and the authors' Caffe generator (gustavla/fractalnet generation/fractalnet.py) feeds the
block input straight to each column's first 3x3, which builds 33.7M parameters. A 1x1 conv to the block width,
so that every 3x3 in the block is width x width, gives the printed 38.6M (38,647,114), so we build that.
"""

from __future__ import annotations

from explorer.i18n import _
from explorer.models.convert import SpecError
from explorer.models.fields import ArchFields
from explorer.models.plans.base import Layout, Plan, StagePlan, check_one_block_type, input_size, stage1_width

FRACTAL_WIDTHS = (64, 128, 256, 512, 512, 512, 512, 512)  # sec. 4.1: doubles, capped at 512


NOTE = ("FractalNet: each block starts with a 1x1 conv to the block's width. That conv is this project's reading, "
        "chosen because it gives the paper's 38.6M; the authors' Caffe generator feeds the block input to each "
        "column's first 3x3 instead (33.7M).")


def dropout_rates(spec: ArchFields) -> tuple[float, ...]:
    """Each block's dropout: 0 in the first, rising linearly to spec.fractal_dropout in the last (sec. 4.1's
    0, 10, 20, 30, 40% for B=5 at 0.4)."""
    b = spec.fractal_blocks
    if b == 1:
        return (spec.fractal_dropout,)
    return tuple(round(spec.fractal_dropout * i / (b - 1), 12) for i in range(b))


def depth_rule(spec: ArchFields) -> tuple[str, list[int]]:
    d = spec.fractal_blocks * 2 ** (spec.fractal_columns - 1)
    return _("FractalNet depth is B x 2^(C-1) = {depth} for B={b}, C={c}").format(
        depth=d, b=spec.fractal_blocks, c=spec.fractal_columns), [d]


def check_depth(spec: ArchFields) -> None:
    rule, (depth,) = depth_rule(spec)
    if spec.depth != depth:
        raise SpecError("depth", _("{rule}; got {value}, set depth to {depth} or change B and C").format(
            rule=rule, value=spec.depth, depth=depth))


def layout(spec: ArchFields) -> Layout:
    base = stage1_width(spec, FRACTAL_WIDTHS[0])
    size = input_size(spec)
    stages, in_ch, cur = [], 3, size
    for i in range(spec.fractal_blocks):
        w = FRACTAL_WIDTHS[i] * base // FRACTAL_WIDTHS[0]  # base_width scales the paper's widths
        stages.append(StagePlan(name=f"stage{i + 1}", kind="fractal", num_blocks=spec.fractal_columns,
                                in_channels=in_ch, block_widths=(w,) * spec.fractal_columns,
                                inner_widths=(w,) * spec.fractal_columns, stride=1, in_size=cur, out_size=cur // 2))
        in_ch, cur = w, cur // 2
    return Layout(input_size=size, stem_channels=3, stem_size=size, stages=tuple(stages), head_in=in_ch,
                  weight_layers=spec.depth)


FRACTALNET = Plan(default=dict(depth=20),  # fractalnet20
                  base_width=FRACTAL_WIDTHS[0], depth_rule=depth_rule, check_depth=check_depth, layout=layout,
                  check=check_one_block_type, note=NOTE)
