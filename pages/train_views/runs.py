"""The Train page's run views: one run's status, progress and curves, the runs table and the overlay chart."""

from __future__ import annotations

import time

import altair as alt
import pandas as pd
import streamlit as st

from explorer import SpecError
from explorer.draw.colors import category_scale
from explorer.draw.labels import log_axis
from explorer.i18n import N_, _, ngettext, pgettext
from explorer.training import events as ev
from explorer.training import packing, waiting
from explorer.training.datasets import dataset_info, steps_per_epoch
from explorer.training.events import RunStatus
from explorer.training.limits import may_stop, why_not_stoppable
from explorer.training.queue import cancel
from explorer.training.recipe import Recipe
from explorer.training.runs import Run, RunStore
from explorer.training.speed import measured_rate
from pages import plain, say
from pages.train_views.common import cpu_macs_per_second, cpu_startup_seconds, hide_paths

CHART_HEIGHT = 300  # pixels, legend included
STEP_CHART_EPOCHS = 10  # runs this short are charted per step (train) with test points per epoch
# The runs table's columns (the rows' keys stay English; the headers are translated where shown).
TABLE_COLUMNS = (N_("run"), N_("design"), N_("dataset"), N_("status"), N_("epochs"), N_("test error (%)"),
                 N_("best (%)"), N_("device"), N_("started by"), N_("started"))
STATUS_COLORS = {"queued": "gray", "running": "blue", "finished": "green", "diverged": "orange", "failed": "red",
                 "cancelled": "gray"}


def duration(seconds: float) -> str:
    """'45 s', '12 min', '2 h 5 min' in the current language."""
    if seconds < 90:
        return _("{seconds} s").format(seconds=f"{seconds:.0f}")
    if seconds < 5400:
        return _("{minutes} min").format(minutes=f"{seconds / 60:.0f}")
    return _("{hours} h {minutes} min").format(hours=f"{seconds // 3600:.0f}", minutes=f"{seconds % 3600 / 60:.0f}")


def epochs_text(n: int | None) -> str:
    """'1 epoch', '5 epochs' (a stored recipe may lack the field: '? epochs')."""
    return ngettext("{n} epoch", "{n} epochs", n if isinstance(n, int) else 2).format(n=n)


def status_text(status: object) -> str:
    """A run's status as the page shows it (the stored value stays English: logic and the URL compare it)."""
    texts = {"queued": pgettext("run status", "queued"), "running": pgettext("run status", "running"),
             "finished": pgettext("run status", "finished"), "diverged": pgettext("run status", "diverged"),
             "failed": pgettext("run status", "failed"), "cancelled": pgettext("run status", "cancelled")}
    return texts.get(str(status), str(status))


def split_text(split: str) -> str:
    """A split's name in charts and texts: "train", "test" or "validation" (datasets' eval_name)."""
    texts = {"train": pgettext("split", "train"), "test": pgettext("split", "test"),
             "validation": pgettext("split", "validation")}
    return texts.get(split, split)


def dataset_label(name: str) -> str:
    return dataset_info(name).label


def recipe_of(run: Run) -> Recipe | None:
    try:
        return Recipe.from_dict(run.recipe)
    except SpecError:  # stored by an older version with other fields
        return None


# -- one run -----------------------------------------------------------------------------------------------------

def curves(run: Run, table: pd.DataFrame, by_step: bool) -> pd.DataFrame:
    """Long-form loss and error (%) per split: train per step (or per epoch), test/validation per epoch."""
    recipe = recipe_of(run)
    test_name = split_text(dataset_info(recipe).eval_name if recipe else "test")
    train = table[table["kind"] == ("step" if by_step else "epoch")]
    tested = table[table["kind"] == "epoch"]
    parts = [(train, split_text("train"), "train_loss", "train_error"),
             (tested, test_name, "test_loss", "test_error")]
    long = pd.concat([pd.DataFrame({"step": rows["step"], "epoch": rows["epoch"], "split": split,
                                    "loss": rows[loss], "error (%)": 100 * rows[error]})
                      for rows, split, loss, error in parts])
    return long.sort_index(kind="stable").reset_index(drop=True)  # in the order the events came


