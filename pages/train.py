"""Train page: pick a design and a recipe, start a run in its own worker process, and watch it learn.

The page holds no run state: every run lives in the run store (explorer.training.runs) and trains in a detached worker
process, so a reload, a page switch or an app restart finds it again (the run id is in the URL, `?run=`).
"""

from __future__ import annotations

import time

import altair as alt
import pandas as pd
import streamlit as st

from pages import use_app_navigation
import torch

from explorer import PRESETS, ArchSpec, SpecError
from explorer.models.cost import check_budget
from explorer.models.presets import preset_name
from explorer.models.spec import FAMILY_LABELS
from explorer.training.data import DataError, cifar10_ready, data_dir, dataset_info, download_cifar10
from explorer.training.runs import Run, RunStore, default_root, launch, max_concurrent, pid_alive
from explorer.training.engine import Recipe, paper_recipe
from explorer.training.worker import estimate_epoch_seconds

use_app_navigation()

REFRESH_SECONDS = 1.5  # how often the live panel re-reads the store while a run is queued or running
CHART_HEIGHT = 300  # pixels, legend included
STEP_CHART_EPOCHS = 10  # runs this short are charted per step (train) with test points per epoch
CIFAR_PRESETS = [name for name, spec in PRESETS.items() if spec.stem == "cifar" and spec.num_classes == 10]
STATUS_COLORS = {"queued": "gray", "running": "blue", "finished": "green", "diverged": "orange", "failed": "red",
                 "cancelled": "gray"}


@st.cache_resource
def open_store(root: str) -> RunStore:
    """One store per runs folder per server start; opening it marks runs whose worker died as failed."""
    store = RunStore(root)
    store.recover()
    return store


@st.cache_data(ttl=600, show_spinner="Checking the CIFAR-10 files ...")
def cifar_status(folder: str) -> bool:
    return cifar10_ready(folder)  # MD5 of 170 MB: cached, and cleared after a download


@st.cache_data(show_spinner="Measuring this CPU ...")
def cpu_epoch_seconds(spec_json: str, images: int) -> float:
    return estimate_epoch_seconds(ArchSpec.from_json(spec_json), images, "cpu")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:.0f} min"


