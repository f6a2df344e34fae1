"""One block of a design in detail, as DOT, drawn from the block the builder made (on the meta device).

Every node of a branch is one module of the block, named by its module path (`stage2.block1.residual.conv1`)
and labelled from its own attributes (kernel, stride, groups, channels, p). The shortcut, the merge and each
family's wiring (Shake-Shake's mix of two branches, DenseNet's concatenations, ResNeXt's C paths, highway gates,
fractal columns and joins) come from the block's module tree (`explorer.draw.modules.block_form`), so the drawing
cannot drift from the model: change a block and its picture changes with it.
"""

from __future__ import annotations

from torch import nn

from explorer.draw.dot import BLOCK_TITLE, Drawing
from explorer.draw.modules import block_form, conv_text, has, ops, shape_of, shortcut_text
from explorer.models.cost import Trace, trace
from explorer.models.spec import FAMILY_LABELS, ArchSpec, layout

MAX_PATHS_DRAWN = 3  # ResNeXt: with more paths, draw paths 1, 2, "..." and C
MAX_DENSE_LAYERS_DRAWN = 3  # DenseNet: layers drawn in the detail view of a dense block

Op = tuple[str, str, str | None]  # (kind, label, node name: the module path, or None for a functional step)


def _tail(block: nn.Module, path: str) -> list[Op]:
    """SE and stochastic depth on the branch end, where the block has them."""
    return [op for name in ("se", "stochastic_depth") if has(block, name)
            for op in ops(getattr(block, name), f"{path}.{name}")]


def _fused(chain: list[Op]) -> list[Op]:
    """One node per conv with the BN and ReLU that follow it, so that parallel paths stay readable."""
    nodes: list[list] = []
    for kind, label, name in chain:
        if kind == "conv" or not nodes:
            nodes.append([kind, label, name, []])
        else:
            nodes[-1][3].append(label)
    return [(k, label + ("\n" + ", ".join(rest) if rest else ""), n) for k, label, n, rest in nodes]


def _titled(chain: list[Op], title: str) -> list[Op]:
    return [(k, f"{title}: {label}" if i == 0 else label, n) for i, (k, label, n) in enumerate(chain)]


def _add(g: Drawing, branch: str, short: str, name: str, label: str = "+") -> str:
    merge = g.node("merge", label, name, shape="circle" if label == "+" else "ellipse")
    g.edge(branch, merge, "F(x)")
    g.edge(short, merge, "h(x)", style="dashed")
    return merge


def _merge(g: Drawing, block: nn.Module, path: str, x: str, branch: str, short: str) -> str:
    """The block's merge module: gated (Identity Mappings Table 1), scaled, or a plain sum."""
    merge = getattr(block, "merge", None)
    if merge is not None and has(merge, "gate", "exclusive"):
        gate = g.chain(x, [("conv", f"gate: {conv_text(merge.gate)}, bias {merge.bias_init:g}", f"{path}.merge.gate"),
                           ("activation", "sigmoid: g(x)", None)])
        text = "g·F + (1−g)·h" if merge.exclusive else "F + (1−g)·h"
        node = _add(g, branch, short, f"{path}.merge", f"gated add\n{text}")
        g.edge(gate, node, "g", style="dashed")
        return node
    if merge is not None and (merge.residual_scale, merge.shortcut_scale) != (1.0, 1.0):
        return _add(g, branch, short, f"{path}.merge", f"{merge.residual_scale:g}·F + {merge.shortcut_scale:g}·h")
    return _add(g, branch, short, f"{path}.merge" if merge is not None else f"{path}.add")


def _shortcut(g: Drawing, block: nn.Module, path: str, source: str) -> str:
    short = g.node("shortcut", shortcut_text(block.shortcut), f"{path}.shortcut")
    g.edge(source, short, style="dashed")
    return short


def _residual(g: Drawing, block: nn.Module, path: str, x: str) -> str:
    """preact -> F -> SE -> stochastic depth -> merge with the shortcut -> post (ResNet, its variants, PyramidNet)."""
    start = g.chain(x, ops(block.preact, f"{path}.preact")) if has(block, "preact") else x
    end = g.chain(start, ops(block.residual, f"{path}.residual") + _tail(block, path))
    # Identity Mappings sec. 4.1: the net's first unit and projection shortcuts take the pre-activated input.
    short = _shortcut(g, block, path, start if getattr(block, "shared_preact", False) else x)
    merge = _merge(g, block, path, x, end, short)
    return g.chain(merge, ops(block.post, f"{path}.post")) if has(block, "post") else merge


def _plain(g: Drawing, block: nn.Module, path: str, x: str) -> str:
    return g.chain(x, ops(block.residual, f"{path}.residual") + ops(block.post, f"{path}.post"))