def line_chart(df: pd.DataFrame, x: str, y: str, color: str, title: str, log: bool = False,
               names: list[str] | None = None, x_title: str | None = None, y_title: str | None = None) -> alt.Chart:
    """One line per `color` value. Colours are fixed by `names` (default: the values, "train" first), so a
    series keeps its colour when another appears (the first test point); axes show whole steps and epochs,
    3 significant digits, and a log axis ticks at 1, 2 and 5 times a power of ten. The axes' titles are
    `x_title` and `y_title` (default: the column names)."""
    if names is None:
        seen = list(dict.fromkeys(df[color]))
        first = split_text("train")
        names = sorted(seen, key=lambda name: name != first)  # stable: train first, the rest as they came
    if log:  # an early spike (BN statistics of a barely trained net) would flatten the rest
        positive = df.loc[df[y] > 0, y]
        domain, ticks = log_axis(positive.min(), positive.max()) if len(positive) else ([0.1, 10], [0.1, 1, 10])
        scale, axis = alt.Scale(type="log", domain=domain, nice=False), alt.Axis(values=ticks, format="~g")
    else:
        scale, axis = alt.Scale(zero=False), alt.Axis(format=".3~g")  # never "20.000000" for a single point
    return (alt.Chart(df, title=title).mark_line(point=len(df) < 60)
            .encode(x=alt.X(f"{x}:Q", title=x_title or x, axis=alt.Axis(format="d", tickMinStep=1)),
                    y=alt.Y(f"{y}:Q", title=y_title or y, scale=scale, axis=axis),
                    color=alt.Color(f"{color}:N", title=None, scale=alt.Scale(**category_scale(names)),
                                    legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=600)),
                    tooltip=[x, color, alt.Tooltip(f"{y}:Q", format=".3f")])
            .properties(padding={"left": 12, "right": 4, "top": 4, "bottom": 4}))


