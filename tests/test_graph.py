"""explorer.draw: the overview, the block detail and the family tree are drawn from the built model.

The block tests list each built block's modules here, independently of the drawing code (`named_children`,
`type(m).__name__`, the module's own attributes), and check that the DOT has one node per module, named by its
module path, labelled with what the module does, and joined in the module order.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from torch import nn

from explorer import PRESETS, ArchSpec
from explorer.draw import overview as graph
from explorer.draw.lineage import FAMILY_TREE_NODES, family_tree_dot
from explorer.draw.overview import (GraphvizMissing, block_dot, detail_blocks, node_count, overview_dot, to_png,
                                    to_svg)
from explorer.models.cost import meta_model, trace
from explorer.models.spec import FAMILY_LABELS, layout

ACTIVATIONS = ["original", "bn_after_add", "relu_before_add", "relu_only_preact", "full_preact"]
VARIANTS = [dict(shortcut_variant="identity"), dict(shortcut_variant="constant_scaling", shortcut_scale=0.5,
                                                    residual_scale=0.5),
            dict(shortcut_variant="exclusive_gating", gate_bias=-6.0), dict(shortcut_variant="shortcut_only_gating"),
            dict(shortcut_variant="conv1x1"), dict(shortcut_variant="dropout", shortcut_dropout=0.3)]

# ---------------------------------------------------------------- reading DOT back

ID = r'"(?:[^"\\]|\\.)*"|[^\s"\[\]]+'


def _unquote(s: str) -> str:
    return s[1:-1].replace('\\"', '"').replace("\\n", "\n") if s.startswith('"') else s


def parse(dot: str) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Node labels by name, and edge attribute text by (tail, head)."""
    nodes = {_unquote(n): _unquote(label) for n, label in
             re.findall(rf'^\t({ID}) \[label=({ID}|<.*?>)', dot, flags=re.M)}
    edges = {(_unquote(a), _unquote(b)): attrs for a, b, attrs in
             re.findall(rf'^\t({ID}) -> ({ID})(.*)$', dot, flags=re.M)}
    return nodes, edges


def words(m: nn.Module) -> str:
    """What the drawing must say for one module, written here from the module's own attributes."""
    kind = type(m).__name__
    if kind == "Conv2d":
        k, s = m.kernel_size[0], m.stride[0]
        return (f"{k}×{k} conv" + (f" /{s}" if s > 1 else "") + f", {m.out_channels}"
                + (f", groups {m.groups}" if m.groups > 1 else ""))
    if kind in ("MaxPool2d", "AvgPool2d"):
        return f"{m.kernel_size}×{m.kernel_size} {'max' if kind == 'MaxPool2d' else 'avg'}-pool /{m.stride}"
    return {"BatchNorm2d": "BN", "ReLU": "ReLU", "SqueezeExcitation": "squeeze-excitation"}.get(kind) or {
        "Dropout": lambda: f"dropout p={m.p:g}", "StochasticDepth": lambda: f"stochastic depth\ndrop branch (batch), "
                                                                           f"p={m.p:.3g}"}[kind]()


def steps(module: nn.Module, path: str) -> list[tuple[str, nn.Module]]:
    """(path, module) of each operation of a branch part: a Sequential's children, else the module itself."""
    if isinstance(module, nn.Identity):
        return []
    if isinstance(module, nn.Sequential):
        return [(f"{path}.{n}", m) for n, m in module.named_children()]
    return [(path, module)]


def tail(block: nn.Module, path: str) -> list[tuple[str, nn.Module]]:
    """SE and stochastic depth, where the block has them."""
    return [s for part in ("se", "stochastic_depth") if hasattr(block, part)
            for s in steps(getattr(block, part), f"{path}.{part}")]


def assert_chain(dot: str, start: str, chain: list[tuple[str, nn.Module]], end: str | None = None) -> None:
    nodes, edges = parse(dot)
    names = [start] + [p for p, _ in chain] + ([end] if end else [])
    for path, m in chain:
        assert path in nodes, (path, sorted(nodes))
        assert words(m) in nodes[path], (path, nodes[path], words(m))
    for a, b in zip(names, names[1:]):
        assert (a, b) in edges, (a, b, [e for e in edges if e[0] == a])


