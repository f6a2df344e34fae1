"""ArchSpec validation: table-driven bad inputs, JSON round trips, family defaults, refusal before allocation."""

import dataclasses
import json
import time
from typing import Literal, get_args, get_origin

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from explorer.models.builder import FAMILY_BUILDERS, build_model
from explorer.models.cost import check_budget, cost
from explorer.models.fields import (
    FIELD_TYPES, IMAGENET_FAMILIES, Family, described, offered, setting, widget_bounds,
)
from explorer.models.plans import PLANS
from explorer.models.presets import FAMILY_DEFAULTS, IMAGENET_DEFAULTS, PRESETS, family_default, preset_name
from explorer.models.spec import (
    FAMILY_LABELS, ArchSpec, SpecError, applies, depth_choices, depth_rule, imagenet_block, layout, validate,
)

# (data given to from_dict, field the error names, text the message must contain)
BAD_DEPTHS = [
    ({"depth": 21}, "depth", "a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56, 110, ...); got 21, try 20 or 26"),
    ({"depth": 7}, "depth", "6n+2 layers (20, 32, 44, 56, 110, ...); got 7, try 8"),
    ({"family": "plain", "depth": 57}, "depth", "6n+2 layers (20, 32, 44, 56, 110, ...); got 57, try 56 or 62"),
    ({"depth": 165, "block": "bottleneck", "shortcut": "B", "activation": "full_preact"}, "depth",
     "a CIFAR bottleneck ResNet has 9n+2 layers (29, 110, 164, 272, 1001, ...); got 165, try 164 or 173"),
    ({"family": "wrn", "depth": 20}, "depth", "a CIFAR Wide ResNet has 6n+4 layers (16, 22, 28, 40, 100, ...); "
                                              "got 20, try 16 or 22"),
    ({"family": "resnext", "depth": 30}, "depth", "a CIFAR ResNeXt has 9n+2 layers"),
    ({"family": "densenet", "depth": 41}, "depth", "a CIFAR DenseNet has 3n+4 layers (40, 100, ...); got 41, "
                                                   "try 40 or 43"),
    ({"family": "densenet", "block": "bottleneck", "compression": 0.5, "depth": 101}, "depth",
     "a CIFAR DenseNet-B has 6n+4 layers (16, 22, 28, 40, 100, ...); got 101, try 100 or 106"),
    ({"family": "pyramidnet", "depth": 111}, "depth", "6n+2 layers"),
    ({"family": "shake_shake", "depth": 27}, "depth", "a CIFAR Shake-Shake has 6n+2 layers"),
    ({"family": "fractalnet", "depth": 21}, "depth", "FractalNet depth is B x 2^(C-1) = 20 for B=5, C=3; got 21"),
    ({"family": "vgg", "depth": 15}, "depth", "VGG has 11, 13, 16 or 19 layers; got 15, try 13 or 16"),
    ({"stem": "imagenet", "num_classes": 1000, "shortcut": "B", "depth": 20}, "depth",
     "an ImageNet ResNet has 18, 34, 50, 101 or 152 layers; got 20, try 18 or 34"),
    ({"family": "densenet", "stem": "imagenet", "block": "bottleneck", "compression": 0.5, "depth": 120}, "depth",
     "ImageNet DenseNet has 121, 169 or 201 layers; got 120, try 121"),
    ({"family": "resnext", "stem": "imagenet", "cardinality": 32, "bottleneck_width": 4, "depth": 34}, "depth",
     "has 50, 101 or 152 layers; got 34, try 50"),
    ({"family": "highway", "depth": 3}, "depth", "at least 3 highway layers"),
    ({"depth": 0}, "depth", "must be between 1 and 2000 layers; got 0"),
    ({"depth": -8}, "depth", "got -8"),
    ({"depth": 10**9}, "depth", "got 1000000000"),
]

