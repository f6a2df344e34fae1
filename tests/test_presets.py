"""Every preset: forward on a batch of 2, parameter counts against the papers and torchvision, multiply-adds.

Counts come from `cost` (meta device) and, for the built model, from its real parameters; both must agree.
"""

import json

import pytest
import torch
import torchvision

from explorer import PRESETS, build_model, cost, layout
from explorer.models.builder import build_unchecked
from explorer.models.published import PUBLISHED_PATH, published_for

TOLERANCES = json.loads(PUBLISHED_PATH.read_text())["tolerances"]
HEAVY_MACS = 2e9  # forward of 2 images above this takes seconds on 2 cores: marked slow (still runs in CI)
TORCHVISION = {  # preset -> torchvision constructor (the ImageNet presets must equal these exactly)
    "resnet18": torchvision.models.resnet18, "resnet34": torchvision.models.resnet34,
    "resnet50": torchvision.models.resnet50, "resnet101": torchvision.models.resnet101,
    "resnet152": torchvision.models.resnet152, "resnext50_32x4d": torchvision.models.resnext50_32x4d,
    "resnext101_32x8d": torchvision.models.resnext101_32x8d, "wide_resnet50_2": torchvision.models.wide_resnet50_2,
    "densenet121": torchvision.models.densenet121, "vgg16": torchvision.models.vgg16,
}


def _by_weight(names):
    return [pytest.param(n, marks=pytest.mark.slow) if cost(PRESETS[n]).macs > HEAVY_MACS else n for n in names]


@pytest.mark.parametrize("name", _by_weight(sorted(PRESETS)))
def test_forward_batch_of_two(name):
    spec = PRESETS[name]
    torch.manual_seed(0)
    model = build_model(spec)
    assert sum(p.numel() for p in model.parameters()) == cost(spec).params  # meta count == real model
    size = layout(spec).input_size
    x = torch.randn(2, 3, size, size)
    heavy = cost(spec).macs > HEAVY_MACS
    with torch.no_grad():
        for mode in (True,) if heavy else (True, False):  # train (BN batch statistics, random paths), eval
            out = model.train(mode)(x)
            assert out.shape == (2, spec.num_classes)
            assert torch.isfinite(out).all(), f"non-finite output in {'train' if mode else 'eval'} mode"


CIFAR_COUNTED = sorted(n for n in PRESETS if (p := published_for(n)) and p.dataset == "cifar10" and p.params_m)


def _printed_decimals(text: str) -> int:
    number = text.rstrip("M")
    return len(number.split(".")[1]) if "." in number else 0


@pytest.mark.parametrize("name", CIFAR_COUNTED)
def test_cifar_params_match_the_paper_at_its_rounding(name):
    published = published_for(name)
    params = cost(PRESETS[name]).params
    if name in TOLERANCES["params_count_excludes_bn"]:
        # The printed figure counts conv + fc weights only; see "tolerances" in assets/published.json.
        model = build_unchecked(PRESETS[name], device="meta")
        params -= sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
                      for p in m.parameters())
    if name in TOLERANCES["params_relative"]:  # no rounding rule explains the printed figure; see the assets
        assert abs(params / 1e6 - published.params_m) / published.params_m <= TOLERANCES["params_relative"][name]
        return
    decimals = _printed_decimals(published.params_text)
    assert round(params / 1e6, decimals) == published.params_m, (
        f"{name}: {params:,} parameters print as {params / 1e6:.{decimals}f}M; {published.source} prints "
        f"{published.params_text}")


@pytest.mark.parametrize("name, with_bn", [("preact_resnet1001", 10_327_706), ("resnext29_16x64d", 68_155_210)])
def test_counts_printed_without_bn_are_still_built_with_bn(name, with_bn):
    # Why the tolerance above exists: the models keep every BN layer; only the comparison leaves them out.
    assert cost(PRESETS[name]).params == with_bn


