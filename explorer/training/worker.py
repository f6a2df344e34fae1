"""Executing runs: train one in this process, storing its events; and the worker process entry point.

`python -m explorer.training.worker RUN_ID --root RUNS_DIR` is what `explorer.training.runs.launch` starts, detached (a new
session, output to the run's worker.log). It claims the run (a second worker for the same run exits at once),
waits for a queue slot on its device, trains, and records the final status. SIGTERM stops the run cleanly as
"cancelled"; any exception ends it as "failed" with its message.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from explorer.training.runs import ENDED, FLUSH_SECONDS, POLL_SECONDS, RunStore, canonical_device
from explorer.models.spec import ArchSpec


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'})"


@functools.lru_cache(maxsize=4)
def training_macs_per_second(device: str = "cpu") -> float:
    """Measured once per process: forward multiply-adds per second while the engine trains a small ResNet
    (resnet8, batch 32, a few steps), so the estimate sees the engine's own layout and precision choices.
    A backward pass costs about two forwards, so one training image costs 3x its forward MACs."""
    from explorer.models.cost import cost
    from explorer.models.presets import PRESETS
    from explorer.training.engine import Recipe, train

    spec = PRESETS["resnet20"].replace(depth=8)
    recipe = Recipe(dataset="synthetic", epochs=1, batch_size=32, train_size=32 * 5, lr=0.01)
    rates = [e["images_per_sec"] for e in train(spec, recipe, device=device, log_every=1) if e["kind"] == "step"]
    if len(rates) < 2:  # the engine failed (it says why when the run itself starts): assume a slow CPU
        return 5e9
    return 3 * cost(spec).macs * max(rates[1:])  # the first step allocates and picks kernels: not counted


def estimate_epoch_seconds(spec: ArchSpec, images: int, device: str = "cpu") -> float:
    """Rough seconds per epoch of `images` training images: the design's multiply-adds over the measured rate.
    Small nets use a CPU less well than big ones, so this errs long for big designs."""
    from explorer.models.cost import cost

    return 3 * cost(spec).macs * images / training_macs_per_second(device)


def execute(store: RunStore, run_id: str, on_event: Callable[[dict], None] | None = None,
            device: str | None = None) -> str:
    """Train the run in this process and return its final status. If another live process already owns the run,
    or it has ended, follow it instead: its stored events are passed to `on_event` until it ends."""
    device = device or default_device()
    if not store.claim(run_id, device, device_name(device)):
        return follow(store, run_id, on_event)
    return run_claimed(store, run_id, on_event=on_event, device=device)


def follow(store: RunStore, run_id: str, on_event: Callable[[dict], None] | None = None,
           poll: float = POLL_SECONDS, timeout: float | None = None) -> str:
    """Replay a run's stored events, then new ones as they arrive, until it ends; returns its status."""
    last = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = store.get(run_id)
        if run is None:
            raise KeyError(f"run {run_id!r} is not in {store.path}")
        for event in store.metrics(run_id, after=last):
            last = event.pop("seq")
            if on_event:
                on_event(event)
        if run.status in ENDED:
            if on_event:
                on_event({"kind": "end", "status": run.status, "message": run.error or ""})
            return run.status
        if deadline is not None and time.monotonic() > deadline:
            return run.status
        time.sleep(poll)


def run_claimed(store: RunStore, run_id: str, *, on_event: Callable[[dict], None] | None = None,
                device: str, external_stop: Callable[[], bool] | None = None) -> str:
    """Wait for a queue slot, train, store every event (step events batched) and the final status.
    Exceptions end the run as "failed" with their message; they are not re-raised."""
    def stop_requested() -> bool:
        return (external_stop is not None and external_stop()) or store.cancel_requested(run_id)

    try:
        while not store.try_start(run_id):
            run = store.get(run_id)
            if run is None or run.status != "queued":
                return run.status if run else "failed"
            if stop_requested():
                store.set_status(run_id, "cancelled", error="stopped while waiting in the queue")
                return "cancelled"
            time.sleep(POLL_SECONDS)
        return _train(store, run_id, on_event, device, stop_requested)
    except BaseException as exc:  # noqa: BLE001 - the run must end with a status whatever happened
        status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
        message = "interrupted" if status == "cancelled" else f"{type(exc).__name__}: {exc}"
        store.set_status(run_id, status, error=message)
        if on_event:
            on_event({"kind": "end", "status": status, "message": message})
        return status


