"""Build page: start from a preset or change any setting; see the cost beside the paper's figures, the graph,
and the torchinfo summary. The design lives in the URL (explorer.models.urls) and in st.session_state["design"]."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from pages import cached_cost, cached_overview, use_app_navigation

from explorer import FAMILY_DEFAULTS, PRESETS, ArchSpec, SpecError
from explorer.models.builder import FAMILY_BUILDERS
from explorer.draw.overview import GraphvizMissing, block_dot, dot_available, to_svg
from explorer.models.presets import preset_name
from explorer.models.published import published_for
from explorer.models.spec import FAMILY_LABELS, MAX_DEPTH, applies, depth_rule, layout
from explorer.draw.summary import rows_to_csv, summarize
from explorer.models.urls import spec_from_params, spec_to_params

K = "b_"  # prefix of this page's widget keys: K + spec field name
CUSTOM = "(custom)"
DEFAULT = PRESETS["resnet20"]
SUMMARY_AUTO_LAYERS = 400  # deeper designs compute the torchinfo summary on request (it takes seconds)
STEM_FAMILIES = ("plain", "resnet", "wrn", "resnext", "densenet", "vgg")
BLOCK_FAMILIES = ("plain", "resnet", "pyramidnet", "densenet")  # families where the user picks basic/bottleneck
IMAGENET_START = {"resnet": "resnet50", "plain": "resnet34", "wrn": "wide_resnet50_2",
                  "resnext": "resnext50_32x4d", "densenet": "densenet121", "vgg": "vgg16"}
LABELS = {
    "shortcut": {"A": "A: zero-padded identity", "B": "B: projection where the shape changes",
                 "C": "C: projection everywhere"},
    "activation": {"original": "(a) original: add, then ReLU", "bn_after_add": "(b) BN after addition",
                   "relu_before_add": "(c) ReLU before addition", "relu_only_preact": "(d) ReLU-only pre-activation",
                   "full_preact": "(e) full pre-activation"},
    "shortcut_variant": {"identity": "identity", "constant_scaling": "constant scaling",
                         "exclusive_gating": "exclusive gating", "shortcut_only_gating": "shortcut-only gating",
                         "conv1x1": "1x1 conv shortcut", "dropout": "dropout shortcut"},
    "resnext_form": {"grouped": "(c) grouped convolution", "split": "(a) split-transform-merge",
                     "concat": "(b) early concatenation"},
}


# ---------------------------------------------------------------- cached computations (keyed by the spec's JSON)

@st.cache_data(max_entries=256, show_spinner=False)
def cached_block(spec_json: str, stage: int, block: int) -> str:
    return block_dot(ArchSpec.from_json(spec_json), stage, block)


@st.cache_data(max_entries=32, show_spinner="Running torchinfo on the CPU ...")
def cached_summary(spec_json: str):
    return summarize(ArchSpec.from_json(spec_json))


@st.cache_data(max_entries=64, show_spinner=False)
def cached_svg(dot: str) -> str:
    return to_svg(dot)


def svg_or_message(dot: str) -> str:
    try:
        return cached_svg(dot)
    except (GraphvizMissing, ValueError) as err:
        return f"<!-- {err} -->"


def human(n: float, unit: str = "") -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{n / size:.2f}{suffix}{unit}"
    return f"{n:.0f}{unit}"


# ---------------------------------------------------------------- state: widgets <-> spec

def load(spec: ArchSpec) -> None:
    """Put a design into the widgets (only from callbacks or before the widgets are drawn)."""
    for name, value in spec.to_dict().items():
        st.session_state[K + name] = value
    st.session_state[K + "preset"] = preset_name(spec) or CUSTOM


def on_preset() -> None:
    name = st.session_state[K + "preset"]
    if name in PRESETS:
        load(PRESETS[name])


def on_family() -> None:
    load(FAMILY_DEFAULTS[st.session_state[K + "family"]])


def on_stem() -> None:
    family, stem = st.session_state[K + "family"], st.session_state[K + "stem"]
    if stem == "imagenet":
        load(PRESETS[IMAGENET_START[family]].replace(family=family) if family == "plain"
             else PRESETS[IMAGENET_START[family]])
    else:
        load(FAMILY_DEFAULTS[family])


def first_load() -> None:
    """A fresh visit: the URL wins, then the design carried in this session, then ResNet-20."""
    params = st.query_params.to_dict()
    spec = st.session_state.get("design", DEFAULT)
    if any(k for k in params if k not in ("embed", "embed_options")):
        try:
            spec = spec_from_params(params)
        except SpecError as err:
            st.session_state["url_error"] = str(err)
            spec = DEFAULT
    load(spec)


def choose(field: str, options: list, label: str, help: str | None = None, **kw) -> None:
    """A selectbox for one spec field; the current value is kept even if it is not a usual option."""
    value = st.session_state.get(K + field)
    if value not in options:
        options = [*options, value]
    labels = LABELS.get(field, {})
    st.selectbox(label, options, key=K + field, format_func=lambda v: labels.get(v, str(v)), help=help, **kw)


def number(field: str, label: str, low: float, high: float, step: float, help: str | None = None) -> None:
    if K + field not in st.session_state:
        st.session_state[K + field] = getattr(FAMILY_DEFAULTS[st.session_state[K + "family"]], field)
    st.number_input(label, min_value=low, max_value=high, step=step, key=K + field, help=help)


def ensure(field: str) -> None:
    """Give a widget that appears again (after being hidden) its family's default value."""
    if K + field not in st.session_state:
        st.session_state[K + field] = getattr(FAMILY_DEFAULTS[st.session_state[K + "family"]], field)


