"""Compare page: 2 to 4 designs side by side (table, bars, graphs) and every preset's published CIFAR-10 error
against its size. Shareable: `?designs=resnet56,wrn_28_10` (+ `custom=<the Build design's URL parameters>`,
+ `macs=1` for the multiply-adds chart)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

import altair as alt
import pandas as pd
import streamlit as st

from pages import cached_cost, cached_overview, plain, say, use_app_navigation
from pages.design_views import figures as figures_view

from explorer import PRESETS, ArchSpec, SpecError
from explorer.draw import labels as name_labels
from explorer.draw.colors import family_scale
from explorer.draw.overview import GraphvizMissing, localized, to_svg
from explorer.i18n import N_, _
from explorer.models.builder import FAMILY_BUILDERS
from explorer.models.presets import preset_name
from explorer.models.published import all_published, headline
from explorer.models.spec import FAMILY_LABELS
from explorer.models.urls import spec_from_params, spec_to_params

BUILD = N_("design from Build")  # the choice's value (in the link); shown translated
DEFAULT_CHOICE = ["resnet56", "preact_resnet164", "wrn_28_10"]
SCATTER_HEIGHT = 420  # px of plot area: the names of the chosen designs are placed for this height
GRAPHS_PER_ROW = {2: 2, 3: 3, 4: 2}  # four graphs in one row of a laptop page would need 7 px text
MIN_ROW_WIDTH = 950  # pt: a row of small graphs is drawn as if this wide, so a projector does not blow them up
PHONE_WIDTH = 640  # px: under it Streamlit stacks columns
# The names the page shows for the table's rows and the charts' fields (the frames keep the English keys)
NAMES = {"family": N_("family"), "params (M)": N_("params (M)"), "multiply-adds (M)": N_("multiply-adds (M)"),
         "weight layers": N_("weight layers"), "CIFAR-10 error (%)": N_("CIFAR-10 error (%)"), "preset": N_("preset"),
         "design": N_("design"), "kind": N_("kind"), "source": N_("source")}


def title_of(key: str) -> str:
    """A row's or a field's name in the page's language (one Compare does not name: the figure tables')."""
    return _(NAMES[key]) if key in NAMES else figures_view.header(key)


@st.cache_data(show_spinner=False)
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
                     "multiply-adds (M)": macs, "CIFAR-10 error (%)": paper.error,
                     "error as printed (%)": figures_view.printed_error(spec, name), "kind": paper.error_kind,
                     "source": paper.source})
    return pd.DataFrame(rows)


@st.cache_data(max_entries=64, show_spinner=False)
def graph_width(dot: str) -> float | None:
    """The graph's natural width in points as graphviz lays it out, or None without the `dot` program."""
    try:
        found = re.search(r'<svg width="([\d.]+)pt"', to_svg(dot))
    except (GraphvizMissing, ValueError):
        return None
    return float(found.group(1)) if found else None


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
        say("warning", _("Ignored from the link: {}. Choose designs below."), ", ".join(bad))
    if not chosen:
        chosen = st.session_state.get("c_last", DEFAULT_CHOICE)
    st.session_state["c_designs"] = chosen
    if "macs" in params:
        st.session_state["c_macs"] = params["macs"] == "1"


def resolve(name: str) -> ArchSpec:
    return st.session_state["design"] if name == BUILD else PRESETS[name]


def show_table(rows: list[dict]) -> None:
    """One column per design, one row per quantity: every name and source fits and wraps (a wide table of nine
    columns cut them off). Every cell is text, shown literally."""
    table = pd.DataFrame(rows).set_index("design").T
    table.index = [title_of(key) for key in table.index]
    st.table(table.map(plain).rename(columns=plain))


def show_bars(table: pd.DataFrame) -> None:
    scale = alt.Scale(**family_scale(table["family"]))
    for col, measure in zip(st.columns(2), ("params (M)", "multiply-adds (M)")):
        chart = alt.Chart(table).mark_bar().encode(
            x=alt.X(measure, title=title_of(measure)),
            y=alt.Y("design", sort=None, title=None, axis=alt.Axis(labelLimit=320, labelFontSize=12)),
            color=alt.Color("family", scale=scale, legend=None),
            tooltip=[alt.Tooltip(f, title=title_of(f)) for f in ("design", "family", measure)],
        ).properties(height=60 + 40 * len(table))
        col.altair_chart(chart, width="stretch")


def graph_rows(widths: list[float | None]) -> list[list[float]]:
    """Column widths, row by row, that draw every graph at one scale: each graph's column is as wide as the graph
    (a stretched graph fills its column), and a row narrower than the widest row, or than MIN_ROW_WIDTH, ends in
    an empty column. Without graphviz's sizes every graph counts as equally wide."""
    known = [w for w in widths if w]
    sizes = [w or (max(known) if known else 1.0) for w in widths]
    per_row = GRAPHS_PER_ROW.get(len(sizes), len(sizes))
    rows = [sizes[i:i + per_row] for i in range(0, len(sizes), per_row)]
    if not known:
        return rows
    full = max(MIN_ROW_WIDTH, *(sum(row) for row in rows))
    return [row + [full - sum(row)] if full - sum(row) > 1 else row for row in rows]


