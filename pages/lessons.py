"""Lessons page: pick a lesson (kept in the URL as ?lesson=), read the idea, run the experiment, compare with
the paper. Every computation lives in explorer.lessons; this file reads widgets and draws."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import altair as alt
import pandas as pd
import streamlit as st

from pages import use_app_navigation

from explorer import PRESETS, SpecError
from explorer.data import dataset_info
from explorer.block_graph import block_dot
from explorer.graph import GraphvizMissing, to_svg
from explorer.lessons import LESSON_KEYS, LESSONS, charts, classruns, lesson
from explorer.lessons import budget, degradation, dense, forms, gradients, lesion, shake
from explorer.published import published_for, table
from explorer.runs import RunStore, default_root
from explorer.urls import spec_to_params

use_app_navigation()


def source_caption(text: str) -> None:
    st.caption(f"Source: {text}")


# Projector: larger body text, widget labels and tables; captions dark enough to survive a washed-out image.
st.html(f"""<style>
.stMarkdown p, .stMarkdown li {{font-size: {charts.FONT + 2}px;}}
[data-testid="stWidgetLabel"] p, [data-testid="stMetricLabel"] p, .stRadio label p {{font-size: {charts.FONT}px;}}
[data-testid="stCaptionContainer"] {{opacity: 1;}}
[data-testid="stCaptionContainer"] p {{font-size: {charts.FONT - 1}px; color: #333;}}
[data-testid="stAlert"] p {{font-size: {charts.FONT + 1}px;}}
[data-testid="stTable"] td, [data-testid="stTable"] th {{font-size: {charts.FONT}px;}}
</style>""")  # constant CSS, no user text

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
    init = c3.radio("Initialization", ["xavier", "he"], horizontal=True, format_func={"xavier": "Xavier",
                    "he": "He"}.get, help="Xavier normal: N(0, 2/(fan_in+fan_out)); He: N(0, 2/fan_in)")
    batchnorm = c4.toggle("BatchNorm", value=False, help="Off: the nets as they were before BatchNorm (2015).")
    residual_depth = depth
    if st.toggle("Residual net of 1202 layers (a few seconds)", value=False):
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
        y=alt.Y("grad_norm:Q", scale=alt.Scale(type="log"), title="gradient norm (log)", axis=alt.Axis(format=".0e")),
        color=alt.Color("net:N", title="net"),
        tooltip=["net", "layer", "name", alt.Tooltip("grad_norm:Q", format=".3g")])
    st.altair_chart(charts.styled(chart), width="stretch")
    st.markdown("**Activation statistics per layer** (mean slope = average derivative of the activation; "
                "sigmoid's is at most 0.25, so each plain layer multiplies the gradient by about that much).")
    stats = {"mean slope": "slope", "mean output": "mean", "output std": "std"}
    shown = st.radio("Statistic", list(stats), horizontal=True)
    panel = alt.Chart(acts).mark_line(strokeWidth=4).encode(
        x=alt.X("index:Q", title="activation layer (1 = input side)"),
        y=alt.Y(f"{stats[shown]}:Q", title=shown), color=alt.Color("net:N", title="net"))
    st.altair_chart(charts.styled(panel, height=380), width="stretch")
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


def lesson_budget() -> None:
    st.markdown(
        "Three ways to spend a budget of parameters or multiply-adds: go **deeper** (ResNet-110, 1202), "
        "**wider** (Wide ResNet's k), or add **more paths** (ResNeXt's cardinality C). ResNeXt holds the "
        "complexity of a block fixed and trades C against the width d of each path:")
    st.latex(r"\text{params per block} \approx C\,(256\,d + 3\cdot3\,d\,d + d\cdot256)")
    source_caption("Xie et al. 2017, ResNeXt (1611.05431), sec. 3.4 and Table 2.")
    chart = published_chart()
    st.altair_chart(charts.error_chart(chart, "params (M)"), width="stretch")
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
    fmt = {"params": lambda v: f"{v / 1e6:.2f}M", "multiply-adds": lambda v: f"{v / 1e9:.2f}G",
           "vs target": "{:+.1%}"}
    left.table(templates.drop(columns=["cardinality C", "width d"]).style.format(fmt).hide(axis="index"))
    right.markdown("**Wide ResNets WRN-depth-k near the budget**")
    if base == "cifar":
        right.table(pairs.drop(columns=["depth", "k"]).style.format(fmt).hide(axis="index"))
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
        bars = alt.Chart(frame).mark_bar(color=charts.PALETTE[0]).encode(
            x=alt.X("images/s:Q", title="training images per second (CPU, forward + backward)"),
            y=alt.Y("design:N", sort=None, title=None), tooltip=["design", alt.Tooltip("images/s:Q", format=".1f")])
        st.altair_chart(charts.styled(bars, height=40 * len(frame) + 40), width="stretch")
        st.caption("Equal multiply-adds are not equal speed: many narrow paths (grouped convs) run slower per "
                   "multiply-add than one wide path.")
    with st.expander("Error against multiply-adds (counts every preset; a few seconds the first time)"):
        st.altair_chart(charts.error_chart(published_chart_with_macs(), "multiply-adds (G)"), width="stretch")


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


def lesson_forms() -> None:
    st.markdown(
        "A ResNeXt block aggregates C paths of width d. The paper draws it three ways and says they are "
        "*equivalent*. The app builds all three, gives them the same weights, and feeds them the same batch:")
    st.latex(r"y = x + \sum_{i=1}^{C} \mathcal{T}_i(x)"
             r"\quad\text{(a) sum of paths} \;=\; \text{(b) concat, then 1x1} \;=\; \text{(c) grouped conv}")
    source_caption("Xie et al. 2017, ResNeXt (1611.05431), eq. (3) and Fig. 3.")
    c1, c2 = st.columns(2)
    template = c1.selectbox("Template C x d", ["8x4d", "32x4d", "4x24d", "2x40d", "1x64d", "16x8d"],
                            help="C paths, each d channels wide (ResNeXt-29 stage 1 on a 16x16 map)")
    cardinality, width = (int(t) for t in template.rstrip("d").split("x"))
    frame = forms_table(cardinality, width)
    agree = frame["max |difference| to (c)"].max()
    c2.metric("Max |difference| between outputs", f"{agree:.1e}",
              help="float64 arithmetic; 1e-15 is rounding, i.e. the same function")
    st.table(frame.drop(columns="form").style.format(
        {"params": "{:,}", "ms per forward": "{:.2f}", "max |difference| to (c)": "{:.1e}"}).hide(axis="index"))
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("ms per forward:Q", title="milliseconds per forward pass (CPU, float32, batch 8)"),
        y=alt.Y("label:N", title=None, sort=None), color=alt.Color("label:N", legend=None))
    st.altair_chart(charts.styled(bars, height=240), width="stretch")
    st.caption("Same parameters, same output, different speed: the grouped convolution runs the C paths as one "
               "kernel; the split form launches 3C small convolutions.")
    tabs = st.tabs([forms.FORMS[form] for form in ("split", "concat", "grouped")])
    for tab, form in zip(tabs, ("split", "concat", "grouped")):
        svg = block_svg(min(cardinality, 4), width, form)
        if svg:
            tab.image(svg, width="stretch")
        else:
            tab.write("Graphviz is not installed; the graph is not available.")
    if cardinality > 4:
        st.caption("Graphs drawn with C = 4 paths so that they stay readable.")


# ---------------------------------------------------------------------------------------------------- runs
def store() -> RunStore:
    return RunStore(default_root())


def class_recipe(key: str):
    """The short recipe, with its length adjustable; everyone who keeps the defaults shares the same runs."""
    with st.expander("Run length (the defaults let the whole class share the same runs)"):
        c1, c2 = st.columns(2)
        epochs = c1.select_slider("Epochs", [4, 8, 15, 30, 60], value=8, key=f"{key}_epochs")
        images = c2.select_slider("Training images", [5_000, 10_000, 25_000, 50_000], value=10_000,
                                  key=f"{key}_images", format_func="{:,}".format)
    return classruns.short_recipe(epochs=epochs, train_size=images)


def data_note(recipe) -> None:
    info = dataset_info(recipe)
    schedule = "cosine to 0" if recipe.schedule == "cosine" else "divided by 10 at 50% and 75%"
    st.caption(f"Short-run recipe: {recipe.epochs} epochs on {info.train_size:,} images of {info.label}, "
               f"batch {recipe.batch_size}, lr {recipe.lr} {schedule}"
               + (f", linear warm-up over the first {recipe.warmup_steps} steps." if recipe.warmup_steps else ".")
               + ("" if not info.synthetic else " Synthetic errors are not comparable with the papers' CIFAR-10."))


def queue_buttons(label: str, designs: dict, recipe, key: str) -> None:
    if st.button(label, type="primary", key=key):
        try:
            queued = classruns.queue(store(), designs, recipe)
        except (SpecError, OSError) as err:
            st.error(f"Could not queue the runs: {err}")
            return
        reused = [q.label for q in queued if not q.created]
        st.session_state.setdefault("lesson_runs", {}).update({q.label: q.run_id for q in queued})
        st.success(f"Queued {len(queued) - len(reused)} new run(s)"
                   + (f"; reusing the identical runs of {', '.join(reused)}." if reused else "."))


def known_runs(designs: dict, recipe) -> dict[str, str]:
    """Runs of these designs with this recipe that exist in the store (whoever queued them)."""
    found = {}
    for label, spec in designs.items():
        run_id = classruns.find(store(), spec, recipe)
        if run_id:
            found[label] = run_id
    return found


def progress(runs: dict[str, str], published: dict[str, str] | None = None) -> None:
    """Status of the class's runs, with the paper's number beside each where there is one."""
    if not runs:
        st.info("No runs yet: press the button above (the whole class shares the same runs).")
        return
    status = classruns.status_table(store(), runs)
    if published:
        status["paper (%)"] = [published.get(label, "-") for label in status["net"]]
    st.dataframe(status.style.format({"train error (%)": "{:.1f}", "test error (%)": "{:.1f}"}, na_rep="–"),
                 hide_index=True, width="stretch")
    frame = classruns.curves(store(), runs)
    if len(frame):
        st.altair_chart(charts.curve_chart(frame), width="stretch")
        st.caption("Thin dashed lines: training error. Bold lines: test error (as in He et al. 2015, Fig. 6).")


# ---------------------------------------------------------------------------------------------------- lesson 1
def lesson_degradation() -> None:
    st.markdown(
        "If a deeper net could always copy a shallower one and set its extra layers to the identity, it should "
        "never train worse. Yet plain nets do: **degradation**. A residual block only has to learn "
        "$F(x) = H(x) - x$, and the identity is $F = 0$:")
    st.latex(r"y = F(x, \{W_i\}) + x")
    source_caption(degradation.SOURCE)
    recipe = class_recipe("degradation")
    data_note(recipe)
    queue_buttons("Queue plain-20, plain-56, ResNet-20, ResNet-56", degradation.DESIGNS, recipe, "q_degradation")
    st.info(f"**Expected outcome.** {degradation.EXPECTED}")
    st.caption("What a short run shows (measured on the CPU: synthetic shapes, 4,096 images, 6 epochs, "
               "16 warm-up steps; final training error): plain-20 16%, plain-56 67%, ResNet-20 10%, ResNet-56 41%. "
               "The deeper plain net is far worse and the shortcuts rescue depth at once; ResNet-56 overtaking "
               "ResNet-20, as in the paper, needs a longer run (the paper trains 164 epochs on CIFAR-10).")

    @st.fragment(run_every=5)
    def live() -> None:
        runs = known_runs(degradation.DESIGNS, recipe)
        progress(runs)
        frame = classruns.curves(store(), runs)
        if len(frame):
            last = frame[frame["split"] == "train"].groupby("net")["error"].last().to_dict()
            for line in degradation.verdict(last):
                st.markdown(f"- {line}")

    live()
    st.subheader("The paper's numbers")
    rows = [{"net": label, "published test error (%)": (p.error if (p := published_for(name)) else None),
             "params": p.params_text if p else None}
            for label, name in (("plain-20", "plain20"), ("plain-56", "plain56"), ("ResNet-20", "resnet20"),
                                ("ResNet-56", "resnet56"))]
    st.table(pd.DataFrame(rows).style.format(precision=2, na_rep="Fig. 6 only").hide(axis="index"))
    source_caption(f"{published_for('resnet56').source} (best run). Plain nets: "
                   f"{table('plain')[0]['note']} ({table('plain')[0]['source']}).")


# ---------------------------------------------------------------------------------------------------- lesson 3
def build_link(spec) -> str:
    return "/build?" + urlencode(spec_to_params(spec))


def lesson_shortcut() -> None:
    st.markdown(
        "Eq. (5) needs the shortcut to be the identity: anything else on it multiplies the gradient, "
        "layer after layer. For a scaled shortcut $h(x) = \\lambda x$:")
    st.latex(r"\frac{\partial L}{\partial x_l} = \frac{\partial L}{\partial x_L}"
             r"\Big(\prod_{i=l}^{L-1}\lambda_i + \frac{\partial \hat F}{\partial x_l}\Big)")
    source_caption("He et al. 2016, Identity Mappings (1603.05027), eq. (7), Table 1 and Table 2.")
    base = PRESETS["resnet110"]
    t1 = pd.DataFrame(table("identity_table1"))
    t1["design"] = [base.replace(**row) for row in t1["settings"]]
    t1["open"] = [build_link(s) for s in t1["design"]]
    st.subheader("Table 1: what the shortcut does (ResNet-110)")
    st.dataframe(t1[["shortcut", "on_shortcut", "on_f", "error_text", "open"]], hide_index=True,
                 width="stretch", height=36 * (len(t1) + 1) + 4, column_config={
                     "on_shortcut": "on shortcut", "on_f": "on F", "error_text": "error (%)",
                     "open": st.column_config.LinkColumn("Build page", display_text="open design")})
    source_caption(t1["source"].iloc[0])
    t2 = pd.DataFrame(table("identity_table2"))
    st.subheader("Table 2: where BN and ReLU sit (ResNet-110 and ResNet-164)")
    t2["open 110"] = [build_link(base.replace(activation=a)) for a in t2["activation"]]
    t2["open 164"] = [build_link(PRESETS["preact_resnet164"].replace(activation=a)) for a in t2["activation"]]
    st.dataframe(t2[["unit", "resnet110", "resnet164", "open 110", "open 164"]], hide_index=True,
                 width="stretch", column_config={
                     "resnet110": "ResNet-110 error (%)", "resnet164": "ResNet-164 error (%)",
                     "open 110": st.column_config.LinkColumn("110", display_text="open"),
                     "open 164": st.column_config.LinkColumn("164", display_text="open")})
    source_caption(t2["source"].iloc[0])
    st.subheader("Run a row yourselves")
    choices = {f"Table 1: {r.shortcut} ({r.on_shortcut} / {r.on_f})": r.design for r in t1.itertuples()}
    choices |= {f"Table 2: {r.unit} (ResNet-110)": base.replace(activation=r.activation) for r in t2.itertuples()}
    paper = {f"Table 1: {r.shortcut} ({r.on_shortcut} / {r.on_f})": r.error_text for r in t1.itertuples()}
    paper |= {f"Table 2: {r.unit} (ResNet-110)": f"{r.resnet110:.2f}" for r in t2.itertuples()}
    picked = st.multiselect("Designs to train (short runs, shared by the class)", list(choices),
                            default=list(choices)[:1])
    recipe = class_recipe("shortcut")
    data_note(recipe)
    designs = {name: choices[name] for name in picked}
    queue_buttons("Queue short runs of the chosen rows", designs, recipe, "q_shortcut")

    @st.fragment(run_every=5)
    def live() -> None:
        progress(known_runs(designs, recipe), paper)

    live()


# ---------------------------------------------------------------------------------------------------- lesson 6
def lesson_shake() -> None:
    st.markdown("Two residual branches, mixed by a random convex weight that changes every step, and a "
                "*different* random weight on the way back:")
    st.latex(r"x_{i+1} = x_i + \alpha_i F(x_i, W_i^{(1)}) + (1-\alpha_i) F(x_i, W_i^{(2)}),\qquad "
             r"\frac{\partial L}{\partial F^{(1)}} = \beta_i \frac{\partial L}{\partial x_{i+1}}")
    source_caption("Gastaldi 2017, Shake-Shake regularization (1705.07485), sec. 2; at test time alpha = 0.5.")
    c1, c2, c3, c4 = st.columns(4)
    forward_mode = c1.radio("Forward (alpha)", ["shake", "even"], format_func=shake.MODES.get)
    backward_mode = c2.radio("Backward (beta)", ["shake", "even", "keep"], format_func=shake.MODES.get)
    level = c3.radio("Level", ["image", "batch"], format_func={"image": "per image", "batch": "per batch"}.get)
    batch_size = c4.slider("Images in the batch", 2, 32, 8)
    step = st.slider("Training step (move it to step through)", 1, 50, 1)
    play = st.button("Play 20 steps", icon=":material/play_arrow:")
    chart = st.empty()
    frame = shake.step_coefficients(batch_size, forward_mode, backward_mode, level, step - 1)
    for shown in range(step, step + 20) if play else [step]:
        frame = shake.step_coefficients(batch_size, forward_mode, backward_mode, level, shown - 1)
        chart.altair_chart(charts.shake_chart(frame, shown), width="stretch")
        if play:
            time.sleep(0.5)
    st.caption("Measured through the model's own ShakeFunction: branch 1's forward weight and the gradient it "
               "receives equal alpha and beta; branch 2 gets 1 - alpha and 1 - beta.")
    with st.expander("The numbers for this step"):
        st.dataframe(frame.style.format(precision=3), hide_index=True, width="stretch")
    st.subheader("The paper's table beside the class's runs")
    paper = shake.paper_table()
    st.table(paper.drop(columns=["settings", "source"]).style.format(precision=2, na_rep="–").hide(axis="index"))
    source_caption(paper["source"].iloc[0] + "; CIFAR-10 test error (%).")
    recipe = class_recipe("shake")
    recipe = recipe.replace(lr=0.2, schedule="cosine")  # Shake-Shake's schedule, shortened
    data_note(recipe)
    designs = {f"{forward_mode}-{backward_mode}-{level}": shake.design(forward_mode, backward_mode, level)}
    queue_buttons("Queue a short run of Shake-Shake 26 2x32d with these modes", designs, recipe, "q_shake")
    every = {f"{r.forward.lower()}-{r.backward.lower()}-{'image' if r.level == 'n/a' else r.level.lower()}":
             shake.design(r.forward.lower(), r.backward.lower(), "image" if r.level == "n/a" else r.level.lower())
             for r in paper.itertuples()}

    published_32 = {label: f"{row['2x32d']:.2f} (2x32d)"
                    for label, row in zip(every, paper.to_dict("records"))}

    @st.fragment(run_every=5)
    def live() -> None:
        progress(known_runs(every, recipe), published_32)

    live()


# ---------------------------------------------------------------------------------------------------- lesson 7
@st.cache_data(show_spinner=False, max_entries=16)
def lesion_frame(run_id: str, root: str, checkpoint_mtime: float) -> pd.DataFrame:
    trained = lesion.load_run(RunStore(root), run_id)
    images, labels = lesion.eval_batch(trained.recipe, limit=1000)
    return lesion.lesion_study(trained.model, images, labels)


def lesson_lesion() -> None:
    st.markdown(
        "Unroll a residual net: with n blocks there are $2^n$ paths from input to output, of many lengths. "
        "Deleting one block removes only the paths through it; the rest still carry the signal. A plain net has "
        "a single path, so deleting any block breaks it.")
    st.latex(r"x_3 = x_0 + f_1(x_0) + f_2(x_0 + f_1(x_0)) + f_3\big(x_0 + f_1(x_0) + f_2(\cdots)\big)")
    source_caption(lesion.SOURCE)
    runs = [r for r in store().list_runs() if r.ended_ok and r.spec.get("family") in ("plain", "resnet")
            and store().checkpoint_path(r.id).exists()]
    recipe = class_recipe("lesion")
    if not runs:
        st.info("No trained plain or residual run in the store yet. Queue a short ResNet-20 and plain-20, then "
                "come back when they finish (or use the runs of lesson 1).")
    data_note(recipe)
    queue_buttons("Queue short runs of ResNet-20 and plain-20",
                  {"ResNet-20": PRESETS["resnet20"], "plain-20": PRESETS["plain20"]}, recipe, "q_lesion")
    if not runs:
        return
    labels = {r.id: f"{r.label} ({r.id}, {r.recipe.get('epochs')} epochs on {r.recipe.get('dataset')})" for r in runs}
    # Newest residual and newest plain run: the comparison the lesson is about.
    default = [next(r.id for r in runs if r.spec.get("family") == f) for f in ("resnet", "plain")
               if any(r.spec.get("family") == f for r in runs)]
    picked = st.multiselect("Trained runs to lesion", list(labels), default=default, format_func=labels.get)
    frames = []
    with st.spinner("Deleting one block at a time and re-testing..."):
        for run_id in picked:
            path = store().checkpoint_path(run_id)
            frame = lesion_frame(run_id, str(store().root), path.stat().st_mtime)
            frames.append(frame.assign(run=labels[run_id].split(" (")[0]))
    if not frames:
        return
    frame = pd.concat(frames, ignore_index=True)
    base = frame[frame["deleted block"] == 0]
    lines = alt.Chart(frame[frame["deleted block"] > 0]).mark_line(point=alt.OverlayMarkDef(size=90), strokeWidth=4).encode(
        x=alt.X("deleted block:Q", title="deleted block (1 = nearest the input)",
                axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("error (%):Q", title="test error (%)", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("run:N", title="run"), tooltip=["run", "name", "downsampling", "error (%)"])
    rules = alt.Chart(base).mark_rule(strokeDash=[8, 4], size=2).encode(y="error (%):Q", color="run:N")
    st.altair_chart(charts.styled(alt.layer(lines, rules), height=500), width="stretch")
    st.table(pd.DataFrame([{"run": run, **lesion.summary(group)} for run, group in frame.groupby("run", sort=False)])
             .style.format(precision=1).hide(axis="index"))
    st.caption("Dashed: the intact net's error. Expected: the residual net's line stays near its dashed line "
               "(except at the downsampling blocks), the plain net's jumps towards chance (90%).")


# ---------------------------------------------------------------------------------------------------- lesson 8
@st.cache_data(show_spinner=False)
def dense_memory() -> pd.DataFrame:
    return dense.memory()


def lesson_dense() -> None:
    st.markdown("ResNet **adds** a block's output to its input; DenseNet **concatenates** it, so every layer "
                "sees the maps of all layers before it in its block, and the channel count grows by k per layer:")
    st.latex(r"\text{ResNet: } x_l = H_l(x_{l-1}) + x_{l-1} \qquad "
             r"\text{DenseNet: } x_l = H_l([x_0, x_1, \ldots, x_{l-1}])")
    source_caption("Huang et al. 2017, Densely Connected Convolutional Networks (1608.06993), eq. (1)-(2).")
    k = st.select_slider("Growth rate k", [6, 12, 24, 32, 40], value=12)
    spec = PRESETS["densenet40_k12"].replace(growth_rate=k)
    growth = dense.channel_growth(spec)
    chart = alt.Chart(growth).mark_line(point=alt.OverlayMarkDef(size=80), strokeWidth=4).encode(
        x=alt.X("layer:Q", title="layer within the first block / stage"),
        y=alt.Y("channels:Q", title="channels"), color=alt.Color("net:N", title="net"))
    st.altair_chart(charts.styled(chart, height=420), width="stretch")
    n = len(growth[growth["net"].str.startswith("DenseNet")]) - 1
    blocks = len(growth[growth["net"].str.startswith("ResNet")]) - 1
    st.caption(f"DenseNet: {growth['channels'].iloc[0]} input channels + {n} layers x k = {k} = "
               f"{growth['channels'].max()} channels at the end of the block, and {n * (n + 1) // 2} direct "
               f"connections. ResNet-56 keeps 16 channels through its {blocks} blocks: {blocks} shortcuts.")
    left, right = st.columns(2)
    conn = dense.connectivity(growth["channels"].iloc[0], k, min(n, 12))
    left.markdown("**Who feeds whom** (channels from each earlier layer)")
    left.altair_chart(charts.styled(alt.Chart(conn).mark_rect().encode(
        x=alt.X("source:O", title="source layer (0 = block input)"), y=alt.Y("target layer:O", title="layer"),
        color=alt.Color("channels:Q", scale=alt.Scale(scheme="blues"), title="channels")), height=340),
        width="stretch")
    trained = [r for r in store().list_runs() if r.ended_ok and r.spec.get("family") == "densenet"
               and store().checkpoint_path(r.id).exists()]
    if trained:
        model, note = lesion.load_run(store(), trained[0].id).model, f"trained run {trained[0].id}"
    else:
        model, note = dense.fresh(spec), "untrained (no DenseNet run in the store): flat, as expected before learning"
    reuse = dense.feature_reuse(model)
    right.markdown(f"**Feature reuse**, mean |w| per source ({note})")
    right.altair_chart(charts.styled(alt.Chart(reuse).mark_rect().encode(
        x=alt.X("source:O", title="source layer"), y=alt.Y("target layer:O", title="layer"),
        color=alt.Color("weight:Q", scale=alt.Scale(scheme="viridis", domain=[0, 1]), title="relative |w|")), height=340),
        width="stretch")
    source_caption("re-drawing of DenseNet Fig. 5 for the first block of the chosen net.")
    st.subheader("Parameters against error")
    st.altair_chart(charts.error_chart(dense.params_vs_error(), "params (M)"), width="stretch")
    st.markdown("**Memory:** concatenation keeps every map alive for the backward pass.")
    st.table(dense_memory().style.format(precision=2).hide(axis="index"))
    source_caption("counted by the app (explorer.cost) on the models it builds.")


LESSON_PAGES = {
    "degradation": lesson_degradation,
    "gradients": lesson_gradients,
    "shortcut": lesson_shortcut,
    "budget": lesson_budget,
    "forms": lesson_forms,
    "shake": lesson_shake,
    "lesion": lesson_lesion,
    "dense": lesson_dense,
}
LESSON_PAGES[key]()
