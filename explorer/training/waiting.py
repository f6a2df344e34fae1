"""A queued run's place in line on its device and an estimate of when it starts, for the Train page.

The runs ahead of it on its device are the ones training there now and the launched ones queued before it
(first come, first served, as queue.dispatch starts them). Each needs its remaining training images and the
evaluations of its remaining epochs, over a speed:
  a run that has trained a step   its own last measured images/s (measured beside its neighbours, so what packing
                                  costs it is in the figure)
  a run that has not              the device's training multiply-adds per second (the caller's: a GPU's median
                                  of recent runs, explorer.training.speed.measured_rate; the CPU's probe) over
                                  3x its design's forward multiply-adds an image (a backward is about two forwards)
  evaluation                      one forward an image: 3x the training rate
and a queued run also spends `start_seconds` starting its worker (importing torch, loading data, compiling).
The device trains `slots` runs at once (queue.max_concurrent); each slot is handed to the next run ahead when
its run ends, and this run starts when a slot is free for it after all of them. Without a speed for some run
ahead there is no estimate (None), never a guess.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

from explorer.i18n import _
from explorer.models.cost import cost
from explorer.models.spec import ArchSpec, SpecError
from explorer.training.datasets import dataset_info, steps_per_epoch
from explorer.training.events import RunStatus, StepEvent
from explorer.training.liveness import worker_alive
from explorer.training.queue import canonical_device, max_concurrent
from explorer.training.recipe import Recipe
from explorer.training.runs import Run, RunStore

WORKER_START_SECONDS = 15.0  # a worker's start on an idle 2-core CPU: import torch, make the data, build the model


@dataclass(frozen=True)
class Wait:
    """Where a queued run stands."""

    place: int  # 1-based among the runs waiting for `device`: 1 = next to start
    training: int  # runs holding a slot on `device` now: training, or their worker starting
    slots: int  # runs `device` trains at once
    device: str
    seconds: float | None  # until it starts; None when some run ahead has no speed to estimate it by


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, in the current language (Korean: 1번째, 2번째, ...)."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    forms = {"st": _("{n}st"), "nd": _("{n}nd"), "rd": _("{n}rd"), "th": _("{n}th")}  # one message per suffix
    return forms[suffix].format(n=n)


def seconds_left(store: RunStore, run: Run, macs_per_second: float | None, start_seconds: float) -> float | None:
    """Seconds until `run` ends if it trained from now on at the speed the module docstring gives it (its start
    counted while it is still queued); None without a speed."""
    try:
        recipe = Recipe.from_dict(run.recipe)
        info = dataset_info(recipe)
        macs = cost(ArchSpec.from_dict(run.spec)).macs
    except (SpecError, TypeError, KeyError, ValueError):
        return None
    per_epoch = steps_per_epoch(info.train_size, recipe.batch_size)
    batch = min(recipe.batch_size, info.train_size)
    step = store.last_metric(run.id, "step") if run.status == RunStatus.RUNNING else None
    if isinstance(step, StepEvent) and step.images_per_sec > 0:
        rate = step.images_per_sec
        done, start = step.step, 0.0
    elif macs_per_second:
        rate = macs_per_second / (3 * macs)
        done, start = 0, (start_seconds if run.status == RunStatus.QUEUED else 0.0)
    else:
        return None
    steps_left = max(0, recipe.epochs * per_epoch - done)
    epochs_left = recipe.epochs - done // max(per_epoch, 1)
    return start + steps_left * batch / rate + epochs_left * info.eval_size / (3 * rate)


def wait_of(store: RunStore, run_id: str, macs_per_second: float | None,
            start_seconds: float = WORKER_START_SECONDS, default_device: str = "cpu") -> Wait | None:
    """Where the queued run `run_id` stands and when it should start (the module docstring); None when it is not
    waiting in line (ended, training, or never launched). `default_device`: the device of a run launched without
    one (the device its worker picks by default)."""
    store.reap()  # a run whose worker died holds no slot
    with store.connect() as db:  # the active runs only: a class server keeps thousands of ended ones
        rows = db.execute("SELECT * FROM runs WHERE status IN ('queued','running')").fetchall()
    runs = {r["id"]: store._row_to_run(r) for r in rows}
    me, now = runs.get(run_id), time.time()
    if me is None or me.status != RunStatus.QUEUED or me.launched is None:
        return None
    device = canonical_device(me.device or default_device)
    line = sorted((r for r in runs.values() if r.status in (RunStatus.QUEUED, RunStatus.RUNNING)
                   and canonical_device(r.device or default_device) == device), key=lambda r: (r.created, r.id))
    holding, ahead, behind = [], [], False
    for r in line:
        if r.id == run_id:
            behind = True
        elif worker_alive(r.worker_pid, r.heartbeat or r.created, now):
            holding.append(r)  # training, or its worker is starting: it holds a slot (as queue.dispatch counts)
        elif not behind and r.status == RunStatus.QUEUED and r.worker_pid is None and r.launched is not None:
            ahead.append(r)  # waiting in line before this one
    slots = max_concurrent(device, store.root)
    wait = Wait(place=len(ahead) + 1, training=len(holding), slots=slots, device=device, seconds=None)
    ends = [seconds_left(store, r, macs_per_second, start_seconds) for r in holding]
    queued = [seconds_left(store, r, macs_per_second, start_seconds) for r in ahead]
    if None in ends or None in queued:
        return wait
    free = sorted(ends) + [0.0] * max(0, slots - len(ends))  # when each slot frees
    heapq.heapify(free)
    while len(free) > slots:  # more training than the device now allows (the setting was lowered)
        heapq.heappop(free)  # the soonest of those ends without freeing a slot
    for seconds in queued:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return Wait(**{**vars(wait), "seconds": free[0]})


def describe(wait: Wait) -> str:
    """'3rd in line on cpu (2 training, 2 at a time); about 4 min until it starts.' (in the current language)"""
    line = _("{ordinal} in line on {device} ({training} training, {slots} at a time)").format(
        ordinal=ordinal(wait.place), device=wait.device, training=wait.training, slots=wait.slots)
    if wait.seconds is None:
        return _("{line}; no estimate of when it starts yet: a run ahead of it has not trained a step, and no "
                 "run has trained on {device} recently to time it by.").format(line=line, device=wait.device)
    if wait.seconds < 60:
        return _("{line}; it should start within a minute.").format(line=line)
    minutes = wait.seconds / 60
    when = (_("about {minutes} min").format(minutes=f"{minutes:.0f}") if minutes < 90
            else _("about {hours} h").format(hours=f"{minutes / 60:.1f}"))
    return _("{line}; {when} until it starts.").format(line=line, when=when)
