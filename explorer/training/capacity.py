"""Will a run fit this machine? Its training memory against the device's free memory, and its cost bound.

Checked twice: by the Train page (and the CLI) before a run is requested, against the memory free now, and by the
worker just before it trains, against what is free then (on a GPU, `torch.cuda.mem_get_info`). A run that does
not fit is refused with the batch size that would (`limits.Refused`), so the out-of-memory killer is never how a
run ends; `cap_process_memory` makes a CPU worker's own allocations fail (a clean "failed") before the kernel
would kill it.

The estimate (measured on a 2-core CPU: ResNet-20 batch 64, estimated 0.24 GiB of activations, measured 0.25 GiB;
batch 256: 0.96 against 0.69; WRN-16-4 batch 64: 0.64 against 0.54, so it errs high):
  activations  explorer.models.cost's activation_bytes (fp32 outputs of every leaf module per image) x batch
  state        4 x 4 bytes x parameters: weights, gradients, momentum, and one temporary copy in the optimizer step
  data         the dataset's uint8 images, all on the device (explorer.training.data)
  worker       a fresh worker process (Python, torch and its libraries: ~0.75 GiB RSS) when checked from the page
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

import torch

from explorer.i18n import _
from explorer.models.cost import cost
from explorer.models.spec import ArchSpec
from explorer.training.datasets import dataset_info
from explorer.training.limits import Refused, check_cost, device_kind
from explorer.training.packing import memory_fraction
from explorer.training.queue import max_concurrent
from explorer.training.recipe import Recipe

GiB = 2**30
IMAGE_BYTES = 3 * 32 * 32  # one uint8 CIFAR-sized image
WORKER_BYTES = int(0.75 * GiB)  # RSS of a worker that has imported torch and built nothing (measured: 0.72 GiB)
RESERVE_BYTES = 2 * GiB  # RAM left for the app server, the other sessions and the system
GPU_SHARE = 0.9  # of a GPU's total memory, when the page cannot ask the driver (it holds no CUDA context)


@dataclass(frozen=True)
class MemoryNeed:
    per_image: int  # bytes of activations per training image
    fixed: int  # bytes that do not grow with the batch: weights and optimizer state, data, a new worker
    new_worker: bool  # `fixed` counts the worker process that would start

    def at(self, batch_size: int) -> int:
        return self.fixed + self.per_image * batch_size


def memory_need(spec: ArchSpec, recipe: Recipe, *, new_worker: bool = False) -> MemoryNeed:
    """What training `spec` with `recipe` needs, as the module docstring adds it up."""
    c = cost(spec)
    info = dataset_info(recipe)
    data = (info.train_size + info.eval_size) * IMAGE_BYTES
    return MemoryNeed(per_image=c.activation_bytes,
                      fixed=16 * c.params + data + (WORKER_BYTES if new_worker else 0), new_worker=new_worker)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def ram_available() -> int | None:
    """Bytes of RAM a new allocation can get: /proc/meminfo's MemAvailable, or less where a cgroup (a container)
    limits this process (v2 memory.max - memory.current, v1 limit - usage). None where neither can be read."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        cap, used = _read_int(limit), _read_int(usage)
        if cap is not None and used is not None and cap < 2**60:  # "max" or a huge number: no limit
            found.append(max(0, cap - used))
    return min(found) if found else None


