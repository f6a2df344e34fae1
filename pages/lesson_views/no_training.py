"""The lessons that need no training (2, 4, 5, 8): each answers in seconds on a CPU."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from explorer import PRESETS, SpecError
from explorer.draw.block import block_dot
from explorer.draw.overview import GraphvizMissing, to_svg
from explorer.i18n import N_, _
from explorer.lessons import budget, charts, dense, forms, gradients, tables
from pages import plain, say
from pages.lesson_views.common import source_caption, store, text_table
from pages.train_views.common import hide_paths


# ---------------------------------------------------------------------------------------------------- lesson 2
@st.cache_data(show_spinner=False, max_entries=64)
def gradient_frames(depth: int, residual_depth: int, activation: str, init: str, batchnorm: bool
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames, acts = [], []
    for family, d in (("plain", depth), ("resnet", residual_depth)):
        if family == "plain" and d > gradients.MAX_PLAIN_DEPTH:
            continue
        prof = (tables.gradient_profile(family, d, activation, init, batchnorm)  # shipped: no wait
                or gradients.gradient_profile(family, d, activation, init, batchnorm))
        label = f"plain-{d}" if family == "plain" else f"ResNet-{d}"
        frames.append(prof.layers.assign(net=label, ratio=prof.first_to_last()))
        acts.append(prof.activations.assign(net=label))
    return pd.concat(frames, ignore_index=True), pd.concat(acts, ignore_index=True)


def lesson_gradients() -> None:
    st.markdown(_(
        "Before any training, push one batch of random images through a net and back. How large is the "
        "gradient that reaches each layer? In a **plain** net it is a product of one factor per layer, so it "
        "shrinks (or explodes) geometrically with depth. In a **residual** net, eq. (5) of *Identity Mappings* "
        "says the gradient at any unit $l$ contains the gradient at the top, $\\partial L/\\partial x_L$, "
        "unchanged:"))
    st.latex(r"\frac{\partial L}{\partial x_l} = \frac{\partial L}{\partial x_L}"
             r"\Big(1 + \frac{\partial}{\partial x_l}\sum_{i=l}^{L-1} F(x_i, W_i)\Big)")
    source_caption(_("He et al. 2016, Identity Mappings in Deep Residual Networks (1603.05027), eq. (5). "
                     "The residual net here is the pre-activation form, with no activation on the shortcut path, "
                     "so h(x) = x as eq. (5) assumes."))
    c1, c2, c3, c4 = st.columns(4)
    depth = c1.select_slider(_("Depth (plain and residual)"), [20, 32, 44, 56, 110], value=56)
    activation = c2.radio(_("Activation"), ["sigmoid", "tanh", "relu"], horizontal=True)
    init = c3.radio(_("Initialization"), ["xavier", "he"], horizontal=True, format_func={"xavier": "Xavier",
                    "he": "He"}.get, help="; ".join(_(text) for text in gradients.INITS.values()))
    batchnorm = c4.toggle("BatchNorm", value=False, help=_("Off: the nets as they were before BatchNorm (2015)."))
    residual_depth = depth
    if st.toggle(_("Residual net of 1202 layers"), value=False):
        residual_depth = 1202
    with st.spinner(_("One forward and one backward pass...")):
        grads, acts = gradient_frames(depth, residual_depth, activation, init, batchnorm)
    nets = list(dict.fromkeys(grads["net"]))
    ratios = {net: float(grads[grads["net"] == net]["ratio"].iloc[0]) for net in nets}
    cols = st.columns(len(nets))
    for col, net in zip(cols, nets):
        col.metric(_("{net}: first layer / last layer gradient").format(net=net), f"{ratios[net]:.2g}")
    shown = grads.assign(grad_norm=grads["grad_norm"].clip(lower=1e-300))
    chart = alt.Chart(shown).mark_line(strokeWidth=4, point=alt.OverlayMarkDef(size=50)).encode(
        x=alt.X("layer:Q", title=_("weight layer (1 = input side)")),
        y=alt.Y("grad_norm:Q", scale=alt.Scale(type="log"), title=_("gradient norm (log)"), axis=alt.Axis(format=".0e")),
        color=alt.Color("net:N", title=_("net")),
        tooltip=["net", "layer", "name", alt.Tooltip("grad_norm:Q", format=".3g")])
    st.altair_chart(charts.styled(chart), width="stretch")
    st.markdown(_("**Activation statistics per layer** (mean slope = average derivative of the activation; "
                  "sigmoid's is at most 0.25, so each plain layer multiplies the gradient by about that much)."))
    stats = {"mean slope": "slope", "mean output": "mean", "output std": "std"}
    stat_labels = {"mean slope": N_("mean slope"), "mean output": N_("mean output"), "output std": N_("output std")}
    shown = st.radio(_("Statistic"), list(stats), horizontal=True, format_func=lambda v: _(stat_labels[v]))
    panel = alt.Chart(acts).mark_line(strokeWidth=4).encode(
        x=alt.X("index:Q", title=_("activation layer (1 = input side)")),
        y=alt.Y(f"{stats[shown]}:Q", title=_(stat_labels[shown])), color=alt.Color("net:N", title=_("net")))
    st.altair_chart(charts.styled(panel, height=380), width="stretch")
    # Said from the ratios on screen: a fixed text claimed a rescue even where plain-56 explodes (issue 12, defect 8).
    st.info(_("**What this setting shows.**") + "\n" + "\n".join(f"- {line}" for line in gradients.verdict(ratios)))
    st.caption(_("The paper's case: with sigmoid and no BatchNorm, plain-56's first layer receives a gradient tens "
                 "of orders of magnitude smaller than its last, ResNet-56's about as much as its last."))


# ---------------------------------------------------------------------------------------------------- lesson 4
@st.cache_data(show_spinner=False)
def published_chart() -> pd.DataFrame:
    return budget.published_chart()


@st.cache_data(show_spinner=False)
def published_chart_with_macs() -> pd.DataFrame:
    return budget.with_macs(budget.published_chart())


MAX_TIMED_MACS = 25e9  # multiply-adds per timed batch: a few seconds per design on a laptop CPU


def speed(design: str, base: str, cardinality: int, width: int, depth: int, k: int) -> float:
    spec = budget.resnext_spec(base, cardinality, width) if design == "resnext" else budget.wrn_spec(depth, k)
    return budget.images_per_second(spec, batch_size=2 if base == "imagenet" else 8)


@st.cache_resource
def speed_bench() -> budget.SpeedBench:
    """One background timer for the whole server (every session shares its speeds: they are this machine's)."""
    return budget.SpeedBench(lambda args: speed(*args))


def lesson_budget() -> None:
    st.markdown(_(
        "Three ways to spend a budget of parameters or multiply-adds: go **deeper** (ResNet-110, 1202), "
        "**wider** (Wide ResNet's k), or add **more paths** (ResNeXt's cardinality C). ResNeXt holds the "
        "complexity of a block fixed and trades C against the width d of each path:"))
    st.latex(r"\text{params per block} \approx C\,(256\,d + 3\cdot3\,d\,d + d\cdot256)")
    source_caption(_("Xie et al. 2017, ResNeXt (1611.05431), sec. 3.4 and Table 2."))
    chart = published_chart()
    st.altair_chart(charts.error_chart(chart, "params (M)"), width="stretch")
    source_caption(_("every preset with a published CIFAR-10 error; hover a point for its paper, table and kind of "
                     "number (best, median, mean)."))
    st.subheader(_("Budget calculator"))
    c1, c2, c3 = st.columns(3)
    base = c1.radio(_("Base network"), ["cifar", "imagenet"], horizontal=True,
                    format_func={"cifar": "ResNeXt-29 (CIFAR)", "imagenet": "ResNeXt-50 (ImageNet)"}.get)
    measure = c2.radio(_("Budget in"), ["params", "macs"], horizontal=True,
                       format_func=lambda v: _({"params": N_("parameters"), "macs": N_("multiply-adds")}[v]))
    default = {("cifar", "params"): 4.9, ("cifar", "macs"): 750.0, ("imagenet", "params"): 25.5,
               ("imagenet", "macs"): 4100.0}[base, measure]
    unit = _("M parameters") if measure == "params" else _("M multiply-adds per image")
    target = c3.number_input(_("Target ({unit})").format(unit=unit), min_value=0.1, max_value=100_000.0, value=default)
    templates = budget.resnext_templates(target * 1e6, measure, base)
    pairs = budget.wrn_pairs(target * 1e6, measure) if base == "cifar" else pd.DataFrame()
    batch = 2 if base == "imagenet" else 8
    rows = [(r.design, r[5], ("resnext", base, int(r[2]), int(r[3]), 0, 0)) for r in templates.itertuples()]
    rows += [(r.design, r[5], ("wrn", base, 0, 0, int(r.depth), int(r.k))) for r in pairs.itertuples()]
    bench = speed_bench()
    if st.button(_("Measure training speed on this machine"), type="primary",
                 help=_("Times forward + backward of each listed design at batch {batch} on this machine's CPU, in "
                        "the background: the lesson stays usable, and Cancel stops it.").format(batch=batch)):
        for _design, macs, args in rows:
            # A CPU times a design of many G multiply-adds for minutes: say so instead of hanging the lesson.
            if macs * batch > MAX_TIMED_MACS and args not in bench.speeds:
                # English: the bench is the server's, shared by every session whatever its language
                bench.speeds[args] = f"too large to time here ({macs / 1e9:.1f}G per image)"
        st.session_state["budget_measurement"] = bench.start([(design, args) for design, _, args in rows])
    job = st.session_state.get("budget_measurement")
    running = job is not None and job.running
    st.fragment(run_every=1.0 if running else None)(budget_speeds)(templates, pairs, rows, base, batch, running)
    budget_macs_chart()


# The budget tables' headers, shown translated (the frames keep the English names the formats and tests use).
BUDGET_COLUMNS = {"design": N_("design"), "params": N_("params"), "multiply-adds": N_("multiply-adds"),
                  "vs target": N_("vs target"), "images/s (this CPU)": N_("images/s (this CPU)")}


def budget_headers(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=lambda c: _(BUDGET_COLUMNS[c]) if c in BUDGET_COLUMNS else c)


def budget_speeds(templates: pd.DataFrame, pairs: pd.DataFrame, rows: list, base: str, batch: int,
                  was_running: bool) -> None:
    """The measurement's progress and Cancel, and the two tables with the speeds measured so far (this part looks
    again every second while the background timer works, so the rest of the page stays usable)."""
    job, speeds = st.session_state.get("budget_measurement"), speed_bench().speeds
    if job is not None and job.running:
        c1, c2 = st.columns([4, 1])
        bar = c1.empty()
        if not job.cancel.is_set() and c2.button(_("Cancel"), key="budget_cancel", help=_(
                "Stops after the design being timed; the designs timed so far keep their speed.")):
            job.cancel.set()
        doing = _("{design} ({n} of {total})").format(design=job.current or _("the first design"), n=job.done + 1,
                                                       total=len(job.todo))
        bar.progress(job.done / max(len(job.todo), 1),
                     text=_("Cancelled: stopping after {doing}...").format(doing=doing) if job.cancel.is_set() else
                     _("Timing {doing} on the CPU, in the background...").format(doing=doing))
    elif job is not None and job.future is not None and job.future.exception() is not None:
        say("warning", _("The measurement stopped: {}"), job.future.exception())
    if was_running and not (job is not None and job.running):
        st.rerun()  # done or cancelled: draw the page once more without the refresh
    column = "images/s (this CPU)"
    # Numbers stay numbers (right-aligned, "–" until measured); a design that was not timed says why below.
    timed = [speeds.get(args) for _, _, args in rows]
    numbers = [v if isinstance(v, float) else float("nan") for v in timed]
    templates[column] = numbers[:len(templates)]
    if len(pairs):
        pairs[column] = numbers[len(templates):]
    # One table under the other: side by side, five columns each wrap the design names on a projector.
    st.markdown(_("**ResNeXt templates C x d of equal complexity**"))
    fmt = {"params": lambda v: f"{v / 1e6:.2f}M", "multiply-adds": lambda v: f"{v / 1e9:.2f}G",
           "vs target": "{:+.1%}", column: "{:,.1f}"}
    fmt = {_(BUDGET_COLUMNS[c]): f for c, f in fmt.items()}  # the headers are shown translated, the data keep theirs
    st.table(text_table(budget_headers(templates.drop(columns=["cardinality C", "width d"])), fmt))
    st.markdown(_("**Wide ResNets WRN-depth-k near the budget**"))
    if len(pairs):
        st.table(text_table(budget_headers(pairs.drop(columns=["depth", "k"])), fmt))
    elif base == "imagenet":
        st.write(_("Wide ResNet's CIFAR designs only; pick the CIFAR base."))
    else:
        # "%" followed by a letter in _() would read as a %-format to the catalog tools
        st.write(_("No WRN-depth-k within {share} of this target.").format(share="25%"))
    source_caption(_("counted by the app (explorer.models.cost) on the model it builds; ResNeXt Table 2 lists the "
                     "ImageNet templates 1x64d, 2x40d, 4x24d, 8x14d, 32x4d at ResNet-50's 4.1 GFLOPs."))
    untimed = [f"{design}: {note}" for (design, _, _), note in zip(rows, timed) if isinstance(note, str)]
    if untimed:
        st.warning(_("Not timed: {designs}. Pick a smaller target to compare speeds on a CPU.").format(
            designs="; ".join(map(plain, untimed))))  # each entry may hold a SpecError's text: shown as plain text
    if not any(args in speeds for _, _, args in rows):
        st.caption(_("“{column}” fills in when you press the button above.").format(column=_(BUDGET_COLUMNS[column])))
    else:
        # Rate of useful work per design: forward multiply-adds per second. Said from the measurement, since the
        # order depends on the hardware (grouped convolutions run well on some devices and poorly on others).
        rates = {design: number * macs for (design, macs, _), number in zip(rows, numbers) if number == number}
        note = ""
        if len(rates) > 1:
            slow, fast = min(rates, key=rates.get), max(rates, key=rates.get)
            note = _(" Multiply-adds per second range from {low}G ({slow}) to {high}G ({fast}): {times}x. Equal "
                     "multiply-adds are not equal speed, and the order changes with the hardware, so measure where "
                     "you train.").format(low=f"{rates[slow] / 1e9:.1f}", slow=slow, high=f"{rates[fast] / 1e9:.1f}",
                                          fast=fast, times=f"{rates[fast] / rates[slow]:.1f}")
        st.caption(_("{column}: training images per second, forward + backward at batch {batch}, measured on "
                     "this machine (shared by every visitor of this server).").format(
                         column=_(BUDGET_COLUMNS[column]), batch=batch) + note)


def budget_macs_chart() -> None:
    """Published error against multiply-adds, drawn when the toggle asks for it."""
    # Only when asked for: an expander's body runs even while it is closed, and with a stale shipped table this
    # counts every preset (14 s at load 1.6 for the first visitor; issue 12, defect 6).
    if st.toggle(_("Show error against multiply-adds"), key="budget_macs"):
        with st.spinner(_("Counting every preset's multiply-adds...")):
            frame = published_chart_with_macs()
        st.altair_chart(charts.error_chart(frame, "multiply-adds (G)"), width="stretch")


# ---------------------------------------------------------------------------------------------------- lesson 5
@st.cache_data(show_spinner=False, max_entries=32)
def forms_table(cardinality: int, width: int) -> pd.DataFrame:
    return forms.compare_forms(cardinality, width).table


@st.cache_data(show_spinner=False, max_entries=32)
def block_svg(cardinality: int, width: int, form: str) -> str | None:
    try:
        return to_svg(block_dot(forms.block_spec(cardinality, width, form)))
    except GraphvizMissing:
        return None


# The forms table's headers, shown translated (the frame keeps the English names the formats and tests use).
FORMS_COLUMNS = {"label": N_("label"), "params": N_("params"), "ms per forward": N_("ms per forward"),
                 "max |difference| to (c)": N_("max |difference| to (c)")}


def forms_headers(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=lambda c: _(FORMS_COLUMNS[c]) if c in FORMS_COLUMNS else c)


def lesson_forms() -> None:
    st.markdown(_(
        "A ResNeXt block aggregates C paths of width d. The paper draws it three ways and says they are "
        "*equivalent*. The app builds all three, gives them the same weights, and feeds them the same batch:"))
    st.latex(r"y = x + \sum_{i=1}^{C} \mathcal{T}_i(x)"
             r"\quad\text{(a) sum of paths} \;=\; \text{(b) concat, then 1x1} \;=\; \text{(c) grouped conv}")
    source_caption(_("Xie et al. 2017, ResNeXt (1611.05431), eq. (3) and Fig. 3."))
    c1, c2 = st.columns(2)
    template = c1.selectbox(_("Template C x d"), ["8x4d", "32x4d", "4x24d", "2x40d", "1x64d", "16x8d"],
                            help=_("C paths, each d channels wide (ResNeXt-29 stage 1 on a 16x16 map)"))
    cardinality, width = (int(t) for t in template.rstrip("d").split("x"))
    frame = forms_table(cardinality, width)
    agree = frame["max |difference| to (c)"].max()
    c2.metric(_("Max |difference| between outputs"), f"{agree:.1e}",
              help=_("float64 arithmetic; 1e-15 is rounding, i.e. the same function"))
    formats = {"params": "{:,}", "ms per forward": "{:.2f}", "max |difference| to (c)": "{:.1e}"}
    st.table(forms_headers(frame.drop(columns="form")).style.format(
        {_(FORMS_COLUMNS[c]): f for c, f in formats.items()}).hide(axis="index"))
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("ms per forward:Q", title=_("milliseconds per forward pass (CPU, float32, batch 8)")),
        y=alt.Y("label:N", title=None, sort=None), color=alt.Color("label:N", legend=None))
    st.altair_chart(charts.styled(bars, height=240), width="stretch")
    st.caption(_("Same parameters, same output, different speed: the grouped convolution runs the C paths as one "
                 "kernel; the split form launches 3C small convolutions."))
    tabs = st.tabs([forms.FORMS[form] for form in ("split", "concat", "grouped")])
    for tab, form in zip(tabs, ("split", "concat", "grouped")):
        svg = block_svg(min(cardinality, 4), width, form)
        if svg:
            tab.image(svg, width="stretch")
        else:
            tab.write(_("Graphviz is not installed; the graph is not available."))
    if cardinality > 4:
        st.caption(_("Graphs drawn with C = 4 paths so that they stay readable."))


