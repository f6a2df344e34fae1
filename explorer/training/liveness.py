"""Is a run's worker still there? Its pid, and the heartbeat it writes to the store while it trains.

A pid alone is not enough: after kill -9 and a while, the system may give the pid to another process, which would
keep a dead run "running" forever. So a run is dead when its pid is gone, or when its heartbeat is older than
STALE_AFTER and the pid does not belong to a worker (`python -m explorer.training.worker`, the CLI
`python -m explorer.training`, which trains in-process, or this process, which may too, through `execute`). A live worker busy for longer without an event (loading CIFAR,
torch.compile) keeps its run: its pid is still a worker's.
"""

from __future__ import annotations

import os
from pathlib import Path

HEARTBEAT_SECONDS = 5.0  # a worker stamps its run at most this often, from its event stream
STALE_AFTER = 6 * HEARTBEAT_SECONDS  # no stamp for this long and a pid that is not a worker's: the run is dead
WORKER_MODULE = "explorer.training"  # in the command line of the worker, queue.BOOT and the CLI
WORKER_ENTRY = "explorer.training.worker"  # in the command line of a queue-started worker only
DIED = ("the worker process (pid {pid}) died: it stopped without saying why (killed, crashed or the machine "
        "restarted). Its metrics up to then are kept; press Start to train it again.")


def pid_alive(pid: int | None) -> bool:
    """Whether a process exists and is not a zombie (a killed child nobody has reaped yet is dead to us)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust kill(0)
    return state not in ("Z", "X")


def is_worker(pid: int) -> bool:
    """Whether the process runs runs: a worker process, or this one. Without /proc, assume it is."""
    if pid == os.getpid():
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    return WORKER_MODULE in cmdline


def is_worker_process(pid: int) -> bool:
    """Whether `pid` is a worker process started by the queue (`python -m explorer.training.worker` or queue.BOOT),
    the only kind a force-stop may kill: never this process, the CLI (it trains in the user's own terminal), nor a
    Ray sweep driver (explorer.sweep.on_ray claims its runs under its own pid; killing it would end the sweep)."""
    if not pid or pid == os.getpid():
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return WORKER_ENTRY in cmdline


def worker_alive(pid: int | None, last_sign: float | None, now: float) -> bool:
    """The rule of the module docstring. `last_sign`: the newest heartbeat (or claim or start) time."""
    if not pid_alive(pid):
        return False
    if last_sign is not None and now - last_sign <= STALE_AFTER:
        return True
    return is_worker(pid)