def plural(n: int | None, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def dataset_label(name: str) -> str:
    return dataset_info(name).label


def recipe_of(run: Run) -> Recipe | None:
    try:
        return Recipe.from_dict(run.recipe)
    except SpecError:  # stored by an older version with other fields
        return None


# -- setup -----------------------------------------------------------------------------------------------------

def choose_design() -> ArchSpec | None:
    built = st.session_state.get("design")
    sources = (["From the Build page"] if isinstance(built, ArchSpec) else []) + ["Preset", "Paste JSON"]
    source = st.radio("Design", sources, horizontal=True, key="train_source")
    if source == "From the Build page":
        name = preset_name(built)
        st.caption(f"The design from the Build page: {name or f'{FAMILY_LABELS[built.family]}, depth {built.depth}'}.")
        spec = built
    elif source == "Preset":
        spec = PRESETS[st.selectbox("Preset", CIFAR_PRESETS, index=CIFAR_PRESETS.index("resnet20"),
                                    key="train_preset")]
    else:
        text = st.text_area("Spec JSON (as the Build page's 'Download spec' gives it)", height=150,
                            value=PRESETS["resnet20"].to_json(), key="train_json")
        try:
            spec = ArchSpec.from_json(text)
        except SpecError as err:
            st.error(f"This design is not valid. {err}")
            return None
    if spec.stem != "cifar" or spec.num_classes != 10:
        st.error("Training here uses 32x32 images with 10 classes: choose a CIFAR design (stem 'cifar', "
                 f"num_classes 10); this one has stem {spec.stem!r} and num_classes {spec.num_classes}.")
        return None
    try:
        c = check_budget(spec)
    except SpecError as err:
        st.error(str(err))
        return None
    st.caption(f"{c.params / 1e6:.2f}M parameters, {c.macs / 1e6:,.0f}M multiply-adds per image, "
               f"{c.weight_layers} weight layers.")
    return spec


def choose_dataset() -> str:
    dataset = st.radio("Dataset", ["synthetic", "cifar10"], format_func=dataset_label, horizontal=True,
                       key="train_dataset")
    if dataset == "synthetic":
        st.caption(dataset_info("synthetic").description)
        return dataset
    folder = data_dir()
    if cifar_status(str(folder)):
        st.caption(f"CIFAR-10 is in `{folder}` (checksums match the published ones).")
        return dataset
    st.warning(f"CIFAR-10 is not in `{folder}` yet (set EXPLORER_DATA_DIR to use another folder).")
    if st.button("Download CIFAR-10 (170 MB)", key="train_download"):
        with st.spinner("Downloading and checking CIFAR-10 ..."):
            try:
                download_cifar10(folder)
            except DataError as err:
                st.error(f"{err}")
            else:
                cifar_status.clear()
                st.rerun()
    return dataset


def choose_recipe(spec: ArchSpec, dataset: str) -> Recipe | None:
    """The family's paper recipe with the user's changes. Widget keys carry the family, so that switching
    from a ResNet to a Shake-Shake design shows Shake-Shake's defaults."""
    base = paper_recipe(spec)
    fam = spec.family
    c1, c2 = st.columns(2)
    epochs = c1.number_input("Epochs", 1, 2000, 5, key="train_epochs")
    batch_size = c2.number_input("Batch size", 1, 4096, base.batch_size, key=f"train_batch_{fam}")
    lr = c1.number_input("Learning rate", 0.0001, 10.0, base.lr, format="%.4f", key=f"train_lr_{fam}")
    schedules = ["step", "cosine", "constant"]
    schedule = c2.selectbox("Schedule", schedules, schedules.index(base.schedule), key=f"train_schedule_{fam}")
    seed = c1.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed")
    with st.expander("More settings"):
        m1, m2 = st.columns(2)
        split = m1.radio("Split", ["50k/10k", "45k/5k"], key="train_split",
                         help="50k/10k: train, then test. 45k/5k: the papers' train/validation split.")
        train_size = m2.number_input("Train on the first N images (0 = all)", 0, 50_000, 0, step=256,
                                     key="train_size")
        weight_decay = m1.number_input("Weight decay", 0.0, 0.1, base.weight_decay, format="%.5f",
                                       key=f"train_wd_{fam}")
        momentum = m2.number_input("Momentum", 0.0, 0.99, base.momentum, key=f"train_momentum_{fam}")
        nesterov = m1.checkbox("Nesterov momentum", base.nesterov, key=f"train_nesterov_{fam}")
        warmup = m2.checkbox("Warm-up (lr/10 until train error < 80%)", base.warmup, key=f"train_warmup_{fam}")
        warmup_steps = m2.number_input("Linear warm-up steps (0 = off)", 0, 100_000, base.warmup_steps, step=10,
                                       key=f"train_warmup_steps_{fam}",
                                       help="The learning rate ramps up over the first N steps; it avoids the "
                                            "loss spike deep nets can have in their first steps.")
        compile_ = m1.checkbox("torch.compile (GPU; minutes of compiling first)", False, key="train_compile")
    changes = dict(dataset=dataset, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule, seed=seed,
                   split=split, train_size=train_size, weight_decay=weight_decay, momentum=momentum,
                   nesterov=nesterov, warmup=warmup, warmup_steps=warmup_steps, compile=compile_)
    try:
        return Recipe.from_dict({**base.to_dict(), **changes})
    except SpecError as err:
        st.error(f"This recipe is not valid. {err}")
        return None


def show_device(spec: ArchSpec, recipe: Recipe) -> None:
    if torch.cuda.is_available():
        st.success(f"Trains on the GPU: **{torch.cuda.get_device_name(0)}** "
                   f"(up to {max_concurrent()} run(s) at once; others wait in the queue).")
        return
    images = dataset_info(recipe).train_size
    threads = plural(torch.get_num_threads(), "thread")
    seconds = cpu_epoch_seconds(spec.to_json(), images)
    st.warning(f"No GPU on this machine: this run will train on the **CPU** ({threads}), "
               f"roughly **{duration(seconds)} per epoch** of {images:,} images. For a quick look, train on "
               "fewer images (More settings) or a shallower design.")


# -- one run -----------------------------------------------------------------------------------------------------

def curves(run: Run, events: list[dict], by_step: bool) -> pd.DataFrame:
    """Long-form loss and error (%) per split: train per step (or per epoch), test/validation per epoch."""
    recipe = recipe_of(run)
    test_name = dataset_info(recipe).eval_name if recipe else "test"
    rows = []
    for e in events:
        if by_step and e["kind"] == "step":
            rows.append({"step": e["step"], "epoch": e["epoch"], "split": "train", "loss": e["train_loss"],
                         "error (%)": 100 * e["train_error"]})
        if e["kind"] == "epoch":
            if not by_step:
                rows.append({"step": e["step"], "epoch": e["epoch"], "split": "train", "loss": e["train_loss"],
                             "error (%)": 100 * e["train_error"]})
            rows.append({"step": e["step"], "epoch": e["epoch"], "split": test_name, "loss": e["test_loss"],
                         "error (%)": 100 * e["test_error"]})
    return pd.DataFrame(rows, columns=["step", "epoch", "split", "loss", "error (%)"])


def line_chart(df: pd.DataFrame, x: str, y: str, color: str, title: str, log: bool = False) -> alt.Chart:
    # Log scale for losses: an early spike (BN statistics of a barely trained net) would flatten the rest.
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    return (alt.Chart(df, title=title).mark_line(point=len(df) < 60)
            .encode(x=alt.X(f"{x}:Q", title=x), y=alt.Y(f"{y}:Q", title=y, scale=scale),
                    color=alt.Color(f"{color}:N", title=None, legend=alt.Legend(orient="bottom"),
                                    scale=alt.Scale(scheme="category10")),  # distinct hues, not shades
                    tooltip=[x, color, alt.Tooltip(f"{y}:Q", format=".3f")])
            .properties(padding={"left": 12, "right": 4, "top": 4, "bottom": 4}))


def show_progress(store: RunStore, run: Run) -> None:
    recipe = recipe_of(run)
    last = store.last_metric(run.id)
    if recipe is None or last is None:
        st.progress(0.0, text="Loading the data and building the model ...")
        return
    n = dataset_info(recipe).train_size
    total = max(1, n // min(recipe.batch_size, n)) * recipe.epochs
    done = last["step"]
    since = max(0.0, time.time() - run.started) if run.started else last["elapsed"]
    left = since / max(done, 1) * (total - done)
    step = store.last_metric(run.id, "step")
    rate = f"{step['images_per_sec']:,.0f} images/s · " if step else ""
    st.progress(min(done / total, 1.0), text=f"epoch {done / total * recipe.epochs:.1f} of {recipe.epochs} · "
                                            f"step {done:,} of {total:,} · {rate}about {duration(left)} left")


def show_end(store: RunStore, run: Run, events: list[dict]) -> None:
    epochs = [e for e in events if e["kind"] == "epoch"]
    took = duration(run.ended - run.started) if run.started and run.ended else "?"
    if run.status == "finished":
        best = min(e["test_error"] for e in epochs) if epochs else float("nan")
        final = epochs[-1]["test_error"] if epochs else float("nan")
        st.success(f"Finished in {took}: final test error **{final:.2%}** (best {best:.2%}) "
                   f"after {plural(len(epochs), 'epoch')}.")
    elif run.status == "diverged":
        st.error(f"Diverged: {run.error}")
    elif run.status == "failed":
        st.error(f"Failed: {run.error}")
        log = store.log_path(run.id)
        if log.exists():
            with st.expander("The worker's log"):
                st.code(log.read_text(errors="replace")[-4000:] or "(empty)", language=None)
    else:
        st.warning(f"Cancelled: {run.error or 'stopped by the user'}.")


def show_run(store: RunStore, run_id: str) -> None:
    run = store.get(run_id)
    if run is None:
        st.warning(f"There is no run {run_id!r} in `{store.root}`; start one on the left.")
        return
    if run.is_active and run.worker_pid and not pid_alive(run.worker_pid):
        store.recover()  # its worker died while the app was up (killed, or crashed on start): say so now
        run = store.get(run_id)
    recipe = recipe_of(run)
    by_step = recipe is not None and recipe.epochs < STEP_CHART_EPOCHS
    # Long runs are charted per epoch: reading only epoch events keeps a 1.5 s refresh cheap.
    events = store.metrics(run_id, None if by_step else "epoch")
    data = dataset_label(run.recipe.get("dataset", "synthetic"))
    st.subheader(f"{run.id} :{STATUS_COLORS.get(run.status, 'gray')}-badge[{run.status}]")
    r = run.recipe
    st.caption(f"{run.label} on {data} · {plural(r.get('epochs'), 'epoch')}, batch {r.get('batch_size')}, "
               f"lr {r.get('lr')} ({r.get('schedule')}), seed {r.get('seed')} · {run.status}"
               + (f" on {run.device_name}" if run.device_name else ""))
    if run.status == "queued":
        ahead = store.queue_position(run_id)
        st.info(f"Waiting in the queue: {plural(ahead, 'run')} ahead of it on {run.device}." if run.device else
                "Starting its worker process ...")
    elif run.status == "running":
        show_progress(store, run)
    else:
        show_end(store, run, events)
    if run.is_active:
        c1, c2 = st.columns([1, 3])
        if c1.button("Stop", key="train_stop", disabled=run.cancel_requested is not None):
            store.cancel(run_id)
            st.rerun(scope="fragment")
        if run.cancel_requested and time.time() - run.cancel_requested > 10:
            if c2.button("Force stop (kill the worker)", key="train_force_stop"):
                store.cancel(run_id, force_after=0)
                st.rerun()
        elif run.cancel_requested:
            c2.caption("Stopping after the current step ...")
    df = curves(run, events, by_step)
    if not df.empty:
        x = "step" if by_step else "epoch"
        c1, c2 = st.columns(2)
        c1.altair_chart(line_chart(df, x, "loss", "split", "Loss (log scale)", log=True), width="stretch",
                        height=CHART_HEIGHT)
        c2.altair_chart(line_chart(df, x, "error (%)", "split", "Error (%)"), width="stretch", height=CHART_HEIGHT)
    c1, c2 = st.columns(2)
    c1.download_button("Metrics (CSV)", lambda: store.metrics_csv(run_id), f"{run_id}.csv", "text/csv",
                       key="train_csv", disabled=not events)
    checkpoint = store.checkpoint_path(run_id)
    if checkpoint.exists():
        c2.download_button("Checkpoint (state_dict, .pt)", checkpoint.read_bytes, f"{run_id}.pt",
                           "application/octet-stream", key="train_checkpoint")
    if st.session_state.get("train_was_active", {}).get(run_id) and not run.is_active:
        st.session_state["train_was_active"][run_id] = False
        st.rerun()  # the run just ended: refresh the whole page (runs table, Start button)
    st.session_state.setdefault("train_was_active", {})[run_id] = run.is_active


# -- all runs ----------------------------------------------------------------------------------------------------

def runs_table(store: RunStore, runs: list[Run]) -> list[str]:
    rows = []
    for r in runs:
        epochs = store.metrics(r.id, "epoch")
        rows.append({"run": r.id, "design": r.label, "dataset": dataset_label(r.recipe.get("dataset", "synthetic")),
                     "status": r.status,
                     "epochs": f"{len(epochs)}/{r.recipe.get('epochs')}",
                     "test error (%)": round(100 * epochs[-1]["test_error"], 2) if epochs else None,
                     "best (%)": round(100 * min(e["test_error"] for e in epochs), 2) if epochs else None,
                     "device": r.device_name or "",
                     "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started or r.created))})
    picked = st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", on_select="rerun",
                          selection_mode="multi-row", key="train_runs_table")
    return [rows[i]["run"] for i in picked.selection.rows]


def overlay(store: RunStore, run_ids: list[str]) -> None:
    frames = []
    for run_id in run_ids:
        for e in store.metrics(run_id, "epoch"):
            frames.append({"run": run_id, "epoch": e["epoch"], "test error (%)": 100 * e["test_error"],
                           "train loss": e["train_loss"]})
    if not frames:
        st.caption("The selected runs have no finished epoch yet.")
        return
    df = pd.DataFrame(frames)
    c1, c2 = st.columns(2)
    c1.altair_chart(line_chart(df, "epoch", "test error (%)", "run", "Test error (%)"), width="stretch",
                    height=CHART_HEIGHT)
    c2.altair_chart(line_chart(df, "epoch", "train loss", "run", "Train loss (log scale)", log=True),
                    width="stretch", height=CHART_HEIGHT)


# -- the page ----------------------------------------------------------------------------------------------------

store = open_store(str(default_root().resolve()))
st.title("Train")
st.write("Train a design and watch it learn. Each run trains in its own process, so it keeps going when you "
         "reload, switch pages or close the browser; come back with the link (`?run=...`).")

setup, live = st.columns([2, 3], gap="large")
with setup:
    st.subheader("Setup")
    spec = choose_design()
    dataset = choose_dataset()
    recipe = choose_recipe(spec, dataset) if spec is not None else None
    if spec is not None and recipe is not None:
        show_device(spec, recipe)
    if st.button("Start training", type="primary", disabled=recipe is None, key="train_start"):
        run_id, created = store.request(spec, recipe)
        launch(store, run_id)  # no-op when a live worker already owns it
        st.query_params["run"] = run_id
        st.session_state["train_pick"] = run_id
        if not created:
            st.session_state["train_notice"] = (
                f"An identical run (same design, recipe, seed and dataset) already exists, so this one is shown "
                f"instead of training again: {run_id}.")

runs = store.list_runs(limit=200)
with live:
    if notice := st.session_state.pop("train_notice", None):
        st.info(notice)
    ids = [r.id for r in runs]
    current = st.query_params.get("run")
    if current in ids and st.session_state.get("train_pick") not in ids:
        st.session_state["train_pick"] = current
    if ids:
        picked = st.selectbox("Run", ids, key="train_pick",
                              format_func=lambda i: f"{i} ({runs[ids.index(i)].status})")
        if picked != current:
            st.query_params["run"] = picked
        run = runs[ids.index(picked)]
        st.fragment(run_every=REFRESH_SECONDS if run.is_active else None)(show_run)(store, picked)
    elif current:
        st.warning(f"There is no run {current!r} in `{store.root}`; start one on the left.")
    else:
        st.info("No runs yet. Choose a design and press **Start training**.")

st.subheader("Runs")
if runs:
    st.caption("Select rows to overlay their curves.")
    selected = runs_table(store, runs)
    if selected:
        overlay(store, selected)
else:
    st.caption(f"No runs in `{store.root}` yet.")
