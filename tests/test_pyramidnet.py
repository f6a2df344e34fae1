import pytest
import torch

from explorer import PRESETS, build_model, cost, layout
from explorer.models.families.pyramidnet import PyramidBlock
from explorer.models.shortcuts import ZeroPadShortcut

# Han et al. 2017 (author repo table): (preset, changes, printed millions, matches at the printed rounding).
# alpha=270 nets have an integer step (5 channels per block), so no rounding rule explains their printed
# counts; ours are 0.7% above them (28.49M vs 28.3M, 27.22M vs 27.0M).
PAPER = [
    ("pyramidnet110_a48", {}, 1.7, True),
    ("pyramidnet110_a48", {"pyramid_alpha": 84}, 3.8, False),
    ("pyramidnet110_a270", {}, 28.3, False),
    ("pyramidnet272_a200_bottleneck", {"depth": 164, "pyramid_alpha": 270}, 27.0, False),
    ("pyramidnet272_a200_bottleneck", {}, 26.0, True),
]


@pytest.mark.parametrize("name, changes, printed, exact", PAPER)
def test_params_against_the_paper(name, changes, printed, exact):
    params = cost(PRESETS[name].replace(**changes)).params / 1e6
    if exact:
        assert round(params, 1) == printed
    else:
        assert abs(params - printed) / printed < 0.015


def test_widths_grow_by_alpha_over_n_every_block():
    plan = layout(PRESETS["pyramidnet110_a270"])
    widths = [w for s in plan.stages for w in s.block_widths]
    assert len(widths) == 54 and widths[0] == 21 and widths[-1] == 16 + 270
    assert {b - a for a, b in zip(widths, widths[1:])} == {5}


def test_bottleneck_outputs_four_times_the_inner_width():
    plan = layout(PRESETS["pyramidnet272_a200_bottleneck"])
    assert plan.stages[-1].block_widths[-1] == 4 * 216 and plan.stages[-1].inner_widths[-1] == 216


def test_block_structure_and_zero_padded_avgpool_shortcut():
    model = build_model(PRESETS["pyramidnet110_a48"])
    block = model.stage2.block1
    assert isinstance(block, PyramidBlock)
    assert isinstance(block.shortcut, ZeroPadShortcut) and block.shortcut.subsample == "avgpool"
    assert [type(m).__name__ for m in block.residual] == [
        "BatchNorm2d", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]
    assert sum(p.numel() for p in block.shortcut.parameters()) == 0
    assert [type(m).__name__ for m in model.head][:2] == ["BatchNorm2d", "ReLU"]


def test_stochastic_depth_and_se_are_honoured():
    spec = PRESETS["pyramidnet110_a48"].replace(stochastic_depth=0.5, se_reduction=4)
    model = build_model(spec)
    last = model.stage3.block18
    assert last.stochastic_depth.p == pytest.approx(0.5) and model.stage1.block1.stochastic_depth.p == pytest.approx(0.5 / 54)
    assert cost(spec).params > cost(PRESETS["pyramidnet110_a48"]).params
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_multiplicative_widening_ends_at_the_same_width():
    spec = PRESETS["pyramidnet110_a48"].replace(pyramid_widening="multiplicative")
    widths = [w for s in layout(spec).stages for w in s.block_widths]
    assert widths[-1] == 64 and widths == sorted(widths)
    assert cost(spec).params < cost(PRESETS["pyramidnet110_a48"]).params
