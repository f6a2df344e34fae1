"""The lessons that put one paper's table beside the class's numbers (9-13): ImageNet Tables 2 and 3, Wide ResNet's
depth x width grid, ResNeXt's cardinality, Highway against plain, stochastic depth. Counts are the app's own; the
paper's figures come from assets/published.json; runs go through the run store (or, for Highway, a bounded
in-process run of a few seconds)."""

from __future__ import annotations

import math
import time

import altair as alt
import pandas as pd
import streamlit as st

from explorer import SpecError
from explorer.i18n import N_, _
from explorer.lessons import cardinality, charts, highway, imagenet, stochastic, wrn
from pages.lesson_views.common import (build_link, class_recipe, data_note, known_runs, progress, queue_buttons,
                                       source_caption, text_table)

MILLIONS = lambda v: f"{v / 1e6:.2f}M"  # noqa: E731
BILLIONS = lambda v: f"{v / 1e9:.2f}G"  # noqa: E731


def _shown(frame: pd.DataFrame, formats: dict):
    """A table for st.table: text cells shown literally, numbers take `formats` (common.text_table)."""
    return text_table(frame, formats)


def _sources(frame: pd.DataFrame) -> None:
    """One caption per distinct source of a table's rows (file text: shown as plain text)."""
    for text in dict.fromkeys(frame["source"]):
        source_caption(text)


# Table headers shown translated (the frames keep the English names that the formats and the tests use).
HEADERS = {"net": N_("net"), "top-1 error (%)": N_("top-1 error (%)"), "top-5 error (%)": N_("top-5 error (%)"),
           "params": N_("params"), "multiply-adds": N_("multiply-adds"), "template": N_("template"),
           "params vs 1x64d": N_("params vs 1x64d"), "multiply-adds vs 1x64d": N_("multiply-adds vs 1x64d")}


def headers(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=lambda c: _(HEADERS[c]) if c in HEADERS else c)


# ---------------------------------------------------------------------------------------------------- lesson 9
@st.cache_data(show_spinner=False)
def imagenet_frame() -> pd.DataFrame:
    return imagenet.imagenet_table()


@st.cache_data(show_spinner=False)
def cifar_counts() -> pd.DataFrame:
    return imagenet.counts(imagenet.cifar_designs())


