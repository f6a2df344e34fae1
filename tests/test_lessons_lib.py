"""Library tests for explorer.lessons: numbers that would catch a wrong lesson."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from explorer import cost
from explorer.lessons import LESSON_KEYS, lesson
from explorer.lessons import budget, classruns, degradation, dense, forms, gradients, lesion, shake
from explorer.lessons import cardinality, highway, imagenet, stochastic, wrn
from explorer.models.published import table


def test_lesson_keys_unique_and_fallback() -> None:
    assert len(set(LESSON_KEYS)) == len(LESSON_KEYS) == 13
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


@pytest.mark.parametrize("init, stem_var, fc_var", [
    ("xavier", 2 / (27 + 144), 2 / (64 + 10)),  # stem conv 3 -> 16 channels, 3x3: fan_in 27, fan_out 144
    ("he", 2 / 27, 2 / 64),  # fan_in, as eq. (10) of He et al. 2015; the fc is drawn the same way
])
def test_lesson_init_has_the_papers_std(init: str, stem_var: float, fc_var: float) -> None:
    net = gradients.lesson_net("plain", 20, "tanh", init)
    assert net.stem.conv.weight.std().item() == pytest.approx(stem_var ** 0.5, rel=0.1)
    assert net.head.fc.weight.std().item() == pytest.approx(fc_var ** 0.5, rel=0.1)
    conv = net.stage2.block2.residual.conv1  # 32 -> 32 channels, 3x3: fan_in = fan_out = 288
    assert conv.weight.std().item() == pytest.approx((2 / (288 if init == "he" else 576)) ** 0.5, rel=0.05)


@pytest.mark.parametrize("batchnorm, plain_below", [(False, 1e-20), (True, 0.1)])
def test_plain_sigmoid_vanishes_residual_does_not(batchnorm: bool, plain_below: float) -> None:
    plain = gradients.gradient_profile("plain", 56, "sigmoid", "xavier", batchnorm)
    residual = gradients.gradient_profile("resnet", 56, "sigmoid", "xavier", batchnorm)
    assert len(plain.layers) == len(residual.layers) == 56  # the papers' depth counts the weight layers
    assert plain.first_to_last() < plain_below
    assert 0.1 < residual.first_to_last() < 10
    # Sigmoid's slope is at most 1/4: the reason each plain layer shrinks the gradient.
    assert (plain.activations["slope"] <= 0.25 + 1e-12).all()


@pytest.mark.parametrize("family, activation, batchnorm", [("plain", "sigmoid", False), ("resnet", "relu", True)])
def test_renormalised_float32_matches_float64(family: str, activation: str, batchnorm: bool) -> None:
    """The per-block renormalisation is exact: float32 gives float64's norms, even at 1e-35."""
    import torch

    low = gradients.gradient_profile(family, 32, activation, "xavier", batchnorm)
    high = gradients.gradient_profile(family, 32, activation, "xavier", batchnorm, dtype=torch.float64)
    ratio = low.layers["grad_norm"] / high.layers["grad_norm"]
    assert ratio.between(0.98, 1.02).all()


def test_deep_plain_gradient_does_not_underflow() -> None:
    prof = gradients.gradient_profile("plain", 110, "sigmoid", "xavier", False)
    assert 0 < prof.layers["grad_norm"].iloc[0] < 1e-50  # far below float32's smallest number, still measured


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


def test_resnext_templates_at_resnet50_flops_are_table_2_too() -> None:
    """The lesson's ImageNet budget in multiply-adds (4.1G) showed 8x13d, where Table 2 and the caption say 8x14d:
    8x13d is nearer in multiply-adds alone (-3.7% against +4.1%) but 7% short in parameters."""
    frame = budget.resnext_templates(4.1e9, "macs", "imagenet")
    assert list(frame["design"]) == ["1x64d", "2x40d", "4x24d", "8x14d", "32x4d"]
    assert (frame["vs target"].abs() < 0.05).all()


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


