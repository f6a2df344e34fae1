import pytest
import torch

from explorer import PRESETS, build_model, cost
from explorer.models.blocks import ResidualBlock
from explorer.models.families.resnext import ResNeXtPathBlock, copy_weights_from_grouped

SMALL = PRESETS["resnext29_8x64d"].replace(depth=11, cardinality=4, bottleneck_width=4, base_width=16)


@pytest.mark.parametrize("name", ["resnext29_8x64d", pytest.param("resnext29_16x64d", marks=pytest.mark.slow),
                                  pytest.param("resnext50_32x4d", marks=pytest.mark.slow)])
def test_all_three_forms_have_the_same_parameter_count(name):
    counts = {form: cost(PRESETS[name].replace(resnext_form=form)).params for form in ("grouped", "split", "concat")}
    assert len(set(counts.values())) == 1, counts


def _randomise(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics and affine terms, so a wrong channel mapping cannot hide."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)


@pytest.mark.parametrize("form, stride_on", [("split", "3x3"), ("concat", "3x3"), ("split", "1x1"), ("concat", "1x1")])
def test_forms_agree_on_the_same_weights(form, stride_on):
    grouped = build_model(SMALL.replace(bottleneck_stride=stride_on))
    _randomise(grouped)
    other = build_model(SMALL.replace(resnext_form=form, bottleneck_stride=stride_on))
    other.stem.load_state_dict(grouped.stem.state_dict())
    other.head.load_state_dict(grouped.head.state_dict())
    blocks = dict(other.named_modules())
    pairs = [(g, blocks[name]) for name, g in grouped.named_modules() if isinstance(g, ResidualBlock)]
    assert len(pairs) == 3 and all(isinstance(o, ResNeXtPathBlock) for _, o in pairs)
    for g, o in pairs:
        copy_weights_from_grouped(g, o)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected, got = grouped.eval()(x), other.eval()(x)
    assert torch.allclose(expected, got, atol=1e-4, rtol=1e-4)
    # and a block with a projection shortcut and stride, on its own
    g, o = pairs[1]
    h = torch.randn(2, g.residual.conv1.in_channels, 16, 16)
    with torch.no_grad():
        assert torch.allclose(g(h), o(h), atol=1e-5)


def test_split_form_sums_c_paths_and_concat_form_shares_one_1x1():
    split = build_model(SMALL.replace(resnext_form="split")).stage1.block1
    concat = build_model(SMALL.replace(resnext_form="concat")).stage1.block1
    assert len(split.paths) == 4 and split.paths[0].conv3.out_channels == 64
    assert not hasattr(concat.paths[0], "conv3") and concat.conv3.in_channels == 16


def test_other_forms_train():
    model = build_model(SMALL.replace(resnext_form="concat", se_reduction=4, stochastic_depth=0.2))
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10) and model.stage1.block1.paths[3].conv2.weight.grad is not None