def shortcut_words(s: nn.Module) -> list[str]:
    kind = type(s).__name__
    if kind == "Identity":
        return ["shortcut: identity"]
    if kind == "ZeroPadShortcut":
        return ["zero-pad", f"{s.in_channels}→{s.out_channels} ch"] + ([f"/{s.stride}"] if s.stride > 1 else [])
    if kind == "ProjectionShortcut":
        return ["projection", words(s.conv) + (", no BN" if isinstance(s.bn, nn.Identity) else ", BN")]
    if kind == "DropoutShortcut":
        return shortcut_words(s.inner) + [f"then dropout p={s.dropout.p:g}"]
    assert kind == "ShakeShortcut", kind
    return ["ReLU, 2 × (avg-pool", "1×1 conv), concat, BN", f"{s.conv1.out_channels} + {s.conv2.out_channels} ch"]


def merge_words(block: nn.Module) -> str:
    merge = getattr(block, "merge", None)
    if type(merge).__name__ == "GateMerge":
        return "g·F + (1−g)·h" if merge.exclusive else "F + (1−g)·h"
    if merge is not None and (merge.residual_scale, merge.shortcut_scale) != (1, 1):
        return f"{merge.residual_scale:g}·F + {merge.shortcut_scale:g}·h"
    return "+"


# ---------------------------------------------------------------- every block of every design

def check_residual(dot: str, block: nn.Module, path: str) -> None:
    nodes, edges = parse(dot)
    pre = steps(block.preact, f"{path}.preact") if hasattr(block, "preact") else []
    branch = pre + steps(block.residual, f"{path}.residual") + tail(block, path)
    if not hasattr(block, "shortcut"):  # a plain block: the stack, then ReLU
        assert_chain(dot, "x", branch + steps(block.post, f"{path}.post"), "y")
        return
    merge = f"{path}.merge" if hasattr(block, "merge") else f"{path}.add"
    assert_chain(dot, "x", branch, merge)
    assert merge_words(block) in nodes[merge]
    for text in shortcut_words(block.shortcut):
        assert text in nodes[f"{path}.shortcut"], (text, nodes[f"{path}.shortcut"])
    source = pre[-1][0] if pre and getattr(block, "shared_preact", False) else "x"
    assert (source, f"{path}.shortcut") in edges  # Identity Mappings sec. 4.1: which input the shortcut sees
    assert (f"{path}.shortcut", merge) in edges
    if type(getattr(block, "merge", None)).__name__ == "GateMerge":
        gate = f"{path}.merge.gate"
        assert words(block.merge.gate) in nodes[gate] and f"bias {block.merge.bias_init:g}" in nodes[gate]
        assert ("x", gate) in edges
    post = steps(block.post, f"{path}.post") if hasattr(block, "post") else []
    assert_chain(dot, merge, post, "y")


def check_shake(dot: str, block: nn.Module, path: str) -> None:
    nodes, _ = parse(dot)
    for b in ("branch1", "branch2"):
        assert_chain(dot, "x", steps(getattr(block, b), f"{path}.{b}"), f"{path}.mix")
    mix = nodes[f"{path}.mix"]
    assert f"per {block.mix.level}" in mix and "alpha·F1 + (1−alpha)·F2" in mix
    assert_chain(dot, f"{path}.mix", tail(block, path), f"{path}.add")
    for text in shortcut_words(block.shortcut):
        assert text in nodes[f"{path}.shortcut"]
    assert_chain(dot, f"{path}.add", steps(block.post, f"{path}.post"), "y")  # the ResNeXt-branch unit's ReLU


def check_paths(dot: str, block: nn.Module, path: str) -> None:
    nodes, edges = parse(dot)
    count = len(block.paths)
    shown = range(count) if count <= 3 else [0, 1, count - 1]
    split = hasattr(block.paths[0], "conv3")
    join = f"{path}.sum" if split else f"{path}.concat"
    for p in shown:
        children = list(block.paths[p].named_children())
        convs = [i for i, (_, m) in enumerate(children) if isinstance(m, nn.Conv2d)]
        names = [f"{path}.paths.{p}.{children[i][0]}" for i in convs]
        for i, name in zip(convs, names):  # one node per conv, listing the BN and ReLU that follow it
            after = [words(m) for _, m in children[i + 1:]]
            after = after[:next((j for j, (_, m) in enumerate(children[i + 1:]) if isinstance(m, nn.Conv2d)),
                                len(after))]
            label = nodes[name].removeprefix(f"path {p + 1}: ")
            assert label == words(children[i][1]) + ("\n" + ", ".join(after) if after else ""), label
        for a, b in zip(["x"] + names, names + [join]):
            assert (a, b) in edges, (a, b)
    assert (f"{count - 3} more" in dot) == (count > 3)
    after_join = steps(block.conv3, f"{path}.conv3") + steps(block.bn3, f"{path}.bn3")
    assert_chain(dot, join, after_join + tail(block, path), f"{path}.add")
    assert_chain(dot, f"{path}.add", steps(block.post, f"{path}.post"), "y")


