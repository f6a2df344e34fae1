"""Executing runs: train one in this process, storing its events; and the worker process entry point.

`python -m explorer.training.worker RUN_ID --root RUNS_DIR` is what `explorer.training.queue.launch` starts,
detached (a new session, output to the run's worker.log). It claims the run (a second worker for the same run
exits at once), waits for a queue slot on its device, trains, and records the final status. SIGTERM stops the
run cleanly as "cancelled", also in its first second (queue.BOOT blocks it until the handler is set); any
exception ends it as "failed" with its message. While training, the worker stamps its run's heartbeat
(explorer.training.liveness) from its event stream. A stored design that does not
fit its data (from an older version) ends as "failed" with the engine's message, before any training.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sqlite3
import sys
import time
from collections.abc import Callable

import torch

from explorer.models.spec import ArchSpec, SpecError
from explorer.training.capacity import cap_process_memory, check_run
from explorer.training.datasets import check_fits
from explorer.training.engine import train
from explorer.training.events import ENDED, EndEvent, Event, RunStatus, describe
from explorer.training.queue import canonical_device, claim, dispatch, try_start
from explorer.training.recipe import Recipe
from explorer.training.liveness import HEARTBEAT_SECONDS
from explorer.training.runs import FLUSH_SECONDS, POLL_SECONDS, RunStore

OnEvent = Callable[[Event], None]


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'})"


def execute(store: RunStore, run_id: str, on_event: OnEvent | None = None, device: str | None = None) -> RunStatus:
    """Train the run in this process and return its final status. If another live process already owns the run,
    or it has ended, follow it instead: its stored events are passed to `on_event` until it ends."""
    device = device or default_device()
    if not claim(store, run_id, device, device_name(device)):
        return follow(store, run_id, on_event)
    return run_claimed(store, run_id, on_event=on_event, device=device)


def follow(store: RunStore, run_id: str, on_event: OnEvent | None = None, poll: float = POLL_SECONDS,
           timeout: float | None = None) -> RunStatus:
    """Replay a run's stored events, then new ones as they arrive, until it ends; returns its status."""
    last = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = store.get(run_id)
        if run is None:
            raise KeyError(f"run {run_id!r} is not in {store.path}")
        events, last = store.metrics_since(run_id, after=last)
        for event in events:
            if on_event:
                on_event(event)
        if run.status in ENDED:
            if on_event:
                on_event(EndEvent(status=run.status, message=run.error or ""))
            return run.status
        if deadline is not None and time.monotonic() > deadline:
            return run.status
        time.sleep(poll)


def run_claimed(store: RunStore, run_id: str, *, on_event: OnEvent | None = None, device: str,
                external_stop: Callable[[], bool] | None = None) -> RunStatus:
    """Wait for a queue slot, train, store every event (step events batched) and the final status.
    Exceptions end the run as "failed" with their message; they are not re-raised."""
    def stop_requested() -> bool:
        return (external_stop is not None and external_stop()) or store.cancel_requested(run_id)

    try:
        while not try_start(store, run_id):
            run = store.get(run_id)
            if run is None or run.status != RunStatus.QUEUED:
                return run.status if run else RunStatus.FAILED
            if stop_requested():
                store.set_status(run_id, RunStatus.CANCELLED, error="stopped while waiting in the queue")
                return RunStatus.CANCELLED
            store.beat(run_id)
            time.sleep(POLL_SECONDS)
        return _train(store, run_id, on_event, device, stop_requested)
    except BaseException as exc:  # noqa: BLE001 - the run must end with a status whatever happened
        interrupted = isinstance(exc, KeyboardInterrupt)
        end = EndEvent(status=RunStatus.CANCELLED if interrupted else RunStatus.FAILED,
                       message="interrupted" if interrupted else f"{type(exc).__name__}: {exc}")
        try:
            store.set_status(run_id, end.status, error=end.message)
        except sqlite3.OperationalError as err:  # a full disk: the log keeps why, the liveness check ends it
            print(f"could not record the end ({end.message}) in the store: {err}", file=sys.stderr, flush=True)
        if on_event:
            on_event(end)
        return end.status


