"""Train page: pick a design and a recipe, start a run in its own worker process, and watch it learn.

The page holds no run state: every run lives in the run store (explorer.training.runs) and trains in a detached worker
process, so a reload, a page switch or an app restart finds it again (the run id is in the URL, `?run=`).
"""

from __future__ import annotations

import streamlit as st
import torch

from explorer import PRESETS, ArchSpec, SpecError
from explorer.i18n import N_, _, ngettext, particles
from explorer.models.cost import check_budget, cost
from explorer.models.presets import preset_name
from explorer.models.spec import FAMILY_LABELS
from explorer.training.cifar import CIFAR, DataError, data_dir, download_cifar
from explorer.training.datasets import check_fits, dataset_info, fits, follow_classes
from explorer.training.capacity import check_run
from explorer.training.queue import canonical_device, dispatch, launch, max_concurrent
from explorer.training.recipe import MAX_TRAIN_SIZE, Recipe, paper_recipe
from explorer.training.runs import RunStore
from explorer.training.speed import measured_rate
from pages import say, use_app_navigation
from pages.train_views.access import session_owner, teacher_panel
from pages.train_views.common import (MIN_TRAIN_SIZE, TRAIN_SIZE_STEP, cifar_problem, cpu_epoch_seconds,
                                      cpu_startup_seconds, forget_cifar_checks, hide_paths, open_store,
                                      quick_train_size)
from pages.train_views.runs import (dataset_label, duration, overlay, rerun_when_changed, runs_table, show_run,
                                    split_text, status_text)

use_app_navigation()

REFRESH_SECONDS = 1.5  # how often the live panel re-reads the store while a run is queued or running
# Every dataset is 32x32 images, so one list of presets serves all; the class count follows the dataset.
CIFAR_PRESETS = [name for name, spec in PRESETS.items() if fits(spec, "cifar10")]
DEVICE = canonical_device("cuda" if torch.cuda.is_available() else "cpu")  # where this app's workers train
CPU_EPOCHS = 3  # a CPU run's default: each epoch also tests on 10,000 images, which a short run cannot hide
# The design's sources: the values stay English (the session and the logic keep them), the labels translate.
SOURCES = {"From the Build page": N_("From the Build page"), "Preset": N_("Preset"), "Paste JSON": N_("Paste JSON")}


@st.cache_data(ttl=60, show_spinner=False)
def gpu_rate(root: str, device: str) -> float | None:
    return measured_rate(RunStore(root), device)  # from this GPU's earlier runs; re-read once a minute


def load_run_setup(run_id: str | None) -> None:
    """A session opened by a run's link (`?run=`) starts from that run's design and recipe, not the defaults:
    the setup widgets' values are put in the session before they are drawn, on the session's first render only
    (the run the page picks by itself later, or one picked in the Run selector, leaves the setup as it is)."""
    if "train_loaded" in st.session_state:
        return
    st.session_state["train_loaded"] = run_id
    if not run_id or (run := store.get(run_id)) is None:
        return
    try:
        spec, recipe = ArchSpec.from_dict(run.spec), Recipe.from_dict(run.recipe)
    except SpecError:  # stored by an older version: the defaults
        return
    name = preset_name(spec) or preset_name(spec.replace(num_classes=10))
    if name in CIFAR_PRESETS:
        st.session_state.update(train_source="Preset", train_preset=name)
    else:
        st.session_state.update(train_source="Paste JSON", train_json=spec.to_json())
    fam = spec.family
    st.session_state.update({
        "train_dataset": recipe.dataset, "train_epochs": recipe.epochs, f"train_batch_{fam}": recipe.batch_size,
        f"train_lr_{fam}": recipe.lr, f"train_schedule_{fam}": recipe.schedule, "train_seed": recipe.seed,
        "train_split": recipe.split, "train_size": recipe.train_size, "train_size_suggested": None,
        f"train_wd_{fam}": recipe.weight_decay, f"train_momentum_{fam}": recipe.momentum,
        f"train_nesterov_{fam}": recipe.nesterov, f"train_warmup_{fam}": recipe.warmup,
        f"train_warmup_steps_{fam}": recipe.warmup_steps, "train_compile": recipe.compile})
    st.session_state["train_notice"] = _("The setup shows the design and recipe of {run}.").format(run=run_id)