def lesson_imagenet() -> None:
    st.markdown(_(
        "Lesson 1 showed degradation on CIFAR-10. He et al. saw it first on ImageNet (Table 2): the 34-layer "
        "**plain** net has a higher error than the 18-layer one, while with shortcuts the 34-layer net is the "
        "better one. Table 3 then asks what the shortcut should be where the shape changes: **A** zero-pads "
        "the identity (no parameters), **B** projects only there, **C** projects on every shortcut:"))
    st.latex(r"y = F(x, \{W_i\}) + W_s\,x")
    source_caption(_(imagenet.SOURCE))
    frame = imagenet_frame()
    st.subheader(_("ImageNet: the paper's errors, the app's counts"))
    formats = {"top-1 error (%)": "{:.2f}", "top-5 error (%)": "{:.2f}", "params": MILLIONS, "multiply-adds": BILLIONS}
    st.table(_shown(headers(frame.drop(columns="source")), {_(HEADERS[c]): f for c, f in formats.items()}))
    _sources(frame)
    dots = alt.Chart(frame).mark_point(size=320, filled=True, opacity=1).encode(
        x=alt.X("top-1 error (%):Q", scale=alt.Scale(zero=False, nice=True), title=_("top-1 error (%, 10-crop)")),
        y=alt.Y("net:N", sort=None, title=None), color=alt.Color("net:N", legend=None),
        tooltip=["net", "top-1 error (%)", "params"])
    st.altair_chart(charts.styled(dots, height=300), width="stretch")
    st.info(_("**What the table shows.**") + "\n" + "\n".join(f"- {line}" for line in imagenet.verdict(frame)))
    st.subheader(_("The CIFAR-10 analogue to run"))
    designs = imagenet.cifar_designs()
    counts = cifar_counts()
    paper = imagenet.cifar_published()
    counts["paper (%)"] = [paper[net] for net in counts["net"]]
    counts["open"] = [build_link(designs[net]) for net in counts["net"]]
    st.dataframe(counts, hide_index=True, width="stretch", column_config={
        "net": _("net"), "paper (%)": _("paper (%)"),
        "params": st.column_config.NumberColumn(_("params"), format="%d"),
        "multiply-adds": st.column_config.NumberColumn(_("multiply-adds"), format="%d"),
        "open": st.column_config.LinkColumn(_("Build page"), display_text=_("open design"))})
    source_caption(_("counted by the app (explorer.models.cost); paper: He et al. 2015 Table 6 (option A only; "
                     "the paper compares B and C on ImageNet alone) and Fig. 6 for the plain nets."))
    picked = st.multiselect(_("Designs to train (short runs, shared by the class)"), list(designs),
                            default=["plain-20", "plain-56", "ResNet-56 A", "ResNet-56 B", "ResNet-56 C"],
                            key="imagenet_picked")
    recipe = class_recipe("imagenet")
    data_note(recipe)
    chosen = {label: designs[label] for label in picked}
    queue_buttons(_("Queue short runs of the chosen designs"), chosen, recipe, "q_imagenet")
    st.info(_("**Expected outcome**, as in the paper: plain-56 ends above plain-20, on the training error too; the "
              "three ResNet-56 options end close together (on CIFAR, option A's zero-padding costs nothing). A short "
              "run shows the order, not the paper's final errors."))

    @st.fragment(run_every=5)
    def live() -> None:
        progress(known_runs(chosen, recipe), paper, key="imagenet_curves")

    live()


# --------------------------------------------------------------------------------------------------- lesson 10
@st.cache_data(show_spinner=False)
def wrn_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return wrn.grid(), wrn.dropout_table()


@st.cache_data(show_spinner=False, max_entries=64)
def wrn_speed(depth: int, k: int) -> float:
    """Images/s of one design, measured once per server (every student's page shares it)."""
    return wrn.speed(depth, k)


WRN_SECONDS = 30.0  # the most one press of the speed button measures for; the rest is left for the next press