def _train(store: RunStore, run_id: str, on_event: Callable[[dict], None] | None, device: str,
           stop_requested: Callable[[], bool]) -> str:
    from explorer.training.engine import Recipe, train  # torch only when a run really trains

    run = store.get(run_id)
    spec = ArchSpec.from_dict(run.spec)
    recipe = Recipe.from_dict(run.recipe)
    last_poll = [0.0, False]

    def should_stop() -> bool:
        # The engine may ask every step; one SQLite read per POLL_SECONDS is plenty.
        now = time.monotonic()
        if now - last_poll[0] >= POLL_SECONDS:
            last_poll[:] = [now, stop_requested()]
        return bool(last_poll[1])

    pending: list[dict] = []
    last_flush = time.monotonic()
    missing_end = {"kind": "end", "status": "failed", "message": "the engine stopped without an end event"}
    end: dict[str, Any] = missing_end
    events = train(spec, recipe, device=device, checkpoint_path=store.checkpoint_path(run_id),
                   should_stop=should_stop)
    try:
        for event in events:
            if on_event:
                on_event(event)
            if event.get("kind") == "end":
                end = event
                break
            pending.append(event)
            if event.get("kind") == "epoch" or time.monotonic() - last_flush >= FLUSH_SECONDS:
                store.append_metrics(run_id, pending)
                pending, last_flush = [], time.monotonic()
    finally:
        store.append_metrics(run_id, pending)  # what was measured is kept, even when the run failed
        close = getattr(events, "close", None)
        if close:
            close()
    status = end.get("status", "failed")
    if status not in ENDED:
        status = "failed"
    if end is missing_end and on_event:
        on_event(end)
    # A finished run's message ("trained 5 epochs in 80 s") is no error; the others say what went wrong.
    store.set_status(run_id, status, error=None if status == "finished" else end.get("message") or None)
    return status


def _print_event(event: dict) -> None:
    # The worker's stdout is the run's log file: one line per epoch and the end, not per step.
    if event["kind"] == "epoch":
        print(f"epoch {event['epoch']}: train loss {event['train_loss']:.4f} error {event['train_error']:.2%}, "
              f"test loss {event['test_loss']:.4f} error {event['test_error']:.2%}, "
              f"{event['images_per_sec']:,.0f} images/s, {event['elapsed']:.1f} s", flush=True)
    elif event["kind"] == "end":
        print(f"end: {event['status']} {event.get('message') or ''}".rstrip(), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.training.worker", description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--root", default=None, help="runs folder (default: $EXPLORER_RUNS_DIR or ./runs)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    args = parser.parse_args(argv)

    try:
        device = canonical_device(args.device or default_device())
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store = RunStore(args.root)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    if not store.claim(args.run_id, device, device_name(device)):
        run = store.get(args.run_id)
        print(f"{stamp} run {args.run_id}: nothing to do "
              f"({'not in the store' if run is None else f'{run.status}, worker pid {run.worker_pid}'})", flush=True)
        return 0
    print(f"{stamp} run {args.run_id}: claimed by pid {os.getpid()} on {device}", flush=True)

    stopping = [False]

    def on_sigterm(signum: int, frame: object) -> None:
        stopping[0] = True  # finish the current step, then end as "cancelled"

    signal.signal(signal.SIGTERM, on_sigterm)
    status = run_claimed(store, args.run_id, on_event=_print_event, device=device,
                         external_stop=lambda: stopping[0])
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} run {args.run_id}: {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
