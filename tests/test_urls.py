"""explorer.models.urls: a design survives the trip through URL query parameters; bad links raise SpecError."""

from __future__ import annotations

import pytest

from explorer import PRESETS, SpecError
from explorer.models.urls import spec_from_params, spec_to_params


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_are_one_parameter(name):
    assert spec_to_params(PRESETS[name]) == {"preset": name}
    assert spec_from_params({"preset": name}) == PRESETS[name]


@pytest.mark.parametrize("spec, params", [
    (PRESETS["resnet56"].replace(se_reduction=8), {"family": "resnet", "depth": "56", "se_reduction": "8"}),
    (PRESETS["resnet20"].replace(zero_init_residual=True), {"family": "resnet", "zero_init_residual": "true"}),
    (PRESETS["wrn_16_4"].replace(dropout=0.3), {"family": "wrn", "dropout": "0.3"}),
    (PRESETS["shake_shake26_2x32d"].replace(base_width=48), {"family": "shake_shake", "base_width": "48"}),
    (PRESETS["preact_resnet164"].replace(bottleneck_stride="3x3"),
     {"family": "resnet", "depth": "164", "block": "bottleneck", "shortcut": "B", "activation": "full_preact",
      "bottleneck_stride": "3x3"}),
    (PRESETS["pyramidnet110_a48"].replace(pyramid_widening="multiplicative", pyramid_ratio=6.5),
     {"family": "pyramidnet", "pyramid_widening": "multiplicative", "pyramid_ratio": "6.5"}),
])
def test_only_fields_that_differ_from_the_family_default(spec, params):
    assert spec_to_params(spec) == params
    assert spec_from_params(params) == spec


def test_preset_with_overrides_and_list_values():
    spec = spec_from_params({"preset": "resnet56", "activation": ["original", "full_preact"]})
    assert spec == PRESETS["resnet56"].replace(activation="full_preact")  # a repeated key: the last one wins
    assert spec_from_params({"preset": "resnet56", "embed": "true"}) == PRESETS["resnet56"]


@pytest.mark.parametrize("params, message", [
    ({"preset": "resnet57"}, "preset: unknown preset 'resnet57'"),
    ({"depth": "21"}, "depth: a CIFAR ResNet has 6n+2 layers"),
    ({"depth": "2e"}, "depth: must be a whole number"),
    ({"dropout": "lots"}, "dropout: must be a finite number"),
    ({"dropout": "nan"}, "dropout: must be a finite number"),
    ({"base_width": "wide"}, "base_width: must be a whole number"),
    ({"zero_init_residual": "maybe"}, "zero_init_residual: must be true or false"),
    ({"family": "transformer"}, "family: unknown value 'transformer'"),
    ({"family": "wrn", "cardinality": "4"}, "cardinality: only applies to ResNeXt"),
    ({"<script>": "1"}, "<script>: unknown URL parameter"),
])
def test_bad_links_raise_spec_error_naming_the_parameter(params, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace("+", r"\+")):
        spec_from_params(params)


@pytest.mark.parametrize("scale", [1 / 3, 2 / 3, 0.1, 1e-7, 9.999999999999998])
def test_floats_survive_a_link_exactly(scale):
    spec = PRESETS["resnet20"].replace(shortcut_variant="constant_scaling", shortcut_scale=scale)
    params = spec_to_params(spec)
    assert params["shortcut_scale"] == repr(scale)  # `:g` wrote 0.333333 for 1/3
    assert spec_from_params(params) == spec


def test_base_width_none_and_a_preset_family_switch():
    assert spec_from_params({"preset": "shake_shake26_2x32d", "base_width": "none"}).base_width is None
    assert spec_from_params({"preset": "resnet56", "family": "wrn"}) == PRESETS["wrn_16_4"]


def test_an_unset_bottleneck_stride_follows_the_links_family_and_stem():
    imagenet = {"family": "resnet", "stem": "imagenet", "depth": "50", "block": "bottleneck", "shortcut": "B",
                "num_classes": "1000"}
    assert spec_from_params(imagenet) == PRESETS["resnet50"]  # torchvision's V1.5, not the CIFAR ResNet's 1x1
    assert spec_from_params({**imagenet, "bottleneck_stride": "1x1"}).bottleneck_stride == "1x1"
    assert spec_from_params({"preset": "resnet50", "depth": "101"}) == PRESETS["resnet101"]
