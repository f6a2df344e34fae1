"""Packed runs: how many runs train at once on one device, and what each worker process takes of it.

Plain Python (no torch, no CUDA context), so the app and the queue decide without touching the GPU.

Cores. torch's intra-op pool defaults to every core, and its OpenMP threads spin while they wait for work. Two
such workers on a 2-core CPU run four spinning threads on two cores: measured with benchmarks/bench_train.py
--contention (ResNet-20, batch 128, bf16 with AMX, torch 2.14, GNU OpenMP), one run alone trained at 840 img/s,
two at once at 55-80 img/s each (10x slower, the issue's "22 img/s under load 3"); the same two with one thread
each at 430-460 img/s each (together more than one alone), and with two passive threads each at 345-400. So every
worker gets its share of the cores (cores // runs allowed at once) as OMP_NUM_THREADS / MKL_NUM_THREADS before
torch starts its pools, and OMP_WAIT_POLICY=PASSIVE, so a thread waiting for work sleeps instead of spinning
against someone else's (the app server's, another class's). A run's thread count follows from the device's
configuration, not from how many happen to train beside it, so a run's result does not depend on its neighbours.

How many at once (`max_concurrent`): EXPLORER_MAX_CONCURRENT when set; else on the CPU, cores // threads per run
(EXPLORER_CPU_THREADS_PER_RUN, default max(2, cores // 4): on 2 cores one run at a time, since two 1-thread runs
train no more images per second than one 2-thread run and each takes twice as long); on a GPU, the memory free
to our runs (nvidia-smi: total x GPU_SHARE less what other programs hold) over a per-run budget
(EXPLORER_GPU_RUN_BUDGET_GB, default 10), at most EXPLORER_MAX_PACKED (default 8), and no more than the knee of a
recorded throughput curve (<runs>/packing-curve.json, written by benchmarks/bench_class.py) when there is one.

Compilation: every worker shares one Inductor cache under the runs folder (FX graph cache and autograd cache on),
so the 30th ResNet-20 of a class loads its compiled kernels instead of compiling them again.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from explorer.training.limits import device_kind, setting
from explorer.training.liveness import is_worker_process

MAX_PACKED = 8  # runs at once on one GPU, at most: beyond this a CIFAR net's kernels queue behind each other
GPU_RUN_BUDGET_GB = 10  # memory one packed GPU run may use: ResNet-110 at batch 128 compiled needs about 3 GB
GPU_SHARE = 0.9  # of a GPU's memory, for our runs (the rest: the driver, fragmentation)
MEMORY_MARGIN = 0.02  # of a GPU's memory, kept out of each worker's cap (allocator rounding, the CUDA context)
CURVE_KNEE = 0.95  # the fewest runs at once that reach this share of the best measured aggregate images/s
CURVE_FILE = "packing-curve.json"  # {"cuda:0": {"1": images_per_sec, "2": ..., ...}, "cpu": {...}}
INDUCTOR_DIR = "inductor-cache"  # under the runs folder
SMI_SECONDS = 30.0  # how long one nvidia-smi answer is trusted


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask, as a container's cpuset sets it), else os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_threads_per_run() -> int:
    cores = cpu_cores()
    return min(cores, setting("EXPLORER_CPU_THREADS_PER_RUN", max(2, cores // 4)))


@functools.lru_cache(maxsize=8)
def _smi(index: int, stamp: int) -> tuple[int, int, int] | None:
    """(total, free, held by processes that are not our workers) bytes of GPU `index`, from nvidia-smi; None
    without one. `stamp` expires the cache every SMI_SECONDS."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        gpu = subprocess.run([smi, "-i", str(index), "--query-gpu=memory.total,memory.free,uuid",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
        total, free, uuid = (x.strip() for x in gpu.stdout.strip().splitlines()[0].split(","))
        apps = subprocess.run([smi, "--query-compute-apps=gpu_uuid,pid,used_memory", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=10)
        others = 0
        for line in apps.stdout.strip().splitlines():
            parts = [x.strip() for x in line.split(",")]
            if len(parts) == 3 and parts[0] == uuid and parts[1].isdigit() and parts[2].isdigit():
                others += 0 if is_worker_process(int(parts[1])) else int(parts[2])
        return int(total) * 2**20, int(free) * 2**20, others * 2**20
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def gpu_memory(device: str) -> tuple[int, int, int] | None:
    """(total, free, held by other programs) bytes of a GPU, asked of nvidia-smi (the app holds no CUDA context)."""
    index = int(device.split(":")[1]) if ":" in device else 0
    return _smi(index, int(time.time() // SMI_SECONDS))


def gpu_slots(total: int, others: int, budget: int, cap: int) -> int:
    """Runs at once on a GPU of `total` bytes of which other programs hold `others`: GPU_SHARE of what is left,
    over `budget` bytes a run, between 1 and `cap`."""
    return max(1, min(cap, int((GPU_SHARE * total - others) // max(budget, 1))))


def curve_knee(curve: dict[str, float]) -> int | None:
    """The fewest runs at once whose aggregate images/s reaches CURVE_KNEE of the best in a recorded curve."""
    points = sorted((int(k), float(v)) for k, v in curve.items() if str(k).isdigit() and float(v) > 0)
    if not points:
        return None
    best = max(v for _, v in points)
    return next(n for n, v in points if v >= CURVE_KNEE * best)


def read_curve(root: str | Path | None, device: str) -> dict[str, float]:
    if root is None:
        return {}
    try:
        return json.loads((Path(root) / CURVE_FILE).read_text()).get(device, {})
    except (OSError, ValueError, AttributeError):
        return {}


def default_device() -> str:
    """The device a worker picks when none is asked for: cuda:0 when nvidia-smi sees a GPU, else the CPU."""
    return "cuda:0" if gpu_memory("cuda:0") is not None else "cpu"


def max_concurrent(device: str | None = None, root: str | Path | None = None) -> int:
    """Runs that may train at once on `device` (None: the default device), as the module docstring decides."""
    override = os.environ.get("EXPLORER_MAX_CONCURRENT")
    if override:
        return setting("EXPLORER_MAX_CONCURRENT", 1)
    device = device or default_device()
    if device_kind(device) == "cpu":
        return max(1, cpu_cores() // cpu_threads_per_run())
    found = gpu_memory(device)
    if found is None:
        return 1
    total, _, others = found
    slots = gpu_slots(total, others, setting("EXPLORER_GPU_RUN_BUDGET_GB", GPU_RUN_BUDGET_GB) * 2**30,
                      setting("EXPLORER_MAX_PACKED", MAX_PACKED))
    knee = curve_knee(read_curve(root, device))
    return min(slots, knee) if knee else slots


def threads_per_run(device: str | None, concurrent: int) -> int:
    """Intra-op threads of one worker: the cores shared by the runs allowed at once (a GPU worker's CPU work is
    launching kernels and reading metrics: its share is plenty)."""
    return max(1, cpu_cores() // max(1, concurrent))


def memory_fraction(concurrent: int) -> float:
    """A GPU worker's cap (torch.cuda.set_per_process_memory_fraction): its share of the GPU less a margin, so one
    run's out-of-memory fails that run alone."""
    return 1.0 if concurrent <= 1 else max(0.05, 1.0 / concurrent - MEMORY_MARGIN)


def worker_env(base: dict[str, str], root: str | Path, device: str | None, concurrent: int) -> dict[str, str]:
    """The environment of a worker process: its thread share and wait policy (read by OpenMP and MKL when torch
    loads, before any pool starts), the shared Inductor cache, and its packing for the memory cap. Settings the
    operator made in the app's own environment win."""
    env = dict(base)
    # A worker starting the next one passes on its own environment: what an earlier worker_env set (listed in
    # EXPLORER_PACKED_SET) is ours to change; what the operator set is not, however many workers it went through.
    ours = set(base.get("EXPLORER_PACKED_SET", "").split(",")) - {""}
    threads = str(threads_per_run(device, concurrent))
    for name, value in (("OMP_NUM_THREADS", threads), ("MKL_NUM_THREADS", threads), ("OMP_WAIT_POLICY", "PASSIVE"),
                        ("TORCHINDUCTOR_CACHE_DIR", str(Path(root).resolve() / INDUCTOR_DIR)),
                        ("TORCHINDUCTOR_FX_GRAPH_CACHE", "1"), ("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")):
        if name in ours or name not in env:
            env[name] = value
            ours.add(name)
    env["EXPLORER_PACKED_SET"] = ",".join(sorted(ours))
    # The dispatcher's decision, read by the worker's queue slot check and its memory cap (given_packing)
    env["EXPLORER_PACKED"] = f"{device or default_device()}={max(1, concurrent)}"
    return env


def given_packing(env: dict[str, str] | os._Environ, device: str) -> int | None:
    """In a worker: the runs at once its dispatcher decided for `device` (worker_env), unless
    EXPLORER_MAX_CONCURRENT overrides it; None elsewhere."""
    if env.get("EXPLORER_MAX_CONCURRENT"):
        return None
    name, _, count = env.get("EXPLORER_PACKED", "").partition("=")
    return int(count) if name == device and count.isdigit() and int(count) > 0 else None