def check_stage(dot: str, stage: nn.Module, path: str) -> None:
    """Dense, VGG and fractal stages are drawn whole."""
    nodes, edges = parse(dot)
    kinds = [type(m).__name__ for m in stage.children()]
    if set(kinds) == {"DenseLayer"}:
        for i, (name, layer) in enumerate(list(stage.named_children())[:3]):
            assert_chain(dot, f"{path}.{name}.concat" if i else "x", steps(layer.residual, f"{path}.{name}.residual"))
            assert nodes[f"{path}.{name}.residual.{next(iter(layer.residual.named_children()))[0]}"].startswith(
                f"layer {i + 1}: ")
    elif type(stage).__name__ == "FractalBlock":
        units = [n for n, m in stage.named_modules() if type(m).__name__ == "ConvUnit"]
        assert sorted(n for n in nodes if n.endswith(".conv") and ".path" in n) == sorted(
            f"{path}.{u}.conv" for u in units)
        assert_chain(dot, "x", steps(stage.widen, f"{path}.widen"))
        assert_chain(dot, f"{path}.join", steps(stage.pool, f"{path}.pool"), "y")
    else:  # VGG: every operation in order
        chain = [(f"{path}.{n}", m) for n, m in stage.named_modules() if not list(m.children())]
        assert_chain(dot, "x", chain, "y")


def check_highway(dot: str, block: nn.Module, path: str, start: str = "x") -> None:
    nodes, edges = parse(dot)
    assert_chain(dot, start, steps(block.transform, f"{path}.transform"), f"{path}.mix")
    assert words(block.gate) in nodes[f"{path}.gate"] and f"bias {block.gate_bias:g}" in nodes[f"{path}.gate"]
    assert (f"{path}.carry", f"{path}.mix") in edges


def blocks_to_check(stage: nn.Module, total: int) -> list[int]:
    """All blocks of a small net; otherwise each stage's first (downsampling), second and last block."""
    count = sum(1 for n, _ in stage.named_children() if n.startswith("block"))
    return list(range(count)) if total <= 40 else sorted({0, 1, count - 1})


DESIGNS = {**PRESETS,
           **{f"resnet110_{v['shortcut_variant']}": PRESETS["resnet110"].replace(**v) for v in VARIANTS},
           **{f"resnet110_{a}": PRESETS["resnet110"].replace(activation=a) for a in ACTIVATIONS},
           "resnext29_split": PRESETS["resnext29_8x64d"].replace(resnext_form="split", cardinality=2),
           "resnext29_concat": PRESETS["resnext29_8x64d"].replace(resnext_form="concat"),
           "resnet56_se_sd": PRESETS["resnet56"].replace(se_reduction=16, stochastic_depth=0.5),
           "wrn_16_4_dropout": PRESETS["wrn_16_4"].replace(dropout=0.3)}


@pytest.mark.parametrize("name", list(DESIGNS))
def test_drawn_blocks_are_the_built_blocks(name):
    spec = DESIGNS[name]
    model = meta_model(spec)
    stages = [getattr(model, s.name) for s in layout(spec).stages]
    total = sum(len(list(s.children())) for s in stages)
    for i, stage in enumerate(stages):
        stage_name = layout(spec).stages[i].name
        if type(stage).__name__ == "FractalBlock" or all(type(m).__name__ in ("DenseLayer", "ConvUnit", "MaxPool2d")
                                                         for m in stage.children()):
            check_stage(block_dot(spec, i, 0), stage, stage_name)
            continue
        for b in blocks_to_check(stage, total):
            block = getattr(stage, f"block{b + 1}")
            path = f"{stage_name}.block{b + 1}"
            dot = block_dot(spec, i, b)
            if type(block).__name__ == "HighwayLayer":  # the first layer's view starts with the stage's transition
                start = "x"
                if b == 0 and hasattr(stage, "transition"):
                    start = f"{stage_name}.transition.{list(stage.transition.named_children())[-1][0]}"
                check_highway(dot, block, path, start)
                continue
            check = {"ShakeBlock": check_shake, "ResNeXtPathBlock": check_paths}.get(type(block).__name__,
                                                                                    check_residual)
            check(dot, block, path)