# ----------------------------------------------------------------------------------------------------- forms
@pytest.mark.parametrize("cardinality, width", [(8, 4), (32, 4), (2, 40), (1, 64)])
def test_resnext_forms_agree_to_float_tolerance(cardinality: int, width: int) -> None:
    result = forms.compare_forms(cardinality, width, size=8, batch_size=2, repeats=1)
    assert result.table["max |difference| to (c)"].max() < 1e-12
    assert result.table["params"].nunique() == 1
    assert result.outputs["grouped"].abs().mean() > 0.1  # a real signal, not 0 == 0


def test_forms_disagree_without_the_weight_copy() -> None:
    """The agreement comes from the copied weights: a differently seeded split block disagrees."""
    a = forms.compare_forms(4, 4, size=8, batch_size=2, repeats=1, seed=0).outputs["split"]
    b = forms.compare_forms(4, 4, size=8, batch_size=2, repeats=1, seed=1).outputs["grouped"]
    assert (a - b).abs().max() > 1e-3


# ----------------------------------------------------------------------------------------------------- shake
@pytest.mark.parametrize("forward_mode, backward_mode, level", [
    ("shake", "shake", "image"), ("shake", "keep", "batch"), ("even", "even", "image"), ("shake", "even", "batch")])
def test_shake_step_measures_alpha_and_beta(forward_mode: str, backward_mode: str, level: str) -> None:
    frame = shake.step_coefficients(16, forward_mode, backward_mode, level, step=3)
    assert frame["forward weight of F1 (measured)"].tolist() == pytest.approx(frame["alpha"].tolist())
    assert frame["gradient to F1 (measured)"].tolist() == pytest.approx(frame["beta"].tolist())
    assert (frame["gradient to F1 (measured)"] + frame["gradient to F2 (measured)"]).tolist() == pytest.approx([1] * 16)
    if forward_mode == "even":
        assert set(frame["alpha"]) == {0.5}
    if level == "batch":
        assert frame["alpha"].nunique() == 1
    elif forward_mode == "shake":
        assert frame["alpha"].nunique() == 16
    if backward_mode == "keep":
        assert frame["beta"].tolist() == frame["alpha"].tolist()


def test_shake_steps_differ_and_repeat() -> None:
    one = shake.step_coefficients(4, step=0)
    assert one.equals(shake.step_coefficients(4, step=0))
    assert not one.equals(shake.step_coefficients(4, step=1))


def test_shake_paper_table() -> None:
    table = shake.paper_table()
    best = table[(table["forward"] == "Shake") & (table["backward"] == "Shake") & (table["level"] == "Image")]
    assert best["2x96d"].iloc[0] == 2.86
    assert table["source"].str.contains("1705.07485").all()


# ---------------------------------------------------------------------------------------------------- lesion
def _easy_trained(name: str, steps: int = 40):
    """A depth-14 net trained in-process on an easy task (noisy copies of 10 fixed patterns)."""
    import torch
    import torch.nn.functional as F

    from explorer import PRESETS, build_model

    torch.manual_seed(0)
    protos = torch.randn(10, 3, 32, 32)

    def batch(n: int, seed: int):
        gen = torch.Generator().manual_seed(seed)
        y = torch.randint(0, 10, (n,), generator=gen)
        return protos[y] + torch.randn(n, 3, 32, 32, generator=gen), y

    model = build_model(PRESETS[name].replace(depth=14))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(steps):
        x, y = batch(32, step + 1)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, batch(300, 10_000)


@pytest.mark.slow
def test_lesion_residual_degrades_less_than_plain() -> None:
    results = {}
    for name in ("resnet20", "plain20"):
        model, (x, y) = _easy_trained(name)
        frame = lesion.lesion_study(model, x, y)
        assert list(frame["deleted block"]) == list(range(7))  # intact + 6 blocks of a depth-14 net
        assert frame["downsampling"].sum() == 2
        s = lesion.summary(frame)
        results[name] = s["mean with one block deleted"] - s["intact"]
    assert results["resnet20"] < results["plain20"]


def test_deleting_a_residual_block_leaves_its_shortcut() -> None:
    import torch

    from explorer import PRESETS, build_model

    model = build_model(PRESETS["resnet20"]).eval()
    block = model.stage1.block2
    x = torch.randn(2, 16, 32, 32).relu()
    handle = lesion._delete(block)
    try:
        assert torch.equal(block(x), torch.relu(x))  # y = ReLU(0 + x): the identity on a ReLU output
    finally:
        handle.remove()
    assert not torch.equal(block(x), torch.relu(x))


