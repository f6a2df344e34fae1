"""What the lessons that train share: the class's short recipe, queue buttons, run progress, source captions."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from explorer import SpecError
from explorer.i18n import N_, _, particles
from explorer.training.datasets import dataset_info
from explorer.lessons import charts, classruns
from explorer.lessons.measured import MeasuredDataError, measured
from explorer.training.runs import RunStore, StoreError, default_root
from explorer.models.urls import spec_to_params
from pages import plain, say


def text_table(frame: pd.DataFrame, formats: dict | None = None, precision: int | None = None, na_rep: str = "–"):
    """`frame` for st.table, which renders Markdown in its cells: every text cell (names, sources, the asset
    files' and the run store's text) is shown literally (pages.plain), numbers take `formats` or `precision`,
    missing values show as `na_rep`, no index. The data keep their values; only what is displayed is escaped.
    st.dataframe needs none of this: its cells are never Markdown."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c]) and c not in (formats or {})]
    styler = frame.style.format(formats or {}, precision=precision, na_rep=na_rep)
    if text:
        styler = styler.format(lambda v: plain(v) if isinstance(v, str) else v, subset=text, na_rep=na_rep)
    return styler.hide(axis="index")


def source_caption(text: str) -> None:
    say("caption", _("Source: {}"), text)


def build_link(spec) -> str:
    return "/build?" + urlencode(spec_to_params(spec))


def store() -> RunStore:
    """The run store; a repair's notice is shown once per session, as plain text, and an unusable store stops."""
    try:
        found = RunStore(default_root())
    except StoreError as err:
        say("error", _("The run store cannot be used: {}"), err)
        st.stop()
    if found.notice and st.session_state.get("store_notice") != found.notice:
        st.session_state["store_notice"] = found.notice
        say("warning", "{}", found.notice)
    return found


def class_recipe(key: str):
    """The short recipe, with its length adjustable; everyone who keeps the defaults shares the same runs."""
    with st.expander(_("Run length (the defaults let the whole class share the same runs)")):
        c1, c2 = st.columns(2)
        epochs = c1.select_slider(_("Epochs"), [4, 8, 15, 30, 60], value=8, key=f"{key}_epochs")
        images = c2.select_slider(_("Training images"), [5_000, 10_000, 25_000, 50_000], value=10_000,
                                  key=f"{key}_images", format_func="{:,}".format)
    return classruns.short_recipe(epochs=epochs, train_size=images)


def data_note(recipe) -> None:
    info = dataset_info(recipe)
    schedule = _("cosine to 0") if recipe.schedule == "cosine" else _("divided by 10 at 50% and 75%")
    text = _("Short-run recipe: {epochs} epochs on {images} images of {dataset}, batch {batch}, lr {lr} {schedule}"
             ).format(epochs=recipe.epochs, images=f"{info.train_size:,}", dataset=info.label,
                      batch=recipe.batch_size, lr=recipe.lr, schedule=schedule)
    text += (_(", linear warm-up over the first {steps} steps.").format(steps=recipe.warmup_steps)
             if recipe.warmup_steps else ".")
    st.caption(text + ("" if not info.synthetic else _(" Synthetic errors are not comparable with the papers' "
                                                         "CIFAR-10.")))


def queue_buttons(label: str, designs: dict, recipe, key: str) -> None:
    if st.button(label, type="primary", key=key):
        try:
            queued = classruns.queue(store(), designs, recipe)
        except (SpecError, OSError) as err:
            say("error", _("Could not queue the runs: {}"), err)
            return
        reused = [q.label for q in queued if not q.created]
        st.session_state.setdefault("lesson_runs", {}).update({q.label: q.run_id for q in queued})
        new = len(queued) - len(reused)
        reusing = (particles(_("; reusing the identical runs of {nets}.").format(nets=", ".join(reused))) if reused
                   else ".")
        st.success(_("Queued {n} new run(s)").format(n=new) + reusing)


def known_runs(designs: dict, recipe) -> dict[str, str]:
    """Runs of these designs with this recipe that exist in the store (whoever queued them)."""
    found = {}
    for label, spec in designs.items():
        run_id = classruns.find(store(), spec, recipe)
        if run_id:
            found[label] = run_id
    return found


# The status table's headers and run states, shown translated (the data keep the English names).
COLUMNS = {"net": N_("net"), "run": N_("run"), "status": N_("status"), "epochs": N_("epochs"),
           "train error (%)": N_("train error (%)"), "test error (%)": N_("test error (%)"),
           "paper (%)": N_("paper (%)")}
RUN_STATUS = {"queued": N_("queued"), "running": N_("running"), "finished": N_("finished"),
              "diverged": N_("diverged"), "failed": N_("failed"), "cancelled": N_("cancelled"),
              "missing": N_("missing")}


def progress(runs: dict[str, str], published: dict[str, str] | None = None, key: str = "curves") -> None:
    """Status of the class's runs, with the paper's number beside each where there is one."""
    if not runs:
        st.info(_("No runs yet: press the button above (the whole class shares the same runs)."))
        return
    status = classruns.status_table(store(), runs)
    if published:
        status["paper (%)"] = [published.get(label, "-") for label in status["net"]]
    status["status"] = status["status"].map(lambda v: _(RUN_STATUS[v]) if v in RUN_STATUS else v)
    shown = status.rename(columns=lambda c: _(COLUMNS[c]) if c in COLUMNS else c)
    errors = {_(COLUMNS["train error (%)"]): "{:.1f}", _(COLUMNS["test error (%)"]): "{:.1f}"}
    st.dataframe(shown.style.format(errors, na_rep="–"), hide_index=True, width="stretch")
    frame = classruns.curves(store(), runs)
    if len(frame):
        log = st.toggle(_("Log error axis"), key=f"{key}_log",
                        help=_("Spreads out the nets that all end near {zero} error, e.g. ResNet-20 against ResNet-56."
                               ).format(zero="0%"))  # "0% e" in _() would read as a %-format
        st.altair_chart(charts.curve_chart(frame, log=log), width="stretch")
        st.caption(_("Thin dashed lines: training error. Bold lines: test error (as in He et al. 2015, Fig. 6)."))


def reference_run(name: str, label: str) -> None:
    """The app's own run of this lesson's defaults (assets/measured.json), to compare the class's run with."""
    try:
        found = measured(name)
    except (MeasuredDataError, KeyError) as err:
        say("warning", _("The reference run is not available: {}"), err)
        return
    with st.expander(label):
        st.table(text_table(found.table, precision=1))
        source_caption(found.source)
