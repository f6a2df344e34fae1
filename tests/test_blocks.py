"""Blocks and shortcuts: Fig. 4's orders, Table 1's shortcut variants, options A/B/C, inits, ResDrop, SE."""

import pytest
import torch
from torch import nn
from torchvision.ops import StochasticDepth

from explorer import PRESETS, ArchSpec, build_model, cost
from explorer.models.builder import build_unchecked
from explorer.models.blocks import PLACEMENTS, ResidualBlock, placement_parts
from explorer.models.families.highway import HighwayLayer
from explorer.models.layers import SqueezeExcitation, make_stages
from explorer.models.shortcuts import AddMerge, GateMerge, ProjectionShortcut, ZeroPadShortcut

RESNET20 = PRESETS["resnet20"]


def _call_order(block: nn.Module, x: torch.Tensor) -> list[str]:
    """The BN / ReLU / conv / addition modules in the order the forward pass calls them."""
    kinds = {nn.Conv2d: "conv", nn.BatchNorm2d: "BN", nn.ReLU: "ReLU", AddMerge: "add"}
    order: list[str] = []
    hooks = [m.register_forward_hook(lambda m, i, o, k=kinds[type(m)]: order.append(k))
             for m in block.modules() if type(m) in kinds]
    with torch.no_grad():
        block.eval()(x)
    for h in hooks:
        h.remove()
    return order


# Identity Mappings (1603.05027), Fig. 4 (a)-(e), read left to right along the residual branch.
FIG4 = [
    ("original", "conv BN ReLU conv BN add ReLU"),
    ("bn_after_add", "conv BN ReLU conv add BN ReLU"),
    ("relu_before_add", "conv BN ReLU conv BN ReLU add"),
    ("relu_only_preact", "ReLU conv BN ReLU conv BN add"),
    ("full_preact", "BN ReLU conv BN ReLU conv add"),
]


@pytest.mark.parametrize("activation, order", FIG4)
def test_activation_placement_calls_modules_in_fig4_order(activation, order):
    model = build_model(RESNET20.replace(activation=activation))
    block = model.stage1.block2  # a middle unit: identity shortcut, no special handling
    assert _call_order(block, torch.randn(2, 16, 32, 32)) == order.split()


@pytest.mark.parametrize("activation, order", FIG4)
def test_placements_table_is_fig4(activation, order):
    # the data the builder reads is the figure itself, so reading PLACEMENTS is reading the built block
    assert " ".join(PLACEMENTS[activation]).replace("bn", "BN").replace("relu", "ReLU") == order


def test_unknown_placement_is_refused_by_name():
    with pytest.raises(ValueError, match="activation must be one of .*'full_preact'.*; got 'post_relu'"):
        placement_parts("post_relu")


@pytest.mark.parametrize("activation, order", [
    ("original", "conv BN ReLU conv BN ReLU conv BN add ReLU"),
    ("full_preact", "BN ReLU conv BN ReLU conv BN ReLU conv add"),
])
def test_bottleneck_order(activation, order):
    spec = PRESETS["preact_resnet164"].replace(activation=activation)
    block = build_model(spec).stage1.block2
    assert _call_order(block, torch.randn(2, 64, 32, 32)) == order.split()


def test_full_preact_first_and_last_units():
    # Sec. 4.1: the stem is conv only (the first unit's BN-ReLU follows it), the shortcut of the first unit and
    # of projection units takes the pre-activated input, and a final BN-ReLU follows the last addition.
    model = build_model(PRESETS["preact_resnet164"])
    assert [type(m) for m in model.stem] == [nn.Conv2d]
    assert model.stage1.block1.shared_preact and model.stage2.block1.shared_preact
    assert not model.stage1.block2.shared_preact
    assert [type(m) for m in model.head][:2] == [nn.BatchNorm2d, nn.ReLU]
    original = build_model(PRESETS["resnet110"])
    assert [type(m) for m in original.stem] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in original.head)


@pytest.mark.parametrize("activation", [a for a, _ in FIG4])
def test_every_placement_gives_a_different_function(activation):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    outs = {}
    for a, _ in FIG4:
        torch.manual_seed(1)
        outs[a] = build_model(RESNET20.replace(activation=a)).eval()(x)
    assert all(not torch.allclose(outs[activation], outs[b]) for b in outs if b != activation)


