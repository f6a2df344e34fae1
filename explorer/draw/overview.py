"""The drawings of a design, as DOT: the overview here (stem, stages collapsed to "x N", head, tensor shapes on
the edges), one block in detail (`block_dot`, from explorer.draw.block), and `to_svg` / `to_png` to render either.

Both are read from the model the builder makes, built on the meta device (no storage): the overview walks its
top-level modules in the order its forward pass calls them, labels each from its own modules, and puts on every
edge the shape that a meta image's forward pass gives. The drawing cannot disagree with the model. Output is DOT
text for `st.graphviz_chart`; rendering goes through the `graphviz` package. No streamlit here.
"""

from __future__ import annotations

import re
import shutil

import graphviz
from torch import nn

from explorer.draw.block import block_dot, detail_blocks
from explorer.draw.dot import BLOCK_TITLE, COLOURS, LEGEND_TEXT, OVERVIEW_TITLE, Drawing, localized_legend
from explorer.i18n import _
from explorer.draw.modules import block_form, block_kind, has, ops, shape_of
from explorer.models.cost import Trace, trace
from explorer.models.spec import FAMILY_LABELS, ArchSpec, layout

__all__ = ["COLOURS", "LEGEND_TEXT", "GraphvizMissing", "block_dot", "detail_blocks", "dot_available", "node_count",
           "localized", "overview_dot", "to_png", "to_svg"]


class GraphvizMissing(RuntimeError):
    """The `dot` binary is not installed, so DOT cannot be turned into SVG here."""


# ---------------------------------------------------------------- overview


def _brief(module: nn.Module, path: str) -> list[str]:
    """The convolutions, pools and fc layers of a module, one line each (BN and ReLU left to the detail view)."""
    return [text for kind, text, _ in ops(module, path) if kind in ("conv", "pool")]


def _deepest(fractal_path: nn.Module) -> int:
    """Convs on the deepest column of a fractal path: f_C's deep column runs through f_{C-1} twice."""
    if not has(fractal_path, "first", "second"):
        return 1
    return _deepest(fractal_path.first) + _deepest(fractal_path.second)


def _stage_label(name: str, stage: nn.Module, t: Trace) -> str:
    (c_in, h_in, _), (c_out, h_out, _) = t.shapes[name]
    if block_form(stage) == "fractal":
        return (f"{name}: fractal block\nC={stage.path.columns} columns, {_deepest(stage.path)} convs deep, "
                f"{c_out} ch\n" + "\n".join(_brief(stage.pool, f"{name}.pool")))
    children = list(stage.named_children())
    blocks = [(n, m) for n, m in children if block_form(m) is not None]
    if not blocks:  # a plain stack of conv units and a pool (VGG)
        convs = [m for m in stage.modules() if isinstance(m, nn.Conv2d)]
        widths = {c.out_channels for c in convs}
        width = f"{convs[0].out_channels}" if len(widths) == 1 else f"{convs[0].out_channels}→{c_out}"
        k = convs[0].kernel_size[0]
        pools = [text for text in _brief(stage, name) if "pool" in text]
        return f"{name}: {k}×{k} conv × {len(convs)}, {width} ch\n" + "\n".join(pools)
    kind, count = block_kind(blocks[0][1]), len(blocks)
    if kind == "dense layer":
        growth = t.shapes[f"{name}.{blocks[0][0]}"][1][0] - c_in
        return f"{name}: dense block\n{kind} × {count}, k={growth}\n{c_in}→{c_out} ch"
    first = t.shapes[f"{name}.{blocks[0][0]}"]
    widths = f"{first[1][0]}" if first[1][0] == c_out else f"{first[1][0]}→{c_out}"
    stride = first[0][1] // first[1][1]
    label = f"{name}: {kind} × {count}\n{widths} ch" + (f", first stride {stride}" if stride > 1 else "")
    for sub, module in children:  # what else the stage runs, e.g. a highway transition before its layers
        if block_form(module) is None:
            label += f"\n{sub}: " + ", ".join(_brief(module, f"{name}.{sub}"))
    return label