BAD_VALUES = [
    ({"num_classes": 0}, "num_classes", "must be between 2 and 100000; got 0, try 2"),
    ({"num_classes": -3}, "num_classes", "got -3"),
    ({"num_classes": 10**8}, "num_classes", "try 100000"),
    ({"width_factor": 0}, "width_factor", "got 0, try 1"),
    ({"width_factor": 65}, "width_factor", "got 65, try 64"),
    ({"base_width": 0}, "base_width", "got 0, try 1"),
    ({"base_width": 5000}, "base_width", "try 1024"),
    ({"family": "resnext", "cardinality": 0}, "cardinality", "got 0, try 1"),
    ({"family": "resnext", "bottleneck_width": 0}, "bottleneck_width", "got 0"),
    ({"family": "densenet", "growth_rate": 0}, "growth_rate", "got 0"),
    ({"family": "densenet", "compression": 0.0}, "compression", "theta must be in (0, 1]"),
    ({"family": "densenet", "compression": 1.5}, "compression", "got 1.5, try 0.5"),
    ({"family": "densenet", "block": "bottleneck", "compression": 0.01}, "compression",
     "leaves stage2 with 0 channels; got 0.01, try 0.5"),  # found by tests/test_hypothesis.py
    ({"base_width": 1}, "base_width", "option A's zero-padded shortcut cannot shrink 16 channels to 1 in stage1; "
                                      "got Branch width d 1, try 16 or Shortcut option 'B'"),  # found by test_hypothesis.py
    ({"family": "shake_shake", "base_width": 1}, "base_width", "need 2 channels or more; got 1, try 32"),
    ({"family": "wrn", "dropout": 1.0}, "dropout", "probability in [0, 1); got 1.0"),
    ({"family": "wrn", "dropout": -0.1}, "dropout", "got -0.1"),
    ({"stochastic_depth": 1.0}, "stochastic_depth", "probability"),
    ({"family": "fractalnet", "fractal_columns": 0}, "fractal_columns", "got 0, try 1"),
    ({"family": "fractalnet", "fractal_columns": 7}, "fractal_columns", "got 7, try 6"),
    ({"family": "fractalnet", "fractal_blocks": 6}, "fractal_blocks", "got 6, try 5"),
    ({"family": "fractalnet", "drop_path_global": 1.5}, "drop_path_global", "[0, 1]"),
    ({"family": "pyramidnet", "pyramid_alpha": -1}, "pyramid_alpha", "got -1"),
    ({"shortcut_variant": "exclusive_gating", "gate_bias": 100.0}, "gate_bias", "got 100.0, try 20.0"),
    ({"shortcut_variant": "constant_scaling", "shortcut_scale": -1.0}, "shortcut_scale", "got -1.0"),
    ({"se_reduction": -1}, "se_reduction", "got -1"),
    ({"se_reduction": 17}, "se_reduction", "r=17 leaves no channels in the narrowest block (16 channels)"),
    ({"depth": "20"}, "depth", "must be a whole number; got '20'"),
    ({"depth": 20.5}, "depth", "must be a whole number; got 20.5"),
    ({"depth": True}, "depth", "must be a whole number"),
    ({"depth": None}, "depth", "must be a whole number; got None"),
    ({"dropout": float("nan")}, "dropout", "must be a finite number"),
    ({"gate_bias": float("inf")}, "gate_bias", "must be a finite number"),
    ({"zero_init_residual": "yes"}, "zero_init_residual", "must be true or false; got 'yes'"),
]

UNKNOWN_NAMES = [
    ({"family": "resnet50"}, "family", "unknown value 'resnet50'; choose from plain, resnet, wrn, resnext"),
    ({"block": "wide"}, "block", "choose from basic, bottleneck"),
    ({"shortcut": "D"}, "shortcut", "unknown value 'D'; choose from A, B, C"),
    ({"activation": "preact"}, "activation", "choose from original, bn_after_add, relu_before_add"),
    ({"stem": "mnist"}, "stem", "choose from cifar, imagenet"),
    ({"shortcut_variant": "gated"}, "shortcut_variant", "exclusive_gating"),
    ({"family": "shake_shake", "shake_backward": "random"}, "shake_backward", "choose from shake, even, keep"),
    ({"family": ["resnet"]}, "family", "unknown value ['resnet']"),
    ({"dpeth": 20}, "dpeth", "unknown field; choose from family, block, depth"),
]

