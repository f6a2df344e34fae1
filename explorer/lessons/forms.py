"""Lesson 5: ResNeXt's three block forms are one function (Xie et al. 2017, Fig. 3).

(a) split-transform-merge: sum over C paths of 1x1 - 3x3 - 1x1;  (b) early concatenation: C paths of 1x1 - 3x3,
concatenated, one 1x1;  (c) grouped convolution: 1x1 - grouped 3x3 - 1x1. Given the same weights (copied from
(c) by `explorer.models.families.resnext.copy_weights_from_grouped`), the three compute the same output up to float rounding;
only their speed differs, because (c) runs C small convolutions as one kernel.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from explorer.lessons.seeding import generator, seeded
from explorer.models.blocks import ResidualBlock
from explorer.models.families.resnext import copy_weights_from_grouped, make_resnext_block
from explorer.models.shortcuts import AddMerge, make_shortcut
from explorer.models.spec import ArchSpec, SpecError

FORMS = {"split": "(a) split-transform-merge", "concat": "(b) early concatenation", "grouped": "(c) grouped conv"}


@dataclass(frozen=True)
class FormsResult:
    table: pd.DataFrame  # one row per form: form, label, max |difference| to (c), params, ms per forward
    outputs: dict[str, torch.Tensor]  # the three outputs, for the page to show a few numbers


def _randomize(block: nn.Module, gen: torch.Generator) -> None:
    """Non-trivial BN statistics and affine weights, so agreement is not the trivial 0 = 0 of a fresh BN."""
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def block_spec(cardinality: int, width: int, form: str = "grouped") -> ArchSpec:
    """ResNeXt-29 C x d (CIFAR), whose stage-1 block the lesson compares."""
    return ArchSpec(family="resnext", block="bottleneck", depth=29, cardinality=cardinality,
                    bottleneck_width=width, shortcut="B", resnext_form=form)


def compare_forms(cardinality: int = 8, width: int = 4, in_channels: int = 64, out_channels: int = 256,
                  size: int = 16, batch_size: int = 8, repeats: int = 3, seed: int = 0) -> FormsResult:
    """Build the grouped block, copy its weights into the split and concat forms, and run all three in eval
    mode on one random batch (float64, so the differences show float rounding, not float32 noise)."""
    if cardinality < 1 or width < 1:
        raise SpecError("cardinality", f"C and d must be at least 1; got C={cardinality}, d={width}")
    gen = generator(seed)
    inner = cardinality * width
    common = dict(in_channels=in_channels, inner_channels=inner, out_channels=out_channels, stride=1,
                  groups=cardinality)
    with seeded(seed):  # the convs' default init draws from the global RNG
        grouped = ResidualBlock(**common, bottleneck=True, merge=AddMerge(), activation="original",
                                shortcut=make_shortcut("B", in_channels, out_channels, 1))
        blocks: dict[str, nn.Module] = {"grouped": grouped}
        for form in ("split", "concat"):
            blocks[form] = make_resnext_block(form, **common,
                                              shortcut=make_shortcut("B", in_channels, out_channels, 1))
    _randomize(grouped, gen)
    for form in ("split", "concat"):
        copy_weights_from_grouped(grouped, blocks[form])
    x = torch.randn(batch_size, in_channels, size, size, generator=gen, dtype=torch.float64)
    outputs, rows = {}, []
    for form in ("split", "concat", "grouped"):
        block = blocks[form].double().eval()
        with torch.no_grad():
            outputs[form] = block(x)
        rows.append({"form": form, "label": FORMS[form], "params": sum(p.numel() for p in block.parameters()),
                     "ms per forward": _time(copy.deepcopy(block).float(), x.float(), repeats)})
    reference = outputs["grouped"]
    for row in rows:
        row["max |difference| to (c)"] = float((outputs[row["form"]] - reference).abs().max())
    return FormsResult(table=pd.DataFrame(rows), outputs=outputs)


@torch.no_grad()
def _time(block: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Milliseconds per float32 forward pass, after one warm-up pass."""
    block(x)
    start = time.perf_counter()
    for _ in range(repeats):
        block(x)
    return (time.perf_counter() - start) / repeats * 1e3