@pytest.mark.parametrize("name, strided", [
    ("preact_resnet164", "residual.conv1"), ("resnet50", "residual.conv2"), ("resnext29_8x64d", "residual.conv2"),
    ("pyramidnet272_a200_bottleneck", "residual.conv2"), ("resnet110", "residual.conv1"),
])
def test_the_drawn_stride_is_on_the_conv_that_strides(name, strided):
    spec = PRESETS[name]
    nodes, _ = parse(block_dot(spec, 1, 0))
    drawn = sorted(n for n, label in nodes.items() if ".residual.conv" in n and "conv /2" in label)
    assert drawn == [f"stage2.block1.{strided}"]
    conv = dict(meta_model(spec).named_modules())[f"stage2.block1.{strided}"]
    assert conv.stride == (2, 2) and nodes[drawn[0]].startswith(f"{conv.kernel_size[0]}×{conv.kernel_size[0]} conv /2")


@pytest.mark.parametrize("name, stage, count", [
    ("resnet56", 1, 9), ("resnext29_8x64d", 0, 3), ("shake_shake26_2x32d", 2, 4), ("pyramidnet110_a48", 2, 18),
    ("highway19", 1, 6), ("densenet40_k12", 0, 1), ("vgg16_cifar", 2, 1), ("fractalnet20", 0, 1), ("resnet56", 7, 9),
])
def test_detail_blocks_counts_what_the_detail_view_can_pick(name, stage, count):
    # Dense, VGG and fractal stages are drawn whole; a highway stage's transition is not a block.
    assert detail_blocks(PRESETS[name], stage) == count


@pytest.mark.parametrize("stage, block", [(0, 0), (1, 1), (2, 4)])
def test_drawn_highway_layer_is_the_built_layer(stage, block):
    # Every module of the built layer is drawn, under its own path and with its own words, and nothing else is:
    # H's modules in order, the gate conv, then sigmoid, carry and the mix H·T + x·(1 − T) (HighwayLayer.forward).
    spec = PRESETS["highway19"]
    path = f"{layout(spec).stages[stage].name}.block{block + 1}"
    layer = dict(meta_model(spec).named_modules())[path]
    nodes, edges = parse(block_dot(spec, stage, block))
    leaves = {f"{path}.{n}": m for n, m in layer.named_modules() if n and not list(m.children())}
    drawn = {n for n in nodes if n.startswith(f"{path}.")}
    assert drawn == set(leaves) | {f"{path}.carry", f"{path}.mix"}
    for name, module in leaves.items():
        assert words(module) in nodes[name]
    assert_chain(block_dot(spec, stage, block), "x", steps(layer.transform, f"{path}.transform"), f"{path}.mix")
    sigmoid = next(b for a, b in edges if a == f"{path}.gate")
    assert nodes[sigmoid] == "sigmoid" and edges[(sigmoid, f"{path}.mix")] == ' [label="T(x)"]'
    assert ("x", f"{path}.gate") in edges and ("x", f"{path}.carry") in edges
    assert nodes[f"{path}.mix"] == "H·T + x·(1 − T)" and f"bias {layer.gate_bias:g}" in nodes[f"{path}.gate"]


def test_highway_draws_the_max_pool_and_1x1_transition_the_model_has():
    spec = PRESETS["highway19"]
    stage = meta_model(spec).stage2
    assert [type(m).__name__ for m in stage.transition] == ["MaxPool2d", "Conv2d", "BatchNorm2d"]
    dot = block_dot(spec, 1, 0)
    assert_chain(dot, "x", steps(stage.transition, "stage2.transition") + steps(stage.block1.transform,
                                                                                 "stage2.block1.transform"))
    nodes, _ = parse(dot)
    assert nodes["stage2.transition.pool"] == "2×2 max-pool /2" and nodes["stage2.transition.conv"] == "1×1 conv, 80"
    assert "/2" not in nodes["stage2.block1.transform.conv"] and "resized" not in dot  # the layer itself keeps shape
    assert "carry: x" in nodes["stage2.block1.carry"] and "bias -2" in nodes["stage2.block1.gate"]
    assert "transition" not in block_dot(spec, 1, 1)  # later layers start from the previous layer
    assert "transition: 2×2 max-pool /2, 1×1 conv, 80" in overview_dot(spec)