# -- setup -----------------------------------------------------------------------------------------------------

def choose_design() -> ArchSpec | None:
    built = st.session_state.get("design")
    sources = (["From the Build page"] if isinstance(built, ArchSpec) else []) + ["Preset", "Paste JSON"]
    source = st.radio(_("Design"), sources, horizontal=True, key="train_source", format_func=lambda v: _(SOURCES[v]))
    if source == "From the Build page":
        name = preset_name(built) or _("{family}, depth {depth}").format(family=_(FAMILY_LABELS[built.family]),
                                                                        depth=built.depth)
        st.caption(_("The design from the Build page: {name}.").format(name=name))
        spec = built
    elif source == "Preset":
        spec = PRESETS[st.selectbox(_("Preset"), CIFAR_PRESETS, index=CIFAR_PRESETS.index("resnet20"),
                                    key="train_preset")]
    else:
        text = st.text_area(_("Spec JSON (as the Build page's 'Download spec' gives it)"), height=150,
                            value=PRESETS["resnet20"].to_json(), key="train_json")
        try:
            spec = ArchSpec.from_json(text)
        except SpecError as err:
            say("error", _("This design is not valid. {}"), err)
            return None
    try:
        c = check_budget(spec)
    except SpecError as err:
        say("error", "{}", err)
        return None
    st.caption(_("{params}M parameters, {macs}M multiply-adds per image, {layers} weight layers.").format(
        params=f"{c.params / 1e6:.2f}", macs=f"{c.macs / 1e6:,.0f}", layers=c.weight_layers))
    return spec


def choose_dataset() -> tuple[str, bool]:
    """The dataset, and whether its files are here (Start stays off until they are: a run would only fail)."""
    dataset = st.radio(_("Dataset"), ["synthetic", *CIFAR], format_func=dataset_label, horizontal=True,
                       key="train_dataset")
    if dataset == "synthetic":
        st.caption(dataset_info("synthetic").description)
        return dataset, True
    files, folder = CIFAR[dataset], data_dir()
    problem = cifar_problem(dataset, str(folder))
    if problem is None:
        st.caption(particles(_("{dataset} is on this server (checksums match the published ones). {description}")
                             .format(dataset=files.label, description=dataset_info(dataset).description)))
        return dataset, True
    say("warning", _("{}. Start stays off until the files are here; Synthetic shapes needs no download."),
        problem.rstrip("."))
    if st.button(_("Download {dataset} ({size} MB)").format(dataset=files.label, size=files.size_mb),
                 key=f"train_download_{dataset}"):
        with st.spinner(particles(_("Downloading and checking {dataset} ...").format(dataset=files.label))):
            try:
                download_cifar(dataset, folder)
            except DataError as err:
                say("error", "{}", hide_paths(str(err), str(folder)))
            else:
                forget_cifar_checks()
                st.rerun()
    return dataset, False


