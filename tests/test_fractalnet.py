import random

import pytest
import torch

from explorer import PRESETS, build_model, cost
from explorer.models.families.fractalnet import FractalBlock, Join
from explorer.models.plans.fractalnet import dropout_rates

SMALL = PRESETS["fractalnet20"].replace(fractal_blocks=2, depth=8, base_width=8)


def test_fractalnet20_has_the_published_38_6m():
    c = cost(PRESETS["fractalnet20"])
    assert c.params == 38_647_114 and f"{c.params / 1e6:.1f}M" == "38.6M"
    assert c.weight_layers == 20


@pytest.mark.parametrize("columns, convs", [(1, 1), (2, 3), (3, 7), (4, 15)])
def test_block_has_2c_minus_1_convs(columns, convs):
    block = FractalBlock(in_channels=4, out_channels=8, columns=columns, drop_prob=0.15)
    n = sum(1 for m in block.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    assert n == convs


def test_join_is_the_mean_and_local_drop_path_keeps_at_least_one():
    join = Join(0.9).train()
    inputs = [torch.full((1, 1, 1, 1), float(v)) for v in (1, 2, 3)]
    torch.manual_seed(0)
    kept = [tuple(join.kept(3).tolist()) for _ in range(200)]
    assert all(any(k) for k in kept) and len(set(kept)) > 3  # random subsets, never empty
    assert any(sum(k) == 1 for k in kept) and any(sum(k) > 1 for k in kept)
    assert join.eval()(inputs).item() == pytest.approx(2.0)  # eval: mean of all
    torch.manual_seed(0)
    means = [join.train()(inputs).item() for _ in range(200)]
    assert means == [sum(v for v, kept_v in zip((1, 2, 3), k) if kept_v) / sum(k) for k in kept]  # mean of kept


def _grad_free_convs(model, x, column):
    model.zero_grad()
    model.train()(x, column).sum().backward()
    return {n for n, p in model.named_parameters() if n.endswith("conv.weight") and p.grad is None}


def test_global_drop_path_uses_one_column_only():
    model = build_model(SMALL.replace(drop_path_local=0.0))
    x = torch.randn(2, 3, 32, 32)
    shallow_only = _grad_free_convs(model, x, column=0)
    assert "stage1.path.conv.conv.weight" not in shallow_only
    assert "stage1.path.first.conv.conv.weight" in shallow_only
    deepest = _grad_free_convs(model, x, column=2)
    assert "stage1.path.conv.conv.weight" in deepest and "stage1.path.second.second.conv.conv.weight" not in deepest
    # the deepest column has 2^(C-1) = 4 convs per block: all the others (3 of 7) get no gradient
    assert len([n for n in deepest if n.startswith("stage1.")]) == 3


@pytest.mark.parametrize("fraction, expect_global", [(0.0, False), (1.0, True)])
def test_global_fraction_decides_how_often_a_column_is_picked(fraction, expect_global):
    model = build_model(SMALL.replace(drop_path_global=fraction)).train()
    torch.manual_seed(1)
    picks = [model.pick_column() for _ in range(20)]
    assert all((p is not None) == expect_global for p in picks)
    assert model.eval().pick_column() is None


def test_eval_is_deterministic_and_training_runs():
    model = build_model(PRESETS["fractalnet20"])
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    out.sum().backward()
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def _train_step(model, seed):
    torch.manual_seed(seed)
    out = model.train()(torch.ones(2, 3, 32, 32))
    model.zero_grad()
    out.sum().backward()
    return out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_drop_path_follows_torch_seed_and_not_python_random():
    # training seeds torch only: drop-path must draw from torch for two runs with one seed to agree
    model = build_model(SMALL.replace(drop_path_local=0.5, drop_path_global=0.5))
    python_state = random.getstate()
    out, grads = _train_step(model, 0)
    again, grads_again = _train_step(model, 0)
    assert torch.equal(out, again) and all(torch.equal(a, b) for a, b in zip(grads, grads_again))
    assert random.getstate() == python_state
    assert any(not torch.equal(_train_step(model, seed)[0], out) for seed in range(1, 6))  # drop-path is random


# ---------------------------------------------------------------- dropout (the paper's "drop-path + dropout" rows)

def test_dropout_rates_rise_by_block_as_the_paper_fixes_them():
    # Sec. 4.1: "we fix drop rate per block at (0%, 10%, 20%, 30%, 40%)"; gustavla/fractalnet's DROPOUTS.
    spec = PRESETS["fractalnet20_dropout"]
    assert dropout_rates(spec) == (0.0, 0.1, 0.2, 0.3, 0.4)
    assert dropout_rates(spec.replace(fractal_blocks=3, depth=12)) == (0.0, 0.2, 0.4)
    model = build_model(spec)
    for i, rate in enumerate(dropout_rates(spec), start=1):
        units = [m for m in getattr(model, f"stage{i}").modules() if type(m).__name__ == "ConvUnit"]
        assert len(units) == 7  # 2^C - 1 for C=3
        for unit in units:  # conv -> dropout -> BN -> ReLU, as the authors' globals.crox
            expected = ["conv", "dropout", "bn", "relu"] if rate else ["conv", "bn", "relu"]
            assert [name for name, _ in unit.named_children()] == expected
            assert rate == 0 or unit.dropout.p == rate
    widens = [getattr(model, f"stage{i}").widen for i in range(1, 6)]
    assert all(isinstance(w, (torch.nn.Conv2d, torch.nn.Identity)) for w in widens)  # the 1x1 widening has none


def test_dropout_adds_no_parameters_and_is_off_at_eval():
    spec = PRESETS["fractalnet20_dropout"].replace(fractal_dropout=0.9)
    assert cost(spec).params == cost(PRESETS["fractalnet20"]).params == 38_647_114
    model = build_model(spec).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        train = model.train()
        assert not torch.allclose(train(x, column=2), train(x, column=2))  # dropout draws anew in training