def test_deleting_a_plain_downsampling_block_keeps_shapes() -> None:
    import torch

    from explorer import PRESETS, build_model

    model = build_model(PRESETS["plain20"]).eval()
    handle = lesion._delete(model.stage2.block1)
    try:
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    finally:
        handle.remove()


def test_lesion_defaults_to_the_deepest_residual_and_the_shallowest_plain_run() -> None:
    from types import SimpleNamespace

    def run(run_id: str, family: str, depth: int) -> SimpleNamespace:
        return SimpleNamespace(id=run_id, spec={"family": family, "depth": depth})

    newest_first = [run("r20-new", "resnet", 20), run("p56", "plain", 56), run("r56", "resnet", 56),
                    run("p20-new", "plain", 20), run("r56-old", "resnet", 56), run("p20-old", "plain", 20)]
    assert lesion.default_runs(newest_first) == ["r56", "p20-new"]
    assert lesion.default_runs([run("p56", "plain", 56)]) == ["p56"]
    assert lesion.default_runs([]) == []


# ----------------------------------------------------------------------------------------------------- dense
def test_dense_channel_growth_and_connectivity() -> None:
    growth = dense.channel_growth()
    d = growth[growth["net"].str.startswith("DenseNet")]["channels"].tolist()
    assert d[0] == 16 and d[-1] == 16 + 12 * 12 and len(d) == 13  # DenseNet-40: 12 layers per block, k = 12
    r = growth[growth["net"] == "ResNet-56"]["channels"]
    assert set(r) == {16}
    conn = dense.connectivity(16, 12, 12)
    assert len(conn) == 12 * 13 // 2
    assert conn.groupby("target layer")["channels"].sum().iloc[-1] == 16 + 11 * 12


def test_feature_reuse_shape_and_normalisation() -> None:
    reuse = dense.feature_reuse(dense.fresh())
    assert len(reuse) == 12 * 13 // 2
    assert reuse.groupby("target layer")["weight"].max().tolist() == pytest.approx([1.0] * 12)


def test_dense_memory_concatenation_costs_more_activations() -> None:
    mem = dense.memory().set_index("preset")
    # DenseNet-40 has about ResNet-56's parameters but keeps more activation memory per image.
    assert mem.loc["densenet40_k12", "activations per image (MB)"] > mem.loc["resnet56", "activations per image (MB)"]


# ---------------------------------------------------------------------------------------------- class runs
def test_queue_reuses_identical_runs(tmp_path) -> None:
    from explorer.training.runs import RunStore

    store = RunStore(tmp_path)
    recipe = classruns.short_recipe("synthetic", epochs=1, train_size=256)
    first = classruns.queue(store, degradation.DESIGNS, recipe, start=False)
    again = classruns.queue(store, degradation.DESIGNS, recipe, start=False)
    assert [q.created for q in first] == [True] * 4
    assert [q.created for q in again] == [False] * 4
    assert [q.run_id for q in first] == [q.run_id for q in again]
    assert classruns.find(store, degradation.DESIGNS["plain-56"], recipe) == first[1].run_id
    status = classruns.status_table(store, {q.label: q.run_id for q in first})
    assert list(status["status"]) == ["queued"] * 4


@pytest.mark.parametrize("final, expected", [
    ({"plain-20": 10.0, "plain-56": 14.0, "ResNet-20": 9.0, "ResNet-56": 7.5},
     ["plain-56 is worse", "ResNet-56 is better", "ResNet-56 is far better than plain-56"]),
    ({"plain-20": 0.8, "plain-56": 55.0, "ResNet-20": 3.2, "ResNet-56": 1.0},  # measured, seed 0
     ["plain-56 is worse", "ResNet-56 is better", "ResNet-56 is far better than plain-56"]),
    ({"plain-20": 1.3, "plain-56": 89.3, "ResNet-20": 1.1, "ResNet-56": 1.5},  # measured, seed 1: both fit
     ["plain-56 is worse", "ResNet-56 and ResNet-20 end level", "ResNet-56 is far better than plain-56"]),
    ({"plain-20": 20.0, "plain-56": 20.5, "ResNet-20": 10.0, "ResNet-56": 30.0},
     ["plain-56 is not worse", "ResNet-56 is not yet better"]),
])
def test_degradation_verdict(final: dict[str, float], expected: list[str]) -> None:
    lines = degradation.verdict(final)
    assert len(lines) == len(expected)
    for line, start in zip(lines, expected):
        assert line.startswith(start), line