def _paths(g: Drawing, block: nn.Module, path: str, x: str) -> str:
    """ResNeXt Fig. 3(a)/(b): C paths of width d, summed (each ends at the block width) or concatenated."""
    count = len(block.paths)
    shown = list(range(count)) if count <= MAX_PATHS_DRAWN else [0, 1, count - 1]
    ends = []
    for p in shown:
        if p == count - 1 and count > MAX_PATHS_DRAWN:
            gap = g.node("tensor", f"… {count - 3} more\npaths …", f"{path}.paths.more", shape="plaintext")
            g.edge(x, gap, style="dotted")
        chain = _fused(ops(block.paths[p], f"{path}.paths.{p}"))
        ends.append(g.chain(x, _titled(chain, f"path {p + 1}")))
    last_conv = [m for m in block.paths[0] if isinstance(m, nn.Conv2d)][-1]
    if has(block.paths[0], "conv3"):  # each path ends at the block width: Fig. 3(a)
        join = g.node("merge", f"sum of {count} paths", f"{path}.sum", shape="ellipse")
    else:
        d = last_conv.out_channels
        join = g.node("merge", f"concat\n{count}×{d} = {count * d} ch", f"{path}.concat", shape="ellipse")
    for e in ends:
        g.edge(e, join)
    end = g.chain(join, ops(block.conv3, f"{path}.conv3") + ops(block.bn3, f"{path}.bn3") + _tail(block, path))
    merge = _add(g, end, _shortcut(g, block, path, x), f"{path}.add")
    return g.chain(merge, ops(block.post, f"{path}.post"))


def _shake(g: Drawing, block: nn.Module, path: str, x: str) -> str:
    """Gastaldi 2017: x + alpha·F1(x) + (1−alpha)·F2(x); backward uses beta."""
    ends = [g.chain(x, _titled(ops(getattr(block, b), f"{path}.{b}"), f"branch {i}"))
            for i, b in ((1, "branch1"), (2, "branch2"))]
    mix = block.mix
    alpha = {"shake": "alpha ~ U(0,1)", "even": "alpha = 0.5"}[mix.forward_mode]
    beta = {"shake": "beta ~ U(0,1)", "even": "beta = 0.5", "keep": "beta = alpha"}[mix.backward_mode]
    node = g.node("merge", f"shake-shake mix (per {mix.level})\nforward: alpha·F1 + (1−alpha)·F2, {alpha}\n"
                           f"backward: {beta}\ntest: (F1 + F2) / 2", f"{path}.mix")
    g.edge(ends[0], node, "F1")
    g.edge(ends[1], node, "F2")
    end = g.chain(node, _tail(block, path))
    merge = _add(g, end, _shortcut(g, block, path, x), f"{path}.add")
    return g.chain(merge, ops(block.post, f"{path}.post")) if has(block, "post") else merge  # bottleneck: ReLU


def _highway(g: Drawing, block: nn.Module, path: str, x: str) -> str:
    """Srivastava et al. 2015: y = H(x)·T(x) + x·(1 − T(x)), T = sigmoid(gate(x)), gate bias b_T."""
    h = g.chain(x, ops(block.transform, f"{path}.transform"))
    t = g.chain(x, [("conv", f"transform gate T: {conv_text(block.gate)}, bias {block.gate_bias:g}", f"{path}.gate"),
                    ("activation", "sigmoid", None)])
    carry = g.node("shortcut", "carry: x", f"{path}.carry")
    g.edge(x, carry, style="dashed")
    mix = g.node("merge", "H·T + x·(1 − T)", f"{path}.mix", shape="ellipse")
    g.edge(h, mix, "H(x)")
    g.edge(t, mix, "T(x)")
    g.edge(carry, mix, "x", style="dashed")
    return mix


def _join(g: Drawing, join: nn.Module, path: str, inputs: list[str]) -> str:
    """A fractal join: the mean of its inputs (one input passes through unchanged)."""
    if len(inputs) == 1:
        return inputs[0]
    node = g.node("merge", f"join (mean of {len(inputs)})\nlocal drop-path p={join.drop_prob:g}", path,
                  shape="ellipse")
    for i in inputs:
        g.edge(i, node)
    return node


def _fractal_path(g: Drawing, fp: nn.Module, path: str, z: str, columns: int) -> list[str]:
    """f_C(z) = [conv(z)] + f_{C-1}(join(f_{C-1}(z))): the column ends, shallowest first (as its forward)."""
    (kind, label, name), = _fused(ops(fp.conv, f"{path}.conv"))
    unit = g.node(kind, f"col {columns - fp.columns + 1}: {label}", name)
    g.edge(z, unit)
    if not has(fp, "first", "join", "second"):
        return [unit]
    joined = _join(g, fp.join, f"{path}.join", _fractal_path(g, fp.first, f"{path}.first", z, columns))
    return [unit] + _fractal_path(g, fp.second, f"{path}.second", joined, columns)