def show_progress(store: RunStore, run: Run) -> None:
    """The progress bar from the first logged step, with the phase the worker is in: loading (before any step),
    training, or testing after an epoch (its last step is logged, its epoch event not yet)."""
    recipe = recipe_of(run)
    last = store.last_metric(run.id)
    since = max(0.0, time.time() - run.started) if run.started else 0.0
    if recipe is None or last is None:
        st.progress(0.0, text=_("Loading the data and building the model ({time} since the worker started; the "
                                "first step shows here) ...").format(time=duration(since)))
        return
    info = dataset_info(recipe)
    per_epoch = max(1, steps_per_epoch(info.train_size, recipe.batch_size))
    total = per_epoch * recipe.epochs
    done = last.step
    step = store.last_metric(run.id, "step")
    if step and step.images_per_sec > 0:  # the training speed, plus each test left at about 3x it (no backward)
        tests_left = recipe.epochs - done // per_epoch + (last.kind == "step" and done % per_epoch == 0)
        left = ((total - done) * recipe.batch_size + tests_left * info.eval_size / 3) / step.images_per_sec
    else:
        left = since / max(done, 1) * (total - done)
    rate = _("{rate} images/s").format(rate=f"{step.images_per_sec:,.0f}") + " · " if step else ""
    if last.kind == "step" and done % per_epoch == 0:
        phase = _("testing on the {n} {split} images after epoch {epoch}").format(
            n=f"{info.eval_size:,}", split=split_text(info.eval_name), epoch=done // per_epoch)
    else:
        phase = _("training: epoch {epoch} of {epochs}").format(epoch=min(done // per_epoch + 1, recipe.epochs),
                                                                epochs=recipe.epochs)
    steps = _("step {done} of {total}").format(done=f"{done:,}", total=f"{total:,}")
    left_text = _("about {time} left").format(time=duration(left))
    st.progress(min(done / total, 1.0), text=f"{phase} · {steps} · {rate}{left_text}")


def show_end(store: RunStore, run: Run, table: pd.DataFrame) -> None:
    test_errors = table.loc[table["kind"] == "epoch", "test_error"]
    took = duration(run.ended - run.started) if run.started and run.ended else "?"
    if run.status == RunStatus.FINISHED:
        best = test_errors.min() if len(test_errors) else float("nan")
        final = test_errors.iloc[-1] if len(test_errors) else float("nan")
        st.success(_("Finished in {time}: final test error **{final}** (best {best}) after {epochs}.").format(
            time=took, final=f"{final:.2%}", best=f"{best:.2%}", epochs=epochs_text(len(test_errors))))
    elif run.status == RunStatus.DIVERGED:
        say("error", _("Diverged: {}"), run.error)  # the worker's message: stored in English
    elif run.status == RunStatus.FAILED:
        say("error", _("Failed: {}"), hide_paths(run.error or ""))
        log = store.log_path(run.id)
        if log.exists():
            with st.expander(_("The worker's log")):
                st.code(hide_paths(log.read_text(errors="replace")[-4000:]) or _("(empty)"), language=None)
    else:
        say("warning", _("Cancelled: {}."), run.error or _("stopped by the user"))


def rerun_when_changed(store: RunStore, listed: dict[str, str]) -> None:
    """Redraw the whole page once a run's status differs from the one the page listed (the Run selector, the runs
    table and Start would show it stale): a fragment, re-run every few seconds while runs are active."""
    for run_id, status in listed.items():
        run = store.get(run_id)
        if run is not None and str(run.status) != status:
            seen = st.session_state.setdefault("train_rerun_for", set())
            if (run_id, str(run.status)) not in seen:  # once per change: never a loop of reruns
                seen.add((run_id, str(run.status)))
                st.rerun()


def queue_wait_text(store: RunStore, run: Run) -> str:
    """A queued run's place in line and when it should start (explorer.training.waiting), timed on the CPU by
    this machine's speed now and on a GPU by its recent runs."""
    device = run.device or packing.default_device()
    cpu = device == "cpu"
    rate = cpu_macs_per_second() if cpu else measured_rate(store, device)
    start = cpu_startup_seconds() if cpu else waiting.WORKER_START_SECONDS
    wait = waiting.wait_of(store, run.id, rate, start_seconds=start, default_device=device)
    if wait is None:
        return _("Waiting in the queue. Its worker process starts when a slot is free.")
    return _("Waiting in the queue: {wait} Its worker process starts when a slot is free.").format(
        wait=waiting.describe(wait))


def show_run(store: RunStore, run_id: str, viewer: str | None = None, teacher: bool = False,
             listed: str | None = None) -> None:
    """One run's panel. Stop and Force stop only for its owner (`viewer`, an owner id) or the teacher. `listed`:
    the status the page showed in its Run selector; when the run's has changed, the whole page is redrawn.
    Every part of the panel has a fixed place (a container), so that a change of state never leaves a
    chart drawn twice while the page updates."""
    run = store.get(run_id)
    if run is None:
        say("warning", "There is no run {} here; start one on the left.", repr(run_id))
        return
    if listed is not None:
        rerun_when_changed(store, {run_id: listed})
    recipe = recipe_of(run)
    by_step = recipe is not None and recipe.epochs < STEP_CHART_EPOCHS
    # Long runs are charted per epoch: reading only epoch events keeps a 1.5 s refresh cheap.
    table = ev.frame(store.metrics(run_id, None if by_step else "epoch"))
    data = dataset_label(run.recipe.get("dataset", "synthetic"))
    st.subheader(f"{plain(run.id)} :{STATUS_COLORS.get(run.status, 'gray')}-badge[{status_text(run.status)}]")
    r = run.recipe
    size = (_("{n} images").format(n=f"{r['train_size']:,}") if r.get("train_size") else _("all images"))
    where = (_("{status} on {device}").format(status=status_text(run.status), device=run.device_name)
             if run.device_name else status_text(run.status))
    st.caption(plain(_("{design} on {dataset} ({size}) · {epochs}, batch {batch}, lr {lr} ({schedule}), seed {seed} "
                       "· {where}").format(design=run.label, dataset=data, size=size,
                                          epochs=epochs_text(r.get("epochs")), batch=r.get("batch_size"),
                                          lr=r.get("lr"), schedule=r.get("schedule"), seed=r.get("seed"),
                                          where=where)))
    state, controls, charts, downloads = st.container(), st.container(), st.container(), st.container()
    with state:
        if run.status == RunStatus.QUEUED and run.worker_pid is None:
            st.info(plain(queue_wait_text(store, run)))
        elif run.status == RunStatus.QUEUED:
            st.info(_("Starting its worker process ..."))
        elif run.status == RunStatus.RUNNING:
            show_progress(store, run)
        else:
            show_end(store, run, table)
    with controls:
        if run.is_active and not may_stop(run.owner, viewer, teacher):
            st.caption(why_not_stoppable(run.owner))
        elif run.is_active:
            c1, c2 = st.columns([1, 3])
            if c1.button(_("Stop"), key="train_stop", disabled=run.cancel_requested is not None):
                cancel(store, run_id)
                st.rerun(scope="fragment")
            if run.cancel_requested and time.time() - run.cancel_requested > 10:
                if c2.button(_("Force stop (kill the worker)"), key="train_force_stop"):
                    cancel(store, run_id, force_after=0)
                    st.rerun()
            elif run.cancel_requested:
                c2.caption(_("Stopping after the current step ..."))
    df = curves(run, table, by_step)
    with charts:
        if not df.empty:
            x = "step" if by_step else "epoch"
            x_title = _("step") if by_step else _("epoch")
            c1, c2 = st.columns(2)
            c1.altair_chart(line_chart(df, x, "loss", "split", _("Loss (log scale)"), log=True, x_title=x_title,
                                       y_title=_("loss")), width="stretch", height=CHART_HEIGHT)
            c2.altair_chart(line_chart(df, x, "error (%)", "split", _("Error (%)"), x_title=x_title,
                                       y_title=_("error (%)")), width="stretch", height=CHART_HEIGHT)
    with downloads:
        c1, c2 = st.columns(2)
        c1.download_button(_("Metrics (CSV)"), lambda: store.metrics_csv(run_id), f"{run_id}.csv", "text/csv",
                           key="train_csv", disabled=table.empty)
        checkpoint = store.checkpoint_path(run_id)
        if checkpoint.exists():
            c2.download_button(_("Checkpoint (state_dict, .pt)"), checkpoint.read_bytes, f"{run_id}.pt",
                               "application/octet-stream", key="train_checkpoint")


# -- all runs ----------------------------------------------------------------------------------------------------

def runs_table(store: RunStore, runs: list[Run], viewer: str | None = None) -> list[str]:
    rows = []
    for r in runs:
        whose = (_("you") if viewer is not None and r.owner == viewer else _("another session") if r.owner
                 else _("the class"))
        test_errors = ev.frame(store.metrics(r.id, "epoch"))["test_error"]
        rows.append({"run": r.id, "design": r.label, "dataset": dataset_label(r.recipe.get("dataset", "synthetic")),
                     "status": status_text(r.status),
                     "epochs": f"{len(test_errors)}/{r.recipe.get('epochs')}",
                     "test error (%)": round(100 * test_errors.iloc[-1], 2) if len(test_errors) else None,
                     "best (%)": round(100 * test_errors.min(), 2) if len(test_errors) else None,
                     "device": r.device_name or "", "started by": whose,
                     "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started or r.created))})
    shown = pd.DataFrame(rows).rename(columns={name: _(name) for name in TABLE_COLUMNS})
    picked = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun",
                          selection_mode="multi-row", key="train_runs_table")
    return [rows[i]["run"] for i in picked.selection.rows]


def run_name(run: Run) -> str:
    """A run in a legend: its design, its recipe's main settings and the end of its id (two runs may share the
    rest; the id starts with the design's label)."""
    r = run.recipe
    tail = run.id.removeprefix(f"{run.label}-")
    return _("{design} · {dataset}, {epochs}, lr {lr}, batch {batch}, seed {seed} · {tail}").format(
        design=run.label, dataset=dataset_label(r.get("dataset", "synthetic")), epochs=epochs_text(r.get("epochs")),
        lr=r.get("lr"), batch=r.get("batch_size"), seed=r.get("seed"), tail=tail)


def overlay(store: RunStore, run_ids: list[str]) -> None:
    runs = [run for run_id in run_ids if (run := store.get(run_id)) is not None]
    names = [run_name(run) for run in runs]
    frames = [ev.frame(store.metrics(run.id, "epoch")).assign(run=name) for run, name in zip(runs, names)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        st.caption(_("The selected runs have no finished epoch yet."))
        return
    df = pd.DataFrame({"run": df["run"], "epoch": df["epoch"], "test error (%)": 100 * df["test_error"],
                       "train loss": df["train_loss"]})
    c1, c2 = st.columns(2)
    c1.altair_chart(line_chart(df, "epoch", "test error (%)", "run", _("Test error (%)"), names=names,
                               x_title=_("epoch"), y_title=_("test error (%)")),
                    width="stretch", height=CHART_HEIGHT + 20 * len(names))
    c2.altair_chart(line_chart(df, "epoch", "train loss", "run", _("Train loss (log scale)"), log=True, names=names,
                               x_title=_("epoch"), y_title=_("train loss")),
                    width="stretch", height=CHART_HEIGHT + 20 * len(names))