def choose_recipe(spec: ArchSpec, dataset: str) -> Recipe | None:
    """The family's paper recipe with the user's changes. Widget keys carry the family, so that switching
    from a ResNet to a Shake-Shake design shows Shake-Shake's defaults."""
    base = paper_recipe(spec)
    fam = spec.family
    c1, c2 = st.columns(2)
    epochs = c1.number_input(_("Epochs"), 1, 2000, 5 if DEVICE != "cpu" else CPU_EPOCHS, key="train_epochs")
    batch_size = c2.number_input(_("Batch size"), 1, 4096, base.batch_size, key=f"train_batch_{fam}")
    lr = c1.number_input(_("Learning rate"), 0.0001, 10.0, base.lr, format="%.4f", key=f"train_lr_{fam}")
    schedules = ["step", "cosine", "constant"]
    schedule = c2.selectbox(_("Schedule"), schedules, schedules.index(base.schedule), key=f"train_schedule_{fam}")
    seed = c1.number_input(_("Seed"), 0, 2**31 - 1, 0, key="train_seed")
    with st.expander(_("More settings")):
        m1, m2 = st.columns(2)
        split = m1.radio(_("Split"), ["50k/10k", "45k/5k"], key="train_split",
                         help=_("50k/10k: train, then test. 45k/5k: the papers' train/validation split."))
        suggest_train_size(spec, dataset, split, epochs)
        train_size = m2.number_input(_("Train on the first N images (0 = all)"), 0, MAX_TRAIN_SIZE,
                                     step=TRAIN_SIZE_STEP, key="train_size",
                                     help=_("On a CPU the page starts with a size that trains in a few minutes "
                                            "here; 0 trains on the whole split."))
        weight_decay = m1.number_input(_("Weight decay"), 0.0, 0.1, base.weight_decay, format="%.5f",
                                       key=f"train_wd_{fam}")
        momentum = m2.number_input(_("Momentum"), 0.0, 0.99, base.momentum, key=f"train_momentum_{fam}")
        nesterov = m1.checkbox(_("Nesterov momentum"), base.nesterov, key=f"train_nesterov_{fam}")
        warmup = m2.checkbox(_("Warm-up (lr/10 until train error < 80%)"), base.warmup, key=f"train_warmup_{fam}")
        warmup_steps = m2.number_input(_("Linear warm-up steps (0 = off)"), 0, 100_000, base.warmup_steps, step=10,
                                       key=f"train_warmup_steps_{fam}",
                                       help=_("The learning rate ramps up over the first N steps; it avoids the "
                                              "loss spike deep nets can have in their first steps."))
        compile_ = m1.checkbox(_("torch.compile (GPU; minutes of compiling first)"), False, key="train_compile")
    changes = dict(dataset=dataset, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule, seed=seed,
                   split=split, train_size=train_size, weight_decay=weight_decay, momentum=momentum,
                   nesterov=nesterov, warmup=warmup, warmup_steps=warmup_steps, compile=compile_)
    if 0 < train_size < MIN_TRAIN_SIZE:
        st.error(_("Train on at least {min} images (or 0 for all of them): {n} give a curve that says nothing.")
                 .format(min=f"{MIN_TRAIN_SIZE:,}", n=f"{train_size:,}"))
        return None
    try:
        return Recipe.from_dict({**base.to_dict(), **changes})
    except SpecError as err:
        say("error", _("This recipe is not valid. {}"), err)
        return None


def suggest_train_size(spec: ArchSpec, dataset: str, split: str, epochs: int) -> None:
    """On a CPU, the train size starts at one that ends in a few minutes here (common.quick_train_size), and
    follows the design and epochs until the user types another; computed once per setup, so it holds still."""
    info = dataset_info(Recipe(dataset=dataset, split=split))
    key = (spec.to_json(), dataset, split, epochs)
    quick = st.session_state.setdefault("train_quick", {})
    if key not in quick:
        quick[key] = (quick_train_size(key[0], epochs, info.eval_size, info.train_size) if DEVICE == "cpu" else 0)
    before = st.session_state.get("train_size_suggested", "none yet")
    if "train_size" not in st.session_state or st.session_state["train_size"] == before:
        st.session_state["train_size"] = quick[key]
    if before is not None:  # None: the setup came from a run's link and keeps its train size
        st.session_state["train_size_suggested"] = quick[key]


def show_device(spec: ArchSpec, recipe: Recipe) -> bool:
    """Where and how long the run would train; False (with the reason) when it is over this device's memory or
    cost bound (explorer.training.capacity), so Start stays off."""
    try:
        check_run(spec, recipe, DEVICE)
    except SpecError as err:  # limits.Refused: the numbers and what to change
        say("error", _("This run cannot train here. {}"), err)
        return False
    images = dataset_info(recipe).train_size
    if DEVICE != "cpu":
        rate = gpu_rate(str(store.root), DEVICE)
        took = (_("about **{time} in all** at the speed of its earlier runs").format(
                    time=duration(3 * cost(spec).macs * images * recipe.epochs / rate))
                if rate else _("no time estimate until a first run has trained on it"))
        st.success(_("Trains on the GPU: **{gpu}** (up to {n} run(s) at once; others wait in the queue): {images} "
                     "training images, {took}.").format(gpu=torch.cuda.get_device_name(0), n=max_concurrent(),
                                                        images=f"{recipe.epochs * images:,}", took=took))
        return True
    n_threads = torch.get_num_threads()
    threads = ngettext("{n} thread", "{n} threads", n_threads).format(n=n_threads)
    info = dataset_info(recipe)
    epoch = cpu_epoch_seconds(spec.to_json(), images, info.eval_size)
    total = cpu_startup_seconds() + epoch * recipe.epochs
    st.warning(_("No GPU on this machine: this run will train on the **CPU** ({threads}), roughly **{total} in "
                 "all** ({epoch} per epoch of {images} images and the {eval_images} {split} images, at this "
                 "machine's load now). For a quick look, train on fewer images (More settings) or a shallower "
                 "design.").format(threads=threads, total=duration(total), epoch=duration(epoch),
                                   images=f"{images:,}", eval_images=f"{info.eval_size:,}",
                                   split=split_text(info.eval_name)))
    return True