def test_curve_chart_log_axis_clips_zero_errors() -> None:
    import pandas as pd

    from explorer.lessons import charts

    frame = pd.DataFrame({"net": ["a", "a"], "epoch": [1, 2], "split": ["train", "train"], "error": [50.0, 0.0]})
    linear, log = charts.curve_chart(frame).to_dict(), charts.curve_chart(frame, log=True).to_dict()
    assert linear["encoding"]["y"]["scale"] == {"zero": True}
    assert log["encoding"]["y"]["scale"] == {"type": "log", "domain": [0.1, 100]}
    values = next(iter(log["datasets"].values()))
    assert [row["error"] for row in values] == [50.0, 0.1]  # a log axis has no 0
    assert frame["error"].tolist() == [50.0, 0.0]  # the caller's frame is left alone


# ------------------------------------------------------------------------------------ lessons 9-13 (issue 10)


def test_imagenet_table_has_the_papers_rows_and_the_apps_counts() -> None:
    frame = imagenet.imagenet_table().set_index("net")
    for net, (name, key) in imagenet.ROWS.items():
        row = next(r for r in table(name) if r["key"] == key)
        assert frame.loc[net, "top-1 error (%)"] == row["top1_error"]
    params = frame["params"]
    assert params["ResNet-34 B"] == 21_797_672  # torchvision's resnet34 (option B)
    assert params["plain-34"] == params["ResNet-34 A"] < params["ResNet-34 B"] < params["ResNet-34 C"]
    assert params["plain-18"] == params["ResNet-18 A"]  # option A adds no parameters
    lines = imagenet.verdict(frame.reset_index())
    assert "worse than plain-18" in lines[0] and "best is C" in lines[2]


def test_imagenet_cifar_analogue_names_the_paper_only_where_it_printed() -> None:
    paper = imagenet.cifar_published()
    assert set(paper) == set(imagenet.cifar_designs())
    resnet56 = next(r for r in table("cifar_resnet") if r["key"] == "resnet56")
    assert paper["ResNet-56 A"].startswith(f"{resnet56['error']:.2f}")
    assert paper["ResNet-56 B"] == "not in the paper" and paper["plain-56"] == "Fig. 6 only"
    assert imagenet.cifar_designs()["ResNet-56 C"].shortcut == "C"


def test_wrn_grid_has_the_published_rows_and_counts_that_round_to_them() -> None:
    grid = wrn.grid()
    assert set(grid["key"]) == {r["key"] for r in table(wrn.GRID_TABLE)}
    assert {"wrn_40_4", "wrn_28_10", "wrn_16_8"} <= set(grid["key"])
    for row in grid.itertuples():
        assert round(row[grid.columns.get_loc("params (app)") + 1] / 1e6, 1) == row.params_m, row.model
    cells = wrn.error_grid(grid)
    assert cells.loc[28, 10] == next(r["c10"] for r in table(wrn.GRID_TABLE) if r["key"] == "wrn_28_10")
    assert cells.isna().sum().sum() == cells.size - len(grid)  # one printed cell per row, the rest empty
    dropout = wrn.dropout_table()
    assert {"c10", "c10_dropout"} <= set(dropout.columns) and dropout["c10_dropout"].notna().all()


def test_wrn_speed_times_only_small_designs() -> None:
    assert wrn.timeable(cost(wrn.design(16, 1)).macs) and not wrn.timeable(cost(wrn.design(28, 10)).macs)
    assert wrn.design(28, 10, wrn.DROPOUT).dropout == wrn.DROPOUT