def lesson_wrn() -> None:
    st.markdown(_(
        "Deeper, or wider? A Wide ResNet **WRN-d-k** keeps the pre-activation ResNet of d layers and makes every "
        "stage **k** times wider. Parameters grow with $k^2$ but the net stays shallow, so a GPU runs its few "
        "large convolutions in parallel. The paper's grid (Table 4) puts 16- to 40-layer nets of width 1 to 12 "
        "side by side; Table 5 adds dropout between the two convolutions of each block:"))
    st.latex(r"\text{params} \approx (d - 4)/6 \cdot k^2 \cdot 2 \cdot 9 \cdot (16^2 + 32^2 + 64^2)")
    source_caption(_(wrn.SOURCE))
    grid, dropout = wrn_frames()
    dataset = st.radio(_("Dataset"), ["c10", "c100"], horizontal=True, key="wrn_dataset",
                       format_func={"c10": "CIFAR-10", "c100": "CIFAR-100"}.get)
    st.subheader(_("Table 4: error (%) by depth and width k"))
    cells = wrn.error_grid(grid, dataset)
    cells.index = [_("depth {depth}").format(depth=d) for d in cells.index]
    cells.columns = [f"k = {k}" for k in cells.columns]
    st.table(cells.style.format("{:.2f}", na_rep=""))
    _sources(grid.head(1))
    speeds: dict[tuple[int, int], float | str] = st.session_state.setdefault("wrn_speeds", {})
    shown = grid.assign(design=grid["model"])
    cuts = list(zip(shown["depth"].astype(int), shown["k"].astype(int), shown["multiply-adds (app)"]))
    c1, c2 = st.columns([3, 1])
    measure = c1.button(_("Measure training speed of the small designs on this machine"), type="primary",
                        key="wrn_measure", help=_("Times forward + backward at batch {batch} on this machine's CPU, "
                                                  "at most {seconds} s per press; designs over {macs}G "
                                                  "multiply-adds per batch are left to a GPU.").format(
                            batch=wrn.SPEED_BATCH, seconds=f"{WRN_SECONDS:.0f}",
                            macs=f"{wrn.MAX_TIMED_MACS / 1e9:.0f}"))
    c2.button(_("Cancel"), key="wrn_cancel", help=_("Stops the measurement (a rerun); designs timed so far keep "
                                                    "their speed."))
    if measure:
        for depth, k, macs in cuts:
            if not wrn.timeable(macs):
                speeds[depth, k] = "too large for a CPU"
        todo = sorted(((m, d, k) for d, k, m in cuts if (d, k) not in speeds))  # the cheapest first
        bar, start = st.progress(0.0), time.perf_counter()
        for done, (_macs, depth, k) in enumerate(todo):
            if time.perf_counter() - start > WRN_SECONDS:
                st.caption(_("Time is up for this press: press again to time the rest."))
                break
            bar.progress(done / len(todo), text=_("Timing {design} ({n} of {total})...").format(
                design=f"WRN-{depth}-{k}", n=done + 1, total=len(todo)))
            try:
                speeds[depth, k] = wrn_speed(depth, k)
            except SpecError as err:
                speeds[depth, k] = f"not built: {err}"
        bar.empty()
    column = "images/s (this CPU)"
    # Text: a speed where measured, else why not ("GPU only", "not built: ..."), "–" until the button is pressed.
    found = [speeds.get((d, k), "–") for d, k, _ in cuts]
    shown[column] = [f"{v:,.1f}" if isinstance(v, float) else v for v in found]
    st.subheader(_("The grid's designs: the paper's numbers, the app's counts"))
    st.table(_shown(shown[["design", "params_text", "params (app)", "multiply-adds (app)", "c10", "c100", column]]
                    .rename(columns={"params_text": "params (paper)", "c10": "CIFAR-10 (%)", "c100": "CIFAR-100 (%)"}),
                    {"params (app)": MILLIONS, "multiply-adds (app)": BILLIONS, "CIFAR-10 (%)": "{:.2f}",
                     "CIFAR-100 (%)": "{:.2f}"}))
    source_caption("params (app), multiply-adds per 32x32 image: counted by the app on the model it builds. "
                   f"{column}: forward + backward at batch {wrn.SPEED_BATCH} on this machine's CPU, two timed steps "
                   "after a warm-up, measured on demand and kept for the server's other pages (on a busy server "
                   "they vary by several times).")
    points = alt.Chart(shown.assign(**{"params (M)": shown["params (app)"] / 1e6})).mark_point(
        size=260, filled=True).encode(
        x=alt.X("params (M):Q", scale=alt.Scale(type="log"), title=_("parameters (M, counted; log)")),
        y=alt.Y(f"{dataset}:Q", scale=alt.Scale(zero=False),
                title=_("published {dataset} error (%)").format(dataset="CIFAR-10" if dataset == "c10" else "CIFAR-100")),
        color=alt.Color("depth:N", title=_("depth")), shape=alt.Shape("depth:N", title=_("depth")),
        tooltip=["design", "params (M)", dataset])
    labels = points.mark_text(dx=12, align="left", fontSize=charts.FONT - 2).encode(text="design")
    st.altair_chart(charts.styled(alt.layer(points, labels), height=440), width="stretch")
    st.info(_("**What the grid shows.**") + "\n" + "\n".join(f"- {line}" for line in wrn.verdict(grid))
            + "\n- " + _("Speed: on a GPU the wide nets run their few large convolutions in parallel; on this CPU "
                         "compare the images/s column."))
    st.subheader(_("Table 5: dropout between the convolutions"))
    errors = {"c10": "CIFAR-10 (%)", "c10_dropout": "CIFAR-10 + dropout (%)", "c100": "CIFAR-100 (%)",
              "c100_dropout": "CIFAR-100 + dropout (%)"}
    st.table(_shown(dropout[["model", "params (app)", *errors]].rename(columns=errors),
                    {"params (app)": MILLIONS, **{c: "{:.2f}" for c in errors.values()}}))
    _sources(dropout.head(1))
    helped = [r.model for r in dropout.itertuples() if r.c10_dropout < r.c10]
    others = [r.model for r in dropout.itertuples() if r.model not in helped]
    st.caption(f"Dropout {wrn.DROPOUT} lowers the CIFAR-10 error of {', '.join(helped) or 'none of them'}"
               + (f" and not of {', '.join(others)}" if others else "") + " (Table 5, median of 5 runs).")
    st.markdown(_("[Open WRN-28-10 with dropout {dropout} on the Build page]({link})").format(
        dropout=wrn.DROPOUT, link=build_link(wrn.design(28, 10, wrn.DROPOUT))))


