"""Build page: start from a preset or change any setting; see the cost beside the paper's figures, the graph,
and the torchinfo summary. The design lives in the URL (explorer.models.urls) and in st.session_state["design"]."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import get_args

import pandas as pd
import streamlit as st

from pages import cached_cost, cached_overview, say, use_app_navigation
from pages.design_views import figures as figures_view

from explorer import PRESETS, ArchSpec, SpecError, precompute
from explorer.i18n import N_, _
from explorer.models.builder import FAMILY_BUILDERS
from explorer.draw.overview import GraphvizMissing, dot_available, localized, to_svg
from explorer.models.fields import FIELD_TYPES, applies, described, offered, setting, widget_bounds
from explorer.models.plans import PLANS
from explorer.models.presets import family_default, preset_name
from explorer.models.rules import depth_fits
from explorer.models.spec import FAMILY_LABELS, depth_choices, imagenet_block, layout
from explorer.draw.summary import Summary, rows_to_csv
from explorer.models.urls import IGNORED, spec_from_params, spec_to_params

K = "b_"  # prefix of this page's widget keys: K + spec field name
CUSTOM = N_("(custom design)")  # the preset box's value while the design equals no preset (shown translated)
DEFAULT = PRESETS["resnet20"]
SIDEBAR_WIDTH = 400  # px: the longest choice of a setting fits (tests/test_browser.py checks every drop-down)
SUMMARY_AUTO_LAYERS = 400  # deeper designs compute the torchinfo summary on request (it takes seconds)
FIRST = ("family", "stem", "block", "fractal_columns", "fractal_blocks", "depth")  # the depth rule reads these


# ---------------------------------------------------------------- cached computations (keyed by the spec's JSON)

# Presets come precomputed from assets/ (explorer.precompute: no model is built for them); other designs are
# computed once per server and shared by every session through these caches.

@st.cache_data(max_entries=256, show_spinner=False)
def cached_block(spec_json: str, stage: int, block: int) -> str:
    return precompute.block_of(spec_json, stage, block)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_detail_blocks(spec_json: str, stage: int) -> int:
    return precompute.detail_blocks_of(spec_json, stage)


@st.cache_resource
def summary_worker() -> ThreadPoolExecutor:
    """One thread for the whole server's torchinfo runs: a class's new designs are summarised one after another
    instead of as many runs sharing the GIL with every session's page."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchinfo")


def cached_summary(spec_json: str) -> Summary:
    if precompute.lookup(spec_json) is not None:
        return precompute.summary_of(spec_json)
    return computed_summary(spec_json)


@st.cache_data(max_entries=32, show_spinner=False)
def computed_summary(spec_json: str) -> Summary:
    return summary_worker().submit(precompute.summary_of, spec_json).result()


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


def binary_bytes(n: float) -> str:
    """Memory in binary units, as every page shows it (MiB = 2**20 bytes, the unit named in the text)."""
    for size, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= size:
            return f"{n / size:.2f} {suffix}"
    return f"{n:.0f} B"


def file_stem(spec: ArchSpec) -> str:
    """Downloads are named after the design: its preset (resnet56.json), else its family and depth."""
    return preset_name(spec) or f"{spec.family}{spec.depth}_custom"


# The summary table's column headers (the rows' keys stay English: they are the CSV's columns too)
SUMMARY_HEADERS = {"layer": N_("layer"), "depth": N_("depth"), "type": N_("type"), "output_shape": N_("output shape"),
                   "params": N_("params"), "mult_adds": N_("mult-adds")}
PLACEHOLDERS = ("preact", "se", "stochastic_depth", "post", "bn", "widen")  # nn.Identity where the option is off


def real_rows(rows: list[dict]) -> list[dict]:
    """The summary without the placeholder modules an option leaves as nn.Identity (a block's `preact` when it
    has no pre-activation, `se` without SE, ...); an identity shortcut stays, it is part of the design."""
    return [r for r in rows if not (r["type"] == "Identity" and r["layer"].rpartition(".")[2] in PLACEHOLDERS)]


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
    load(family_default(st.session_state[K + "family"]))


def on_stem() -> None:
    """A CIFAR design has no ImageNet counterpart of its depth (6n+2 against 18/34/50/...): load the family's
    design on the new stem, and say so beside the control."""
    family, stem = st.session_state[K + "family"], st.session_state[K + "stem"]
    last = st.session_state.get("design")
    before = preset_name(last) or "" if last is not None else None
    spec = family_default(family, stem)
    load(spec)
    st.session_state["b_stem_note"] = (stem, preset_name(spec), family, before)


