"""Sweep page: a base design, one or two of its fields over a few values, seeds and a short recipe; one run per
point and seed through the run store, a progress view of the whole sweep, and the measured error against
parameters or multiply-adds beside the papers' points. The sweep is a file in the runs folder, so `?sweep=<id>`
finds it again after a reload or a restart (explorer.sweep)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
import torch

from explorer import PRESETS, ArchSpec, SpecError
from explorer import sweep as sw
from explorer.i18n import N_, _
from explorer.draw.colors import category_scale
from explorer.models.fields import SETTINGS
from explorer.models.spec import depth_choices
from explorer.training.capacity import check_run
from explorer.training.cifar import CIFAR, data_dir
from explorer.training.datasets import dataset_info, fits
from explorer.training.queue import canonical_device, dispatch, max_concurrent
from explorer.training.recipe import MAX_TRAIN_SIZE, Recipe, paper_recipe
from explorer.training.runs import RunStore
from pages import cached_cost, say, use_app_navigation
from pages.train_views.access import session_owner
from pages.train_views.common import cifar_problem, cpu_epoch_seconds, open_store
from pages.train_views.runs import dataset_label, duration

use_app_navigation()

REFRESH_SECONDS = 2.0  # how often the progress view re-reads the store while runs are queued or running
CIFAR_PRESETS = [name for name, spec in PRESETS.items() if fits(spec, "cifar10")]
DEVICE = canonical_device("cuda" if torch.cuda.is_available() else "cpu")
NONE = N_("(none)")  # a choice's value (English), shown as _(NONE)
STATE_COLORS = {"queued": "gray", "running": "blue", "finished": "green", "failed": "red"}


# -- setup -----------------------------------------------------------------------------------------------------

SOURCES = {"build": N_("From the Build page"), "preset": N_("Preset"), "json": N_("Paste JSON")}


def choose_base() -> ArchSpec | None:
    built = st.session_state.get("design")
    sources = (["build"] if isinstance(built, ArchSpec) else []) + ["preset", "json"]
    source = st.radio(_("Base design"), sources, format_func=lambda s: _(SOURCES[s]), horizontal=True,
                      key="sw_source")
    if source == "build":
        return built
    if source == "preset":
        return PRESETS[st.selectbox(_("Preset"), CIFAR_PRESETS, index=CIFAR_PRESETS.index("resnet20"),
                                    key="sw_preset")]
    text = st.text_area(_("Spec JSON (as the Build page's 'Download spec' gives it)"), height=120,
                        value=PRESETS["resnet20"].to_json(), key="sw_json")
    try:
        return ArchSpec.from_json(text)
    except SpecError as err:
        say("error", _("This design is not valid. {}"), err)
        return None


def suggested(base: ArchSpec, name: str) -> str:
    """A first list of values: for depth the base's and the next valid depths, else the base's own value."""
    if name == "depth":
        valid = depth_choices(base)[1]
        if base.depth in valid:
            i = valid.index(base.depth)
            return ", ".join(str(d) for d in valid[i:i + 5:2])
    value = getattr(base, name)
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def choose_axes(base: ArchSpec) -> list[tuple[str, str]]:
    names = sw.sweepable(base)

    def label(name: str) -> str:
        return _(NONE) if name == NONE else f"{_(SETTINGS[name].label)} ({name})"

    axes = []
    for i, default in enumerate(("depth", NONE)):
        options = names if i == 0 else [NONE, *[n for n in names if n != axes[0][0]]]
        index = options.index(default) if default in options else 0
        c1, c2 = st.columns([2, 3])
        name = c1.selectbox(_("Field {n}").format(n=i + 1), options, index=index, format_func=label,
                            key=f"sw_field{i}_{base.family}")
        if name == NONE:
            break
        values = c2.text_input(_("Values of {name} (comma-separated)").format(name=name), suggested(base, name),
                               key=f"sw_values{i}_{base.family}_{name}", max_chars=400)
        axes.append((name, values))
    return axes


def choose_recipe(base: ArchSpec) -> tuple[Recipe | None, tuple[int, ...], bool]:
    """(a short recipe from the family's paper one, the seeds, whether its data are here)."""
    dataset = st.radio(_("Dataset"), ["synthetic", *CIFAR], format_func=dataset_label, horizontal=True,
                       key="sw_dataset")
    ready = True
    if dataset != "synthetic" and (problem := cifar_problem(dataset, str(data_dir()))) is not None:
        say("warning", _("{} Download it on the Train page first."), problem)
        ready = False
    paper = paper_recipe(base)
    c1, c2, c3 = st.columns(3)
    epochs = c1.number_input(_("Epochs"), 1, 200, 2, key="sw_epochs")
    train_size = c2.number_input(_("Train on the first N images (0 = all)"), 0, MAX_TRAIN_SIZE, 2048, step=256,
                                 key="sw_train_size")
    batch_size = c3.number_input(_("Batch size"), 1, 4096, paper.batch_size, key=f"sw_batch_{base.family}")
    seeds = c1.number_input(_("Seeds per point"), 1, 5, 2, key="sw_seeds",
                            help=_("Each point trains once per seed (0, 1, ...): the chart's error bars."))
    lr = c2.number_input(_("Learning rate"), 0.0001, 10.0, paper.lr, format="%.4f", key=f"sw_lr_{base.family}")
    try:
        return Recipe.from_dict({**paper.to_dict(), "dataset": dataset, "epochs": epochs, "train_size": train_size,
                                 "batch_size": batch_size, "lr": lr}), tuple(range(int(seeds))), ready
    except SpecError as err:
        say("error", _("This recipe is not valid. {}"), err)
        return None, (), ready


def fits_here(sweep: sw.Sweep) -> bool:
    """Every point within this server's memory and cost bounds (limits.Refused says which is not), and the
    total time shown."""
    distinct = {p.spec: p for p in sweep.points}
    for spec, p in distinct.items():
        try:
            check_run(spec, p.recipe, DEVICE)
        except SpecError as err:
            say("error", _("The point {} cannot train here. {}"), p.label, err)
            return False
    images = dataset_info(sweep.recipe).train_size
    runs = len(sweep.points)
    text = _("**{runs} runs** ({points} points x {seeds} seeds), {images:,} training images in all").format(
        runs=runs, points=runs // len(sweep.seeds), seeds=len(sweep.seeds), images=runs * sweep.recipe.epochs * images)
    if DEVICE != "cpu":
        st.info(_("{text}, on the GPU ({n} run(s) at once; the rest wait in the queue).").format(
            text=text, n=max_concurrent()))
        return True
    seconds = sum(cpu_epoch_seconds(p.spec.to_json(), images) for p in sweep.points) * sweep.recipe.epochs
    st.info(_("{text}: roughly **{time}** on this CPU ({n} run(s) at once).").format(
        text=text, time=duration(seconds / max_concurrent()), n=max_concurrent()))
    return True


def start(store: RunStore, sweep: sw.Sweep) -> None:
    try:
        sweep, created, waiting = sw.submit(store, sweep, device=DEVICE)
    except SpecError as err:
        say("error", _("The sweep was not queued: {}"), err)
        return
    except OSError as err:
        say("error", _("The sweep could not be started: {}"), err)
        return
    st.query_params["sweep"] = sweep.id
    st.session_state["sw_pick"] = sweep.id
    st.session_state["sw_notice"] = (created, sum(p.run_id is not None for p in sweep.points) - created)


# -- one sweep -------------------------------------------------------------------------------------------------

def chart(results: pd.DataFrame, fields: tuple[str, ...], measure: str) -> alt.LayerChart:
    """Mean final test error against cost, an error bar over seeds, and the papers' points for the same designs."""
    data = results.copy()
    data["group"] = data[fields[1]].astype(str) if len(fields) > 1 else fields[0]
    data["low"] = data["error mean (%)"] - data["error std (%)"].fillna(0)
    data["high"] = data["error mean (%)"] + data["error std (%)"].fillna(0)
    low, high = data[measure].min(), data[measure].max()
    x = alt.X(measure, scale=alt.Scale(type="log", domain=[low / 1.25, high * 1.25], nice=False),
              title=_("{measure}, log scale").format(measure=_(measure)))
    tooltip = ["point", "preset", "finished", alt.Tooltip("error mean (%)", format=".2f"),
               alt.Tooltip("error std (%)", format=".2f"), alt.Tooltip(measure, format=".3g")]
    measured = alt.Chart(data.dropna(subset=["error mean (%)"]))
    # Every planned group's colour is fixed before its first result arrives (explorer.draw.colors).
    color = alt.Color("group", title=fields[1] if len(fields) > 1 else None,
                      scale=alt.Scale(**category_scale(dict.fromkeys(data["group"]))),
                      legend=alt.Legend(orient="bottom") if len(fields) > 1 else None)
    layers = [measured.mark_rule().encode(x=x, y=alt.Y("low", title=_("test error (%)"), scale=alt.Scale(zero=False)),
                                          y2="high", color=color),
              measured.mark_line(point=True).encode(x=x, y="error mean (%)", color=color, tooltip=tooltip)]
    paper = data.dropna(subset=["published error (%)"])
    if len(paper):
        layers.append(alt.Chart(paper).mark_point(shape="triangle-up", size=120, filled=True, color="black").encode(
            x=x, y="published error (%)",
            tooltip=["point", "preset", "published error (%)", "published kind", "published source"]))
    return alt.layer(*layers).properties(height=360)


MEASURES = {"params (M)": N_("params (M)"), "multiply-adds (M)": N_("multiply-adds (M)")}  # column -> label


def show_sweep(store: RunStore, sweep_id: str) -> None:
    try:
        sweep = sw.load(store.root, sweep_id)
    except KeyError as err:  # no such sweep, or a damaged file
        say("error", _("This sweep cannot be shown: {}"), err.args[0])
        return
    except SpecError as err:
        say("error", _("This sweep cannot be shown: {}"), err)
        return
    if any(p.run_id is None for p in sweep.points):  # the queue was full: queue the rest as places free
        try:
            sweep, _created, waiting = sw.submit(store, sweep, retry=False, device=DEVICE)
        except (SpecError, OSError) as err:
            waiting = str(err)
        if waiting:
            say("info", _("Some runs wait for a place in the queue: {}"), waiting)
    dispatch(store, DEVICE)
    table = sw.progress(store, sweep)
    counts = sw.counts(table)
    say("caption", "{}", sw.describe(sweep))
    st.progress(counts["finished"] / max(1, len(table)),
                text=sw.summary(counts))
    st.dataframe(sw.by_point(sweep, table), hide_index=True)
    with st.expander(_("Every run")):
        st.dataframe(table, hide_index=True, column_config={
            "test error (%)": st.column_config.NumberColumn(format="%.2f")})
    results = sw.results(store, sweep)
    if results["finished"].sum() == 0:
        st.caption(_("The chart appears when the first runs finish."))
    else:
        against = st.segmented_control(_("Error against"), list(MEASURES), default="params (M)",
                                       format_func=lambda m: _(MEASURES[m]), key="sw_against") or "params (M)"
        st.altair_chart(chart(results, sweep.fields, against), width="stretch")
        paper_note = (_("Black triangles: the papers' error for the same design (CIFAR, the full recipe). ")
                      if results["published error (%)"].notna().any() else "")
        st.caption(_("Lines: the mean final test error over the finished seeds, bars one standard deviation. "
                     "{paper_note}A short run, or the synthetic set, is not comparable with the papers' "
                     "figures.").format(paper_note=paper_note))
    st.download_button(_("Download the results (CSV)"), sw.to_csv(results), file_name=f"{sweep.id}.csv",
                       mime="text/csv", key="sw_csv")


def is_active(store: RunStore, sweep_id: str) -> bool:
    """Whether some of the sweep's runs are still queued or running (the view then refreshes itself)."""
    try:
        return not sw.done(sw.progress(store, sw.load(store.root, sweep_id)))
    except (KeyError, SpecError):
        return False


# -- the page --------------------------------------------------------------------------------------------------

store = open_store()
if store is None:
    st.stop()
me = session_owner()
st.title(_("Sweep"))
st.write(_("Train one design over a few values of one or two of its settings, a few seeds each, and see the error "
           "against the cost beside the papers' points. Every run goes through the same queue as the Train page; a "
           "run identical to one already trained is reused, not trained again."))

setup, view = st.columns([2, 3], gap="large")
with setup:
    st.subheader(_("Setup"))
    base = choose_base()
    planned = None
    if base is not None:
        try:
            cached_cost(base.to_json())
        except SpecError as err:
            say("error", "{}", err)
            base = None
    if base is not None:
        axes = choose_axes(base)
        recipe, seeds, ready = choose_recipe(base)
        if recipe is not None:
            try:
                planned = sw.plan(base, axes, seeds, recipe, owner=me)
            except SpecError as err:
                say("error", _("This sweep is not valid. {}"), err)
        ok = planned is not None and ready and fits_here(planned)
        if st.button(_("Start the sweep"), type="primary", disabled=not ok, key="sw_start"):
            start(store, planned)

with view:
    if notice := st.session_state.pop("sw_notice", None):
        created, attached = notice
        st.success(_("{created} new run(s) queued, {attached} attached to identical runs already in the "
                     "store.").format(created=created, attached=attached))
    ids = sw.list_sweeps(store.root)
    current = st.query_params.get("sweep")
    if current in ids and st.session_state.get("sw_pick") not in ids:
        st.session_state["sw_pick"] = current
    if current and current not in ids:
        say("warning", _("There is no sweep {} in this store."), repr(current))
    if ids:
        picked = st.selectbox(_("Sweep"), ids, key="sw_pick")
        if picked != current:
            st.query_params["sweep"] = picked
        st.fragment(run_every=REFRESH_SECONDS if is_active(store, picked) else None)(show_sweep)(store, picked)
    else:
        st.info(_("No sweeps yet. Choose a base design, a field and its values, and press **Start the sweep**."))
