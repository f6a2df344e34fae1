"""One block of a design in detail, as DOT: the conv / BN / activation order of the branch, the shortcut labelled
with its option, and each family's own wiring (Shake-Shake mixing, dense connections, ResNeXt paths, highway
gates, fractal columns). Drawn from the spec and `layout(spec)`, the data the builder reads; tests compare the
branch order with the built modules.
"""

from __future__ import annotations

from explorer.draw.dot import DotWriter, shape_text
from explorer.models.spec import FAMILY_LABELS, ArchSpec, StagePlan, layout

MAX_PATHS_DRAWN = 3  # ResNeXt: with more paths, draw paths 1, 2, "..." and C
MAX_DENSE_LAYERS_DRAWN = 3  # DenseNet: layers drawn in the detail view of a dense block


def _conv(k: int, out: int, stride: int = 1, groups: int = 1) -> tuple[str, str]:
    s = f" /{stride}" if stride > 1 else ""
    gr = f", groups {groups}" if groups > 1 else ""
    return ("conv", f"{k}×{k} conv{s}, {out}{gr}")


BN, RELU = ("norm", "BN"), ("activation", "ReLU")


def branch_ops(convs: list[tuple[str, str]], activation: str, dropout: float = 0.0) -> list[tuple[str, str]]:
    """Ops of the residual branch F in order, per Identity Mappings Fig. 4 (mirrors `blocks._transform`)."""
    preact = activation in ("relu_only_preact", "full_preact")
    ops: list[tuple[str, str]] = []
    for i, conv in enumerate(convs, start=1):
        last = i == len(convs)
        if i > 1 and dropout > 0 and last:
            ops.append(("regularizer", f"dropout p={dropout:g}"))
        ops.append(conv)
        if preact and not last:
            ops += [BN, RELU]
        elif preact and activation == "relu_only_preact":
            ops.append(BN)
        elif not preact and not (last and activation == "bn_after_add"):
            ops.append(BN)
            if not last or activation == "relu_before_add":
                ops.append(RELU)
    return ops


def pre_ops(activation: str) -> list[tuple[str, str]]:
    return {"full_preact": [BN, RELU], "relu_only_preact": [RELU]}.get(activation, [])


def post_ops(activation: str) -> list[tuple[str, str]]:
    return {"original": [RELU], "bn_after_add": [BN, RELU]}.get(activation, [])


def shortcut_label(spec: ArchSpec, in_channels: int, out_channels: int, stride: int) -> str:
    """What the shortcut path does, in the papers' words (option A/B/C and the Table 1 variants)."""
    changes = stride != 1 or in_channels != out_channels
    if spec.family == "pyramidnet":
        return ("shortcut: zero-pad channels" + (" + 2×2 avg-pool" if stride > 1 else "")) if changes \
            else "shortcut: identity"
    if spec.family == "shake_shake" and changes:
        return "shortcut: 2 × (avg-pool, 1×1 conv), concat, BN"
    if spec.shortcut_variant == "conv1x1":
        return f"shortcut: 1×1 conv{' /2' if stride > 1 else ''} (no BN)"
    if spec.shortcut == "C" or (spec.shortcut == "B" and changes):
        base = f"shortcut option {spec.shortcut}: projection\n1×1 conv{' /2' if stride > 1 else ''}, BN"
    elif spec.shortcut == "A" and changes:
        base = f"shortcut option A: zero-pad\n{in_channels}→{out_channels} ch, subsample /{stride}"
    else:
        base = f"shortcut option {spec.shortcut}: identity"
    if spec.shortcut_variant == "dropout":
        base += f"\nthen dropout p={spec.shortcut_dropout:g}"
    if spec.shortcut_variant == "constant_scaling":
        base += f"\nscaled × {spec.shortcut_scale:g}"
    return base


def _block_convs(spec: ArchSpec, stage: StagePlan, index: int, stride: int) -> list[tuple[str, str]]:
    inner, out = stage.inner_widths[index], stage.block_widths[index]
    if stage.kind == "bottleneck":
        groups = spec.cardinality if spec.family == "resnext" else 1
        return [_conv(1, inner), _conv(3, inner, stride, groups), _conv(1, out)]
    return [_conv(3, inner, stride), _conv(3, out)]


