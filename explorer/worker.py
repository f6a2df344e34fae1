"""One training run in its own process: `python -m explorer.worker RUN_ID --root RUNS_DIR`.

Started detached by `explorer.runs.launch` (a new session, output to the run's worker.log). It claims the run
(a second worker for the same run exits at once), waits for a queue slot on its device, trains, and records
the final status. SIGTERM stops the run cleanly as "cancelled"; any exception ends it as "failed".
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from explorer.runs import RunStore, default_device, device_name, run_claimed


def _print_event(event: dict) -> None:
    # The worker's stdout is the run's log file: one line per epoch and the end, not per step.
    if event["kind"] == "epoch":
        print(f"epoch {event['epoch']}: train loss {event['train_loss']:.4f} error {event['train_error']:.2%}, "
              f"test loss {event['test_loss']:.4f} error {event['test_error']:.2%}, "
              f"{event['images_per_sec']:,.0f} images/s, {event['elapsed']:.1f} s", flush=True)
    elif event["kind"] == "end":
        print(f"end: {event['status']} {event.get('message') or ''}".rstrip(), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.worker", description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--root", default=None, help="runs folder (default: $EXPLORER_RUNS_DIR or ./runs)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args(argv)

    store = RunStore(args.root)
    device = args.device or default_device()
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