def stem_note(stem: str, loaded: str, family: str, before: str | None) -> str:
    """What on_stem did, in words (worded where shown, in the page's language)."""
    where = "ImageNet" if stem == "imagenet" else "CIFAR"
    if before is None:
        text = _("The {stem} stem loaded **{preset}**, the {family} design for it: depths and widths differ "
                 "between the stems. Change any setting below.")
    else:
        before = before or _("your custom design")
        text = _("The {stem} stem loaded **{preset}**, the {family} design for it (in place of {before}): depths "
                 "and widths differ between the stems. Change any setting below.")
    return text.format(stem=where, preset=loaded, family=_(FAMILY_LABELS[family]), before=before)


def first_load() -> None:
    """A fresh visit: the URL wins, then the design carried in this session, then ResNet-20."""
    params = st.query_params.to_dict()
    spec = st.session_state.get("design", DEFAULT)
    if any(k for k in params if k not in IGNORED):
        try:
            spec = spec_from_params(params)
        except SpecError as err:
            st.session_state["url_error"] = str(err)
            spec = DEFAULT
    load(spec)


def ensure(field: str) -> None:
    """Give a widget that appears again (after being hidden) its family's default value."""
    if K + field not in st.session_state:
        st.session_state[K + field] = getattr(family_default(st.session_state[K + "family"]), field)


def current() -> ArchSpec:
    """The design the widgets hold so far (unvalidated): decides which widgets show and the depth rule."""
    family = st.session_state[K + "family"]
    values = {name: st.session_state[K + name] for name in FIELD_TYPES
              if K + name in st.session_state and applies(name, family)}
    if not applies("stem", family):
        values["stem"] = "cifar"
    return family_default(family).replace(**values)


def widget(field: str, **kw) -> None:
    """The field's widget, drawn from the field table: a selectbox, a checkbox or a number input."""
    s, kind, key = setting(field), FIELD_TYPES[field], K + field
    label, tip = _(s.label), _(s.help) if s.help else None
    if kind is bool:
        st.checkbox(label, key=key, help=tip)
    elif kind in (int, float, int | None):
        ensure(field)
        low, high, step = widget_bounds(field)
        value = st.session_state[key]
        if value is not None:  # a link's 0.01 or 0.97 stays as it is (the widget's open bounds stop a step inside)
            low, high = min(low, value), max(high, value)
        st.number_input(label, min_value=low, max_value=high, step=step, key=key, help=tip)
    else:  # a Literal: the choices in the table's order; the current value is kept even if unusual
        labels = s.choices or {}
        options = list(labels or get_args(kind))
        if st.session_state.get(key) not in options:
            options.append(st.session_state.get(key))
        st.selectbox(label, options, key=key, format_func=lambda v: _(labels[v]) if v in labels else str(v),
                     help=tip, **kw)


def depth_widget() -> None:
    rule, valid = depth_choices(current())
    if st.session_state[K + "depth"] not in valid and depth_fits(current()):
        valid = sorted({*valid, st.session_state[K + "depth"]})  # a valid depth past the offered list stays
    if st.session_state[K + "depth"] not in valid:
        old = st.session_state[K + "depth"]
        st.session_state[K + "depth"] = min(valid, key=lambda d: (abs(d - old), d))
        st.caption(_("Depth {old} does not fit this rule; moved to {new}.").format(
            old=old, new=st.session_state[K + "depth"]))
    st.selectbox(_(setting("depth").label), valid, key=K + "depth", help=rule, disabled=len(valid) == 1)
    st.caption(rule)
    block = imagenet_block(current())  # an ImageNet ResNet's depth fixes its block (He et al. 2015, Table 1)
    if block is not None:
        st.session_state[K + "block"] = block


def kept(name: str, spec: ArchSpec) -> bool:
    """A setting the page does not offer for this design but a link set (base_width outside Shake-Shake):
    shown, so that the design is the link's."""
    return (setting(name).offered is not None and applies(name, spec.family)
            and getattr(spec, name) != getattr(family_default(spec.family), name))