# Identity Mappings Table 1 settings, each with what must differ from the identity shortcut.
VARIANTS = [
    ({"shortcut_variant": "constant_scaling", "shortcut_scale": 0.5, "residual_scale": 0.5}, 0),
    ({"shortcut_variant": "constant_scaling", "shortcut_scale": 0.0, "residual_scale": 1.0}, 0),
    ({"shortcut_variant": "exclusive_gating", "gate_bias": -6.0}, None),
    ({"shortcut_variant": "shortcut_only_gating", "gate_bias": -6.0}, None),
    ({"shortcut_variant": "conv1x1"}, None),
    ({"shortcut_variant": "dropout", "shortcut_dropout": 0.5}, 0),
]


@pytest.mark.parametrize("changes, extra_params", VARIANTS)
def test_shortcut_variant_changes_the_model(changes, extra_params):
    spec = RESNET20.replace(**changes)
    base, model = build_model(RESNET20), build_model(spec)
    extra = cost(spec).params - cost(RESNET20).params
    if extra_params is not None:  # same parameters: copy the weights, the function must still differ
        assert extra == extra_params
        model.load_state_dict(base.state_dict())
    else:
        assert extra > 0
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(0)
    with torch.no_grad():
        assert not torch.allclose(model.train()(x), base.train()(x))


def test_gating_parameters_are_one_1x1_conv_per_unit():
    # g(x) = sigmoid(W_g x + b_g): a 1x1 conv from the unit's input to its output width, with bias.
    spec = RESNET20.replace(shortcut_variant="exclusive_gating", gate_bias=-6.0)
    units = [(16, 16)] * 3 + [(16, 32)] + [(32, 32)] * 2 + [(32, 64)] + [(64, 64)] * 2  # ResNet-20: 3 a stage
    expected = sum(cin * cout + cout for cin, cout in units)
    assert cost(spec).params - cost(RESNET20).params == expected


def test_dropout_shortcut_is_identity_at_eval():
    spec = RESNET20.replace(shortcut_variant="dropout", shortcut_dropout=0.5)
    base, model = build_model(RESNET20), build_model(spec)
    model.load_state_dict(base.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), base.eval()(x))


@pytest.mark.parametrize("bias", [0.0, -6.0, -7.0])
def test_gate_bias_init(bias):
    model = build_model(RESNET20.replace(shortcut_variant="exclusive_gating", gate_bias=bias))
    gates = [m for m in model.modules() if isinstance(m, GateMerge)]
    assert len(gates) == 9
    assert all(torch.all(g.gate.bias == bias) for g in gates)


def test_highway_gate_bias_init():
    model = build_model(PRESETS["highway19"])
    layers = [m for m in model.modules() if isinstance(m, HighwayLayer)]
    assert layers and all(torch.all(m.gate.bias == -2.0) for m in layers)


@pytest.mark.parametrize("option, projections, zero_pads", [("A", 0, 2), ("B", 2, 0), ("C", 9, 0)])
def test_shortcut_options(option, projections, zero_pads):
    model = build_model(RESNET20.replace(shortcut=option))
    mods = list(model.modules())
    assert sum(isinstance(m, ProjectionShortcut) for m in mods) == projections
    assert sum(isinstance(m, ZeroPadShortcut) for m in mods) == zero_pads
    assert all(not list(m.parameters()) for m in mods if isinstance(m, ZeroPadShortcut))
    # B adds 16->32 and 32->64 1x1 convs with BN; C adds one per unit
    proj_params = sum(p.numel() for m in mods if isinstance(m, ProjectionShortcut) for p in m.parameters())
    assert cost(RESNET20.replace(shortcut=option)).params - cost(RESNET20).params == proj_params
    expected = {"A": 0, "B": (16 * 32 + 64) + (32 * 64 + 128)}.get(option)
    if expected is not None:
        assert proj_params == expected


def test_option_a_pads_with_zeros_and_subsamples():
    sc = ZeroPadShortcut(16, 32, 2)
    x = torch.randn(2, 16, 8, 8)
    y = sc(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2]) and torch.all(y[:, 16:] == 0)