def block_dot(spec: ArchSpec, stage_index: int = 0, block_index: int = 0) -> str:
    """One block of one stage in detail: the branch, the shortcut and the merge, as the builder makes it."""
    plan = layout(spec)
    stage_index = max(0, min(stage_index, len(plan.stages) - 1))
    stage = plan.stages[stage_index]
    block_index = max(0, min(block_index, stage.num_blocks - 1))
    in_channels = stage.in_channels if block_index == 0 else stage.block_widths[block_index - 1]
    stride = stage.stride if block_index == 0 else 1
    size_in = stage.in_size
    size_out = stage.in_size // stride
    where = f"{stage.name}.block{block_index + 1}"
    title = f"{where} in detail ({FAMILY_LABELS[spec.family]})"
    g = DotWriter("block", title)
    x = g.node("tensor", f"x\n{shape_text(in_channels, size_in)}", name="x", shape="ellipse")
    out_shape = shape_text(stage.block_widths[block_index], size_out)
    drawers = {"shake_shake": _shake_shake, "densenet": _dense, "highway": _highway, "fractalnet": _fractal,
               "vgg": _vgg, "resnext": _resnext}
    draw = drawers.get(spec.family, _residual)
    last = draw(g, spec, stage, block_index, x, in_channels, stride)
    out = g.node("tensor", f"output\n{out_shape}" if spec.family not in ("densenet", "vgg", "fractalnet")
                 else "output", name="y", shape="ellipse")
    g.edge(last, out)
    return g.render()


def _tail(g: DotWriter, spec: ArchSpec, branch_end: str) -> str:
    """SE and stochastic depth on the branch end (residual families)."""
    if spec.se_reduction:
        branch_end = g.chain(branch_end, [("gate", f"squeeze-excitation, r={spec.se_reduction}\n"
                                                   "avg-pool, fc, ReLU, fc, sigmoid, ×")])
    if spec.stochastic_depth:
        branch_end = g.chain(branch_end, [("regularizer", f"stochastic depth\ndrop branch, p_L={spec.stochastic_depth:g}")])
    return branch_end


def _merge(g: DotWriter, spec: ArchSpec, x: str, branch: str, short: str, out_channels: int, stride: int) -> str:
    variant = spec.shortcut_variant if spec.family == "resnet" else "identity"
    if variant in ("exclusive_gating", "shortcut_only_gating"):
        gate = g.chain(x, [("conv", f"1×1 conv{' /2' if stride > 1 else ''}, {out_channels}, bias {spec.gate_bias:g}"),
                           ("activation", "sigmoid: g(x)")])
        text = "g·F + (1−g)·h" if variant == "exclusive_gating" else "F + (1−g)·h"
        merge = g.node("merge", f"gated add\n{text}", shape="ellipse")
        g.edge(gate, merge, "g", style="dashed")
    elif variant == "constant_scaling":
        merge = g.node("merge", f"{spec.residual_scale:g}·F + {spec.shortcut_scale:g}·h", shape="ellipse")
    else:
        merge = g.node("merge", "+", shape="circle")
    g.edge(branch, merge, "F(x)")
    g.edge(short, merge, "h(x)", style="dashed")
    return merge


def _residual(g: DotWriter, spec: ArchSpec, stage: StagePlan, index: int, x: str, in_channels: int, stride: int) -> str:
    out_channels = stage.block_widths[index]
    convs = _block_convs(spec, stage, index, stride)
    if spec.family == "plain":
        return g.chain(x, branch_ops(convs, "original") + [RELU])
    if spec.family == "pyramidnet":  # Han et al. 2017, Fig. 6(d): BN-conv-BN-ReLU-conv-BN, no ReLU at the start
        ops = [BN]
        for i, conv in enumerate(convs, start=1):
            ops += [conv, BN] + ([RELU] if i < len(convs) else [])
        pre, branch, post = [], ops, []
    else:
        pre = pre_ops(spec.activation)
        branch = branch_ops(convs, spec.activation, spec.dropout)
        post = post_ops(spec.activation)
    start = g.chain(x, pre) if pre else x
    branch_end = _tail(g, spec, g.chain(start, branch))
    short = g.node("shortcut", shortcut_label(spec, in_channels, out_channels, stride))
    # Identity Mappings sec. 4.1: the net's first unit and projection shortcuts take the pre-activated input.
    projects = "identity" not in shortcut_label(spec, in_channels, out_channels, stride)
    shared = bool(pre) and (projects or (stage.name == "stage1" and index == 0))
    g.edge(start if shared else x, short, style="dashed")
    merge = _merge(g, spec, x, branch_end, short, out_channels, stride)
    return g.chain(merge, post) if post else merge