def controls() -> dict:
    """Draw the settings the field table offers for the chosen design; return them as a spec dict."""
    top = st.container()  # the preset box, drawn last: it names the design the settings below make
    widget("family", on_change=on_family)
    for name in FIELD_TYPES:
        if name != "base_width":  # None for most families; only Shake-Shake shows it
            ensure(name)
    shown = ["family"]
    for name in FIRST[1:-1]:  # family and depth have their own widgets
        if offered(name, current()):
            widget(name, **({"on_change": on_stem} if name == "stem" else {}))
            shown.append(name)
            if name == "stem" and "b_stem_note" in st.session_state:
                st.info(stem_note(*st.session_state.pop("b_stem_note")))
    depth_widget()
    shown.append("depth")
    for name in FIELD_TYPES:
        if name not in FIRST and (offered(name, current()) or kept(name, current())):
            widget(name)
            shown.append(name)
    shown.append("block")  # where it is not a choice it follows the family, depth or loaded preset
    data = {field: st.session_state[K + field] for field in dict.fromkeys(shown)}
    if not applies("stem", data["family"]):
        data["stem"] = "cifar"
    st.session_state[K + "preset"] = matching_preset(data)  # before its widget: edits that leave a preset say so
    with top:
        st.selectbox(_("Start from a preset"), [CUSTOM, *PRESETS], key=K + "preset", on_change=on_preset,
                     format_func=lambda v: _(CUSTOM) if v == CUSTOM else v,
                     help=_("Loads a named design from the papers; change any setting below afterwards. Shows "
                            "{custom} while the settings match no preset.").format(custom=_(CUSTOM)))
    return data


def matching_preset(data: dict) -> str:
    """The preset these settings make, or CUSTOM (also for settings that do not make a valid design)."""
    try:
        return preset_name(ArchSpec.from_dict(data)) or CUSTOM
    except (SpecError, TypeError, ValueError):
        return CUSTOM


# ---------------------------------------------------------------- results

def headline(spec: ArchSpec) -> None:
    c = cached_cost(spec.to_json())
    cols = st.columns(4)
    cols[0].metric(_("Parameters"), f"{c['params'] / 1e6:.2f}M",
                   help=_("{n} trainable parameters").format(n=f"{c['params']:,}"))
    cols[1].metric(_("Multiply-adds / image"), human(c["macs"]),
                   help=_("{n} conv + fc multiply-adds").format(n=f"{c['macs']:,}"))
    cols[2].metric(_("Weight layers"), c["weight_layers"], help=_("conv + fc layers on the longest path"))
    cols[3].metric(_("Activations / image"), binary_bytes(c["activation_bytes"]),
                   help=_("{n} bytes: fp32 outputs kept for backward for one training image "
                          "(1 MiB = 2^20 bytes)").format(n=f"{c['activation_bytes']:,}"))
    figures_view.show(spec, preset_name(spec))


def graphs(spec: ArchSpec) -> None:
    plan = layout(spec)
    left, right = st.columns([2, 3])
    overview = localized(cached_overview(spec.to_json()))  # cached in English; shown in the page's language
    with left:
        st.subheader(_("Overview"))
        st.graphviz_chart(overview, width="stretch")
    with right:
        st.subheader(_("One block in detail"))
        a, b = st.columns(2)
        names = [s.name for s in plan.stages]
        if st.session_state.get("b_detail_stage", 0) >= len(names):
            del st.session_state["b_detail_stage"]  # the previous design had more stages
        stage = a.selectbox(_("Stage"), range(len(names)), format_func=names.__getitem__, key="b_detail_stage",
                            index=min(1, len(names) - 1))
        count = cached_detail_blocks(spec.to_json(), stage)  # 1 where the stage is drawn whole (dense, VGG, fractal)
        block = 0
        if count > 1:
            later = _("block2..{count} (later)").format(count=count)
            block = b.selectbox(_("Block"), [0, 1], key="b_detail_block",
                                format_func=[_("block1 (first)"), later].__getitem__)
        detail = localized(cached_block(spec.to_json(), stage, block))
        st.graphviz_chart(detail, width="stretch")
    # on_click="ignore": a click downloads without a rerun. A rerun per click let Streamlit's media cleanup drop
    # the file a second, quick click asked for (MediaFileStorageError in the log, nothing in the browser).
    stem = file_stem(spec)
    d1, d2, d3, d4 = st.columns(4)
    d1.download_button(_("Overview DOT"), overview, f"{stem}_overview.dot", "text/vnd.graphviz", on_click="ignore")
    d2.download_button(_("Block DOT"), detail, f"{stem}_{names[stage]}_block{block + 1}.dot", "text/vnd.graphviz",
                       on_click="ignore")
    if dot_available():  # rendered on click, off the redraw path
        d3.download_button(_("Overview SVG"), lambda: svg_or_message(overview), f"{stem}.svg", "image/svg+xml",
                           on_click="ignore")
    else:
        d3.caption(_("SVG download needs the graphviz `dot` program (apt-get install graphviz)."))
    d4.download_button(_("Spec JSON"), spec.to_json(), f"{stem}.json", "application/json", on_click="ignore")


