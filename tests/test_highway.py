import pytest
import torch

from explorer import PRESETS, build_model, cost, layout
from explorer.models.families.highway import HighwayLayer


def test_highway19_has_the_published_2_3m():
    params = cost(PRESETS["highway19"]).params
    assert params == 2_295_722 and f"{params / 1e6:.1f}M" == "2.3M"


def test_layout_splits_17_highway_layers_over_three_stages():
    plan = layout(PRESETS["highway19"])
    assert [s.num_blocks for s in plan.stages] == [6, 6, 5]
    assert [s.block_widths[0] for s in plan.stages] == [32, 80, 128]


@pytest.mark.parametrize("bias", [-1.0, -3.0, 0.0])
def test_gate_bias_is_initialised_from_the_spec(bias):
    model = build_model(PRESETS["highway19"].replace(gate_bias=bias))
    gates = [m.gate.bias for m in model.modules() if isinstance(m, HighwayLayer)]
    assert len(gates) == 17
    assert all(torch.all(g == bias) for g in gates)


def test_layer_computes_h_t_plus_x_carry():
    layer = HighwayLayer(4, gate_bias=-2.0).eval()
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        t = torch.sigmoid(layer.gate(x))
        expected = layer.transform(x) * t + x * (1 - t)
        assert torch.allclose(layer(x), expected)
        layer.gate.bias.fill_(-30.0)  # T = 0: pure carry
        layer.gate.weight.zero_()
        assert torch.allclose(layer(x), x, atol=1e-6)


def test_negative_bias_starts_close_to_carrying():
    model = build_model(PRESETS["highway19"].replace(gate_bias=-3.0)).eval()
    layer = model.stage2.block3
    x = torch.randn(2, 80, 16, 16)
    with torch.no_grad():
        transform = torch.sigmoid(layer.gate(x)).mean()  # T; the carry gate is 1 - T
    assert transform < 0.2


def test_forward_backward():
    model = build_model(PRESETS["highway19"])
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert model.stage3.block5.gate.bias.grad is not None
    assert "stage2.transition.conv" in dict(model.named_modules())


def test_the_plan_says_the_widths_are_this_projects_choice():
    # The Build page shows a plan's note (pages/build.py show_results); Highway's says why the widths are ours.
    from explorer.models.plans import PLANS
    note = PLANS["highway"].note
    assert "no per-layer widths" in note and "32, 80, 128" in note and "2.3M" in note
    assert [s.block_widths[0] for s in layout(PRESETS["highway19"]).stages] == [32, 80, 128]
    assert "1x1 conv" in PLANS["fractalnet"].note and "this project's reading" in PLANS["fractalnet"].note
    assert PLANS["resnet"].note == ""  # built as the paper and its code build it: nothing to say
