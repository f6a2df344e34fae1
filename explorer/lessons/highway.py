"""Lesson 12: Highway against plain at depth (Srivastava, Greff & Schmidhuber 2015, 1505.00387, Fig. 1).

A highway layer mixes its transform H(x) with its input by a learned gate: y = H(x) T(x) + x (1 - T(x)). With
the gate's bias negative at the start, T(x) is small and every layer begins close to carrying its input, so a
deep stack trains; a plain stack y = H(x) of the same depth trains worse the deeper it is (Fig. 1).

The lesson builds a Highway net and its *plain twin*: the same net, with the same initial weights, in which
every highway layer is replaced by its transform H alone. It reads the transform gate T(x) of every layer
(mean and spread over units, positions and images) at initialization, and again after a short in-process run
that fits both nets to one small batch with the same optimiser and steps (bounded in time).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from explorer.i18n import N_
from explorer.lessons.seeding import generator, seeded
from explorer.models.builder import build_model
from explorer.models.families.highway import HighwayLayer
from explorer.models.published import table
from explorer.models.spec import ArchSpec
from explorer.training.data import synthetic_images

SOURCE = N_("Srivastava, Greff & Schmidhuber 2015, Training Very Deep Networks (1505.00387), Fig. 1 (plain nets "
          "train worse as they get deeper, highway nets do not) and sec. 2.2 (negative gate bias at the start)")
DEPTHS = (10, 20, 50, 100)  # the depths of Fig. 1
WIDTH = 8  # stage-1 channels of the lesson's nets (highway19 has 32), so that a CPU shared by a class trains them
BATCH = 32  # images of the one batch both nets fit
RESOLUTION = 16  # pixels: the synthetic images halved (the nets end in global pooling), 4x less work than 32x32
STAT_IMAGES = 8  # images for the gate statistics: 8 x 16 x 16 positions x the units of a layer is plenty
LR = 0.02  # SGD with momentum 0.9; the same for both nets (fair), small enough for the deepest plain net


def published() -> list[dict]:
    """The Highway rows of assets/published.json (He et al. 2015 Table 6, citing Srivastava et al.)."""
    return table("highway")


def design(depth: int, gate_bias: float, width: int = WIDTH) -> ArchSpec:
    """A Highway net of `depth` weight layers with transform-gate bias `gate_bias` at initialization."""
    return ArchSpec(family="highway", depth=depth, gate_bias=gate_bias, base_width=width)


def fresh(spec: ArchSpec, seed: int = 0) -> nn.Module:
    """The design's model at initialization (seeded, without moving the caller's RNG)."""
    with seeded(seed):
        return build_model(spec)


def plain_twin(model: nn.Module) -> nn.Module:
    """A copy of a Highway net in which every highway layer computes y = H(x): the same weights, no gates."""
    twin = copy.deepcopy(model)
    for parent in list(twin.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, HighwayLayer):
                setattr(parent, name, child.transform)
    return twin


def gate_layers(model: nn.Module) -> list[tuple[str, HighwayLayer]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, HighwayLayer)]


def batch(size: int = BATCH, seed: int = 0, resolution: int = RESOLUTION) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of the offline synthetic images at `resolution` pixels, normalised per channel, with their
    labels."""
    images, labels = synthetic_images(size, seed=seed + 7)  # its own seed: never the training runs' images
    x = nn.functional.adaptive_avg_pool2d(images.float(), resolution)
    mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True)
    return (x - mean) / std, labels