@pytest.mark.parametrize("depth", [50, 101])
def test_resnext_templates_are_of_equal_complexity(depth: int) -> None:
    frame = cardinality.lesson_table(depth)
    assert list(frame["template"]) == ["1x64d", "2x40d", "4x24d", "8x14d", "32x4d"]
    assert cardinality.equal_complexity(frame)  # every template within 5% of 1x64d, params and multiply-adds
    assert frame["params vs 1x64d"].abs().max() < 0.03
    assert frame["top-1 error (%)"].notna().all()  # each template has its published error
    if depth == 50:
        assert frame["params"].iloc[0] == 25_557_032  # 1x64d is torchvision's ResNet-50
    assert frame["top-1 error (%)"].is_monotonic_decreasing  # the paper's claim, read from the file


def test_resnext_templates_within_tolerance_catch_a_wrong_width() -> None:
    frame = cardinality.template_costs(50)
    wrong = frame.copy()
    wrong.loc[4, "params vs 1x64d"] = 0.2  # a 32x8d in place of 32x4d would be far off
    assert not cardinality.equal_complexity(wrong)


@pytest.mark.parametrize("depth, last", [(110, 0.5), (20, 0.8), (56, 1.0)])
def test_survival_probabilities_follow_the_linear_rule(depth: int, last: float) -> None:
    frame = stochastic.survival(stochastic.design(depth, last))
    blocks = (depth - 2) // 2
    assert len(frame) == blocks and frame["block"].tolist() == list(range(1, blocks + 1))
    assert frame["survival"].tolist() == pytest.approx(stochastic.linear_decay(blocks, last))
    assert frame["survival"].iloc[-1] == pytest.approx(last)
    assert stochastic.expected_blocks(frame) == pytest.approx(blocks - (1 - last) * (blocks + 1) / 2)


def test_stochastic_design_and_paper_rows() -> None:
    assert stochastic.design(110, None) == stochastic.design(110, None).replace(stochastic_depth=0.0)
    assert stochastic.design(110, 0.5).stochastic_depth == 0.5
    with pytest.raises(ValueError, match="p_L"):
        stochastic.design(110, 0.0)
    rows = stochastic.paper_rows().set_index("key")
    assert {"resnet110", "resnet1202"} <= set(rows.index)
    assert (rows["c10_stochastic"] < rows["c10_constant"]).all()


