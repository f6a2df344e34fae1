import pytest
import torch

from explorer import PRESETS, build_model, cost, layout
from explorer.models.families.pyramidnet import PyramidBlock
from explorer.models.shortcuts import ZeroPadShortcut
from explorer.models.spec import SpecError, validate

# Han et al. 2017 (author repo table): (preset, changes, printed millions). Built as the authors' released code
# builds them (widths rounded per block, dyhan0920/PyramidNet-PyTorch), every count is within 5% of the printed
# one; the printed 1.7M and 26.0M match a floored build instead (see "tolerances" in assets/published.json).
PAPER = [
    ("pyramidnet110_a48", {}, 1.7),
    ("pyramidnet110_a48", {"pyramid_alpha": 84}, 3.8),
    ("pyramidnet110_a270", {}, 28.3),
    ("pyramidnet272_a200_bottleneck", {"depth": 164, "pyramid_alpha": 270}, 27.0),
    ("pyramidnet272_a200_bottleneck", {}, 26.0),
]


@pytest.mark.parametrize("name, changes, printed", PAPER)
def test_params_against_the_paper(name, changes, printed):
    params = cost(PRESETS[name].replace(**changes)).params / 1e6
    assert abs(params - printed) / printed < 0.05


# Exact counts of the authors' PyTorch build (dyhan0920/PyramidNet-PyTorch, PyramidNet.py), papers.md "Builds as
# the authors released them": alpha=48, 110 layers, 1,772,706.
AUTHORS = [
    ("pyramidnet110_a48", {}, 1_772_706),
    ("pyramidnet110_a270", {}, 28_485_477),
    ("pyramidnet272_a200_bottleneck", {}, 26_210_842),
]


@pytest.mark.parametrize("name, changes, params", AUTHORS)
def test_params_equal_the_authors_code(name, changes, params):
    assert cost(PRESETS[name].replace(**changes)).params == params


def test_widths_are_the_authors_rounded_running_sum():
    # PyramidNet.py: featuremap_dim += alpha / N before each block, width int(round(featuremap_dim)).
    plan = layout(PRESETS["pyramidnet110_a48"])
    widths = [w for s in plan.stages for w in s.block_widths]
    running, expected = 16.0, []
    for _ in range(54):
        running += 48 / 54
        expected.append(int(round(running)))
    assert widths == expected
    assert widths[:4] == [17, 18, 19, 20] and widths[-1] == 64  # floor would give 16, 17, 18, 19


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


def test_multiplicative_alpha_is_the_ratio_of_the_last_width_to_the_first():
    # Eq. 3; jhkim89/PyramidNet mulpyramidnet.lua: width_k = floor(16 * alpha^(k/N) + 0.5), alpha = 4.75.
    spec = PRESETS["pyramidnet110_a48"].replace(pyramid_widening="multiplicative")
    assert spec.pyramid_ratio == 4.75
    widths = [w for s in layout(spec).stages for w in s.block_widths]
    assert widths[0] == 16 and widths[-1] == 76 and widths == sorted(widths)
    assert widths == [int(16 * 4.75 ** (k / 54) + 0.5) for k in range(1, 55)]
    doubled = spec.replace(pyramid_ratio=8.0)
    assert layout(doubled).stages[-1].block_widths[-1] == 128


def test_each_alpha_needs_its_widening():
    additive = PRESETS["pyramidnet110_a48"]
    with pytest.raises(SpecError, match="only used by multiplicative widening"):
        validate(additive.replace(pyramid_ratio=3.0))
    with pytest.raises(SpecError, match="only used by additive widening"):
        validate(additive.replace(pyramid_widening="multiplicative", pyramid_alpha=100))
