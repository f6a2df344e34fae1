"""Compare page: 2 to 4 designs side by side (table, bars, graphs) and every preset's published CIFAR-10 error
against its size. Shareable: `?designs=resnet56,wrn_28_10` (+ `custom=<the Build design's URL parameters>`)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import altair as alt
import pandas as pd
import streamlit as st

from pages import cached_cost, cached_overview, say, use_app_navigation
from pages.design_views import figures as figures_view

from explorer import PRESETS, ArchSpec, SpecError
from explorer.models.builder import FAMILY_BUILDERS
from explorer.models.presets import preset_name
from explorer.models.published import all_published, headline
from explorer.models.spec import FAMILY_LABELS
from explorer.models.urls import spec_from_params, spec_to_params

BUILD = "design from Build"
DEFAULT_CHOICE = ["resnet56", "preact_resnet164", "wrn_28_10"]


@st.cache_data(show_spinner="Counting every preset's multiply-adds (once per server) ...")
def preset_points(with_macs: bool) -> pd.DataFrame:
    """Every preset with a published CIFAR-10 error: its params (the paper's, else ours) and our multiply-adds."""
    rows = []
    for name, paper in all_published().items():
        spec = PRESETS.get(name)
        if spec is None or paper.dataset != "cifar10" or paper.error is None:
            continue
        params = paper.params_m
        macs = None
        if (params is None or with_macs) and spec.family in FAMILY_BUILDERS:
            c = cached_cost(spec.to_json())
            params = params if params is not None else c["params"] / 1e6
            macs = c["macs"] / 1e6
        rows.append({"preset": name, "family": FAMILY_LABELS[spec.family], "params (M)": params,
                     "multiply-adds (M)": macs, "CIFAR-10 error (%)": paper.error, "kind": paper.error_kind,
                     "source": paper.source})
    return pd.DataFrame(rows)


def first_load() -> None:
    """Read the choice from the URL once per visit; bad names are reported and dropped."""
    params = st.query_params.to_dict()
    names = [n for n in params.get("designs", "").split(",") if n]
    chosen = [n for n in names if n in PRESETS or n == BUILD][:4]
    bad = [n for n in names if n not in chosen]
    if "custom" in params:
        try:
            custom = spec_from_params(dict(parse_qsl(params["custom"])))
            cached_cost(custom.to_json())  # over the budget: refused here, so Build never opens it
            st.session_state["design"] = custom
            chosen = [*chosen, BUILD][:4] if BUILD not in chosen else chosen
        except SpecError as err:
            bad.append(f"custom ({err})")
    if bad:
        say("warning", "Ignored from the link: {}. Choose designs below.", ", ".join(bad))
    if not chosen:
        chosen = st.session_state.get("c_last", DEFAULT_CHOICE)
    st.session_state["c_designs"] = chosen


def resolve(name: str) -> ArchSpec:
    return st.session_state["design"] if name == BUILD else PRESETS[name]


use_app_navigation()
st.title("Compare designs")
if "c_designs" not in st.session_state:
    first_load()
options = list(PRESETS)
if "design" in st.session_state:
    options = [BUILD, *options]
st.session_state["c_designs"] = [n for n in st.session_state["c_designs"] if n in options]
chosen = st.multiselect("Designs (2 to 4): presets, or the design you made on the Build page", options,
                        key="c_designs", max_selections=4)

st.session_state["c_last"] = chosen  # survives a visit to another page, which drops widget state
wanted = {"designs": ",".join(chosen)}
if BUILD in chosen:
    wanted["custom"] = urlencode(spec_to_params(st.session_state["design"]))
if st.query_params.to_dict() != wanted:
    st.query_params.from_dict(wanted)

if len(chosen) < 2:
    st.info("Choose at least two designs to compare.")
    st.stop()

rows, specs = [], {}
for name in chosen:
    spec = resolve(name)
    label = name if name != BUILD else f"{BUILD} ({preset_name(spec) or FAMILY_LABELS[spec.family]})"
    try:
        c = cached_cost(spec.to_json())
    except (SpecError, KeyError) as err:
        say("error", "{}: cannot be built here ({}).", label, err)
        continue
    specs[label] = spec
    rows.append({"design": label, "family": FAMILY_LABELS[spec.family], "params (M)": round(c["params"] / 1e6, 3),
                 "multiply-adds (M)": round(c["macs"] / 1e6, 1), "weight layers": c["weight_layers"],
                 **figures_view.headline_cells(spec)})
table = pd.DataFrame(rows)
st.dataframe(table, hide_index=True, column_config={
    "paper's error (%)": st.column_config.NumberColumn(format="%.2f"),  # 4.00 as the paper prints it, not 4
    "params (M)": st.column_config.NumberColumn(format="%.3f")})
with st.expander("Every published figure of the chosen designs"):
    every = pd.concat([figures_view.frame(spec).assign(design=label) for label, spec in specs.items()])
    figures_view.table(every[["design", *every.columns[:-1]]])

bars = st.columns(2)
for col, measure in zip(bars, ("params (M)", "multiply-adds (M)")):
    chart = alt.Chart(table).mark_bar().encode(
        x=alt.X(measure, title=measure), y=alt.Y("design", sort=None, title=None),
        color=alt.Color("design", legend=None), tooltip=["design", measure]).properties(height=60 + 40 * len(table))
    col.altair_chart(chart, width="stretch")

st.subheader("Graphs side by side")
for col, (label, spec) in zip(st.columns(len(specs)), specs.items()):
    col.caption(label)
    col.graphviz_chart(cached_overview(spec.to_json()), width="stretch")

st.subheader("Published CIFAR-10 error against size, every preset")
with_macs = st.toggle("Also plot against multiply-adds (counts every preset once per server, a few seconds)",
                      key="c_macs")
points = preset_points(with_macs)
points["chosen"] = points["preset"].isin(chosen)
for label, spec in specs.items():  # a chosen design that is no preset but is in a paper's table
    paper = headline(spec)
    if preset_name(spec) is None and paper and paper.dataset == "cifar10" and paper.error is not None:
        c = cached_cost(spec.to_json())
        mine = {"preset": label, "family": FAMILY_LABELS[spec.family], "params (M)": paper.params_m or c["params"] / 1e6,
                "multiply-adds (M)": c["macs"] / 1e6, "CIFAR-10 error (%)": paper.error, "kind": paper.error_kind,
                "source": paper.source, "chosen": True}
        points = pd.concat([points, pd.DataFrame([mine])], ignore_index=True)
axes = [("params (M)", "parameters (M, log scale)")]
if with_macs:
    axes.append(("multiply-adds (M)", "multiply-adds per image (M, log scale)"))
for col, (measure, title) in zip(st.columns(len(axes)), axes):
    low, high = points[measure].min(), points[measure].max()
    # Room on the right so the names of chosen designs near the edge are not clipped.
    domain = [low / 1.5, high * 8]
    base = alt.Chart(points).encode(
        x=alt.X(measure, scale=alt.Scale(type="log", domain=domain), title=title),
        y=alt.Y("CIFAR-10 error (%)", scale=alt.Scale(zero=False)),
        tooltip=["preset", "family", measure, "CIFAR-10 error (%)", "kind", "source"])
    dots = base.mark_circle().encode(
        color=alt.Color("family", legend=alt.Legend(orient="bottom", columns=2, labelLimit=220)),
        size=alt.condition("datum.chosen", alt.value(260), alt.value(60)),
        stroke=alt.condition("datum.chosen", alt.value("black"), alt.value(None)))
    labels = base.transform_filter("datum.chosen").mark_text(dx=8, align="left", fontSize=12).encode(text="preset")
    col.altair_chart((dots + labels).properties(height=420), width="stretch")
st.caption("Each point is one preset's published figure (best, mean or median as its paper gives; hover for the "
           "kind and source). Chosen designs are large and named; a design of your own appears when a paper's "
           "table has exactly that design.")