WRONG_TOGETHER = [
    ({"cardinality": 8}, "cardinality",
     "only applies to ResNeXt, Shake-Shake; got 8 for ResNet / pre-activation, reset it to 1"),
    ({"growth_rate": 24}, "growth_rate", "only applies to DenseNet"),
    ({"shake_forward": "even"}, "shake_forward", "only applies to Shake-Shake"),
    ({"family": "plain", "shortcut": "B"}, "shortcut", "only applies to"),
    ({"family": "plain", "stochastic_depth": 0.2}, "stochastic_depth", "only applies to"),
    ({"family": "pyramidnet", "width_factor": 2}, "width_factor", "only applies to"),
    ({"family": "densenet", "se_reduction": 4}, "se_reduction", "only applies to"),
    ({"gate_bias": -6.0}, "gate_bias", "only used by the gating shortcut variants"),
    ({"shortcut_scale": 0.5}, "shortcut_scale", "scales only apply to shortcut_variant 'constant_scaling'"),
    ({"shortcut_dropout": 0.3}, "shortcut_dropout", "only used by shortcut_variant 'dropout'"),
    ({"shortcut_variant": "conv1x1", "activation": "full_preact"}, "shortcut_variant", "use activation 'original'"),
    ({"family": "shake_shake", "stem": "imagenet"}, "stem", "Shake-Shake is a CIFAR design"),
    ({"family": "vgg", "block": "bottleneck"}, "block", "VGG has one block type"),
    ({"family": "resnext", "block": "basic"}, "block", "ResNeXt uses bottleneck blocks"),
    ({"family": "wrn", "block": "bottleneck"}, "block", "a CIFAR Wide ResNet uses basic blocks"),
    ({"stem": "imagenet", "num_classes": 1000, "depth": 50}, "block",
     "ImageNet ResNet / pre-activation-50 uses bottleneck blocks; got 'basic'"),
    ({"zero_init_residual": True, "activation": "full_preact"}, "zero_init_residual", "no BN at the end"),
    ({"family": "wrn", "zero_init_residual": True}, "zero_init_residual", "turn it off"),
]


@pytest.mark.parametrize("data, field, text", BAD_DEPTHS + BAD_VALUES + UNKNOWN_NAMES + WRONG_TOGETHER)
def test_bad_input_raises_spec_error_naming_field_rule_value(data, field, text):
    with pytest.raises(SpecError) as err:
        ArchSpec.from_dict(data)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    assert text in str(err.value)


def test_issue_example_message_exactly():
    with pytest.raises(SpecError) as err:
        validate(PRESETS["resnet20"].replace(depth=21))
    assert str(err.value) == "depth: a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56, 110, ...); got 21, try 20 or 26"


@pytest.mark.parametrize("stem, depth", [("cifar", 29), ("imagenet", 50)])
@pytest.mark.parametrize("cardinality", [1, 3, 7, 32, 97, 256])
@pytest.mark.parametrize("bottleneck_width", [1, 3, 64, 1024])
def test_grouped_width_is_always_a_multiple_of_the_cardinality(stem, depth, cardinality, bottleneck_width):
    # Why validate has no "C must divide the grouped width" rule: layout() makes every ResNeXt grouped width
    # C * d * 2^i, so no spec can break it (the rule existed, reachable only by monkeypatching layout).
    spec = ArchSpec(family="resnext", block="bottleneck", stem=stem, depth=depth, cardinality=cardinality,
                    bottleneck_width=bottleneck_width, shortcut="B")
    for i, stage in enumerate(layout(spec).stages):
        assert set(stage.inner_widths) == {cardinality * bottleneck_width * 2**i}