def test_gate_statistics_have_one_row_per_highway_layer() -> None:
    model = highway.fresh(highway.design(10, -2.0)).eval()
    images, _ = highway.batch(4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = highway.gate_statistics(model, images)
    assert not model.training and all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # a copy
    assert len(stats) == 10 - 2 and stats["layer"].tolist() == list(range(1, 9))
    assert ((stats["T(x) 10th percentile"] <= stats["mean T(x)"])
            & (stats["mean T(x)"] <= stats["T(x) 90th percentile"])).all()
    assert (stats["std T(x)"] > 0).all()
    with pytest.raises(ValueError, match="no highway layers"):
        highway.gate_statistics(highway.plain_twin(model), images)


def test_gate_mean_at_init_follows_the_gate_bias() -> None:
    images, _ = highway.batch(4)
    means = [highway.gate_statistics(highway.fresh(highway.design(8, bias)), images)["mean T(x)"].mean()
             for bias in (-6.0, -2.0, 0.0, 2.0)]
    assert means == sorted(means)
    assert means[0] < 0.05 and abs(means[2] - 0.5) < 0.05 and means[3] > 0.75


def test_plain_twin_keeps_the_weights_and_drops_the_gates() -> None:
    model = highway.fresh(highway.design(8, -2.0))
    twin = highway.plain_twin(model)
    assert highway.gate_layers(twin) == [] and len(highway.gate_layers(model)) == 6
    assert torch.equal(twin.stage1.block1.conv.weight, model.stage1.block1.transform.conv.weight)
    stripped = highway.without_batchnorm(highway.fresh(highway.design(8, -2.0)))
    assert not any(isinstance(m, nn.BatchNorm2d) for _, layer in highway.gate_layers(stripped)
                   for m in layer.transform.modules())
    assert isinstance(stripped.stem.bn, nn.BatchNorm2d)  # the stem keeps its BN


def test_tiny_highway_run_is_bounded_and_trains_both_nets() -> None:
    run = highway.tiny_run(highway.design(6, -2.0), steps=50, seconds=0.0)
    assert run.steps == 1  # the time was up after the first step
    run = highway.tiny_run(highway.design(6, -2.0), steps=3, seconds=60.0)
    assert run.steps == 3 and set(run.losses["net"]) == {"plain", "highway"} and len(run.losses) == 6
    assert highway.verdict(run.losses).startswith("After 3 steps")


def test_highway_lesson_leaves_the_servers_rng_alone_and_repeats() -> None:
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    first = highway.tiny_run(highway.design(6, -2.0), steps=2, seconds=60.0)
    stats = highway.gate_statistics(first.highway, highway.batch(2)[0])
    assert torch.equal(torch.get_rng_state(), before)  # one server, every student's session shares this RNG
    torch.manual_seed(99)
    again = highway.tiny_run(highway.design(6, -2.0), steps=2, seconds=60.0)
    assert again.losses["loss"].tolist() == first.losses["loss"].tolist()
    assert highway.gate_statistics(again.highway, highway.batch(2)[0]).equals(stats)


def test_highway_verdict_says_which_net_fits_and_when_one_was_unstable() -> None:
    frame = pd.DataFrame({"net": ["plain", "highway"] * 3, "step": [1, 1, 2, 2, 3, 3],
                          "loss": [2.4, 2.4, 1.2, 2.0, 2.1, 1.6]})
    text = highway.verdict(frame)
    assert text.startswith("After 3 steps the highway net fits the batch better")
    assert "plain twin had reached 1.20 at step 2 and then rose again" in text and "highway net had" not in text
    level = frame.assign(loss=[2.4, 2.4, 2.0, 2.0, 1.5, 1.55])
    assert "about as well" in highway.verdict(level) and "rose again" not in highway.verdict(level)


# ---------------------------------------------------------------- issue 12, defects 6-8
def test_gradient_verdict_follows_the_ratios() -> None:
    vanish = gradients.verdict({"plain-56": 3e-31, "ResNet-56": 0.9})
    assert "**vanishes**" in vanish[0] and "31 orders" in vanish[0] and "crosses the whole net" in vanish[1]
    assert vanish[2].startswith("The shortcut rescues it") and "vanishes" in vanish[2]
    explode = gradients.verdict({"plain-56": 2e4, "ResNet-56": 15.0})  # ReLU + BN: ResNet-56's 15x is no explosion
    assert "**explodes**" in explode[0] and "2e+04" in explode[0] and "explodes" in explode[2]
    level = gradients.verdict({"plain-20": 2.0, "ResNet-20": 1.1})
    assert "not what saves the plain net" in level[2] and "rescues" not in " ".join(level)
    both = gradients.verdict({"plain-110": 1e-12, "ResNet-1202": 1e-5})
    assert both[-1].startswith("Even ResNet-1202's gradient vanishes")


@pytest.mark.parametrize("setting", [("plain", 56, "sigmoid", "xavier", False), ("plain", 56, "relu", "he", True),
                                     ("resnet", 110, "tanh", "he", False), ("plain", 20, "relu", "xavier", True)])
def test_shipped_gradient_profiles_equal_a_fresh_computation(setting) -> None:
    """assets/lesson_tables.json.gz answers the lesson's settings without computing; it must hold what the lesson
    would compute (else: python -m explorer.lessons.tables)."""
    from explorer.lessons import tables

    shipped = tables.gradient_profile(*setting)
    assert shipped is not None, "the shipped table is stale or missing: run python -m explorer.lessons.tables"
    assert tables.agrees(shipped, gradients.gradient_profile(*setting))
    assert shipped.first_to_last() == pytest.approx(gradients.gradient_profile(*setting).first_to_last(), rel=1e-3)


def test_shipped_gradient_table_covers_every_control_and_refuses_other_code(tmp_path) -> None:
    import gzip
    import json

    from explorer.lessons import tables

    with gzip.open(tables.TABLES_PATH, "rt") as f:
        table = json.load(f)
    keys = {tables._key(*s) for s in tables.settings()}
    assert keys == set(table["gradients"])  # every depth, activation, init and BatchNorm the page offers
    stale = tmp_path / "stale.json.gz"
    with gzip.open(stale, "wt") as f:
        json.dump({**table, "version": "0" * 16}, f)
    assert tables.gradient_profile("plain", 20, "sigmoid", "xavier", False, path=stale) is None
    wrong = tmp_path / "wrong.json.gz"  # this code's version, but numbers the models do not give: not read
    entry = table["gradients"]["plain-20-sigmoid-xavier-nobn"]
    with gzip.open(wrong, "wt") as f:
        json.dump({**table, "gradients": {**table["gradients"], "plain-20-sigmoid-xavier-nobn": {
            **entry, "grad_norm": [2 * v for v in entry["grad_norm"]]}}}, f)
    assert tables.gradient_profile("plain", 56, "sigmoid", "xavier", False, path=wrong) is None


def test_degradation_expected_counts_each_seed() -> None:
    seeds = {"seed 0": {"plain-20": 1.0, "plain-56": 50.0, "ResNet-20": 3.2, "ResNet-56": 1.0},
             "seed 1": {"plain-20": 1.3, "plain-56": 89.0, "ResNet-20": 1.1, "ResNet-56": 1.5}}
    text = degradation.expected(seeds)
    assert text.startswith(degradation.PAPER)
    assert "plain-56 ends above plain-20 in 2 of 2 seeds" in text
    assert "ResNet-56 ends below ResNet-20 in 1 of 2 seeds, level with it (within 1 point) in 1 of 2 seeds" in text
    assert "noise" in text
    clean = {"seed 0": {"ResNet-20": 9.0, "ResNet-56": 4.0}}
    assert "below ResNet-20 in 1 of 1 seeds" in degradation.expected(clean) and "noise" not in \
        degradation.expected(clean)
    assert degradation.expected({}) == degradation.PAPER


def test_lesion_passes_over_an_under_trained_run() -> None:
    from types import SimpleNamespace

    def run(run_id: str, family: str, depth: int) -> SimpleNamespace:
        return SimpleNamespace(id=run_id, label=f"{family}-{depth}", spec={"family": family, "depth": depth})

    weak_deep, good = run("r110-2ep", "resnet", 110), run("r56", "resnet", 56)
    assert "under-trained" in lesion.undertrained(weak_deep, 2, 55.0)
    assert "under-trained" in lesion.undertrained(good, 2, 20.0)  # too few epochs, whatever the error
    assert lesion.undertrained(good, 8, 12.0) is None
    runs = [weak_deep, good, run("p20", "plain", 20)]
    assert lesion.default_runs(runs) == ["r110-2ep", "p20"]  # without a reason to pass over it: the deepest
    assert lesion.default_runs(runs, {"r110-2ep"}) == ["r56", "p20"]
    assert lesion.default_runs([weak_deep], {"r110-2ep"}) == ["r110-2ep"]  # the only one: used, with a warning


def test_lesion_verdict_follows_the_numbers() -> None:
    good = {"ResNet-56": {"intact": 10.0, "mean with one block deleted": 14.0, "worst": 30.0},
            "plain-20": {"intact": 12.0, "mean with one block deleted": 85.0, "worst": 90.0}}
    families = {"ResNet-56": "resnet", "plain-20": "plain"}
    lines = lesion.verdict(good, families)
    assert "still carry the signal" in lines[0] and "near chance" in lines[1]
    assert lines[2].startswith("As Veit et al. found")
    weak = {"ResNet-56": {"intact": 55.0, "mean with one block deleted": 80.0, "worst": 90.0},
            "plain-20": good["plain-20"]}
    lines = lesion.verdict(weak, families)
    assert "under-trained" in lines[0] and not any(line.startswith("As Veit") for line in lines)


def test_speed_bench_times_in_the_background_and_cancels_between_designs() -> None:
    import threading

    release, started, calls = threading.Event(), threading.Event(), []

    def measure(args):
        calls.append(args)
        started.set()
        assert release.wait(10)
        return float(args[0])

    bench = budget.SpeedBench(measure)
    job = bench.start([("a", (1,)), ("b", (2,)), ("c", (3,))])
    assert started.wait(10)
    assert job.running and job.current == "a"
    job.cancel.set()
    release.set()
    job.future.result(timeout=10)
    assert calls == [(1,)] and bench.speeds == {(1,): 1.0}
    again = bench.start([("a", (1,)), ("b", (2,))])  # a design timed once is not timed again
    again.future.result(timeout=10)
    assert calls == [(1,), (2,)] and again.done == 1
