"""The lessons run in one Streamlit server shared by every session: no lesson function may move a global RNG
(torch's, Python's `random`, numpy's), and the same seed must give the same numbers."""

from __future__ import annotations

import inspect
import random
import tempfile
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import explorer.lessons
from explorer.lessons import (budget, cardinality, charts, degradation, dense, forms, gradients, highway, imagenet,
                              lesion, seeding, shake, stochastic, wrn)
from explorer.training.runs import RunStore

SMALL_DENSE = dense.PRESETS["densenet40_k12"].replace(depth=10)  # 1 layer per block: the same code, 10x cheaper
HIGHWAY = highway.design(6, -2.0)  # lesson 12's net, shallow
CURVES = pd.DataFrame({"net": ["a", "a"], "epoch": [1, 2], "split": ["train", "train"], "error": [50.0, 0.0]})

# Every public function of the lesson modules, called the way the page calls it (small sizes).
CASES: dict[str, Callable[[], Any]] = {
    "lessons.lesson": lambda: explorer.lessons.lesson("budget"),
    "budget.resnext_spec": lambda: budget.resnext_spec("cifar", 8, 4),
    "budget.wrn_spec": lambda: budget.wrn_spec(16, 4),
    "budget.resnext_templates": lambda: budget.resnext_templates(4.9e6),
    "budget.wrn_pairs": lambda: budget.wrn_pairs(4.9e6),
    "budget.published_chart": budget.published_chart,
    "budget.with_macs": lambda: budget.with_macs(budget.published_chart().head(3)),
    "budget.images_per_second": lambda: budget.images_per_second(budget.wrn_spec(10, 1), batch_size=2, steps=1),
    "charts.styled": lambda: charts.styled(charts.curve_chart(CURVES)),
    "charts.error_chart": lambda: charts.error_chart(budget.published_chart(), "params (M)"),
    "charts.curve_chart": lambda: charts.curve_chart(CURVES, log=True),
    "charts.shake_chart": lambda: charts.shake_chart(shake.step_coefficients(4), step=1),
    "degradation.verdict": lambda: degradation.verdict({"plain-20": 1.0, "plain-56": 9.0}),
    "degradation.seed_finals": lambda: degradation.seed_finals(pd.DataFrame({"net": ["plain-20"], "seed 0": [1.0]})),
    "degradation.expected": lambda: degradation.expected({"seed 0": {"ResNet-20": 2.0, "ResNet-56": 1.5}}),
    "dense.channel_growth": dense.channel_growth,
    "dense.connectivity": lambda: dense.connectivity(16, 12, 4),
    "dense.feature_reuse": lambda: dense.feature_reuse(dense.fresh(SMALL_DENSE)),
    "dense.params_vs_error": dense.params_vs_error,
    "dense.memory": lambda: dense.memory(("resnet20", "densenet40_k12")),
    "dense.fresh": lambda: dense.fresh(SMALL_DENSE),
    "dense.trained_model": lambda: dense.trained_model(RunStore(tempfile.mkdtemp()), []),
    "forms.block_spec": lambda: forms.block_spec(8, 4),
    "forms.compare_forms": lambda: forms.compare_forms(4, 4, size=8, batch_size=2, repeats=1),
    "gradients.lesson_net": lambda: gradients.lesson_net("resnet", 20, "tanh", "he"),
    "gradients.gradient_profile": lambda: gradients.gradient_profile("plain", 20, "sigmoid", "xavier", False),
    "gradients.verdict": lambda: gradients.verdict({"plain-20": 1e-9, "ResNet-20": 0.7}),
    "shake.step_coefficients": lambda: shake.step_coefficients(8, step=2, seed=5),
    "shake.steps": lambda: shake.steps(3, 4, "shake", "shake", "image"),
    "shake.paper_table": shake.paper_table,
    "shake.design": lambda: shake.design("shake", "even", "batch"),
    "cardinality.template": lambda: cardinality.template(50, 4, 24),
    "cardinality.template_costs": cardinality.template_costs,
    "cardinality.lesson_table": cardinality.lesson_table,
    "cardinality.published_templates": cardinality.published_templates,
    "cardinality.equal_complexity": lambda: cardinality.equal_complexity(cardinality.template_costs()),
    "highway.design": lambda: highway.design(6, -2.0),
    "highway.batch": lambda: highway.batch(4),
    "highway.fresh": lambda: highway.fresh(HIGHWAY),
    "highway.gate_layers": lambda: [name for name, _ in highway.gate_layers(highway.fresh(HIGHWAY))],
    "highway.gate_statistics": lambda: highway.gate_statistics(highway.fresh(HIGHWAY), highway.batch(2)[0]),
    "highway.plain_twin": lambda: highway.plain_twin(highway.fresh(HIGHWAY)),
    "highway.without_batchnorm": lambda: highway.without_batchnorm(highway.fresh(HIGHWAY)),
    "highway.tiny_run": lambda: highway.tiny_run(HIGHWAY, steps=2, seconds=600.0),  # never cut short by time
    "highway.verdict": lambda: highway.verdict(highway.tiny_run(HIGHWAY, steps=2, seconds=600.0).losses),
    "highway.published": highway.published,
    "imagenet.imagenet_designs": imagenet.imagenet_designs,
    "imagenet.cifar_designs": imagenet.cifar_designs,
    "imagenet.counts": lambda: imagenet.counts(imagenet.cifar_designs()),
    "imagenet.imagenet_table": imagenet.imagenet_table,
    "imagenet.cifar_published": imagenet.cifar_published,
    "imagenet.verdict": lambda: imagenet.verdict(imagenet.imagenet_table()),
    "stochastic.design": lambda: stochastic.design(110, 0.5),
    "stochastic.linear_decay": lambda: stochastic.linear_decay(18, 0.5),
    "stochastic.survival": lambda: stochastic.survival(stochastic.design(20, 0.5)),
    "stochastic.expected_blocks": lambda: stochastic.expected_blocks(stochastic.survival(stochastic.design(20, 0.5))),
    "stochastic.paper_rows": stochastic.paper_rows,
    "wrn.design": lambda: wrn.design(16, 4),
    "wrn.grid": wrn.grid,
    "wrn.dropout_table": wrn.dropout_table,
    "wrn.error_grid": lambda: wrn.error_grid(wrn.grid()),
    "wrn.verdict": lambda: wrn.verdict(wrn.grid()),
    "wrn.timeable": lambda: wrn.timeable(10**9),
    "wrn.speed": lambda: wrn.speed(10, 1, batch=1),
    "lesion.lesion_study": lambda: lesion.lesion_study(gradients.lesson_net("resnet", 8).eval(),
                                                       torch.zeros(4, 3, 32, 32), torch.zeros(4, dtype=torch.long)),
}
TIMINGS = {"budget.images_per_second", "wrn.speed"}  # returns a measured speed: only the RNG check applies
TIMED_FIELDS = ("seconds", "ms per forward")  # wall-clock parts of otherwise deterministic results