def controls() -> dict:
    """Draw the settings that apply to the chosen family; return them as a spec dict."""
    st.selectbox("Start from a preset", [CUSTOM, *PRESETS], key=K + "preset", on_change=on_preset,
                 help="Loads a named design from the papers; change any setting below afterwards.")
    st.selectbox("Family", list(FAMILY_LABELS), key=K + "family", on_change=on_family,
                 format_func=FAMILY_LABELS.get)
    family = st.session_state[K + "family"]
    shown = ["family"]
    for field in dataclasses.fields(ArchSpec):
        if field.name != "base_width":  # None for most families; only Shake-Shake shows it
            ensure(field.name)
    if family in STEM_FAMILIES:
        st.selectbox("Stem (dataset)", ["cifar", "imagenet"], key=K + "stem", on_change=on_stem,
                     format_func={"cifar": "CIFAR: 3x3 conv, 32x32 input",
                                  "imagenet": "ImageNet: 7x7/2 conv + max-pool, 224x224"}.get)
        shown.append("stem")
    stem = st.session_state[K + "stem"] if family in STEM_FAMILIES else "cifar"
    if family in BLOCK_FAMILIES and stem == "cifar":
        choose("block", ["basic", "bottleneck"], "Block")
        shown.append("block")
    if family == "fractalnet":
        number("fractal_columns", "Columns C", 1, 6, 1)
        number("fractal_blocks", "Fractal blocks B", 1, 5, 1)
        shown += ["fractal_columns", "fractal_blocks"]
    partial = FAMILY_DEFAULTS[family].replace(
        stem=stem, block=st.session_state[K + "block"] if "block" in shown else FAMILY_DEFAULTS[family].block,
        fractal_columns=st.session_state[K + "fractal_columns"], fractal_blocks=st.session_state[K + "fractal_blocks"])
    rule, valid = depth_rule(partial)
    valid = [d for d in valid if d <= MAX_DEPTH]
    if st.session_state[K + "depth"] not in valid:
        old = st.session_state[K + "depth"]
        st.session_state[K + "depth"] = min(valid, key=lambda d: (abs(d - old), d))
        st.caption(f"Depth {old} does not fit this rule; moved to {st.session_state[K + 'depth']}.")
    st.selectbox("Depth (weight layers)", valid, key=K + "depth", help=rule, disabled=len(valid) == 1)
    st.caption(rule)
    shown.append("depth")
    if stem == "imagenet" and family in ("plain", "resnet", "wrn", "resnext"):
        from explorer.models.spec import IMAGENET_RESNET_STAGES

        st.session_state[K + "block"] = IMAGENET_RESNET_STAGES[st.session_state[K + "depth"]][0]
        shown.append("block")
    number("num_classes", "Classes", 2, 100_000, 1)
    shown.append("num_classes")
    if family == "shake_shake":
        number("base_width", "Branch width d (stage 1)", 1, 1024, 16)
        shown.append("base_width")

    def show(field: str, draw) -> None:
        if applies(field, family):
            draw()
            shown.append(field)

    show("width_factor", lambda: number("width_factor", "Width factor k", 1, 64, 1,
                                        help="WRN k: multiplies every stage width"))
    show("cardinality", lambda: number("cardinality", "Cardinality C", 1, 256, 1, help="ResNeXt: parallel paths"))
    show("bottleneck_width", lambda: number("bottleneck_width", "Path width d", 1, 1024, 1))
    show("resnext_form", lambda: choose("resnext_form", list(LABELS["resnext_form"]), "ResNeXt form (Fig. 3)"))
    show("shortcut", lambda: choose("shortcut", ["A", "B", "C"], "Shortcut option"))
    show("activation", lambda: choose("activation", list(LABELS["activation"]), "Activation placement"))
    show("shortcut_variant", lambda: choose("shortcut_variant", list(LABELS["shortcut_variant"]),
                                            "Shortcut variant (Identity Mappings, Table 1)"))
    variant = st.session_state.get(K + "shortcut_variant", "identity") if family == "resnet" else "identity"
    if variant in ("exclusive_gating", "shortcut_only_gating") or family == "highway":
        show("gate_bias", lambda: number("gate_bias", "Gate bias init", -20.0, 20.0, 1.0))
    if variant == "constant_scaling":
        show("shortcut_scale", lambda: number("shortcut_scale", "Shortcut scale", 0.0, 10.0, 0.1))
        show("residual_scale", lambda: number("residual_scale", "Residual scale", 0.0, 10.0, 0.1))
    if variant == "dropout":
        show("shortcut_dropout", lambda: number("shortcut_dropout", "Shortcut dropout", 0.0, 0.95, 0.05))
    show("shake_forward", lambda: choose("shake_forward", ["shake", "even"], "Forward (alpha)"))
    show("shake_backward", lambda: choose("shake_backward", ["shake", "even", "keep"], "Backward (beta)"))
    show("shake_level", lambda: choose("shake_level", ["image", "batch"], "Coefficient per"))
    show("pyramid_alpha", lambda: number("pyramid_alpha", "Widening alpha", 0, 4096, 12))
    show("pyramid_widening", lambda: choose("pyramid_widening", ["additive", "multiplicative"], "Widening"))
    show("growth_rate", lambda: number("growth_rate", "Growth rate k", 1, 512, 1))
    show("compression", lambda: number("compression", "Compression theta", 0.05, 1.0, 0.05))
    show("drop_path_local", lambda: number("drop_path_local", "Local drop-path", 0.0, 0.95, 0.05))
    show("drop_path_global", lambda: number("drop_path_global", "Global drop-path share", 0.0, 1.0, 0.05))
    show("dropout", lambda: number("dropout", "Dropout", 0.0, 0.95, 0.05))
    show("stochastic_depth", lambda: number("stochastic_depth", "Stochastic depth p_L", 0.0, 0.95, 0.05))
    show("se_reduction", lambda: number("se_reduction", "SE reduction r (0 = off)", 0, 1024, 4))
    show("zero_init_residual", lambda: st.checkbox("Zero-init last BN of each branch", key=K + "zero_init_residual"))
    shown.append("block")  # where it is not a choice it follows the family, depth or loaded preset
    data = {field: st.session_state[K + field] for field in dict.fromkeys(shown)}
    if family not in STEM_FAMILIES:
        data["stem"] = "cifar"
    return data