def start(spec: ArchSpec, recipe: Recipe) -> None:
    """Queue the run (or attach to an identical one) and show it; a refusal is said here, and nothing queued."""
    try:
        run_id, created = store.request(spec, recipe, owner=me)
        launch(store, run_id, DEVICE)  # a worker only when a slot is free; else it waits as a row
    except SpecError as err:  # limits.Refused: the queue is full (this session's or the server's)
        say("error", _("The run was not queued: {}"), err)
        return
    except OSError as err:  # StoreError: a full or read-only disk
        say("error", _("The run could not be started: {}"), err)
        return
    st.query_params["run"] = run_id
    st.session_state["train_pick"] = run_id
    if not created:
        st.session_state["train_notice"] = _(
            "An identical run (same design, recipe, seed and dataset) already exists, so this one is shown "
            "instead of training again: {run}.").format(run=run_id)


# -- the page ----------------------------------------------------------------------------------------------------

store = open_store()
if store is None:
    st.stop()
me = session_owner()
load_run_setup(st.query_params.get("run"))
dispatch(store, DEVICE)  # a slot freed by a worker that died: start the next queued run's worker
st.title(_("Train"))
st.write(_("Train a design and watch it learn. Each run trains in its own process, so it keeps going when you "
         "reload, switch pages or close the browser; come back with this page's link, which also lets you stop "
         "your runs (`?owner=`). To show a run to others, share a link with only `?run=` and the run's id."))

setup, live = st.columns([2, 3], gap="large")
with setup:
    st.subheader(_("Setup"))
    spec = choose_design()
    dataset, data_ready = choose_dataset()
    if spec is not None:
        spec, note = follow_classes(spec, dataset)  # the class count follows the dataset; the page says so
        if note:
            st.info(note)
        try:
            check_fits(spec, dataset)
        except SpecError as err:
            say("error", _("This design cannot train on this dataset. {}"), err)
            spec = None
    recipe = choose_recipe(spec, dataset) if spec is not None else None
    fits_here = spec is not None and recipe is not None and show_device(spec, recipe)
    if st.button(_("Start training"), type="primary", disabled=not (fits_here and data_ready), key="train_start"):
        start(spec, recipe)
    teacher = teacher_panel()

runs = store.list_runs(limit=200)
with live:
    if notice := st.session_state.pop("train_notice", None):
        st.info(notice)
    ids = [r.id for r in runs]
    current = st.query_params.get("run")
    if current in ids and st.session_state.get("train_pick") not in ids:
        st.session_state["train_pick"] = current
    if ids:
        if current and current not in ids:
            say("warning", _("There is no run {} in this store; showing the newest run instead."), repr(current))
        picked = st.selectbox(_("Run"), ids, key="train_pick",
                              format_func=lambda i: f"{i} ({status_text(runs[ids.index(i)].status)})")
        if picked != current:
            st.query_params["run"] = picked
        run = runs[ids.index(picked)]
        listed = {r.id: str(r.status) for r in runs if r.is_active}  # the statuses the Run selector shows
        st.fragment(run_every=REFRESH_SECONDS if run.is_active else None)(show_run)(
            store, picked, me, teacher, listed.get(picked, str(run.status)))
        others = {i: status for i, status in listed.items() if i != picked}
        st.fragment(run_every=REFRESH_SECONDS * 2 if others else None)(rerun_when_changed)(store, others)
    elif current:
        say("warning", _("There is no run {} here; start one on the left."), repr(current))
    else:
        st.info(_("No runs yet. Choose a design and press **Start training**."))

st.subheader(_("Runs"))
if runs:
    st.caption(_("Select rows to overlay their curves."))
    selected = runs_table(store, runs, me)
    if selected:
        overlay(store, selected)
else:
    st.caption(_("No runs yet."))