def _public_functions() -> set[str]:
    found = {f"lessons.{name}" for name, f in inspect.getmembers(explorer.lessons, inspect.isfunction)
             if not name.startswith("_") and f.__module__ == "explorer.lessons"}
    for module in (budget, cardinality, charts, degradation, dense, forms, gradients, highway, imagenet, shake,
                   stochastic, wrn):
        short = module.__name__.rsplit(".", 1)[1]
        found |= {f"{short}.{name}" for name, f in inspect.getmembers(module, inspect.isfunction)
                  if not name.startswith("_") and f.__module__ == module.__name__}
    return found


def test_every_public_lesson_function_has_a_case() -> None:
    missing = _public_functions() - CASES.keys()
    assert not missing, f"add these to CASES (and so to the RNG check): {sorted(missing)}"


def _rng_states() -> tuple:
    return torch.get_rng_state(), random.getstate(), np.random.get_state()


def _comparable(value: Any) -> Any:
    """The result reduced to plain values, wall-clock timings left out."""
    if isinstance(value, pd.DataFrame):
        kept = value.drop(columns=[c for c in TIMED_FIELDS if c in value.columns])
        return kept.to_json(orient="split", double_precision=15)  # NaN == NaN here, unlike in a dict
    if isinstance(value, nn.Module):
        return {k: v.tolist() for k, v in value.state_dict().items()}
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "to_json") and callable(value.to_json):  # altair charts
        return value.to_json()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _comparable(getattr(value, f.name)) for f in fields(value) if f.name not in TIMED_FIELDS}
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_comparable(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(CASES))
def test_lesson_function_leaves_global_rngs_alone_and_repeats(name: str) -> None:
    torch.manual_seed(1234)  # a state the lesson's own seeds (0, 1, 5, ...) cannot reproduce by accident
    random.seed(1234)
    np.random.seed(1234)
    torch_before, random_before, numpy_before = _rng_states()
    first = CASES[name]()
    torch_after, random_after, numpy_after = _rng_states()
    assert torch.equal(torch_before, torch_after), f"{name} moved torch's global RNG"
    assert random_before == random_after, f"{name} moved Python's random"
    assert all(np.array_equal(a, b) for a, b in zip(numpy_before, numpy_after)), f"{name} moved numpy's RNG"
    if name not in TIMINGS:
        torch.manual_seed(99)  # a different global state must not change the result either
        assert _comparable(CASES[name]()) == _comparable(first)


def test_seeded_restores_the_state_even_when_the_block_raises() -> None:
    before = torch.get_rng_state()
    with pytest.raises(RuntimeError), seeding.seeded(3):
        torch.rand(5)
        raise RuntimeError("boom")
    assert torch.equal(torch.get_rng_state(), before)
    with seeding.seeded(3):
        a = torch.rand(5)
    with seeding.seeded(3):
        assert torch.equal(torch.rand(5), a)
    assert torch.equal(torch.rand(5, generator=seeding.generator(3)), a)  # the same stream, no global state
    assert torch.equal(torch.get_rng_state(), before)


def test_different_seeds_give_different_nets() -> None:
    a = gradients.lesson_net("plain", 8, seed=0).stem.conv.weight
    b = gradients.lesson_net("plain", 8, seed=1).stem.conv.weight
    assert not torch.equal(a, b)