def summary(spec: ArchSpec) -> None:
    st.subheader(_("torchinfo summary"))
    weight_layers = layout(spec).weight_layers
    if weight_layers > SUMMARY_AUTO_LAYERS and not st.toggle(
            _("Run torchinfo for this {n}-layer design (takes a few seconds)").format(n=weight_layers),
            key="b_summary_big"):
        return
    depth_col, _rest = st.columns([1, 3])
    depth = depth_col.slider(_("Summary depth"), 1, 6, 2, key="b_summary_depth",
                             help=_("1: stem, stages, head; deeper levels show blocks and their layers"))
    with st.spinner(_("Running torchinfo ...")):
        result = cached_summary(spec.to_json())
    result = replace(result, rows=tuple(real_rows(result.rows)))  # the text download too
    rows = result.at_depth(depth)
    st.caption(_("Input {shape} (shapes only) · total {params} parameters · {macs} multiply-adds (torchinfo, BN "
                 "included) · {rows} rows").format(shape="x".join(map(str, result.input_shape)),
                                                   params=f"{result.total_params:,}",
                                                   macs=f"{result.total_mult_adds:,}", rows=len(rows)))
    st.dataframe(pd.DataFrame(rows), hide_index=True, height=320, column_config={
        name: st.column_config.Column(_(header)) for name, header in SUMMARY_HEADERS.items()} | {
        "params": st.column_config.NumberColumn(_(SUMMARY_HEADERS["params"]), format="localized"),
        "mult_adds": st.column_config.NumberColumn(_(SUMMARY_HEADERS["mult_adds"]), format="localized")})
    t1, t2, _rest = st.columns([1, 1, 2])
    stem = file_stem(spec)
    t1.download_button(_("Summary as text"), lambda: result.text(depth), f"{stem}_summary.txt", "text/plain",
                       on_click="ignore")
    t2.download_button(_("Summary as CSV"), lambda: rows_to_csv(rows), f"{stem}_summary.csv", "text/csv",
                       on_click="ignore")


def show_results(spec: ArchSpec) -> None:
    headline(spec)
    if PLANS[spec.family].note:  # where the build is this project's reading of the paper (its plan says why)
        st.caption(PLANS[spec.family].note)
    graphs(spec)
    summary(spec)


# ---------------------------------------------------------------- the page

use_app_navigation()
# The settings' choices read like the papers ("B: projection where the shape changes", "first 1x1 (authors' CIFAR
# code, original ResNet)"): Streamlit's default 300 px sidebar cut them off in the drop-downs.
# (set_page_config's sidebar width applies only to the first page a browser opens, so CSS, on wide screens only.)
st.html(f"<style>@media (min-width: 900px) {{section[data-testid='stSidebar'] "
        f"{{width: {SIDEBAR_WIDTH}px !important; min-width: {SIDEBAR_WIDTH}px !important;}}}}</style>")
st.title(_("Build a design"))
if K + "family" not in st.session_state:
    first_load()
if "url_error" in st.session_state:
    say("warning", _("The link's design is not valid ({}). Showing ResNet-20 instead."),
        st.session_state.pop("url_error"))

with st.sidebar:
    st.header(_("Design"))
    data = controls()

try:
    design = ArchSpec.from_dict(data)
    if design.family not in FAMILY_BUILDERS:
        raise SpecError("family", _("the {family} builder is not in this version yet; choose another family").format(
            family=_(FAMILY_LABELS[design.family])))
    cached_cost(design.to_json())  # refuses designs over the parameter / memory budget
except SpecError as err:
    say("error", _("This combination is not valid. {}"), described(err))
    last = st.session_state.get("design")
    try:  # the session's design may come from another page's link: show it only if it can be counted
        if last is not None:
            cached_cost(ArchSpec.from_json(last.to_json()).to_json())
    except SpecError:
        last = None
    if last is not None:
        st.caption(_("Below: the last valid design ({design}).").format(
            design=preset_name(last) or _(FAMILY_LABELS[last.family])))
        show_results(last)
else:
    st.session_state["design"] = design
    wanted = spec_to_params(design)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
    show_results(design)
