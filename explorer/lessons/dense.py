"""Lesson 8: addition against concatenation, ResNet against DenseNet (Huang et al. 2017, 1608.06993).

ResNet:   x_l = H_l(x_{l-1}) + x_{l-1}           (the width stays fixed within a stage)
DenseNet: x_l = H_l([x_0, x_1, ..., x_{l-1}])    (each layer adds k channels: k_0 + l k after layer l)
Feature reuse (DenseNet Fig. 5): how strongly layer l's first conv weighs the maps of each earlier layer s,
the mean |w| over the input channels that came from s.
"""

from __future__ import annotations

import pandas as pd
from torch import nn

from explorer.lessons.budget import published_chart
from explorer.lessons.lesion import Skipped, load_run
from explorer.lessons.seeding import seeded
from explorer.lessons.tables import counted
from explorer.models.builder import build_model
from explorer.models.families.densenet import DenseLayer
from explorer.models.presets import PRESETS
from explorer.models.spec import ArchSpec, layout
from explorer.training.engine import CheckpointError
from explorer.training.runs import Run, RunStore

FAMILIES = ("resnet", "densenet")


def channel_growth(dense: ArchSpec = PRESETS["densenet40_k12"], residual: ArchSpec = PRESETS["resnet56"]
                   ) -> pd.DataFrame:
    """Channels carried after each layer of stage 1 of each design (long format: net, layer, channels)."""
    rows = []
    for label, spec in ((f"DenseNet (L={dense.depth}, k={dense.growth_rate})", dense),
                        (f"ResNet-{residual.depth}", residual)):
        stage = layout(spec).stages[0]
        rows.append({"net": label, "layer": 0, "channels": stage.in_channels})
        rows += [{"net": label, "layer": i, "channels": w} for i, w in enumerate(stage.block_widths, start=1)]
    return pd.DataFrame(rows)


def connectivity(in_channels: int, growth_rate: int, layers: int) -> pd.DataFrame:
    """Which earlier output feeds each layer of a dense block, and with how many channels (source 0 = the
    block's input): every pair (source < target) is connected, L(L+1)/2 connections in all."""
    rows = [{"target layer": t, "source": s, "channels": in_channels if s == 0 else growth_rate}
            for t in range(1, layers + 1) for s in range(t)]
    return pd.DataFrame(rows)


def feature_reuse(model: nn.Module, stage: str = "stage1") -> pd.DataFrame:
    """Mean |weight| that each layer's first conv gives to each source's channels, normalised per layer to a
    maximum of 1 (as DenseNet Fig. 5 draws it). Meaningful for a trained net; at initialisation it is flat."""
    layers = [m for m in getattr(model, stage).children() if isinstance(m, DenseLayer)]
    if not layers:
        raise ValueError(f"{stage} of this model has no dense layers")
    first = layers[0].residual
    in_channels = next(m for m in first if isinstance(m, nn.Conv2d)).in_channels
    growth = [m for m in layers[0].residual if isinstance(m, nn.Conv2d)][-1].out_channels
    rows = []
    for t, layer in enumerate(layers, start=1):
        conv = next(m for m in layer.residual if isinstance(m, nn.Conv2d))
        per_input = conv.weight.detach().abs().mean(dim=(0, 2, 3))
        bounds = [0, in_channels] + [in_channels + growth * s for s in range(1, t)]
        values = [float(per_input[a:b].mean()) for a, b in zip(bounds, bounds[1:])]
        top = max(values)
        rows += [{"target layer": t, "source": s, "weight": v / top} for s, v in enumerate(values)]
    return pd.DataFrame(rows)


def params_vs_error() -> pd.DataFrame:
    """Published CIFAR-10 error against parameters for the ResNet and DenseNet presets (with sources)."""
    chart = published_chart()
    return chart[chart["family"].isin(FAMILIES)].reset_index(drop=True)


def memory(designs: tuple[str, ...] = ("resnet56", "resnet110", "densenet40_k12", "densenet_bc100_k12")
           ) -> pd.DataFrame:
    """Parameters, multiply-adds and training activation memory per image: concatenation keeps every map."""
    rows = []
    for name in designs:
        c = counted(PRESETS[name])
        rows.append({"preset": name, "params (M)": c.params / 1e6, "multiply-adds (M)": c.macs / 1e6,
                     "activations per image (MB)": c.activation_bytes / 2**20})
    return pd.DataFrame(rows)


def fresh(spec: ArchSpec = PRESETS["densenet40_k12"], seed: int = 0) -> nn.Module:
    """An untrained DenseNet, for the page to fall back on when the store has no trained one."""
    with seeded(seed):
        return build_model(spec).eval()


def trained_model(store: RunStore, runs: list[Run]) -> tuple[nn.Module | None, str | None, list[Skipped]]:
    """(the model, the id) of the first of `runs` whose checkpoint loads, or (None, None), and the runs skipped
    with their reasons (a truncated, malicious or mismatched checkpoint must not break the lesson for the class)."""
    skipped = []
    for run in runs:
        try:
            return load_run(store, run.id).model, run.id, skipped
        except CheckpointError as err:
            skipped.append(Skipped(run.id, str(err)))
    return None, None, skipped