# ---------------------------------------------------------------- results

def headline(spec: ArchSpec) -> None:
    c = cached_cost(spec.to_json())
    cols = st.columns(4)
    cols[0].metric("Parameters", f"{c['params'] / 1e6:.2f}M", help=f"{c['params']:,} trainable parameters")
    cols[1].metric("Multiply-adds / image", human(c["macs"]), help=f"{c['macs']:,} conv + fc multiply-adds")
    cols[2].metric("Weight layers", c["weight_layers"], help="conv + fc layers on the longest path")
    cols[3].metric("Activations / image", human(c["activation_bytes"], "B"),
                   help="fp32 outputs kept for backward for one training image")
    name = preset_name(spec)
    paper = published_for(name) if name else None
    if paper is None:
        st.info("This design differs from every published one, so there is no paper figure to compare with."
                if name is None else f"This is preset **{name}**; its paper printed no figures for it.")
        return
    dataset = "CIFAR-10 error" if paper.dataset == "cifar10" else "ImageNet top-1 error"
    parts = []
    if paper.params_text:
        parts.append(f"{paper.params_text} parameters")
    if paper.error is not None:
        parts.append(f"{dataset} **{paper.error:g}%** ({paper.error_kind})")
    st.success(f"**{name}** in the paper: " + " · ".join(parts) + f"  \nSource: {paper.source}" + (f". {paper.note}" if paper.note else ""))