def show_graphs(specs: dict[str, ArchSpec]) -> None:
    dots = [(label, localized(cached_overview(spec.to_json()))) for label, spec in specs.items()]
    per_row = GRAPHS_PER_ROW.get(len(dots), len(dots))
    widths = [graph_width(dot) for _, dot in dots]
    if all(widths):  # a phone stacks the columns, each as wide as the page: there the widest fills the width
        rules = " ".join(f".st-key-c_graph{i} {{width: {w / max(widths):.1%}; margin: 0 auto;}}"
                         for i, w in enumerate(widths))
        st.html(f"<style>@media (max-width: {PHONE_WIDTH}px) {{{rules}}}</style>")  # numbers only, no user text
    for r, row in enumerate(graph_rows(widths)):
        for i, col in enumerate(st.columns(row, gap="small")[:len(dots[r * per_row:(r + 1) * per_row])]):
            label, dot = dots[r * per_row + i]
            col.caption(plain(label))
            col.container(key=f"c_graph{r * per_row + i}").graphviz_chart(dot, width="stretch")


def scatter(points: pd.DataFrame, measure: str, title: str) -> alt.LayerChart:
    """Published error against size, every preset; the chosen designs large and named, the names placed clear
    of each other (explorer.draw.labels), the axes fitted to the points."""
    points = points.dropna(subset=[measure])
    low, high = points[measure].min(), points[measure].max()
    x_domain = (low / 1.3, high * 1.3)
    errors = points["CIFAR-10 error (%)"]
    y_domain = (max(0.0, errors.min() - 0.5), errors.max() + 0.5)
    chosen = points[points["chosen"]]
    anchors = name_labels.place([(x, y, name) for x, y, name in zip(chosen[measure], chosen["CIFAR-10 error (%)"],
                                                                     chosen["preset"])],
                                x_domain, y_domain, SCATTER_HEIGHT)
    names = pd.DataFrame({"preset": chosen["preset"].to_numpy(), "x": chosen[measure].to_numpy(),
                          "y": chosen["CIFAR-10 error (%)"].to_numpy(), "label_y": [a.y for a in anchors],
                          "align": [a.align for a in anchors], "moved": [a.moved for a in anchors]})
    x_scale = alt.Scale(type="log", domain=list(x_domain), nice=False)
    y_scale = alt.Scale(domain=list(y_domain), nice=False, zero=False)
    ticks = [t for t in name_labels.log_axis(*x_domain)[1] if x_domain[0] <= t <= x_domain[1]]
    x = alt.X(f"{measure}:Q", scale=x_scale, title=title, axis=alt.Axis(values=ticks, format="~g"))
    y = alt.Y("CIFAR-10 error (%):Q", scale=y_scale, title=title_of("CIFAR-10 error (%)"))
    tooltip = [alt.Tooltip("preset:N", title=title_of("preset")), alt.Tooltip("family:N", title=title_of("family")),
               alt.Tooltip(f"{measure}:Q", format=".3~f", title=title_of(measure)),
               alt.Tooltip("error as printed (%):N", title=title_of("CIFAR-10 error (%)")),
               alt.Tooltip("kind:N", title=title_of("kind")), alt.Tooltip("source:N", title=title_of("source"))]
    dots = alt.Chart(points).mark_point(filled=True, opacity=0.9).encode(
        x=x, y=y, tooltip=tooltip,
        color=alt.Color("family:N", scale=alt.Scale(**family_scale(points["family"])),
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=260, title=None)),
        shape=alt.Shape("family:N", scale=alt.Scale(**family_scale(points["family"], shapes=True)),
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=260, title=None)),
        size=alt.condition("datum.chosen", alt.value(300), alt.value(70)),
        stroke=alt.condition("datum.chosen", alt.value("black"), alt.value(None)))
    layers = [dots]
    moved = names[names["moved"]]
    if len(moved):  # a leader line from a point to its name where the name had to move
        layers.append(alt.Chart(moved).mark_rule(color="#555", strokeWidth=1).encode(
            x=alt.X("x:Q", scale=x_scale), y=alt.Y("y:Q", scale=y_scale), y2="label_y:Q"))
    for align, dx in (("left", name_labels.GAP), ("right", -name_labels.GAP)):
        side = names[names["align"] == align]
        if len(side):
            layers.append(alt.Chart(side).mark_text(align=align, dx=dx, fontSize=12, color="#111").encode(
                x=alt.X("x:Q", scale=x_scale, title=title),
                y=alt.Y("label_y:Q", scale=y_scale, title=title_of("CIFAR-10 error (%)")), text="preset"))
    # fit-x: the plot area is SCATTER_HEIGHT tall, as the names were placed for (Streamlit's default "fit" would
    # take the axis and the legend out of it)
    return alt.layer(*layers).properties(height=SCATTER_HEIGHT, autosize=alt.AutoSizeParams(type="fit-x",
                                                                                            contains="padding"))