def _train(store: RunStore, run_id: str, on_event: OnEvent | None, device: str,
           stop_requested: Callable[[], bool]) -> RunStatus:
    run = store.get(run_id)
    spec = ArchSpec.from_dict(run.spec)
    recipe = Recipe.from_dict(run.recipe)
    try:  # before anything is allocated: a run that cannot fit ends here with the batch size that would
        check_fits(spec, recipe.dataset)
        check_run(spec, recipe, device, in_worker=True)
    except SpecError as err:
        end = EndEvent(status=RunStatus.FAILED, message=str(err))
        store.set_status(run_id, end.status, error=end.message)
        if on_event:
            on_event(end)
        return end.status
    last_poll = [0.0, False]

    def should_stop() -> bool:
        # The engine may ask every step; one SQLite read per POLL_SECONDS is plenty.
        now = time.monotonic()
        if now - last_poll[0] >= POLL_SECONDS:
            last_poll[:] = [now, stop_requested()]
        return bool(last_poll[1])

    pending: list[Event] = []
    last_flush = last_beat = time.monotonic()
    end: EndEvent | None = None
    events = train(spec, recipe, device=device, checkpoint_path=str(store.checkpoint_path(run_id)),
                   should_stop=should_stop)
    try:
        for event in events:
            if on_event:
                on_event(event)
            if isinstance(event, EndEvent):
                end = event
                break
            pending.append(event)
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                store.beat(run_id)
                last_beat = time.monotonic()
            if event.kind == "epoch" or time.monotonic() - last_flush >= FLUSH_SECONDS:
                store.append_metrics(run_id, pending)
                pending, last_flush = [], time.monotonic()
    finally:
        store.append_metrics(run_id, pending)  # what was measured is kept, even when the run failed
        events.close()
    if end is None:
        end = EndEvent(status=RunStatus.FAILED, message="the engine stopped without an end event")
        if on_event:
            on_event(end)
    # A finished run's message ("trained 5 epochs in 80 s") is no error; the others say what went wrong.
    store.set_status(run_id, end.status, error=None if end.status == RunStatus.FINISHED else end.message or None)
    return end.status


def peak_memory(device: str) -> str:
    """This worker's peak memory, for its log (benchmarks/bench_class.py reads it): GPU memory allocated on a
    GPU, the process's peak resident set on the CPU."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"peak memory {torch.cuda.max_memory_allocated(torch.device(device)) / 2**20:.0f} MiB (GPU)"
    return f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (RSS)"


def _print_event(event: Event) -> None:
    # The worker's stdout is the run's log file: one line per epoch and the end, not per step.
    if (line := describe(event)) is not None:
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.training.worker", description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--root", default=None, help="runs folder (default: $EXPLORER_RUNS_DIR or ./runs)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    args = parser.parse_args(argv)

    stopping = [False]

    def on_sigterm(signum: int, frame: object) -> None:
        stopping[0] = True  # finish the current step, then end as "cancelled"

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # a SIGTERM held back by queue.BOOT lands now
    try:
        device = canonical_device(args.device or default_device())
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store = RunStore(args.root)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    if not claim(store, args.run_id, device, device_name(device)):
        run = store.get(args.run_id)
        print(f"{stamp} run {args.run_id}: nothing to do "
              f"({'not in the store' if run is None else f'{run.status}, worker pid {run.worker_pid}'})", flush=True)
        return 0
    # Its share of the cores (packing.worker_env set OMP_NUM_THREADS before torch loaded; this covers a worker
    # started by hand) and of the GPU's memory.
    if threads := os.environ.get("OMP_NUM_THREADS", "").strip():
        if threads.isdigit() and int(threads) > 0:
            torch.set_num_threads(int(threads))
    cap_process_memory(device)
    print(f"{stamp} run {args.run_id}: claimed by pid {os.getpid()} on {device} ({torch.get_num_threads()} "
          f"thread(s), {os.environ.get('EXPLORER_PACKED', 'not packed')})", flush=True)
    status = run_claimed(store, args.run_id, on_event=_print_event, device=device,
                         external_stop=lambda: stopping[0])
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} run {args.run_id}: {status}; {peak_memory(device)}", flush=True)
    # This worker's slot is free: start the next queued run's worker (queued runs hold no process until then).
    for run_id, proc in dispatch(store, device).items():
        print(f"started the worker of run {run_id} (pid {proc.pid})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
