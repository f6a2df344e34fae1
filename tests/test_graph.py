"""explorer.draw.overview, block_graph, lineage: the drawings agree with layout() and with the modules the builder makes."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from torch import nn

from explorer import PRESETS, ArchSpec, build_model
from explorer.draw import block as block_graph, overview as graph
from explorer.models.builder import build_unchecked
from explorer.draw.overview import GraphvizMissing, block_dot, branch_ops, node_count, overview_dot, to_svg
from explorer.draw.lineage import FAMILY_TREE_NODES, family_tree_dot
from explorer.models.spec import FAMILY_LABELS, layout

ACTIVATIONS = ["original", "bn_after_add", "relu_before_add", "relu_only_preact", "full_preact"]
KIND_OF_MODULE = {nn.Conv2d: "conv", nn.BatchNorm2d: "norm", nn.ReLU: "activation", nn.Dropout: "regularizer"}


@pytest.mark.parametrize("name", list(PRESETS))
def test_overview_names_every_stage_and_stays_small(name):
    spec = PRESETS[name]
    dot = overview_dot(spec)
    plan = layout(spec)
    assert node_count(dot) <= 150
    for stage in plan.stages:
        assert f'"{stage.name}" [label="{stage.name}:' in dot
        assert f"× {stage.num_blocks}" in dot or stage.kind == "fractal"
    # The edge into the head carries the classifier's input shape from layout().
    last = plan.stages[-1]
    assert re.search(rf'-> "head" \[label="{plan.head_in}×{last.out_size}×{last.out_size}"\]', dot), dot


@pytest.mark.parametrize("name, edges", [
    ("resnet56", ["3×32×32", "16×32×32", "32×16×16", "64×8×8"]),
    ("resnet1202", ["16×32×32", "32×16×16", "64×8×8"]),
    ("resnet50", ["3×224×224", "64×56×56", "256×56×56", "512×28×28", "1024×14×14", "2048×7×7"]),
    ("wrn_28_10", ["160×32×32", "320×16×16", "640×8×8"]),
    ("densenet40_k12", ["16×32×32", "160×32×32", "160×16×16", "304×16×16", "304×8×8", "448×8×8"]),
])
def test_overview_edge_shapes(name, edges):
    dot = overview_dot(PRESETS[name])
    labels = re.findall(r'\[label="(\d+×\d+×\d+)"\]', dot)
    for shape in edges:
        assert shape in labels, (shape, labels)


def test_resnet1202_overview_collapses_its_600_blocks():
    dot = overview_dot(PRESETS["resnet1202"])
    assert node_count(dot) == 7  # input, stem, 3 stages, head, output
    assert dot.count("basic block × 200") == 3


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("block, depth", [("basic", 20), ("bottleneck", 29)])
def test_branch_order_matches_the_built_block(activation, block, depth):
    spec = ArchSpec(depth=depth, block=block, activation=activation, shortcut="B")
    model = build_unchecked(spec, device="meta")
    built = [KIND_OF_MODULE[type(m)] for m in model.stage2.block2.residual]
    plan = layout(spec)
    stage = plan.stages[1]
    convs = block_graph._block_convs(spec, stage, 1, 1)
    assert [kind for kind, _ in branch_ops(convs, activation)] == built


def test_wrn_dropout_sits_between_the_convs_like_the_model():
    spec = PRESETS["wrn_16_4"].replace(dropout=0.3)
    built = [KIND_OF_MODULE[type(m)] for m in build_unchecked(spec, device="meta").stage1.block1.residual]
    convs = block_graph._block_convs(spec, layout(spec).stages[0], 0, 1)
    assert [k for k, _ in branch_ops(convs, spec.activation, spec.dropout)] == built
    assert "dropout p=0.3" in block_dot(spec, 0, 0)


@pytest.mark.parametrize("changes, expected", [
    (dict(shortcut="A"), "shortcut option A: zero-pad"),
    (dict(shortcut="B"), "shortcut option B: projection"),
    (dict(shortcut="C"), "shortcut option C: projection"),
    (dict(shortcut_variant="exclusive_gating", gate_bias=-6.0), "g·F + (1−g)·h"),
    (dict(shortcut_variant="shortcut_only_gating"), "F + (1−g)·h"),
    (dict(shortcut_variant="constant_scaling", shortcut_scale=0.5, residual_scale=0.5), "0.5·F + 0.5·h"),
    (dict(shortcut_variant="conv1x1"), "shortcut: 1×1 conv /2 (no BN)"),
    (dict(shortcut_variant="dropout", shortcut_dropout=0.3), "then dropout p=0.3"),
    (dict(se_reduction=16), "squeeze-excitation, r=16"),
    (dict(stochastic_depth=0.5), "stochastic depth"),
])
def test_block_detail_labels_the_shortcut(changes, expected):
    dot = block_dot(PRESETS["resnet20"].replace(**changes), stage_index=1, block_index=0)
    assert expected in dot


def test_identity_shortcut_inside_a_stage():
    dot = block_dot(PRESETS["resnet20"].replace(shortcut="B"), stage_index=1, block_index=1)
    assert "shortcut option B: identity" in dot
    assert "shortcut option C: projection" in block_dot(PRESETS["resnet20"].replace(shortcut="C"), 0, 1)


def test_shake_shake_draws_both_branches_and_the_mix():
    dot = block_dot(PRESETS["shake_shake26_2x32d"].replace(shake_backward="keep"), 1, 0)
    assert "branch 1: ReLU" in dot and "branch 2: ReLU" in dot
    assert "alpha·F1 + (1−alpha)·F2" in dot and "beta = alpha" in dot
    assert "2 × (avg-pool, 1×1 conv), concat, BN" in dot


@pytest.mark.parametrize("cardinality, paths, collapsed", [(2, 2, False), (3, 3, False), (8, 3, True), (32, 3, True)])
def test_resnext_draws_parallel_paths_and_collapses_many(cardinality, paths, collapsed):
    spec = PRESETS["resnext29_8x64d"].replace(cardinality=cardinality)
    dot = block_dot(spec, 0, 0)
    assert len(re.findall(r"path \d+: 1×1 conv", dot)) == paths
    assert (f"{cardinality - 3} more" in dot) == collapsed
    assert f"path {cardinality}: 1×1 conv" in dot


def test_densenet_draws_dense_connections():
    spec = PRESETS["densenet_bc100_k12"]
    dot = block_dot(spec, 0, 0)
    first = layout(spec).stages[0].in_channels
    assert f"concat: {first + 12} ch" in dot and f"concat: {first + 24} ch" in dot
    assert "layer 1: BN" in dot and "1×1 conv, 48" in dot
    # Every earlier feature map reaches each concat: 1 + 2 + 3 edges into the three concats (x included).
    assert dot.count("style=dashed") >= 3


def test_highway_and_fractal_and_vgg_details():
    assert "H·T + x·(1 − T)" in block_dot(PRESETS["highway19"], 1, 0)
    assert "bias -2" in block_dot(PRESETS["highway19"], 0, 0)
    for columns, joins in [(1, 0), (2, 1), (3, 2), (4, 4)]:
        spec = PRESETS["fractalnet20"].replace(fractal_columns=columns, depth=5 * 2 ** (columns - 1))
        dot = block_dot(spec, 0, 0)
        assert dot.count("3×3 conv, 64") == 2**columns - 1  # columns hold 1, 2, 4, ... convs
        assert dot.count("join (mean") == joins
    vgg = block_dot(PRESETS["vgg16_cifar"], 2, 0)
    assert vgg.count("3×3 conv, 256") == 3 and "2×2 max-pool" in vgg


def test_legend_lists_the_colours_used():
    dot = block_dot(PRESETS["resnet20"], 1, 0)
    for kind in ("conv", "norm", "activation", "merge", "shortcut"):
        assert graph.LEGEND_TEXT[kind] in dot
    assert graph.LEGEND_TEXT["gate"] not in dot


def test_family_tree_covers_every_paper_and_links_to_build():
    dot = family_tree_dot()
    for _, label, params in FAMILY_TREE_NODES:
        assert label.split("\n")[0] in dot
        assert set(params) <= {"family", "preset"}
    assert '"resnet" -> "preact"' in dot and '"highway" -> "resnet"' in dot
    families = {p["family"] for _, _, p in FAMILY_TREE_NODES if "family" in p}
    assert families >= set(FAMILY_LABELS) - {"plain"}


def test_to_svg_renders_and_reports_a_missing_binary(monkeypatch):
    if graph.dot_available():
        assert "<svg" in to_svg(overview_dot(PRESETS["resnet20"]))
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        to_svg("digraph { a }")


def test_graph_module_does_not_import_streamlit_or_build_models():
    code = "import sys, explorer.draw.overview, explorer.draw.lineage, explorer.draw.summary, explorer.models.urls; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_detail_counts_agree_with_model_parameters():
    # The detail view's convs, summed over a stage, match the model's conv count in that stage.
    spec = PRESETS["preact_resnet164"]
    model = build_model(spec)
    convs = sum(isinstance(m, nn.Conv2d) for m in model.stage1.block2.modules())
    assert block_dot(spec, 0, 1).count("conv, ") == convs
