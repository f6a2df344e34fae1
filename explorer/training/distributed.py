"""DistributedDataParallel plumbing for `torchrun --nproc-per-node=N`: init from env vars, rank, sums.

One process without torchrun's variables is world size 1 and none of this does anything.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK", "0"))


def setup(device: str | torch.device) -> torch.device:
    """Join torchrun's process group if there is one (NCCL on CUDA, gloo on the CPU); return this rank's device."""
    device = torch.device(device)
    if world_size() <= 1:
        return device
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return device


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum a metrics tensor over ranks (in place); identity on one process."""
    if active():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def shard(n: int) -> slice:
    """This rank's slice of a global batch of n (ranks see disjoint, equal-sized parts)."""
    if not active():
        return slice(0, n)
    size, r = dist.get_world_size(), dist.get_rank()
    per = n // size
    return slice(r * per, (r + 1) * per)