# ---------------------------------------------------------------------------------------------------- lesson 8
@st.cache_data(show_spinner=False)
def dense_memory() -> pd.DataFrame:
    return dense.memory()


MEMORY_COLUMNS = {"preset": N_("preset"), "params (M)": N_("params (M)"), "multiply-adds (M)": N_("multiply-adds (M)"),
                  "activations per image (MB)": N_("activations per image (MB)")}  # shown translated


def lesson_dense() -> None:
    st.markdown(_("ResNet **adds** a block's output to its input; DenseNet **concatenates** it, so every layer "
                  "sees the maps of all layers before it in its block, and the channel count grows by k per layer:"))
    st.latex(r"\text{ResNet: } x_l = H_l(x_{l-1}) + x_{l-1} \qquad "
             r"\text{DenseNet: } x_l = H_l([x_0, x_1, \ldots, x_{l-1}])")
    source_caption(_("Huang et al. 2017, Densely Connected Convolutional Networks (1608.06993), eq. (1)-(2)."))
    k = st.select_slider(_("Growth rate k"), [6, 12, 24, 32, 40], value=12)
    spec = PRESETS["densenet40_k12"].replace(growth_rate=k)
    growth = dense.channel_growth(spec)
    chart = alt.Chart(growth).mark_line(point=alt.OverlayMarkDef(size=80), strokeWidth=4).encode(
        x=alt.X("layer:Q", title=_("layer within the first block / stage")),
        y=alt.Y("channels:Q", title=_("channels")), color=alt.Color("net:N", title=_("net")))
    st.altair_chart(charts.styled(chart, height=420), width="stretch")
    n = len(growth[growth["net"].str.startswith("DenseNet")]) - 1
    blocks = len(growth[growth["net"].str.startswith("ResNet")]) - 1
    st.caption(_("DenseNet: {start} input channels + {n} layers x k = {k} = {end} channels at the end of the "
                 "block, and {links} direct connections. ResNet-56 keeps 16 channels through its {blocks} blocks: "
                 "{blocks} shortcuts.").format(start=growth["channels"].iloc[0], n=n, k=k,
                                               end=growth["channels"].max(), links=n * (n + 1) // 2, blocks=blocks))
    left, right = st.columns(2)
    conn = dense.connectivity(growth["channels"].iloc[0], k, min(n, 12))
    left.markdown(_("**Who feeds whom** (channels from each earlier layer)"))
    left.altair_chart(charts.styled(alt.Chart(conn).mark_rect().encode(
        x=alt.X("source:O", title=_("source layer (0 = block input)")), y=alt.Y("target layer:O", title=_("layer")),
        color=alt.Color("channels:Q", scale=alt.Scale(scheme="blues"), title=_("channels"))), height=340),
        width="stretch")
    trained = [r for r in store().list_runs() if r.trained and r.spec.get("family") == "densenet"
               and store().checkpoint_path(r.id).exists()]
    model, run_id, skipped = dense.trained_model(store(), trained)
    for skip in skipped:
        say("warning", _("Skipped run {}: its checkpoint cannot be used ({})."), skip.run_id, hide_paths(skip.reason))
    if model is not None:
        note = _("trained run {run}").format(run=run_id)
    else:
        model, note = dense.fresh(spec), _("untrained (no DenseNet run in the store): flat, as expected before "
                                           "learning")
    reuse = dense.feature_reuse(model)
    right.markdown(_("**Feature reuse**, mean |w| per source ({note})").format(note=note))
    right.altair_chart(charts.styled(alt.Chart(reuse).mark_rect().encode(
        x=alt.X("source:O", title=_("source layer")), y=alt.Y("target layer:O", title=_("layer")),
        color=alt.Color("weight:Q", scale=alt.Scale(scheme="viridis", domain=[0, 1]), title=_("relative |w|"))),
        height=340), width="stretch")
    source_caption(_("re-drawing of DenseNet Fig. 5 for the first block of the chosen net."))
    st.subheader(_("Parameters against error"))
    st.altair_chart(charts.error_chart(dense.params_vs_error(), "params (M)"), width="stretch")
    st.markdown(_("**Memory:** concatenation keeps every map alive for the backward pass."))
    memory = dense_memory().rename(columns=lambda c: _(MEMORY_COLUMNS[c]) if c in MEMORY_COLUMNS else c)
    st.table(memory.style.format(precision=2).hide(axis="index"))
    source_caption(_("counted by the app (explorer.models.cost) on the models it builds."))