@pytest.mark.parametrize("data", [[1, 2], "resnet20", None, 20])
def test_from_dict_needs_an_object(data):
    with pytest.raises(SpecError, match="spec: expected a JSON object"):
        ArchSpec.from_dict(data)


@pytest.mark.parametrize("text", ["not json", "{", "", "[]", "null"])
def test_from_json_refuses_bad_text(text):
    with pytest.raises(SpecError) as err:
        ArchSpec.from_json(text)
    assert err.value.field == "spec"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_validates_and_round_trips(name):
    spec = PRESETS[name]
    validate(spec)
    assert ArchSpec.from_dict(spec.to_dict()) == spec
    assert ArchSpec.from_json(spec.to_json()) == spec
    assert ArchSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert preset_name(ArchSpec.from_json(spec.to_json())) == name


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_settings_apply_to_their_family(name):
    spec = PRESETS[name]
    defaults = ArchSpec()
    for f in dataclasses.fields(spec):
        if getattr(spec, f.name) != getattr(defaults, f.name):
            assert applies(f.name, spec.family) or f.name in ("family", "block", "depth", "stem", "num_classes",
                                                              "base_width", "shortcut_variant", "activation")


@pytest.mark.parametrize("family", sorted(FAMILY_DEFAULTS))
def test_from_dict_fills_from_the_family_default(family):
    assert ArchSpec.from_dict({"family": family}) == FAMILY_DEFAULTS[family]


def test_from_dict_fills_only_the_missing_fields():
    assert ArchSpec.from_dict({}) == PRESETS["resnet20"]
    spec = ArchSpec.from_dict({"family": "wrn", "depth": 28, "width_factor": 10})
    assert spec == PRESETS["wrn_28_10"]  # activation and shortcut came from WRN-16-4
    spec = ArchSpec.from_dict({"family": "densenet", "depth": 100})
    assert (spec.growth_rate, spec.block, spec.compression) == (12, "basic", 1.0)


def test_json_whole_floats_become_ints():
    assert ArchSpec.from_json('{"depth": 56.0}').depth == 56


@pytest.mark.parametrize("name", ["resnet20", "preact_resnet164", "wrn_28_10", "resnext29_8x64d", "densenet40_k12",
                                  "vgg16", "fractalnet20", "highway19"])
def test_depth_rule_accepts_the_preset_depth(name):
    spec = PRESETS[name]
    assert spec.depth in depth_rule(spec)[1]


class RealAllocations(TorchDispatchMode):
    """Records every tensor an op produces on a real (non-meta) device."""

    def __init__(self):
        super().__init__()
        self.real: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                self.real.append(f"{func} {tuple(t.shape)}")
        return out


@pytest.mark.parametrize("data", [d for d, _, _ in BAD_DEPTHS[:6] + WRONG_TOGETHER[:6]])
def test_invalid_specs_are_refused_before_any_allocation(data):
    bad = dataclasses.replace(FAMILY_DEFAULTS[data.get("family", "resnet")], **data)
    with RealAllocations() as spy, pytest.raises(SpecError):
        build_model(bad)
    assert spy.real == []


def test_resnet1202_at_width_factor_10_is_refused_with_the_estimate_without_allocating():
    huge = PRESETS["resnet1202"].replace(width_factor=10)
    validate(huge)  # a valid design, just too big
    cost.cache_clear()
    start = time.perf_counter()
    with RealAllocations() as spy, pytest.raises(SpecError) as err:
        build_model(huge)
    elapsed = time.perf_counter() - start
    assert spy.real == []
    assert err.value.field == "width_factor"
    assert "Width factor k 10 gives about 1,934M parameters, over the 250M limit; try Width factor k 3" in str(err.value)
    assert elapsed < 15  # counted on the meta device (about 1 s alone; the allocation spy slows it)