# Built as the authors' released code builds them (papers.md, "Builds as the authors released them"): the
# projection shortcut of a pre-activation unit is a bare 1x1 conv, no BN and no bias.
AUTHORS_COUNTS = [
    ("preact_resnet164", 1_703_258),  # KaimingHe/resnet-1k-layers, resnet-pre-act.lua
    ("wrn_28_10", 36_479_194),  # szagoruyko/wide-residual-networks, models/wide-resnet.lua
    ("wrn_40_4", 8_949_210),  # idem; prints as the paper's 8.9M
]


@pytest.mark.parametrize("name, params", AUTHORS_COUNTS)
def test_preact_and_wrn_counts_equal_the_authors_builds(name, params):
    assert cost(PRESETS[name]).params == params
    model = build_unchecked(PRESETS[name], device="meta")
    projections = [m for m in model.modules() if type(m).__name__ == "ProjectionShortcut"]
    assert projections and all(not m.norm and m.conv.bias is None for m in projections)


@pytest.mark.parametrize("name", ["resnet50", "wide_resnet50_2", "resnext50_32x4d"])
def test_original_unit_projections_keep_their_bn(name):
    model = build_unchecked(PRESETS[name], device="meta")
    projections = [m for m in model.modules() if type(m).__name__ == "ProjectionShortcut"]
    assert projections and all(isinstance(m.bn, torch.nn.BatchNorm2d) for m in projections)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_imagenet_presets_equal_torchvision(name):
    with torch.device("meta"):
        reference = TORCHVISION[name](weights=None)
    expected = sum(p.numel() for p in reference.parameters())
    assert cost(PRESETS[name]).params == expected
    assert expected == round(published_for(name).params_m * 1e6)
    ours = build_unchecked(PRESETS[name], device="meta")
    shapes = sorted(tuple(p.shape) for p in ours.parameters())
    assert shapes == sorted(tuple(p.shape) for p in reference.parameters())  # same tensors, not just the total


MACS_PUBLISHED = sorted(n for n in PRESETS if (p := published_for(n)) and p.macs)


@pytest.mark.parametrize("name", MACS_PUBLISHED)
def test_multiply_adds_within_a_few_percent(name):
    published = published_for(name).macs
    ours = cost(PRESETS[name]).macs
    assert abs(ours - published) / published <= TOLERANCES["macs_relative"], f"{name}: {ours:,} vs {published:,.0f}"


def test_every_cifar_preset_with_a_paper_count_is_checked():
    expected = {"resnet20", "resnet1202", "preact_resnet164", "preact_resnet1001", "wrn_28_10", "resnext29_16x64d",
                "pyramidnet110_a270", "densenet_bc190_k40", "highway19", "fractalnet20_dropout", "resnet110_stochastic",
                "shake_shake26_2x96d", "pyramidnet164_a48_bottleneck", "pyramidnet164_a84_bottleneck",
                "pyramidnet110_a84", "pyramidnet164_a270_bottleneck", "pyramidnet200_a240_bottleneck",
                "pyramidnet236_a220_bottleneck"}
    assert expected <= set(CIFAR_COUNTED)


@pytest.mark.parametrize("plain", ["plain20", "plain32", "plain44", "plain56", "plain110", "plain18", "plain34"])
def test_plain_nets_count_what_option_a_resnets_count(plain):
    # He et al. 2015, sec. 3.3 and 4.2: identity (option A) shortcuts add no parameters, so a plain net and its
    # ResNet have the same count; no table prints the plain nets' counts (Fig. 6 and Table 2 only).
    resnet = PRESETS[plain].replace(family="resnet")
    assert resnet.shortcut == "A"
    assert cost(PRESETS[plain]).params == cost(resnet).params


def test_resnet34_options_a_b_c_differ_only_in_the_shortcuts():
    # He et al. 2015, Table 3: A zero-pads (no parameters), B projects where the shape changes (torchvision's
    # resnet34, equal to it above), C projects on every shortcut.
    a, b, c = (cost(PRESETS[n]).params for n in ("resnet34_a", "resnet34", "resnet34_c"))
    assert a < b == 21_797_672 < c