def test_fractal_draws_its_1x1_widening_conv_and_global_drop_path():
    spec = PRESETS["fractalnet20"]
    model = meta_model(spec)
    assert type(model.stage1.widen).__name__ == "Conv2d"
    nodes, edges = parse(block_dot(spec, 0, 0))
    assert nodes["stage1.widen"] == "1×1 conv, 64"
    assert ("x", "stage1.widen") in edges
    assert f"global drop-path: {model.global_fraction:.0%} of training batches" in nodes["global_drop_path"]
    assert "global drop-path" not in block_dot(spec.replace(drop_path_global=0.0), 0, 0)


def test_fractal_draws_each_blocks_dropout_on_its_convs():
    spec = PRESETS["fractalnet20_dropout"]
    nodes, _ = parse(block_dot(spec, 4, 0))
    convs = [label for name, label in nodes.items() if name.startswith("stage5.path") and name.endswith(".conv")]
    assert len(convs) == 7 and all("3×3 conv, 512\ndropout p=0.4, BN, ReLU" in label for label in convs)
    assert "stage5.widen" not in nodes  # 512 -> 512 channels: no widening conv
    assert "dropout p=" not in block_dot(spec, 0, 0)  # the first block's rate is 0
    first = parse(block_dot(spec, 1, 0))[0]
    assert first["stage2.widen"] == "1×1 conv, 128" and "dropout p=0.1" in first["stage2.path.conv.conv"]


@pytest.mark.parametrize("columns, joins", [(1, 0), (2, 1), (3, 2), (4, 4)])
def test_fractal_columns_and_joins(columns, joins):
    spec = PRESETS["fractalnet20"].replace(fractal_columns=columns, depth=5 * 2 ** (columns - 1))
    dot = block_dot(spec, 0, 0)
    assert dot.count("3×3 conv, 64") == 2**columns - 1  # columns hold 1, 2, 4, ... convs
    assert dot.count("join (mean") == joins  # a join of one input is that input, and is not drawn
    assert f"col {columns}: 3×3 conv, 64" in dot


# ---------------------------------------------------------------- overview


@pytest.mark.parametrize("name", list(PRESETS))
def test_overview_names_every_stage_and_stays_small(name):
    spec = PRESETS[name]
    dot = overview_dot(spec)
    plan = layout(spec)
    nodes, edges = parse(dot)
    assert node_count(dot) <= 150
    for stage in plan.stages:
        assert nodes[stage.name].startswith(f"{stage.name}:")
        assert f"× {stage.num_blocks}" in nodes[stage.name] or stage.kind == "fractal"
    # The edge into the head carries the classifier's input shape.
    last = plan.stages[-1]
    into_head = [attrs for (a, b), attrs in edges.items() if b == "head"]
    assert into_head == [f' [label="{plan.head_in}×{last.out_size}×{last.out_size}"]'], into_head


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


@pytest.mark.parametrize("name, kind", [
    ("plain20", "plain basic block × 3"), ("preact_resnet164", "bottleneck block × 18"),
    ("resnext29_8x64d", "ResNeXt block (C=8) × 3"), ("shake_shake26_2x32d", "shake-shake block (2 branches) × 4"),
    ("densenet40_k12", "dense layer × 12, k=12"), ("highway19", "highway layer × 6"), ("vgg16_cifar", "3×3 conv × 3"),
    ("fractalnet20", "C=3 columns, 4 convs deep, 64 ch"),
])
def test_overview_names_each_family_block(name, kind):
    assert kind in overview_dot(PRESETS[name])