use_app_navigation()
st.title(_("Compare designs"))
if "c_designs" not in st.session_state:
    first_load()
if "c_macs" not in st.session_state and "c_macs_last" in st.session_state:
    st.session_state["c_macs"] = st.session_state["c_macs_last"]  # a visit to another page drops widget state
options = list(PRESETS)
if "design" in st.session_state:
    options = [BUILD, *options]
st.session_state["c_designs"] = [n for n in st.session_state["c_designs"] if n in options]
chosen = st.multiselect(_("Designs (2 to 4): presets, or the design you made on the Build page"), options,
                        key="c_designs", max_selections=4, format_func=lambda v: _(BUILD) if v == BUILD else v)

st.session_state["c_last"] = chosen  # survives a visit to another page, which drops widget state
wanted = {"designs": ",".join(chosen)}
if BUILD in chosen:
    wanted["custom"] = urlencode(spec_to_params(st.session_state["design"]))
if st.session_state.get("c_macs"):
    wanted["macs"] = "1"
if st.query_params.to_dict() != wanted:
    st.query_params.from_dict(wanted)

if len(chosen) < 2:
    st.info(_("Choose at least two designs to compare."))
    st.stop()

rows, specs = [], {}
for choice in chosen:
    spec = resolve(choice)
    label = choice if choice != BUILD else _("design from Build ({design})").format(
        design=preset_name(spec) or _(FAMILY_LABELS[spec.family]))
    try:
        c = cached_cost(spec.to_json())
    except (SpecError, KeyError) as err:
        say("error", _("{}: cannot be built here ({})."), label, err)
        continue
    specs[label] = spec
    rows.append({"design": label, "family": _(FAMILY_LABELS[spec.family]), "params (M)": f"{c['params'] / 1e6:.3f}",
                 "multiply-adds (M)": f"{c['macs'] / 1e6:,.1f}", "weight layers": str(c["weight_layers"]),
                 **figures_view.headline_cells(spec)})
if not rows:
    st.stop()
show_table(rows)
with st.expander(_("Every published figure of the chosen designs")):
    every = pd.concat([figures_view.frame(spec).assign(design=label) for label, spec in specs.items()])
    figures_view.table(every[["design", *every.columns[:-1]]])

show_bars(pd.DataFrame([{"design": label, "family": FAMILY_LABELS[spec.family],
                         "params (M)": cached_cost(spec.to_json())["params"] / 1e6,
                         "multiply-adds (M)": cached_cost(spec.to_json())["macs"] / 1e6}
                        for label, spec in specs.items()]))

st.subheader(_("Graphs side by side"))
st.caption(_("At one scale: a wider graph takes a wider column."))
show_graphs(specs)

st.subheader(_("Published CIFAR-10 error against size, every preset"))
with_macs = st.toggle(_("Also plot against multiply-adds (counts every preset once per server, a few seconds)"),
                      key="c_macs")
st.session_state["c_macs_last"] = with_macs
with st.spinner(_("Counting every preset's multiply-adds (once per server) ...")):
    points = preset_points(with_macs)
points["chosen"] = points["preset"].isin(chosen)
for label, spec in specs.items():  # a chosen design that is no preset but is in a paper's table
    paper = headline(spec)
    if preset_name(spec) is None and paper and paper.dataset == "cifar10" and paper.error is not None:
        c = cached_cost(spec.to_json())
        mine = {"preset": label, "family": FAMILY_LABELS[spec.family],
                "params (M)": paper.params_m or c["params"] / 1e6,
                "multiply-adds (M)": c["macs"] / 1e6, "CIFAR-10 error (%)": paper.error,
                "error as printed (%)": figures_view.printed_error(spec), "kind": paper.error_kind,
                "source": paper.source, "chosen": True}
        points = pd.concat([points, pd.DataFrame([mine])], ignore_index=True)
axes = [("params (M)", _("parameters (M, log scale)"))]
if with_macs:
    axes.append(("multiply-adds (M)", _("multiply-adds per image (M, log scale)")))
for col, (measure, title) in zip(st.columns(len(axes)), axes):
    col.altair_chart(scatter(points, measure, title), width="stretch")
st.caption(_("Each point is one preset's published figure (best, mean or median as its paper gives; hover for the "
             "kind and source). Chosen designs are large and named; a design of your own appears when a paper's "
             "table has exactly that design."))