def _fractal(g: Drawing, block: nn.Module, path: str, x: str) -> str:
    """Larsson et al. 2016: widen -> f_C -> join of the C columns -> pool."""
    z = g.chain(x, ops(block.widen, f"{path}.widen"))
    ends = _fractal_path(g, block.path, f"{path}.path", z, block.path.columns)
    return g.chain(_join(g, block.join, f"{path}.join", ends), ops(block.pool, f"{path}.pool"))


def _dense(g: Drawing, stage: nn.Module, path: str, x: str, t: Trace) -> str:
    """Huang et al. 2017: layer l sees concat(x0, ..., x_{l-1}); each layer's H is its own modules."""
    layers = list(stage.named_children())
    features = [x]
    for i, (name, layer) in enumerate(layers[:MAX_DENSE_LAYERS_DRAWN]):
        concat = x
        if i:
            concat = g.node("merge", f"concat: {t.shapes[f'{path}.{name}'][0][0]} ch", f"{path}.{name}.concat",
                            shape="ellipse")
            for f in features:
                g.edge(f, concat, style="dashed" if f is not features[-1] else "")
        features.append(g.chain(concat, _titled(ops(layer.residual, f"{path}.{name}.residual"), f"layer {i + 1}")))
    drawn = layers[:MAX_DENSE_LAYERS_DRAWN][-1][0]
    final = g.node("merge", f"concat: {t.shapes[f'{path}.{drawn}'][1][0]} ch", f"{path}.concat", shape="ellipse")
    for f in features:
        g.edge(f, final, style="dashed" if f is not features[-1] else "")
    if len(layers) <= MAX_DENSE_LAYERS_DRAWN:
        return final
    more = g.node("tensor", f"… {len(layers) - MAX_DENSE_LAYERS_DRAWN} more layers, each seeing all before it …\n"
                            f"block output {t.shapes[path][1][0]} ch", f"{path}.more", shape="plaintext")
    g.edge(final, more)
    return more


DRAWERS = {"residual": _residual, "plain": _plain, "paths": _paths, "shake": _shake, "highway": _highway,
           "fractal": _fractal}


def _stage(t: Trace, spec: ArchSpec, stage_index: int) -> tuple[str, nn.Module]:
    stages = layout(spec).stages
    name = stages[max(0, min(stage_index, len(stages) - 1))].name
    return name, getattr(t.model, name)


def _blocks(stage: nn.Module) -> list[tuple[str, nn.Module]]:
    """The blocks a stage's detail view shows one at a time; none when it is drawn whole (dense, VGG, fractal)."""
    blocks = [(n, m) for n, m in stage.named_children() if block_form(m) is not None]
    if block_form(stage) is not None or all(block_form(m) == "dense" for _, m in blocks):
        return []
    return blocks


def detail_blocks(spec: ArchSpec, stage_index: int) -> int:
    """How many blocks of a stage `block_dot` can show one at a time; 1 where it draws the stage whole."""
    return len(_blocks(_stage(trace(spec), spec, stage_index)[1])) or 1


def block_dot(spec: ArchSpec, stage_index: int = 0, block_index: int = 0) -> str:
    """One block of one stage in detail: the branch, the shortcut and the merge, as the builder made them.
    Dense, VGG and fractal stages are drawn whole; indices out of range are clamped."""
    t = trace(spec)
    stage_name, stage = _stage(t, spec, stage_index)
    blocks = _blocks(stage)
    if not blocks:
        where, first, drawn = stage_name, stage_name, [(stage_name, stage)]
    else:
        index = max(0, min(block_index, len(blocks) - 1))
        name, block = blocks[index]
        children = list(stage.named_children())
        # The first block's view starts with whatever precedes it in the stage (a highway transition).
        before = [(f"{stage_name}.{n}", m) for n, m in children[:children.index((name, block))]] if not index else []
        drawn = before + [(f"{stage_name}.{name}", block)]
        where, first = f"{stage_name}.{name}", drawn[0][0]
    g = Drawing("block", BLOCK_TITLE.format(where=where, family=FAMILY_LABELS[spec.family]))
    last = g.node("tensor", f"x\n{shape_of(t.shapes[first][0])}", "x", shape="ellipse")
    for path, module in drawn:
        form = block_form(module)
        if form in DRAWERS:
            last = DRAWERS[form](g, module, path, last)
        elif any(block_form(m) == "dense" for m in module.children()):
            last = _dense(g, module, path, last, t)
        else:  # a plain stack (VGG) or a transition: every operation in order
            last = g.chain(last, ops(module, path))
    if has(t.model, "global_fraction", "columns") and t.model.global_fraction:  # FractalNet: one column, whole net
        note = g.node("regularizer", f"global drop-path: {t.model.global_fraction:.0%} of training batches\n"
                                     "use one random column in every block", "global_drop_path")
        g.edge(note, "x", style="dotted", label="picks a column")
    out = g.node("tensor", f"output\n{shape_of(t.shapes[where][1])}", "y", shape="ellipse")
    g.edge(last, out)
    return g.source()