def graphs(spec: ArchSpec) -> None:
    plan = layout(spec)
    left, right = st.columns([2, 3])
    overview = cached_overview(spec.to_json())
    with left:
        st.subheader("Overview")
        st.graphviz_chart(overview, width="stretch")
    with right:
        st.subheader("One block in detail")
        a, b = st.columns(2)
        names = [s.name for s in plan.stages]
        if st.session_state.get("b_detail_stage", 0) >= len(names):
            del st.session_state["b_detail_stage"]  # the previous design had more stages
        stage = a.selectbox("Stage", range(len(names)), format_func=names.__getitem__, key="b_detail_stage",
                            index=min(1, len(names) - 1))
        count = plan.stages[stage].num_blocks
        block = 0
        # Dense, VGG and fractal stages are drawn whole; residual stages one block at a time.
        if count > 1 and spec.family not in ("densenet", "vgg", "fractalnet"):
            block = b.selectbox("Block", [0, 1], key="b_detail_block",
                                format_func=["block1 (first)", f"block2..{count} (later)"].__getitem__)
        detail = cached_block(spec.to_json(), stage, block)
        st.graphviz_chart(detail, width="stretch")
    d1, d2, d3, d4 = st.columns(4)
    d1.download_button("Overview DOT", overview, "overview.dot", "text/vnd.graphviz")
    d2.download_button("Block DOT", detail, "block.dot", "text/vnd.graphviz")
    if dot_available():  # rendered on click, off the redraw path
        d3.download_button("Overview SVG", lambda: svg_or_message(overview), "overview.svg", "image/svg+xml")
    else:
        d3.caption("SVG download needs the graphviz `dot` program (apt-get install graphviz).")
    d4.download_button("Spec JSON", spec.to_json(), "spec.json", "application/json")


def summary(spec: ArchSpec) -> None:
    st.subheader("torchinfo summary")
    weight_layers = layout(spec).weight_layers
    if weight_layers > SUMMARY_AUTO_LAYERS and not st.toggle(
            f"Run torchinfo for this {weight_layers}-layer design (takes a few seconds)", key="b_summary_big"):
        return
    depth_col, _ = st.columns([1, 3])
    depth = depth_col.slider("Summary depth", 1, 6, 2, key="b_summary_depth",
                             help="1: stem, stages, head; deeper levels show blocks and their layers")
    result = cached_summary(spec.to_json())
    rows = result.at_depth(depth)
    st.caption(f"Input {'x'.join(map(str, result.input_shape))} on the CPU · total {result.total_params:,} "
               f"parameters · {result.total_mult_adds:,} multiply-adds (torchinfo, BN included) · {len(rows)} rows")
    st.dataframe(pd.DataFrame(rows), hide_index=True, height=320, column_config={
        "params": st.column_config.NumberColumn("params", format="localized"),
        "mult_adds": st.column_config.NumberColumn("mult-adds", format="localized"),
        "output_shape": "output shape"})
    t1, t2, _ = st.columns([1, 1, 2])
    t1.download_button("Summary as text", lambda: result.text(depth), "summary.txt", "text/plain")
    t2.download_button("Summary as CSV", lambda: rows_to_csv(rows), "summary.csv", "text/csv")


def show_results(spec: ArchSpec) -> None:
    headline(spec)
    graphs(spec)
    summary(spec)


# ---------------------------------------------------------------- the page

use_app_navigation()
st.title("Build a design")
if K + "family" not in st.session_state:
    first_load()
if "url_error" in st.session_state:
    st.warning(f"The link's design is not valid ({st.session_state.pop('url_error')}). Showing ResNet-20 instead.")

with st.sidebar:
    st.header("Design")
    data = controls()

try:
    design = ArchSpec.from_dict(data)
    if design.family not in FAMILY_BUILDERS:
        raise SpecError("family", f"the {FAMILY_LABELS[design.family]} builder is not in this version yet; "
                                  "choose another family")
    cached_cost(design.to_json())  # refuses designs over the parameter / memory budget
except SpecError as err:
    st.error(f"This combination is not valid. {err}")
    last = st.session_state.get("design")
    if last is not None:
        st.caption(f"Below: the last valid design ({preset_name(last) or FAMILY_LABELS[last.family]}).")
        show_results(last)
else:
    st.session_state["design"] = design
    wanted = spec_to_params(design)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
    show_results(design)