def _resnext(g: DotWriter, spec: ArchSpec, stage: StagePlan, index: int, x: str, in_channels: int, stride: int) -> str:
    """ResNeXt Fig. 3: C paths of width d; (a) split sums C full paths, (b) concat, (c) one grouped conv."""
    C, out_channels = spec.cardinality, stage.block_widths[index]
    d = stage.inner_widths[index] // C
    form = spec.resnext_form
    shown = list(range(1, C + 1)) if C <= MAX_PATHS_DRAWN else [1, 2, C]
    ends = []
    for p in shown:
        if C > MAX_PATHS_DRAWN and p == C:
            gap = g.node("tensor", f"… {C - 3} more\npaths …", shape="plaintext")
            g.edge(x, gap, style="dotted")
        # One node per conv with its BN and ReLU in order, so C paths stay readable side by side.
        ops = [("conv", f"path {p}: 1×1 conv, {d}\nBN, ReLU"), ("conv", f"3×3 conv{' /2' if stride > 1 else ''}, {d}\nBN, ReLU")]
        if form == "split":
            ops.append(("conv", f"1×1 conv, {out_channels}\nBN"))
        ends.append(g.chain(x, ops))
    if form == "split":
        join = g.node("merge", f"sum of {C} paths", shape="ellipse")
        for e in ends:
            g.edge(e, join)
        branch = join
    else:
        what = "concat" if form == "concat" else f"grouped conv = concat of {C} groups"
        join = g.node("merge", f"{what}\n{C}×{d} = {C * d} ch", shape="ellipse")
        for e in ends:
            g.edge(e, join)
        branch = g.chain(join, [_conv(1, out_channels), BN])
    branch = _tail(g, spec, branch)
    short = g.node("shortcut", shortcut_label(spec, in_channels, out_channels, stride))
    g.edge(x, short, style="dashed")
    merge = _merge(g, spec, x, branch, short, out_channels, stride)
    return g.chain(merge, [RELU])


def _shake_shake(g: DotWriter, spec: ArchSpec, stage: StagePlan, index: int, x: str, in_channels: int,
                 stride: int) -> str:
    """Gastaldi 2017: x + alpha·F1(x) + (1−alpha)·F2(x); backward uses beta."""
    out_channels = stage.block_widths[index]
    ends = []
    for b in (1, 2):
        ops = [RELU, _conv(3, out_channels, stride), BN, RELU, _conv(3, out_channels), BN]
        ends.append(g.chain(x, [(k, f"branch {b}: {t}" if i == 0 else t) for i, (k, t) in enumerate(ops)]))
    alpha = {"shake": "alpha ~ U(0,1)", "even": "alpha = 0.5"}[spec.shake_forward]
    beta = {"shake": "beta ~ U(0,1)", "even": "beta = 0.5", "keep": "beta = alpha"}[spec.shake_backward]
    mix = g.node("merge", f"shake-shake mix (per {spec.shake_level})\nforward: alpha·F1 + (1−alpha)·F2, {alpha}\n"
                          f"backward: {beta}", shape="box")
    g.edge(ends[0], mix, "F1")
    g.edge(ends[1], mix, "F2")
    short = g.node("shortcut", shortcut_label(spec, in_channels, out_channels, stride))
    g.edge(x, short, style="dashed")
    add = g.node("merge", "+", shape="circle")
    g.edge(_tail(g, spec, mix), add)
    g.edge(short, add, "h(x)", style="dashed")
    return add