@pytest.mark.parametrize("design, field, message", [
    # issue 12: cardinality 256 was blamed on "depth: depth 29 ..."; messages use the Build page's labels
    (PRESETS["resnext29_8x64d"].replace(cardinality=256), "cardinality",
     "Cardinality C 256 gives about 1,080M parameters, over the 250M limit; try Cardinality C 8"),
    (PRESETS["wrn_28_10"].replace(width_factor=64), "width_factor",
     "Width factor k 64 gives about 1,492M parameters, over the 250M limit; try Width factor k 26"),
])
def test_an_oversized_design_is_blamed_on_the_setting_that_made_it_big(design, field, message):
    with pytest.raises(SpecError) as err:
        check_budget(design)
    assert err.value.field == field and described(err.value) == message


def test_messages_name_fields_by_their_labels():
    with pytest.raises(SpecError) as err:
        validate(ArchSpec(depth=21))
    assert described(err.value).startswith("Depth: a CIFAR ResNet has 6n+2 layers"), described(err.value)


def test_cost_of_an_oversized_design_still_answers():
    assert cost(PRESETS["resnet1202"].replace(width_factor=10)).params > 250_000_000


# ---------------------------------------------------------------- the field table (explorer.models.fields)

TABLE_FIELDS = [f.name for f in dataclasses.fields(ArchSpec)]


@pytest.mark.parametrize("name", TABLE_FIELDS)
def test_every_field_has_a_table_row_whose_choices_are_its_type(name):
    s = setting(name)
    assert s.label
    kind = FIELD_TYPES[name]
    if get_origin(kind) is Literal:
        assert set(s.choices or get_args(kind)) == set(get_args(kind))  # labels for every value, no stray ones
    if s.families is not None:
        assert set(s.families) <= set(FAMILY_LABELS)


@pytest.mark.parametrize("name", [n for n in TABLE_FIELDS if setting(n).step is not None])
def test_widget_bounds_are_valid_values_and_one_step_past_them_is_refused(name):
    # The Build page's number widgets and validate() read the same row, so the widget's ends validate.
    low, high, step = widget_bounds(name)
    family = next(f for f in FAMILY_DEFAULTS if applies(name, f))
    base = FAMILY_DEFAULTS[family]
    needs = setting(name).needs
    if needs is not None:
        base = base.replace(**{needs.field: needs.values[0]})
    rule_free = {"num_classes", "gate_bias", "shortcut_scale", "residual_scale", "dropout", "stochastic_depth",
                 "shortcut_dropout", "compression", "drop_path_local", "drop_path_global", "pyramid_alpha"}
    if name in rule_free:  # fields no other rule ties to the rest of the design
        validate(base.replace(**{name: low}))
        validate(base.replace(**{name: high}))
    with pytest.raises(SpecError) as err:
        validate(base.replace(**{name: high + step}))
    assert err.value.field == name


def test_applies_and_offered_read_the_table():
    resnet, highway, shake = FAMILY_DEFAULTS["resnet"], FAMILY_DEFAULTS["highway"], FAMILY_DEFAULTS["shake_shake"]
    assert applies("width_factor", "wrn") and not applies("width_factor", "pyramidnet")
    assert not offered("gate_bias", resnet)  # needs a gating shortcut variant
    assert offered("gate_bias", resnet.replace(shortcut_variant="exclusive_gating"))
    assert offered("gate_bias", highway)  # Highway has no shortcut_variant: its gate bias always shows
    assert offered("base_width", shake) and not offered("base_width", resnet) and applies("base_width", "resnet")
    assert offered("block", resnet) and not offered("block", PRESETS["resnet50"])  # ImageNet: depth fixes it
    assert not offered("stem", shake)


@pytest.mark.parametrize("family, depth, block", [("resnet", 18, "basic"), ("resnet", 50, "bottleneck"),
                                                  ("plain", 34, "basic"), ("wrn", 101, "bottleneck")])
