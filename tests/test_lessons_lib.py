"""Library tests for explorer.lessons: numbers that would catch a wrong lesson."""

from __future__ import annotations

import pytest
from torch import nn

from explorer import cost
from explorer.lessons import LESSON_KEYS, lesson
from explorer.lessons import budget, gradients


def test_lesson_keys_unique_and_fallback() -> None:
    assert len(set(LESSON_KEYS)) == len(LESSON_KEYS) == 8
    assert lesson("budget").key == "budget"
    assert lesson("nonsense").key == "gradients"


# ------------------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("activation, module", [("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh), ("relu", nn.ReLU)])
def test_lesson_net_swaps_every_activation(activation: str, module: type) -> None:
    net = gradients.lesson_net("plain", 20, activation, "xavier", batchnorm=False)
    kinds = {type(m) for m in net.modules()}
    assert module in kinds
    assert not ({nn.ReLU, nn.Sigmoid, nn.Tanh} - {module}) & kinds
    assert nn.BatchNorm2d not in kinds


def test_xavier_init_has_the_glorot_std() -> None:
    net = gradients.lesson_net("plain", 20, "tanh", "xavier")
    conv = net.stage2.block2.residual.conv1  # 32 -> 32 channels, 3x3: fan_in = fan_out = 288
    assert conv.weight.std().item() == pytest.approx((2 / (288 + 288)) ** 0.5, rel=0.05)


@pytest.mark.parametrize("batchnorm, plain_below", [(False, 1e-20), (True, 0.1)])
def test_plain_sigmoid_vanishes_residual_does_not(batchnorm: bool, plain_below: float) -> None:
    plain = gradients.gradient_profile("plain", 56, "sigmoid", "xavier", batchnorm)
    residual = gradients.gradient_profile("resnet", 56, "sigmoid", "xavier", batchnorm)
    assert len(plain.layers) == len(residual.layers) == 56  # the papers' depth counts the weight layers
    assert plain.first_to_last() < plain_below
    assert 0.1 < residual.first_to_last() < 10
    # Sigmoid's slope is at most 1/4: the reason each plain layer shrinks the gradient.
    assert (plain.activations["slope"] <= 0.25 + 1e-12).all()


def test_profile_counts_every_weight_layer() -> None:
    prof = gradients.gradient_profile("resnet", 20, "relu", "he", True, batch_size=4)
    assert list(prof.layers["name"])[:2] == ["stem.conv", "stage1.block1.residual.conv1"]
    assert prof.layers["name"].iloc[-1] == "head.fc"
    assert len(prof.layers) == 20  # option A shortcuts add no weight layers


# ---------------------------------------------------------------------------------------------------- budget
def test_resnext_templates_reproduce_table_2() -> None:
    """At ResNet-50's parameter count the solver picks exactly the paper's 1x64d ... 32x4d."""
    frame = budget.resnext_templates(25.5e6, "params", "imagenet")
    assert list(frame["design"]) == ["1x64d", "2x40d", "4x24d", "8x14d", "32x4d"]
    assert frame["params"].iloc[-1] == 25_028_904  # torchvision resnext50_32x4d
    assert (frame["vs target"].abs() < 0.03).all()


@pytest.mark.parametrize("target, measure", [(4.9e6, "params"), (0.75e9, "macs"), (30e6, "params")])
def test_resnext_and_wrn_counts_equal_the_built_models(target: float, measure: str) -> None:
    for row in budget.resnext_templates(target, measure, "cifar").itertuples():
        got = cost(budget.resnext_spec("cifar", int(row[2]), int(row[3])))
        assert (got.params, got.macs) == (row.params, row[5])
    pairs = budget.wrn_pairs(target, measure)
    assert len(pairs) > 0
    for row in pairs.itertuples():
        got = cost(budget.wrn_spec(int(row.depth), int(row.k)))
        assert (got.params, got.macs) == (row.params, row[5])
        assert abs(row[6]) <= 0.25


def test_budget_rejects_nonpositive_target() -> None:
    with pytest.raises(ValueError, match="target"):
        budget.resnext_templates(0, "params")


def test_published_chart_has_sources_and_the_resnet_rows() -> None:
    chart = budget.published_chart()
    row = chart[chart["preset"] == "resnet56"].iloc[0]
    assert (row["params (M)"], row["error (%)"]) == (0.85, 6.97)
    assert chart["source"].str.len().min() > 10
    assert {"resnet", "wrn", "resnext", "densenet"} <= set(chart["family"])


def test_images_per_second_is_positive() -> None:
    assert budget.images_per_second(budget.wrn_spec(10, 1), batch_size=2, steps=1) > 0