def test_overview_transitions_and_heads_read_from_the_model():
    nodes, _ = parse(overview_dot(PRESETS["densenet40_k12"]))
    assert nodes["transition1"] == "transition1\n1×1 conv, 160\n2×2 avg-pool /2"
    nodes, _ = parse(overview_dot(PRESETS["vgg16"]))
    assert nodes["head"] == "head\navg-pool to 7×7\nfc 25088→4096\nfc 4096→4096\nfc 4096→1000"
    assert nodes["output"] == "1000 class scores"
    nodes, _ = parse(overview_dot(PRESETS["resnet50"]))
    assert nodes["stem"] == "stem\n7×7 conv /2, 64\n3×3 max-pool /2"


# ---------------------------------------------------------------- labels, legend, rendering


def test_block_detail_labels_the_variants():
    dot = block_dot(PRESETS["resnet20"].replace(shortcut="B"), stage_index=1, block_index=1)
    assert "shortcut: identity" in dot
    assert "shortcut: projection\\n1×1 conv, 16, BN" in block_dot(PRESETS["resnet20"].replace(shortcut="C"), 0, 1)
    assert "squeeze-excitation, r=16" in block_dot(PRESETS["resnet20"].replace(se_reduction=16), 1, 0)
    assert "beta = alpha" in block_dot(PRESETS["shake_shake26_2x32d"].replace(shake_backward="keep"), 1, 0)


@pytest.mark.parametrize("cardinality, form", [(2, "split"), (3, "concat"), (8, "split"), (32, "concat")])
def test_resnext_draws_parallel_paths_and_collapses_many(cardinality, form):
    spec = PRESETS["resnext29_8x64d"].replace(cardinality=cardinality, resnext_form=form)
    dot = block_dot(spec, 0, 0)
    assert len(re.findall(r"path \d+: 1×1 conv", dot)) == min(cardinality, 3)
    assert f"path {cardinality}: 1×1 conv" in dot
    assert ("sum of" in dot) == (form == "split")


def test_grouped_resnext_draws_the_grouped_conv_of_fig_3c():
    dot = block_dot(PRESETS["resnext29_8x64d"], 0, 0)
    assert "3×3 conv, 512, groups 8\\n= 8 paths of 64→64 ch" in dot and "path 1" not in dot


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
    _, edges = parse(dot)
    assert ("resnet", "preact") in edges and ("highway", "resnet") in edges
    families = {p["family"] for _, _, p in FAMILY_TREE_NODES if "family" in p}
    assert families >= set(FAMILY_LABELS) - {"plain"}


def test_labels_are_quoted_by_the_package_never_html():
    # A label that looks like HTML or carries quotes stays text.
    from explorer.draw.dot import Drawing

    g = Drawing("t", '<b>"x"</b>')
    g.node("conv", '<i>a "b"</i>\nc\\d', name="n")
    dot = g.source()
    assert 'label="<i>a \\"b\\"</i>\\nc\\\\d"' in dot and 'label="<b>\\"x\\"</b>"' in dot


def test_to_svg_renders_and_reports_a_missing_binary(monkeypatch):
    if graph.dot_available():
        svg = to_svg(overview_dot(PRESETS["resnet20"]))
        assert "<svg" in svg and "stage1: basic block × 3" in svg
        assert to_png(family_tree_dot())[:4] == b"\x89PNG"
        with pytest.raises(ValueError, match="could not draw"):
            to_svg("digraph { a -> }")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        to_svg("digraph { a }")


def test_graph_module_does_not_import_streamlit():
    code = ("import sys, explorer.draw.overview, explorer.draw.lineage, explorer.draw.summary, explorer.models.urls; "
            "print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_detail_counts_agree_with_model_convs():
    spec = PRESETS["preact_resnet164"]
    block = meta_model(spec).stage1.block2
    convs = sum(isinstance(m, nn.Conv2d) for m in block.modules())
    assert block_dot(spec, 0, 1).count("conv, ") == convs


def test_a_changed_block_changes_its_drawing(monkeypatch):
    # The drawing follows the module, not the spec: swap a built block's ReLU for a Dropout and redraw. On a
    # private build (trace uncached): the cached model is shared with cost and the summary, and never edited.
    from explorer.draw import block

    spec = ArchSpec(depth=20)
    private = trace.__wrapped__(spec)
    private.model.stage1.block1.residual.relu1 = nn.Dropout(0.25)
    monkeypatch.setattr(block, "trace", lambda _: private)
    assert "dropout p=0.25" in block_dot(spec, 0, 0)
    monkeypatch.undo()
    assert "dropout" not in block_dot(spec, 0, 0)