def free_memory(device: str, *, in_worker: bool) -> tuple[int, str] | None:
    """(bytes one run may use on `device`, how that was found), or None when it cannot be known. On a GPU the
    worker asks the driver; the page, which holds no CUDA context, takes GPU_SHARE of the GPU's memory shared by
    the runs that may train on it at once."""
    if device_kind(device) == "cuda":
        if not torch.cuda.is_available():
            return None
        index = torch.device(device).index or 0
        if in_worker:  # what is free now, and no more than this worker's cap (cap_process_memory)
            free, total = torch.cuda.mem_get_info(index)
            share = memory_fraction(max_concurrent(device))
            if share < 1:
                return min(free, int(share * total)), _("this run's share of the GPU ({share:.0%}), free now").format(
                    share=share)
            return free, _("free on the GPU now")
        total = torch.cuda.get_device_properties(index).total_memory
        return (int(GPU_SHARE * total / max_concurrent(device)),
                _("{share:.0%} of the GPU's memory per running run").format(share=GPU_SHARE))
    available = ram_available()
    if available is None:
        return None
    share = max_concurrent(device)  # runs that may train at once share what is free now (packing.py)
    how = _("RAM available now, less {reserve:.0f} GiB kept for the server").format(reserve=RESERVE_BYTES / GiB) + (
        _(", shared by {runs} runs at once").format(runs=share) if share > 1 else "")
    return max(0, available - RESERVE_BYTES) // share, how


def check_memory(spec: ArchSpec, recipe: Recipe, device: str, *, in_worker: bool = False) -> None:
    """Refuse a run whose estimated memory exceeds what `device` has free, naming the batch size that fits."""
    found = free_memory(device, in_worker=in_worker)
    if found is None:
        return
    free, how = found
    need = memory_need(spec, recipe, new_worker=not in_worker and device_kind(device) == "cpu")
    batch = recipe.batch_size
    if need.at(batch) <= free:
        return
    fits = (free - need.fixed) // need.per_image if need.per_image else 0
    fix = (_("at most batch {fits:,} fits; lower the batch size").format(fits=fits) if fits >= 1
           else _("it does not fit even at batch 1: choose a shallower or narrower design"))
    fixed = (_("weights, optimizer state, data and a worker process") if need.new_worker
             else _("weights, optimizer state, data"))
    # TRANSLATORS: {device} is "GPU" or "machine" (translated); {how} says how the free memory was found
    raise Refused("batch_size", _("batch {batch:,} needs about {need:.1f} GiB to train this design ({per_image:.1f} "
                                  "MiB of activations per image, plus {fixed:.1f} GiB of {what}), but this {device} "
                                  "has about {free:.1f} GiB for a run ({how}); {fix}").format(
                                      batch=batch, need=need.at(batch) / GiB, per_image=need.per_image / 2**20,
                                      fixed=need.fixed / GiB, what=fixed,
                                      device="GPU" if device_kind(device) == "cuda" else _("machine"),
                                      free=free / GiB, how=how, fix=fix))


def check_run(spec: ArchSpec, recipe: Recipe, device: str, *, in_worker: bool = False) -> None:
    """Refuse (limits.Refused) a run over the device's cost bound or its free memory, before anything starts."""
    check_cost(recipe.epochs, dataset_info(recipe).train_size, device)
    check_memory(spec, recipe, device, in_worker=in_worker)


def cap_process_memory(device: str) -> None:
    """Make this CPU worker's allocations beyond the RAM free now fail inside the process (torch raises "can't
    allocate memory" and the run ends as failed, with its metrics) instead of the kernel's OOM killer ending it
    without a word. RLIMIT_DATA counts the heap and anonymous mappings (Linux 4.7+). A GPU worker gets no address
    space limit (CUDA reserves far more than it uses); when runs are packed on its GPU, its caching allocator is
    capped at its share (packing.memory_fraction), so one run's out-of-memory fails that run alone."""
    if device_kind(device) == "cuda":
        share = memory_fraction(max_concurrent(device))
        if share < 1 and torch.cuda.is_available():
            torch.cuda.set_per_process_memory_fraction(share, torch.device(device).index or 0)
        return
    available = ram_available()
    if available is None:
        return
    try:
        status = Path("/proc/self/status").read_text()
        data = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmData:"))
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        limit = data + max(0, available - RESERVE_BYTES // 2) // max_concurrent(device)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))  # also replaces a limit inherited from a worker
    except (OSError, ValueError, StopIteration):
        pass  # no /proc or no RLIMIT_DATA: the estimate above is the only guard