def _dense(g: DotWriter, spec: ArchSpec, stage: StagePlan, index: int, x: str, in_channels: int, stride: int) -> str:
    """Huang et al. 2017: layer l sees concat(x0, ..., x_{l-1}); H = BN-ReLU-conv (B: 1×1 to 4k first)."""
    k, count = spec.growth_rate, min(stage.num_blocks, MAX_DENSE_LAYERS_DRAWN)
    drop = [("regularizer", f"dropout p={spec.dropout:g}")] if spec.dropout else []
    features = [x]
    for layer in range(count):
        channels = stage.in_channels + k * layer
        concat = x
        if layer:
            concat = g.node("merge", f"concat: {channels} ch", shape="ellipse")
            for f in features:
                g.edge(f, concat, style="dashed" if f is not features[-1] else "")
        ops = [BN, RELU, _conv(1, 4 * k)] + drop if spec.block == "bottleneck" else []
        ops = [(kind, f"layer {layer + 1}: {t}" if i == 0 else t)
               for i, (kind, t) in enumerate(ops + [BN, RELU, _conv(3, k)] + drop)]
        features.append(g.chain(concat, ops))
    final = g.node("merge", f"concat: {stage.in_channels + k * count} ch", shape="ellipse")
    for f in features:
        g.edge(f, final, style="dashed" if f is not features[-1] else "")
    if stage.num_blocks > count:
        more = g.node("tensor", f"… {stage.num_blocks - count} more layers, each seeing all before it …\n"
                                f"block output {stage.out_channels} ch", shape="plaintext")
        g.edge(final, more)
        return more
    return final


def _highway(g: DotWriter, spec: ArchSpec, stage: StagePlan, index: int, x: str, in_channels: int, stride: int) -> str:
    """Srivastava et al. 2015: y = H(x)·T(x) + x·(1 − T(x)), T = sigmoid(conv x + b_T)."""
    out_channels = stage.block_widths[index]
    h = g.chain(x, [_conv(3, out_channels, stride), BN, RELU])
    t = g.chain(x, [("conv", f"transform gate T: 3×3 conv{' /2' if stride > 1 else ''}, bias {spec.gate_bias:g}"),
                    ("activation", "sigmoid")])
    carry = g.node("shortcut", "carry: x" + (" (resized to match)" if in_channels != out_channels or stride > 1
                                              else ""))
    g.edge(x, carry, style="dashed")
    mix = g.node("merge", "H·T + x·(1 − T)", shape="ellipse")
    g.edge(h, mix, "H(x)")
    g.edge(t, mix, "T(x)")
    g.edge(carry, mix, "x", style="dashed")
    return mix


def _vgg(g: DotWriter, spec: ArchSpec, stage: StagePlan, index: int, x: str, in_channels: int, stride: int) -> str:
    norm = [] if spec.stem == "imagenet" else [BN]  # torchvision's ImageNet VGG has no BN
    ops = []
    for w in stage.block_widths:
        ops += [_conv(3, w)] + norm + [RELU]
    return g.chain(x, ops + [("pool", "2×2 max-pool /2")])


def _fractal(g: DotWriter, spec: ArchSpec, stage: StagePlan, index: int, x: str, in_channels: int, stride: int) -> str:
    """Larsson et al. 2016: f_1 = conv; f_{C+1}(z) = join(f_C(f_C(z)), conv(z)); join = mean, drop-path."""
    width, C = stage.out_channels, spec.fractal_columns
    depth = 2 ** (C - 1)
    # Column c (1-based) has 2^(c-1) convs, one every depth/2^(c-1) rows; where columns end together, a join
    # takes their mean and feeds every one of them onward.
    cols: dict[int, str] = {}
    last_join = x
    prev_nodes = {c: x for c in range(1, C + 1)}
    for row in range(1, depth + 1):
        ending = []
        for c in range(1, C + 1):
            step = depth // 2 ** (c - 1)
            if row % step == 0:
                node = g.node("conv", f"col {c}: 3×3 conv, {width}\nBN, ReLU")
                g.edge(prev_nodes[c], node)
                cols[c] = node
                ending.append(c)
        if len(ending) > 1:
            join = g.node("merge", f"join (mean of {len(ending)})\nlocal drop-path p={spec.drop_path_local:g}",
                          shape="ellipse")
            for c in ending:
                g.edge(cols[c], join)
                prev_nodes[c] = join
            last_join = join
        else:
            prev_nodes[ending[0]] = cols[ending[0]]
            last_join = cols[ending[0]]
    return g.chain(last_join, [("pool", "2×2 max-pool /2")])