# --------------------------------------------------------------------------------------------------- lesson 11
@st.cache_data(show_spinner=False, max_entries=4)
def cardinality_frame(depth: int) -> pd.DataFrame:
    return cardinality.lesson_table(depth)


def lesson_cardinality() -> None:
    st.markdown(_(
        "ResNeXt adds a third dimension beside depth and width: **cardinality** C, the number of parallel paths "
        "of width d in each bottleneck. Table 2 of the paper picks C and d so that every template costs what "
        "ResNet-50 costs (1x64d is ResNet-50 itself); Table 3 trains them all on ImageNet:"))
    st.latex(r"\text{params of a stage-1 block} \approx C\,(256\,d + 3\cdot 3\,d^2 + 256\,d) \approx 70\text{k}")
    st.markdown(_("for every template (C, d): (1, 64), (2, 40), (4, 24), (8, 14) and (32, 4)."))
    source_caption(_(cardinality.SOURCE))
    depth = st.radio(_("Network"), [50, 101], horizontal=True, key="cardinality_depth",
                     format_func=lambda d: f"ResNeXt-{d} (ResNet-{d} = 1x64d)")
    with st.spinner(_("Counting the five templates...")):
        frame = cardinality_frame(depth)
    equal = cardinality.equal_complexity(frame)
    spread_p = frame["params vs 1x64d"].abs().max()
    spread_m = frame["multiply-adds vs 1x64d"].abs().max()
    c1, c2 = st.columns(2)
    c1.metric(_("Largest parameter difference to 1x64d"), f"{spread_p:.1%}")
    c2.metric(_("Largest multiply-add difference to 1x64d"), f"{spread_m:.1%}")
    formats = {"top-1 error (%)": "{:.1f}", "params": MILLIONS, "multiply-adds": BILLIONS,
               "params vs 1x64d": "{:+.1%}", "multiply-adds vs 1x64d": "{:+.1%}"}
    st.table(_shown(headers(frame.drop(columns=["cardinality C", "width d"])),
                    {_(HEADERS[c]): f for c, f in formats.items()}))
    paper = cardinality.published_templates()
    _sources(paper[paper["depth"] == depth])
    source_caption(_("params and multiply-adds per 224x224 image: counted by the app on the model it builds."))
    line = alt.Chart(paper[paper["cardinality"].isin([c for c, _ in cardinality.TEMPLATES])].assign(
        net=lambda f: "ResNeXt-" + f["depth"].astype(str))).mark_line(point=alt.OverlayMarkDef(size=160),
                                                                       strokeWidth=4).encode(
        x=alt.X("cardinality:Q", scale=alt.Scale(type="log", base=2), title=_("cardinality C (log 2)"),
                axis=alt.Axis(values=[1, 2, 4, 8, 32])),
        y=alt.Y("top1_error:Q", scale=alt.Scale(zero=False), title=_("published top-1 error (%)")),
        color=alt.Color("net:N", title=None), tooltip=["model", "top1_error"])
    st.altair_chart(charts.styled(line, height=420), width="stretch")
    first, last = frame.iloc[0], frame.iloc[-1]
    falls = frame["top-1 error (%)"].is_monotonic_decreasing
    st.info(_("**What the numbers show.** The five templates are {equal}: within {params} in parameters and "
              "{macs} in multiply-adds of ResNet-{depth}. The published error goes from {first}% at C = 1 to "
              "{last}% at C = 32").format(
                  equal=_("of equal complexity") if equal else _("not all of equal complexity"),
                  params=f"{spread_p:.1%}", macs=f"{spread_m:.1%}", depth=depth,
                  first=f"{first['top-1 error (%)']:.1f}", last=f"{last['top-1 error (%)']:.1f}")
            + (_(", falling at every step: at the same cost, more paths of a smaller width are more accurate.")
               if falls else ".")
            + _(" Lesson 4 times them; lesson 5 shows that the grouped convolution is the same function as C "
                "separate paths."))
    st.markdown(_("[Open ResNeXt-{depth} 32x4d on the Build page]({link})").format(
        depth=depth, link=build_link(cardinality.template(depth, 32, 4))))


