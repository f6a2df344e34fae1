"""The drawings of a design, as DOT: the overview here (stem, stages collapsed to "x N", head, tensor shapes on
the edges), one block in detail (`block_dot`, from explorer.draw.block), and `to_svg` to render either.

Both are derived from `explorer.models.spec.layout(spec)` and the spec's own fields, the same data the builder reads,
so the drawing cannot disagree with the model. Output is DOT text; `to_svg` renders it with the `dot` binary.
No streamlit here: the pages display what these functions return.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from explorer.draw.block import block_dot, branch_ops
from explorer.draw.dot import COLOURS, LEGEND_TEXT, DotWriter, shape_text
from explorer.models.spec import FAMILY_LABELS, ArchSpec, Layout, StagePlan, layout

__all__ = ["COLOURS", "LEGEND_TEXT", "GraphvizMissing", "block_dot", "branch_ops", "dot_available", "node_count",
           "overview_dot", "to_svg"]


class GraphvizMissing(RuntimeError):
    """The `dot` binary is not installed, so DOT cannot be turned into SVG here."""


# ---------------------------------------------------------------- overview


def _stem_label(spec: ArchSpec, plan: Layout) -> str:
    if spec.family in ("vgg", "fractalnet"):
        return ""  # these start directly with their first conv group
    if spec.stem == "imagenet":
        return f"stem\n7×7 conv /2, {plan.stem_channels}\n3×3 max-pool /2"
    return f"stem\n3×3 conv, {plan.stem_channels}"


def _stage_label(spec: ArchSpec, stage: StagePlan) -> str:
    first, last = stage.block_widths[0], stage.block_widths[-1]
    widths = f"{first}" if first == last else f"{first}→{last}"
    stride = f", first stride {stage.stride}" if stage.stride > 1 else ""
    kind = {
        "basic": "basic block", "bottleneck": "bottleneck block", "dense": "dense layer",
        "highway": "highway layer", "conv": "3×3 conv", "fractal": "fractal block",
    }[stage.kind]
    if spec.family == "plain":
        kind = f"plain {kind}"
    if spec.family == "shake_shake":
        kind = "shake-shake block (2 branches)"
    if spec.family == "resnext":
        kind = f"ResNeXt block (C={spec.cardinality})"
    if stage.kind == "fractal":
        return (f"{stage.name}: fractal block\nC={spec.fractal_columns} columns, "
                f"{2 ** (spec.fractal_columns - 1)} convs deep, {last} ch\n2×2 max-pool")
    if stage.kind == "dense":
        return f"{stage.name}: dense block\n{kind} × {stage.num_blocks}, k={spec.growth_rate}\n{stage.in_channels}→{last} ch"
    if stage.kind == "conv":
        return f"{stage.name}: {kind} × {stage.num_blocks}, {widths} ch\n2×2 max-pool"
    return f"{stage.name}: {kind} × {stage.num_blocks}\n{widths} ch{stride}"


def _head_label(spec: ArchSpec, plan: Layout) -> str:
    if spec.family == "vgg" and spec.stem == "imagenet":
        return f"head\nfc 4096, fc 4096, fc {spec.num_classes}"
    return f"head\nglobal avg-pool\nfc {plan.head_in}→{spec.num_classes}"


def overview_dot(spec: ArchSpec) -> str:
    """Stem -> each stage as one "x N" node -> head, with the tensor shape (C×H×W) on every edge."""
    plan = layout(spec)
    title = f"{FAMILY_LABELS[spec.family]}, {plan.weight_layers} weight layers"
    g = DotWriter("overview", title)
    last = g.node("tensor", f"input\n{shape_text(3, plan.input_size)}", name="input", shape="ellipse")
    shape = shape_text(3, plan.input_size)
    stem = _stem_label(spec, plan)
    if stem:
        node = g.node("conv", stem, name="stem")
        g.edge(last, node, shape)
        last, shape = node, shape_text(plan.stem_channels, plan.stem_size)
    for i, stage in enumerate(plan.stages):
        node = g.node("stage", _stage_label(spec, stage), name=stage.name)
        g.edge(last, node, shape)
        last = node
        if stage.kind == "dense" and i < len(plan.stages) - 1:
            shape = shape_text(stage.out_channels, stage.in_size)
            nxt = plan.stages[i + 1].in_channels
            node = g.node("pool", f"transition {i + 1}\n1×1 conv {stage.out_channels}→{nxt}\n2×2 avg-pool",
                          name=f"transition{i + 1}")
            g.edge(last, node, shape)
            last, shape = node, shape_text(nxt, stage.out_size)
        else:
            shape = shape_text(stage.out_channels, stage.out_size)
    head = g.node("head", _head_label(spec, plan), name="head")
    g.edge(last, head, shape)
    out = g.node("tensor", f"{spec.num_classes} class scores", name="output", shape="ellipse")
    g.edge(head, out)
    return g.render()


# ---------------------------------------------------------------- helpers for pages and tests


def node_count(dot: str) -> int:
    """Nodes in a DOT text, not counting the legend."""
    names = re.findall(r'^\s*"([^"]+)" \[(?:shape=\w+, )?\w*label=', dot, flags=re.M)
    return sum(1 for n in names if n != "legend")


def dot_available() -> bool:
    return shutil.which("dot") is not None


def to_svg(dot: str, timeout: float = 20.0) -> str:
    """Render DOT to SVG with the graphviz `dot` binary; GraphvizMissing when it is not installed."""
    binary = shutil.which("dot")
    if binary is None:
        raise GraphvizMissing("the graphviz `dot` program is not installed; install it (apt-get install graphviz) "
                              "to download SVG; the DOT download works without it")
    try:
        done = subprocess.run([binary, "-Tsvg"], input=dot.encode(), capture_output=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise GraphvizMissing(f"graphviz took longer than {timeout:g} s to draw this graph") from None
    if done.returncode != 0:
        raise ValueError(f"graphviz could not draw this DOT: {done.stderr.decode(errors='replace')[:300]}")
    return done.stdout.decode()