@pytest.mark.parametrize("name, last_bn", [("resnet20", "bn2"), ("preact_resnet164", None),
                                           ("resnet50", "bn3"), ("resnext29_8x64d", "bn3")])
def test_zero_init_residual_zeroes_the_last_bn(name, last_bn):
    spec = PRESETS[name]
    if last_bn is None:  # full pre-activation has no BN after the last conv: refused
        with pytest.raises(ValueError, match="zero_init_residual"):
            build_model(spec.replace(zero_init_residual=True))
        return
    plain, zeroed = build_model(spec), build_model(spec.replace(zero_init_residual=True))
    for model, value in ((plain, 1.0), (zeroed, 0.0)):
        blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
        assert blocks and all(torch.all(getattr(b.residual, last_bn).weight == value) for b in blocks)


def test_zero_init_makes_every_unit_start_as_the_identity():
    model = build_model(RESNET20.replace(zero_init_residual=True)).eval()
    x = torch.randn(2, 16, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.stage1.block2(x), torch.relu(x))


@pytest.mark.parametrize("name, blocks", [("resnet20", 9), ("pyramidnet110_a48", 54), ("shake_shake26_2x32d", 12),
                                          ("resnext29_8x64d", 9)])
def test_stochastic_depth_probabilities_follow_the_linear_rule(name, blocks):
    # one stage builder for every residual family: ResDrop's p_l = l / L * p_L counts blocks across stages
    model = build_model(PRESETS[name].replace(stochastic_depth=0.5))
    probs = [m.p for m in model.modules() if isinstance(m, StochasticDepth)]
    assert probs == pytest.approx([0.5 * l / blocks for l in range(1, blocks + 1)])


def test_stage_builder_slots_chain_widths_and_strides():
    from explorer import layout

    plan = layout(PRESETS["pyramidnet110_a48"].replace(depth=20))
    slots = []
    stages = make_stages(plan.stages, lambda slot: slots.append(slot) or nn.Identity(), stochastic_depth=0.3)
    assert [list(blocks) for _, blocks in stages] == [["block1", "block2", "block3"]] * 3
    assert [s.number for s in slots] == list(range(1, 10)) and slots[-1].drop_prob == pytest.approx(0.3)
    assert [s.stride for s in slots] == [1, 1, 1, 2, 1, 1, 2, 1, 1]
    assert all(b.in_channels == a.out_channels for a, b in zip(slots, slots[1:]))  # each block feeds the next
    assert slots[0].in_channels == plan.stem_channels and slots[-1].out_channels == plan.head_in


def test_stochastic_depth_drops_in_train_and_not_in_eval():
    model = build_model(RESNET20.replace(stochastic_depth=0.5))
    block = model.stage3.block3  # p = 0.5
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        block.eval()
        shortcut_only = torch.relu(x)
        full = block(x)
        assert not torch.allclose(full, shortcut_only)
        assert all(torch.equal(block(x), full) for _ in range(10))  # eval: deterministic, nothing dropped
        block.train()
        torch.manual_seed(0)
        dropped = sum(torch.allclose(block(x), shortcut_only) for _ in range(40))
    assert 8 <= dropped <= 32  # about half of 40 passes drop the whole residual branch