# --------------------------------------------------------------------------------------------------- lesson 12
@st.cache_data(show_spinner=False, max_entries=32)
def gates_at_init(depth: int, gate_bias: float, batchnorm: bool) -> pd.DataFrame:
    model = highway.fresh(highway.design(depth, gate_bias))
    if not batchnorm:
        highway.without_batchnorm(model)
    images, _ = highway.batch(highway.STAT_IMAGES)
    return highway.gate_statistics(model, images)


def _gate_chart(frame: pd.DataFrame) -> alt.Chart:
    band = alt.Chart(frame).mark_area(opacity=0.25).encode(
        x=alt.X("layer:Q", title=_("highway layer (1 = input side)"), axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("T(x) 10th percentile:Q", scale=alt.Scale(domain=[0, 1]), title=_("transform gate T(x)")),
        y2="T(x) 90th percentile:Q", color=alt.Color("when:N", title=None))
    mean = alt.Chart(frame).mark_line(strokeWidth=4, point=alt.OverlayMarkDef(size=60)).encode(
        x="layer:Q", y="mean T(x):Q", color="when:N",
        tooltip=["when", "layer", "name", alt.Tooltip("mean T(x):Q", format=".3f"),
                 alt.Tooltip("std T(x):Q", format=".3f")])
    return charts.styled(alt.layer(band, mean), height=420)


HIGHWAY_STEPS = 30
HIGHWAY_SECONDS = 20.0


def lesson_highway() -> None:
    st.markdown(_(
        "Before ResNet, Highway networks trained deep stacks with a **gate**. Each layer mixes its transform "
        "H(x) with its own input, by a learned transform gate T(x) between 0 and 1. A negative gate bias makes "
        "every layer start close to carrying its input, so signals and gradients cross a deep stack. Fig. 1 of "
        "the paper: plain nets train worse the deeper they are, highway nets do not."))
    st.latex(r"y = H(x)\,T(x) + x\,\big(1 - T(x)\big),\qquad T(x) = \sigma(W_T x + b_T)")
    source_caption(_(highway.SOURCE))
    c1, c2, c3 = st.columns(3)
    depth = c1.select_slider(_("Depth (layers)"), list(highway.DEPTHS), value=20, key="highway_depth")
    gate_bias = c2.select_slider(_("Gate bias b_T at the start"), [-6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0],
                                 value=-2.0, key="highway_bias", help=_("The paper: -1 to -3 (sec. 2.2)"))
    batchnorm = c3.toggle(_("BatchNorm inside H"), value=False, key="highway_bn",
                          help=_("Off: H = conv-ReLU, as the paper's layers. On: conv-BN-ReLU, as the app's Build "
                                 "page builds them (BN came later and is a fix for the same problem)."))
    with st.spinner(_("One forward pass at initialization...")):
        init = gates_at_init(depth, gate_bias, batchnorm).assign(when=_("at initialization"))
    m1, m2 = st.columns(2)
    m1.metric(_("Mean T(x) at initialization"), f"{init['mean T(x)'].mean():.3f}")
    m2.metric("sigmoid(b_T)", f"{1 / (1 + math.exp(-gate_bias)):.3f}",
              help=_("The gate with its weights at zero: the mean T(x) follows it, spread by the random weights."))
    chart = st.empty()
    chart.altair_chart(_gate_chart(init), width="stretch")
    st.caption(_("Line: the mean of T(x) over every unit, position and image of a layer; band: its 10th to 90th "
                 "percentile. Nets of width {width} (stage 1) on {size}x{size} images, so that a shared CPU trains "
                 "them in seconds.").format(width=highway.WIDTH, size=highway.RESOLUTION))
    st.subheader(_("A short run: highway against its plain twin"))
    st.markdown(_("The plain twin is the same net with the same initial weights, every layer computing y = H(x) "
                  "alone. Both fit one batch of {batch} synthetic images for the same {steps} SGD steps.").format(
                      batch=highway.BATCH, steps=HIGHWAY_STEPS))
    key = (depth, gate_bias, batchnorm)
    runs: dict[tuple, highway.TinyRun] = st.session_state.setdefault("highway_runs", {})
    if st.button(_("Train both for {steps} steps (at most {seconds} s)").format(
            steps=HIGHWAY_STEPS, seconds=f"{HIGHWAY_SECONDS:.0f}"), type="primary", key="highway_train"):
        bar = st.progress(0.0, text=_("Training..."))
        runs[key] = highway.tiny_run(highway.design(depth, gate_bias), steps=HIGHWAY_STEPS,
                                     seconds=HIGHWAY_SECONDS, batchnorm=batchnorm,
                                     on_step=lambda done, total: bar.progress(done / total,
                                                                              text=_("step {done} of {total}").format(done=done, total=total)))
        bar.empty()
    run = runs.get(key)
    if run is None:
        st.info(_("Press the button to train both nets; the gate statistics after the run join the chart above."))
    else:
        images, _labels = highway.batch(highway.STAT_IMAGES)
        after = highway.gate_statistics(run.highway, images).assign(
            when=_("after {steps} steps").format(steps=run.steps))
        chart.altair_chart(_gate_chart(pd.concat([init, after], ignore_index=True)), width="stretch")
        st.altair_chart(charts.styled(alt.Chart(run.losses).mark_line(strokeWidth=4).encode(
            x=alt.X("step:Q", title=_("step"), axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("loss:Q", title=_("training loss on the batch"), scale=alt.Scale(zero=False)),
            color=alt.Color("net:N", title=_("net"))), height=380), width="stretch")
        note = ("" if run.steps == HIGHWAY_STEPS else
                f" (The run stopped after {run.steps} of {HIGHWAY_STEPS} steps: its {HIGHWAY_SECONDS:.0f} s were up.)")
        st.info(f"**What this run shows.** {highway.verdict(run.losses)}{note} Mean T(x) went from "
                f"{init['mean T(x)'].mean():.3f} to {after['mean T(x)'].mean():.3f}.")
    st.subheader(_("The paper's numbers"))
    rows = pd.DataFrame(highway.published())
    st.table(_shown(rows[["model", "params_text", "error", "error_kind"]].rename(columns={
        "params_text": "params", "error": "CIFAR-10 error (%)", "error_kind": "kind"}),
        {"CIFAR-10 error (%)": "{:.2f}"}))
    _sources(rows)
    st.caption(_("Fig. 1 itself is curves (training loss of plain and highway nets of 10 to 100 layers), not a "
                 "table."))


# --------------------------------------------------------------------------------------------------- lesson 13
@st.cache_data(show_spinner=False, max_entries=32)
def survival_frame(depth: int, last_survival: float) -> pd.DataFrame:
    return stochastic.survival(stochastic.design(depth, last_survival))


def lesson_stochastic() -> None:
    st.markdown(_(
        "Stochastic depth trains a *shorter* net on every mini-batch: each residual block l is kept with "
        "probability $p_l$ and otherwise skipped (only its shortcut runs). At test time every block runs, its "
        "branch scaled by $p_l$ (torchvision scales it up by $1/p_l$ during training instead). The survival "
        "probability falls linearly from the input to $p_L$ at the last block:"))
    st.latex(r"p_l = 1 - \frac{l}{L}\,(1 - p_L),\qquad \mathbb{E}[\text{blocks per step}] = \sum_{l=1}^{L} p_l")
    source_caption(_(stochastic.SOURCE))
    c1, c2 = st.columns(2)
    depth = c1.select_slider(_("ResNet depth"), list(stochastic.DEPTHS), value=110, key="stochastic_depth")
    last = c2.slider(_("p_L (survival of the last block)"), 0.1, 1.0, 0.5, 0.05, key="stochastic_pl")
    with st.spinner(_("Reading the probabilities off the built model...")):
        frame = survival_frame(depth, last)
    blocks = len(frame)
    expected = stochastic.expected_blocks(frame)
    m1, m2 = st.columns(2)
    m1.metric(_("Blocks L"), f"{blocks}")
    m2.metric(_("Blocks per training step, on average"), f"{expected:.1f} ({expected / blocks:.0%})")
    line = alt.Chart(frame).mark_line(strokeWidth=4, point=alt.OverlayMarkDef(size=40 if blocks < 100 else 0)).encode(
        x=alt.X("block:Q", title=_("residual block l (1 = input side)")),
        y=alt.Y("survival:Q", scale=alt.Scale(domain=[0, 1]), title=_("survival probability p_l")),
        tooltip=["block", "name", alt.Tooltip("survival:Q", format=".3f")])
    st.altair_chart(charts.styled(line, height=380), width="stretch")
    st.caption(_("Read off the model the app builds (each block's StochasticDepth module), so the chart is what "
                 "the run trains."))
    st.subheader(_("The paper's numbers"))
    paper = stochastic.paper_rows()
    errors = {"c10_constant": N_("CIFAR-10, constant depth (%)"), "c10_stochastic": N_("CIFAR-10, stochastic (%)"),
              "c100_constant": N_("CIFAR-100, constant (%)"), "c100_stochastic": N_("CIFAR-100, stochastic (%)")}
    errors = {key: _(text) for key, text in errors.items()}
    st.table(_shown(paper[["model", *errors]].rename(columns=errors), {c: "{:.2f}" for c in errors.values()}))
    _sources(paper)
    st.subheader(_("Train with and without it"))
    run_depth = st.radio(_("Net to train"), [20, 56, 110], index=1, horizontal=True, key="stochastic_run_depth",
                         format_func=lambda d: f"ResNet-{d}", help=_("ResNet-110 is the paper's; it takes about "
                                                                       "twice as long as ResNet-56."))
    recipe = class_recipe("stochastic")
    data_note(recipe)
    designs = {f"ResNet-{run_depth}": stochastic.design(run_depth, None),
               f"ResNet-{run_depth}, p_L = {last:g}": stochastic.design(run_depth, last)}
    queue_buttons(_("Queue both runs"), designs, recipe, "q_stochastic")
    published = {}
    row = paper[paper["key"] == f"resnet{run_depth}"]
    if len(row):
        published = {f"ResNet-{run_depth}": f"{row['c10_constant'].iloc[0]:.2f}",
                     f"ResNet-{run_depth}, p_L = 0.5": f"{row['c10_stochastic'].iloc[0]:.2f}"}
    st.info(_("**Expected outcome.** The paper trains for 500 epochs and reports a lower test error with "
              "stochastic depth (the table above). It is a regulariser, so a short run need not show that gain: "
              "the net with dropped blocks may end with a higher training error. Compare each net's gap between "
              "training and test error as well as its final test error."))

    @st.fragment(run_every=5)
    def live() -> None:
        progress(known_runs(designs, recipe), published, key="stochastic_curves")

    live()
