"""How fast this machine trains: a measured rate, and the seconds per epoch it predicts for a design.

The Train page calls this inside the Streamlit server, so the probe is an ordinary seeded engine run: the engine
keeps its randomness to itself (explorer.training.engine.RunRandomness) and the server's RNG is left untouched.
"""

from __future__ import annotations

import functools
import time

import torch

from explorer.models.builder import build_model
from explorer.models.cost import cost
from explorer.models.presets import PRESETS
from explorer.models.spec import ArchSpec, SpecError
from explorer.training.engine import train
from explorer.training.events import RunStatus, StepEvent
from explorer.training.recipe import Recipe
from explorer.training.runs import RunStore

PROBE_SPEC = PRESETS["resnet20"].replace(depth=8)  # ResNet-8: a few steps take a second on a CPU
PROBE_RECIPE = Recipe(dataset="synthetic", epochs=1, batch_size=32, train_size=32 * 5, lr=0.01)
SLOW_CPU_MACS_PER_SECOND = 5e9  # assumed when the probe cannot train (the run itself will say why)


@functools.lru_cache(maxsize=4)
def training_macs_per_second(device: str = "cpu") -> float:
    """Measured once per process: forward multiply-adds per second while the engine trains a small ResNet
    (resnet8, batch 32, a few steps), so the estimate sees the engine's own layout and precision choices.
    A backward pass costs about two forwards, so one training image costs 3x its forward MACs."""
    rates = [e.images_per_sec for e in train(PROBE_SPEC, PROBE_RECIPE, device=device, log_every=1)
             if isinstance(e, StepEvent)]
    if len(rates) < 2:
        return SLOW_CPU_MACS_PER_SECOND
    return 3 * cost(PROBE_SPEC).macs * max(rates[1:])  # the first step allocates and picks kernels: not counted


def estimate_epoch_seconds(spec: ArchSpec, images: int, device: str = "cpu") -> float:
    """Rough seconds per epoch of `images` training images: the design's multiply-adds over the measured rate.
    Small nets use a CPU less well than big ones, so this errs long for big designs."""
    return 3 * cost(spec).macs * images / training_macs_per_second(device)


@functools.lru_cache(maxsize=4)
def eval_macs_per_second(device: str = "cpu", images: int = 256) -> float:
    """Measured once per process, in about a second: forward multiply-adds per second of a small ResNet (resnet8)
    in eval mode without gradients, as a lesion study re-tests a net. Its weights are drawn under a forked RNG,
    so the caller's random state is untouched."""
    with torch.random.fork_rng(devices=[]):
        model = build_model(PROBE_SPEC, device).eval()
    x = torch.zeros(images, 3, 32, 32, device=device)
    with torch.no_grad():
        model(x[:8])  # the first pass allocates and picks kernels: not timed
        start = time.perf_counter()
        model(x)
        seconds = time.perf_counter() - start
    return cost(PROBE_SPEC).macs * images / max(seconds, 1e-6)


def measured_rate(store: RunStore, device: str, runs: int = 50) -> float | None:
    """Training multiply-adds per second on `device` ("cuda:0"), the median over the newest runs that trained there
    (their last logged speed): the page's time estimate for a GPU, where it runs no probe of its own (the server
    holds no CUDA context). None before any run has trained on it."""
    rates = []
    for run in store.list_runs(limit=runs):
        if run.device != device or run.status not in (RunStatus.RUNNING, RunStatus.FINISHED):
            continue
        step = store.last_metric(run.id, "step")
        try:
            macs = cost(ArchSpec.from_dict(run.spec)).macs
        except SpecError:
            continue
        if isinstance(step, StepEvent) and step.images_per_sec > 0:
            rates.append(3 * macs * step.images_per_sec)
    return sorted(rates)[len(rates) // 2] if rates else None