def test_imagenet_depth_fixes_the_block(family, depth, block):
    assert imagenet_block(ArchSpec(family=family, stem="imagenet", depth=depth)) == block
    assert imagenet_block(ArchSpec(family=family, depth=20)) is None


def test_depth_choices_stop_at_the_maximum_depth():
    rule, valid = depth_choices(PRESETS["resnet20"])
    assert valid[:3] == [8, 14, 20] and max(valid) <= 2000 and "6n+2" in rule


def test_family_defaults_are_the_presets_and_the_imagenet_designs_validate():
    for family, spec in FAMILY_DEFAULTS.items():
        assert preset_name(spec) is not None and spec.family == family
        assert family_default(family) == spec
    for family in IMAGENET_DEFAULTS:
        spec = family_default(family, "imagenet")
        validate(spec)
        assert (spec.family, spec.stem) == (family, "imagenet")


def test_every_family_has_a_plan_a_builder_a_default_and_a_label():
    """Adding a family to the Literal without its plan, builder or label fails here, not in a user's session."""
    families = set(get_args(Family))
    assert set(PLANS) == families, "explorer.models.plans.PLANS"
    assert set(FAMILY_BUILDERS) == families, "explorer.models.families.FAMILY_BUILDERS"
    assert set(FAMILY_DEFAULTS) == families, "explorer.models.spec.FAMILY_DEFAULTS (from PLANS)"
    assert set(FAMILY_LABELS) == families, "explorer.models.fields.FAMILY_LABELS"
    assert set(IMAGENET_DEFAULTS) == set(IMAGENET_FAMILIES), "presets.IMAGENET_DEFAULTS vs fields.IMAGENET_FAMILIES"
    for family, plan in PLANS.items():
        spec = FAMILY_DEFAULTS[family]
        assert "family" not in plan.default and spec.depth in plan.depth_rule(spec)[1], family
        assert layout(spec).weight_layers == spec.depth, family  # the canonical design's layout counts its depth


def test_bottleneck_stride_is_offered_and_accepted_only_with_bottleneck_blocks():
    resnet, pyramid = FAMILY_DEFAULTS["resnet"], FAMILY_DEFAULTS["pyramidnet"]
    assert not offered("bottleneck_stride", resnet) and offered("bottleneck_stride", PRESETS["preact_resnet164"])
    assert offered("bottleneck_stride", PRESETS["resnet50"]) and not offered("bottleneck_stride", PRESETS["resnet34"])
    assert not offered("bottleneck_stride", FAMILY_DEFAULTS["densenet"].replace(block="bottleneck"))
    # Without bottleneck blocks it means nothing: it takes the unset value, so equal nets are equal specs.
    assert pyramid.bottleneck_stride == "3x3" and pyramid.replace(bottleneck_stride="1x1") == pyramid
    assert ArchSpec.from_dict({"stem": "imagenet", "depth": 18, "shortcut": "B", "num_classes": 1000}) == \
        PRESETS["resnet18"]
    assert PRESETS["resnet50"].replace(depth=34, block="basic") == PRESETS["resnet34"]
    densenet = FAMILY_DEFAULTS["densenet"].replace(block="bottleneck")
    assert densenet.replace(bottleneck_stride="3x3") == densenet  # DenseNet-B's 1x1 never strides


def test_from_dict_leaves_an_unset_bottleneck_stride_to_the_designs_family_and_stem():
    data = {"stem": "imagenet", "depth": 50, "block": "bottleneck", "shortcut": "B", "num_classes": 1000}
    assert ArchSpec.from_dict(data) == PRESETS["resnet50"]
    assert ArchSpec.from_dict({**data, "bottleneck_stride": "1x1"}).bottleneck_stride == "1x1"
    assert ArchSpec.from_dict({"depth": 164, "block": "bottleneck"}).bottleneck_stride == "1x1"