def test_se_present_with_reduction_16():
    model = build_model(PRESETS["se_resnet110"])
    se = [m for m in model.modules() if isinstance(m, SqueezeExcitation)]
    assert len(se) == 54
    assert sorted({(m.fc1.in_channels, m.fc1.out_channels) for m in se}) == [(16, 1), (32, 2), (64, 4)]
    # per unit: c*c/r + c/r (W1) + c/r*c + c (W2), 18 units a stage
    expected = sum(18 * (c * (c // 16) * 2 + c // 16 + c) for c in (16, 32, 64))
    assert cost(PRESETS["se_resnet110"]).params - cost(PRESETS["resnet110"]).params == expected


def test_se_rescales_channels():
    se = SqueezeExcitation(32, 4)
    x = torch.randn(2, 32, 8, 8)
    scale = se(x) / x
    assert torch.allclose(scale, scale[:, :, :1, :1].expand_as(scale), atol=1e-5)  # one factor per channel
    assert torch.all((scale > 0) & (scale < 1))


@pytest.mark.parametrize("name", ["resnet56", "preact_resnet164", "wrn_16_4", "resnext29_8x64d", "resnet50",
                                  "plain20", "pyramidnet110_a48", "shake_shake26_2x32d", "densenet40_k12",
                                  "highway19", "vgg16_cifar", "fractalnet20"])
def test_he_init_on_every_conv(name):
    # He et al. 2015 (1502.01852), fan_out mode: std = sqrt(2 / (out_channels * k * k)); every conv weight must
    # be drawn from it (every family skips PyTorch's default conv init, so a missed conv would hold garbage).
    spec = PRESETS[name]
    model = build_model(spec.replace(base_width=16) if spec.family == "fractalnet" else spec)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        w = conv.weight
        assert torch.isfinite(w).all()
        if w.numel() >= 4096:
            expected = (2.0 / (w.shape[0] * w.shape[2] * w.shape[3])) ** 0.5
            assert w.std().item() == pytest.approx(expected, rel=0.1), conv
    fc = model.head.fc
    if spec.family == "vgg":  # torchvision's VGG: N(0, 0.01)
        assert fc.weight.std().item() == pytest.approx(0.01, rel=0.1)
        return
    bound = 1 / fc.in_features ** 0.5  # PyTorch's default Linear init is kept
    assert fc.weight.abs().max() <= bound and fc.weight.std() > bound / 4


# ---------------------------------------------------------------- bottleneck stride (fields.AUTHORS_BOTTLENECK_STRIDE)

@pytest.mark.parametrize("name, stride_on", [
    ("preact_resnet164", "1x1"),  # KaimingHe/resnet-1k-layers: the first 1x1 strides
    ("resnet50", "3x3"), ("resnet152", "3x3"), ("wide_resnet50_2", "3x3"), ("resnext50_32x4d", "3x3"),  # torchvision
    ("resnext29_8x64d", "3x3"),  # facebookresearch/ResNeXt models/resnext.lua
    ("pyramidnet272_a200_bottleneck", "3x3"),  # dyhan0920/PyramidNet-PyTorch PyramidNet.py
])
def test_bottleneck_stride_follows_each_familys_released_code(name, stride_on):
    spec = PRESETS[name]
    assert spec.bottleneck_stride == stride_on
    block = build_unchecked(spec, device="meta").stage2.block1
    strides = [m.stride[0] for m in block.residual if isinstance(m, nn.Conv2d)]
    assert strides == ([2, 1, 1] if stride_on == "1x1" else [1, 2, 1])


def test_bottleneck_stride_moves_multiply_adds_not_parameters():
    # papers.md: preact-ResNet-164 244.5M multiply-adds with the stride on the 1x1, 247.6M on the 3x3.
    spec = PRESETS["preact_resnet164"]
    v15 = spec.replace(bottleneck_stride="3x3")
    assert cost(spec).macs == 244_500_992 and cost(v15).macs == 247_646_720
    assert cost(spec).params == cost(v15).params == 1_703_258


@pytest.mark.parametrize("name, macs", [("resnet50", 4_089_184_256), ("resnet101", 7_801_405_440),
                                        ("resnet152", 11_513_626_624), ("resnext50_32x4d", 4_230_479_872),
                                        ("wide_resnet50_2", 11_398_021_120)])
def test_imagenet_bottlenecks_keep_torchvisions_multiply_adds(name, macs):
    assert cost(PRESETS[name]).macs == macs


def test_an_unset_bottleneck_stride_is_the_familys_authors():
    assert ArchSpec(family="pyramidnet", block="bottleneck", depth=164).bottleneck_stride == "3x3"
    assert ArchSpec(family="resnet", block="bottleneck", depth=164).bottleneck_stride == "1x1"
    assert ArchSpec(family="resnext", block="bottleneck", depth=29).bottleneck_stride == "3x3"
    # on ImageNet, torchvision's "V1.5" for every family, so the ImageNet presets equal torchvision
    assert ArchSpec(depth=50, block="bottleneck", stem="imagenet", shortcut="B").bottleneck_stride == "3x3"
    assert ArchSpec(depth=50, block="bottleneck", stem="imagenet", bottleneck_stride="1x1").bottleneck_stride == "1x1"