def _node(name: str, module: nn.Module, t: Trace, stages: set[str]) -> tuple[str, str]:
    """(kind, label) of one top-level module."""
    if name in stages:
        return "stage", _stage_label(name, module, t)
    kind = {"stem": "conv", "head": "head"}.get(name, "pool")  # else between stages, e.g. a DenseNet transition
    return kind, "\n".join([name] + _brief(module, name))


def overview_dot(spec: ArchSpec) -> str:
    """Input -> each top-level module of the built model (stages as one "x N" node) -> class scores, with the
    tensor shape (C×H×W) on every edge."""
    t, plan = trace(spec), layout(spec)
    stages = {s.name for s in plan.stages}
    g = Drawing("overview", OVERVIEW_TITLE.format(family=FAMILY_LABELS[spec.family], layers=plan.weight_layers))
    last = g.node("tensor", f"input\n{shape_of(t.input_shape)}", "input", shape="ellipse")
    shape = t.input_shape
    for name in t.order:
        kind, label = _node(name, getattr(t.model, name), t, stages)
        node = g.node(kind, label, name)
        g.edge(last, node, shape_of(shape))
        last, shape = node, t.shapes[name][1]
    out = g.node("tensor", f"{shape[0]} class scores", "output", shape="ellipse")
    g.edge(last, out)
    return g.source()


# ---------------------------------------------------------------- helpers for pages and tests

_NODE = re.compile(r'^\t("(?:[^"\\]|\\.)*"|[^\s"\[]+) \[', flags=re.M)


def node_count(dot: str) -> int:
    """Nodes in a DOT text, not counting the legend."""
    names = [n.strip('"') for n in _NODE.findall(dot)]
    return sum(1 for n in names if n not in ("graph", "node", "edge", "legend"))


def dot_available() -> bool:
    return shutil.which("dot") is not None


def _render(dot: str, fmt: str) -> bytes:
    try:
        return graphviz.Source(dot).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphvizMissing(f"the graphviz `dot` program is not installed; install it (apt-get install graphviz) "
                              f"to download {fmt.upper()}; the DOT download works without it") from None
    except graphviz.CalledProcessError as err:
        stderr = (err.stderr or b"").decode(errors="replace") if isinstance(err.stderr, bytes) else str(err.stderr)
        raise ValueError(f"graphviz could not draw this DOT: {stderr[:300]}") from None


def to_svg(dot: str) -> str:
    """Render DOT to SVG with graphviz; GraphvizMissing when the `dot` binary is not installed."""
    return _render(dot, "svg").decode()


def to_png(dot: str) -> bytes:
    """Render DOT to PNG with graphviz; GraphvizMissing when the `dot` binary is not installed."""
    return _render(dot, "png")


# A drawn title as the English templates write it (the family label is FAMILY_LABELS', which has no quote)
_TITLES = ((OVERVIEW_TITLE, re.compile(r"(?P<family>.+), (?P<layers>\d+) weight layers")),
           (BLOCK_TITLE, re.compile(r"(?P<where>\S+) in detail \((?P<family>.+)\)")))
_GRAPH_LABEL = re.compile(r'^(\tgraph \[[^\n]*?\blabel=)"((?:[^"\\]|\\.)*)"', re.M)


def localized(dot: str) -> str:
    """An overview's or a block's DOT with its title and legend in the current language. Drawings are made,
    cached and shipped precomputed in English; node labels (layer names and shapes) are left as they are."""
    def title(found: re.Match) -> str:
        for template, pattern in _TITLES:
            parts = pattern.fullmatch(found[2])
            if parts and parts["family"] in FAMILY_LABELS.values():
                text = _(template).format(**(parts.groupdict() | {"family": _(parts["family"])}))
                return f'{found[1]}"{text.replace(chr(34), chr(92) + chr(34))}"'
        return found[0]
    return localized_legend(_GRAPH_LABEL.sub(title, dot, count=1))