@torch.no_grad()
def gate_statistics(model: nn.Module, images: torch.Tensor) -> pd.DataFrame:
    """Per highway layer (1 = nearest the input): the mean of T(x) over every unit, position and image, its
    standard deviation, and its 10th and 90th percentiles. BN uses the batch's statistics, as in training (at
    initialization its running statistics would make it the identity), on a copy: the model is not changed."""
    probe = copy.deepcopy(model).train()
    layers = gate_layers(probe)
    if not layers:
        raise ValueError("this model has no highway layers")
    seen: dict[str, torch.Tensor] = {}
    handles = [layer.gate.register_forward_hook(
        lambda m, i, out, name=name: seen.__setitem__(name, torch.sigmoid(out).flatten()))
        for name, layer in layers]
    try:
        probe(images)
    finally:
        for handle in handles:
            handle.remove()
    rows = []
    for index, (name, _) in enumerate(layers, start=1):
        t = seen[name].double()
        q10, q90 = torch.quantile(t[:: max(1, t.numel() // 100_000)], torch.tensor([0.1, 0.9], dtype=t.dtype))
        rows.append({"layer": index, "name": name, "mean T(x)": float(t.mean()), "std T(x)": float(t.std()),
                     "T(x) 10th percentile": float(q10), "T(x) 90th percentile": float(q90)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class TinyRun:
    losses: pd.DataFrame  # net, step, loss (training loss on the fixed batch)
    highway: nn.Module  # the highway net after the run
    steps: int  # steps each net took (fewer than asked if the time ran out)
    seconds: float


def tiny_run(spec: ArchSpec, steps: int = 40, seconds: float = 15.0, seed: int = 0, batchnorm: bool = True,
             on_step: Callable[[int, int], None] | None = None) -> TinyRun:
    """Fit the Highway net and its plain twin (same initial weights) to one fixed batch: `steps` SGD steps each,
    alternating, stopping early once `seconds` have passed. `on_step(done, steps)` reports progress."""
    highway = fresh(spec, seed) if batchnorm else without_batchnorm(fresh(spec, seed))
    nets = {"plain": plain_twin(highway), "highway": highway}
    images, labels = batch(seed=seed)
    optimisers = {name: torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9) for name, net in nets.items()}
    loss_fn = nn.CrossEntropyLoss()
    rows, start, done = [], time.perf_counter(), 0
    gen = generator(seed)
    for step in range(1, steps + 1):
        order = torch.randperm(len(labels), generator=gen)  # the same shuffled order for both nets
        for name, net in nets.items():
            net.train()
            loss = loss_fn(net(images[order]), labels[order])
            optimisers[name].zero_grad(set_to_none=True)
            loss.backward()
            optimisers[name].step()
            rows.append({"net": name, "step": step, "loss": loss.item()})
        done = step
        if on_step:
            on_step(done, steps)
        if time.perf_counter() - start > seconds:
            break
    return TinyRun(pd.DataFrame(rows), highway.eval(), done, time.perf_counter() - start)


LEVEL = 0.1  # nats: final losses closer than this are not an ordering


def verdict(losses: pd.DataFrame) -> str:
    """What the run shows, from its last step and each net's lowest loss: which net fits the batch better, and
    whether one got lower earlier and then rose again (unstable), said from the numbers."""
    steps = int(losses["step"].max())
    last = losses[losses["step"] == steps].set_index("net")["loss"]
    plain, highway = float(last["plain"]), float(last["highway"])
    if highway < plain - LEVEL:
        text = (f"After {steps} steps the highway net fits the batch better than its plain twin (loss {highway:.2f} "
                f"against {plain:.2f}).")
    elif plain < highway - LEVEL:
        text = (f"After {steps} steps the plain twin fits the batch better (loss {plain:.2f} against "
                f"{highway:.2f}): at this depth the gates only slow it down. Try a deeper net.")
    else:
        text = (f"After {steps} steps both nets fit the batch about as well (loss {highway:.2f} against "
                f"{plain:.2f}). Try a deeper net, or more steps.")
    for net, final in (("plain twin", plain), ("highway net", highway)):
        curve = losses[losses["net"] == net.split()[0]]
        best = curve.loc[curve["loss"].idxmin()]
        if best["loss"] < final - LEVEL:
            text += (f" The {net} had reached {best['loss']:.2f} at step {int(best['step'])} and then rose again: "
                     "its training is unstable.")
    return text


def without_batchnorm(model: nn.Module) -> nn.Module:
    """The net with the BN inside every transform H removed (in place), as the paper's highway layers were
    built: BN came later (1502.03167) and is our addition here. Stem and transitions keep theirs."""
    for _, layer in gate_layers(model):
        for name, child in list(layer.transform.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(layer.transform, name, nn.Identity())
    return model
