"""What the Train and Sweep pages share: the run store, the CIFAR check, and how long a run takes on this machine.

The CPU estimate is honest under load: the probe's rate (explorer.training.speed, measured once per process) is
scaled by the share of the cores a new worker would get now against the share the probe had, it is never faster
than the median speed of this machine's recent CPU runs, and it counts each epoch's evaluation and the worker's
start (loading the data, building the model).
"""

from __future__ import annotations

import os
import re

import streamlit as st

from explorer import ArchSpec
from explorer.i18n import _, language, using
from explorer.models.cost import cost
from explorer.training.cifar import DataError, check_cifar
from explorer.training.runs import RunStore, StoreError, default_root
from explorer.training.speed import measured_rate, training_macs_per_second
from pages import say

QUICK_RUN_SECONDS = 180.0  # a CPU run's default length: the train size is chosen so the run ends in about this
MIN_TRAIN_SIZE = 256  # fewer images give a curve of one or two points that says nothing (0 = all stays allowed)
TRAIN_SIZE_STEP = 256
STARTUP_CPU_SECONDS = 15.0  # a CPU worker's start on a quiet machine: importing torch, the data, the model


def open_store(root: str | None = None) -> RunStore | None:
    """The run store, checked at every render: a broken file is moved aside and rebuilt, and its notice shown as
    plain text. Reading it marks runs whose worker died as failed."""
    try:
        found = RunStore(root or str(default_root().resolve()))
    except StoreError as err:
        say("error", _("The run store cannot be used: {}"), hide_paths(str(err)))
        return None
    if found.notice:
        say("warning", "{}", hide_paths(found.notice))
    return found


def hide_paths(text: str, *folders: str) -> str:
    """The text without the server's folders (the runs and data folders, `folders`, any absolute path): users
    see no server paths. Web addresses stay."""
    for folder in sorted({*folders, str(default_root()), str(default_root().resolve()), os.path.expanduser("~")}
                         - {"", "/"}, key=len, reverse=True):
        text = re.sub(re.escape(folder.rstrip("/")) + r"[^\s:;,'\"`]*", _("the server's folder"), text)
    return re.sub(r"(?<![\w.:/~])/(?:[\w.+-]+/)+[\w.+-]*", _("the server's folder"), text)


def cifar_problem(name: str, folder: str) -> str | None:
    """What is wrong with the dataset's files (what to do about it, without the server's path), in the current
    language, or None when they are all there."""
    with st.spinner(_("Checking the CIFAR files ...")):  # shown only when it takes a while: on a cache miss
        return _cifar_problem(name, folder, language())


def forget_cifar_checks() -> None:
    """Check the files again at the next `cifar_problem` (after a download)."""
    _cifar_problem.clear()


@st.cache_data(ttl=600, show_spinner=False)
def _cifar_problem(name: str, folder: str, lang: str) -> str | None:
    """`cifar_problem`, cached per language: the message is text in `lang`."""
    with using(lang):
        try:
            check_cifar(name, folder)  # MD5 of 170 MB: cached, and cleared after a download
        except DataError as err:
            return hide_paths(str(err), folder).replace(_("the server's folder"), _("the server's data folder"))
    return None


@st.cache_resource(show_spinner=False)  # the spinner is worded at the call, in the session's language
def _cpu_probe() -> tuple[float, float]:
    """(training multiply-adds per second, the 1-minute load average while it was measured), once per server."""
    load = os.getloadavg()[0]
    return training_macs_per_second("cpu"), load


def cpu_share(load: float) -> float:
    """The fraction of one process's full speed a new CPU worker gets at this load average."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(1.0, cores / (load + 1))  # the new worker is one more runnable process


@st.cache_data(ttl=60, show_spinner=False)
def recent_cpu_rate(root: str) -> float | None:
    return measured_rate(RunStore(root), "cpu")  # the median of this machine's recent CPU runs; once a minute


def cpu_macs_per_second() -> float:
    """Training multiply-adds per second a new CPU run can expect now (see the module's note)."""
    with st.spinner(_("Measuring this CPU ...")):
        rate, probe_load = _cpu_probe()
    now = rate * cpu_share(os.getloadavg()[0]) / cpu_share(probe_load)
    recent = recent_cpu_rate(str(default_root().resolve()))
    return min(now, recent) if recent else now


def cpu_epoch_seconds(spec_json: str, images: int, eval_images: int = 0) -> float:
    """Seconds for one epoch on this CPU now: training `images` (3x the forward multiply-adds each) and
    evaluating `eval_images` (one forward each)."""
    return cost(ArchSpec.from_json(spec_json)).macs * (3 * images + eval_images) / cpu_macs_per_second()


def cpu_startup_seconds() -> float:
    return STARTUP_CPU_SECONDS / cpu_share(os.getloadavg()[0])


def quick_train_size(spec_json: str, epochs: int, eval_images: int, all_images: int) -> int:
    """The train size (a multiple of TRAIN_SIZE_STEP, at least MIN_TRAIN_SIZE; 0 = all) for which a CPU run of
    `epochs` ends in about QUICK_RUN_SECONDS now."""
    per_image = cpu_epoch_seconds(spec_json, 1)
    left = QUICK_RUN_SECONDS - cpu_startup_seconds() - epochs * cpu_epoch_seconds(spec_json, 0, eval_images)
    size = int(max(left, 0) / max(epochs * per_image, 1e-9)) // TRAIN_SIZE_STEP * TRAIN_SIZE_STEP
    size = max(size, MIN_TRAIN_SIZE)
    return 0 if size >= all_images else size
