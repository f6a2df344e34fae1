"""Lessons page: pick a lesson (kept in the URL as ?lesson=), read the idea, run the experiment, compare with
the paper. Every computation lives in explorer.lessons; this file reads widgets and draws."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from explorer.lessons import LESSON_KEYS, LESSONS, lesson
from explorer.lessons import budget, gradients

# Okabe-Ito: distinguishable with every common colour-vision deficiency and on a washed-out projector.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#E69F00", "#56B4E9"]
FONT = 18


def styled(chart: alt.Chart, height: int = 380) -> alt.Chart:
    """Projector style: large labels, thick lines, the colour-blind-safe palette."""
    return (chart.properties(height=height)
            .configure_axis(labelFontSize=FONT, titleFontSize=FONT + 2, gridOpacity=0.4)
            .configure_legend(labelFontSize=FONT, titleFontSize=FONT, symbolSize=200, symbolStrokeWidth=4,
                              orient="bottom", columns=4, labelLimit=400)
            .configure_title(fontSize=FONT + 4)
            .configure_range(category=PALETTE))


def source_caption(text: str) -> None:
    st.caption(f"Source: {text}")


st.markdown(f"<style>.stMarkdown p, .stMarkdown li {{font-size: {FONT + 2}px;}}</style>", unsafe_allow_html=True)
st.title("Lessons")

current = lesson(st.query_params.get("lesson", "gradients"))
titles = {item.key: item.title for item in LESSONS}
key = st.selectbox("Lesson", LESSON_KEYS, index=LESSON_KEYS.index(current.key), format_func=titles.get)
st.query_params["lesson"] = key
current = lesson(key)
st.header(current.title)
st.markdown(f"**Question for the class:** {current.question}")


# ---------------------------------------------------------------------------------------------------- lesson 2
@st.cache_data(show_spinner=False, max_entries=64)
def gradient_frames(depth: int, residual_depth: int, activation: str, init: str, batchnorm: bool
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames, acts = [], []
    for family, d in (("plain", depth), ("resnet", residual_depth)):
        if family == "plain" and d > gradients.MAX_PLAIN_DEPTH:
            continue
        prof = gradients.gradient_profile(family, d, activation, init, batchnorm)
        label = f"plain-{d}" if family == "plain" else f"ResNet-{d}"
        frames.append(prof.layers.assign(net=label, ratio=prof.first_to_last()))
        acts.append(prof.activations.assign(net=label))
    return pd.concat(frames, ignore_index=True), pd.concat(acts, ignore_index=True)


def lesson_gradients() -> None:
    st.markdown(
        "Before any training, push one batch of random images through a net and back. How large is the "
        "gradient that reaches each layer? In a **plain** net it is a product of one factor per layer, so it "
        "shrinks (or explodes) geometrically with depth. In a **residual** net, eq. (5) of *Identity Mappings* "
        "says the gradient at any unit $l$ contains the gradient at the top, $\\partial L/\\partial x_L$, "
        "unchanged:")
    st.latex(r"\frac{\partial L}{\partial x_l} = \frac{\partial L}{\partial x_L}"
             r"\Big(1 + \frac{\partial}{\partial x_l}\sum_{i=l}^{L-1} F(x_i, W_i)\Big)")
    source_caption("He et al. 2016, Identity Mappings in Deep Residual Networks (1603.05027), eq. (5). "
                   "The residual net here is the pre-activation form, with no activation on the shortcut path, "
                   "so h(x) = x as eq. (5) assumes.")
    c1, c2, c3, c4 = st.columns(4)
    depth = c1.select_slider("Depth (plain and residual)", [20, 32, 44, 56, 110], value=56)
    activation = c2.radio("Activation", ["sigmoid", "tanh", "relu"], horizontal=True)
    init = c3.radio("Initialization", ["xavier", "he"], horizontal=True,
                    format_func=lambda k: {"xavier": "Xavier N(0, 2/(fan_in+fan_out))", "he": "He N(0, 2/fan_in)"}[k])
    batchnorm = c4.toggle("BatchNorm", value=False, help="Off: the nets as they were before BatchNorm (2015).")
    residual_depth = depth
    if st.toggle("Residual net of 1202 layers (about 10 s)", value=False):
        residual_depth = 1202
    with st.spinner("One forward and one backward pass..."):
        grads, acts = gradient_frames(depth, residual_depth, activation, init, batchnorm)
    nets = list(dict.fromkeys(grads["net"]))
    cols = st.columns(len(nets))
    for col, net in zip(cols, nets):
        ratio = grads[grads["net"] == net]["ratio"].iloc[0]
        col.metric(f"{net}: first layer / last layer gradient", f"{ratio:.2g}")
    shown = grads.assign(grad_norm=grads["grad_norm"].clip(lower=1e-300))
    chart = alt.Chart(shown).mark_line(strokeWidth=4, point=alt.OverlayMarkDef(size=50)).encode(
        x=alt.X("layer:Q", title="weight layer (1 = input side)"),
        y=alt.Y("grad_norm:Q", scale=alt.Scale(type="log"), title="|dL / d layer output| per image (log)"),
        color=alt.Color("net:N", title="net"),
        tooltip=["net", "layer", "name", alt.Tooltip("grad_norm:Q", format=".3g")])
    st.altair_chart(styled(chart), use_container_width=True)
    st.markdown("**Activation statistics per layer** (mean slope = average derivative of the activation; "
                "sigmoid's is at most 0.25, so each plain layer multiplies the gradient by about that much).")
    long = acts.melt(id_vars=["net", "index"], value_vars=["mean", "std", "slope"], var_name="statistic")
    stats = alt.Chart(long).mark_line(strokeWidth=3).encode(
        x=alt.X("index:Q", title="activation layer"), y=alt.Y("value:Q", title=None),
        color=alt.Color("net:N", title="net"), strokeDash=alt.StrokeDash("statistic:N", title="statistic"))
    st.altair_chart(styled(stats, height=300), use_container_width=True)
    st.info("Expected: with sigmoid and no BatchNorm, plain-56's first layer receives a gradient tens of orders "
            "of magnitude smaller than its last; ResNet-56's first layer receives about as much as its last. "
            "BatchNorm rescues the plain net only partly; the shortcut rescues it at any depth.")


# ---------------------------------------------------------------------------------------------------- lesson 4
@st.cache_data(show_spinner=False)
def published_chart() -> pd.DataFrame:
    return budget.published_chart()


@st.cache_data(show_spinner=False)
def published_chart_with_macs() -> pd.DataFrame:
    return budget.with_macs(budget.published_chart())


@st.cache_data(show_spinner=False, max_entries=32)
def speed(design: str, base: str, cardinality: int, width: int, depth: int, k: int) -> float:
    spec = budget.resnext_spec(base, cardinality, width) if design == "resnext" else budget.wrn_spec(depth, k)
    return budget.images_per_second(spec, batch_size=2 if base == "imagenet" else 8)


def error_chart(frame: pd.DataFrame, x: str) -> alt.Chart:
    points = alt.Chart(frame).mark_point(size=220, filled=True, opacity=0.9).encode(
        x=alt.X(f"{x}:Q", scale=alt.Scale(type="log"), title=f"{x} (log)"),
        y=alt.Y("error (%):Q", scale=alt.Scale(zero=False), title="published CIFAR-10 error (%)"),
        color=alt.Color("family:N", title="family"), shape=alt.Shape("family:N", title="family"),
        tooltip=["preset", x, "error (%)", "error kind", "source"])
    return styled(points, height=420)


def lesson_budget() -> None:
    st.markdown(
        "Three ways to spend a budget of parameters or multiply-adds: go **deeper** (ResNet-110, 1202), "
        "**wider** (Wide ResNet's k), or add **more paths** (ResNeXt's cardinality C). ResNeXt holds the "
        "complexity of a block fixed and trades C against the width d of each path:")
    st.latex(r"\text{params per block} \approx C\,(256\,d + 3\cdot3\,d\,d + d\cdot256)")
    source_caption("Xie et al. 2017, ResNeXt (1611.05431), sec. 3.4 and Table 2.")
    chart = published_chart()
    st.altair_chart(error_chart(chart, "params (M)"), use_container_width=True)
    source_caption("every preset with a published CIFAR-10 error; hover a point for its paper, table and kind of "
                   "number (best, median, mean).")
    st.subheader("Budget calculator")
    c1, c2, c3 = st.columns(3)
    base = c1.radio("Base network", ["cifar", "imagenet"], horizontal=True,
                    format_func={"cifar": "ResNeXt-29 (CIFAR)", "imagenet": "ResNeXt-50 (ImageNet)"}.get)
    measure = c2.radio("Budget in", ["params", "macs"], horizontal=True,
                       format_func={"params": "parameters", "macs": "multiply-adds"}.get)
    default = {("cifar", "params"): 4.9, ("cifar", "macs"): 750.0, ("imagenet", "params"): 25.5,
               ("imagenet", "macs"): 4100.0}[base, measure]
    unit = "M parameters" if measure == "params" else "M multiply-adds per image"
    target = c3.number_input(f"Target ({unit})", min_value=0.1, max_value=100_000.0, value=default)
    templates = budget.resnext_templates(target * 1e6, measure, base)
    pairs = budget.wrn_pairs(target * 1e6, measure) if base == "cifar" else pd.DataFrame()
    left, right = st.columns(2)
    left.markdown("**ResNeXt templates C x d of equal complexity**")
    fmt = {"params": "{:,.0f}", "multiply-adds": "{:,.0f}", "vs target": "{:+.1%}"}
    left.dataframe(templates.style.format(fmt), hide_index=True, use_container_width=True)
    right.markdown("**Wide ResNets WRN-depth-k near the budget**")
    if base == "cifar":
        right.dataframe(pairs.style.format(fmt), hide_index=True, use_container_width=True)
    else:
        right.write("Wide ResNet's CIFAR designs only; pick the CIFAR base.")
    source_caption("counted by the app (explorer.cost) on the model it builds; ResNeXt Table 2 lists the "
                   "ImageNet templates 1x64d, 2x40d, 4x24d, 8x14d, 32x4d at ResNet-50's 4.1 GFLOPs.")
    if st.button("Measure training speed on this machine", type="primary"):
        rows = []
        with st.spinner("Timing forward + backward on the CPU..."):
            for r in templates.itertuples():
                rows.append({"design": f"ResNeXt {r.design}",
                             "images/s": speed("resnext", base, int(r[2]), int(r[3]), 0, 0)})
            for r in pairs.itertuples():
                rows.append({"design": r.design, "images/s": speed("wrn", base, 0, 0, int(r.depth), int(r.k))})
        frame = pd.DataFrame(rows)
        bars = alt.Chart(frame).mark_bar(color=PALETTE[0]).encode(
            x=alt.X("images/s:Q", title="training images per second (CPU, forward + backward)"),
            y=alt.Y("design:N", sort=None, title=None), tooltip=["design", alt.Tooltip("images/s:Q", format=".1f")])
        st.altair_chart(styled(bars, height=40 * len(frame) + 40), use_container_width=True)
        st.caption("Equal multiply-adds are not equal speed: many narrow paths (grouped convs) run slower per "
                   "multiply-add than one wide path.")
    with st.expander("Error against multiply-adds (counts every preset; a few seconds the first time)"):
        st.altair_chart(error_chart(published_chart_with_macs(), "multiply-adds (G)"), use_container_width=True)


def not_ready(what: str) -> None:
    st.warning(f"This lesson needs {what}, which has not landed in this copy of the app yet.")


LESSON_PAGES = {
    "gradients": lesson_gradients,
    "budget": lesson_budget,
}
LESSON_PAGES.get(key, lambda: not_ready("more of the library"))()
