"""Lesson 2: vanishing gradients at initialization, no training.

One forward and one backward pass of a random batch through a plain or residual net, with the activation and
the weight init swapped in. For every weight layer we record the gradient norm that reaches its output and the
statistics of the activation that follows it. Identity Mappings (1603.05027) eq. (5):
    dL/dx_l = dL/dx_L (1 + d/dx_l sum_{i=l}^{L-1} F(x_i))
the "1" carries the gradient from the loss straight to any shallower unit, so a residual net's first layers
receive a gradient of the same order as its last; a plain net's gradient is a product of L Jacobians.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import torch
from torch import nn

from explorer.i18n import N_, _
from explorer.lessons.seeding import generator, seeded
from explorer.models.blocks import PlainBlock, ResidualBlock
from explorer.models.builder import build_model
from explorer.models.layers import he_init
from explorer.models.spec import ArchSpec

ActivationName = Literal["relu", "tanh", "sigmoid"]
InitName = Literal["he", "xavier"]

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
INITS: dict[str, str] = {
    "he": N_("He et al. 2015: N(0, 2 / fan_in)"),
    "xavier": N_("Xavier (Glorot) normal: N(0, 2 / (fan_in + fan_out))"),
}
MAX_PLAIN_DEPTH = 110  # He et al. 2015 trained plain nets up to 110 layers; residual nets go to 1202


def _swap(module: nn.Module, old: type[nn.Module], make: type[nn.Module]) -> None:
    for name, child in module.named_children():
        if isinstance(child, old):
            setattr(module, name, make())
        else:
            _swap(child, old, make)


def lesson_net(family: Literal["plain", "resnet"], depth: int, activation: ActivationName = "relu",
               init: InitName = "he", batchnorm: bool = True, seed: int = 0) -> nn.Module:
    """A CIFAR plain or ResNet of `depth` (6n+2) with its ReLUs, init and (optionally) BatchNorm replaced."""
    with seeded(seed):  # module init draws from the global RNG
        if family == "plain":
            model = build_model(ArchSpec(family="plain", depth=depth))
        else:
            model = build_model(ArchSpec(family="resnet", depth=depth, activation="full_preact"))
        if init == "xavier":
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_normal_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        else:
            he_init(model, fan="fan_in", linear="he")  # eq. (10): keeps the forward variance, fc included
    for block in model.modules():
        if isinstance(block, ResidualBlock):
            # Eq. (5) assumes h(x) = x: keep every activation off the shortcut path, even at the first
            # unit and at the stage boundaries where the zero-padded shortcut would see BN-ReLU(x).
            block.shared_preact = False
    if activation != "relu":
        _swap(model, nn.ReLU, ACTIVATIONS[activation])
    if not batchnorm:
        _swap(model, nn.BatchNorm2d, nn.Identity)
    return model


@dataclass(frozen=True)
class GradientProfile:
    layers: pd.DataFrame  # one row per weight layer: layer (1 = first conv), name, grad_norm
    activations: pd.DataFrame  # one row per activation module in forward order: index, mean, std, slope
    seconds: float  # wall time of the forward + backward pass

    def first_to_last(self) -> float:
        """|dL/d out| at the first weight layer over the same at the last conv: 1 = no vanishing."""
        convs = self.layers[self.layers["name"] != "head.fc"]["grad_norm"]
        return float(convs.iloc[0] / convs.iloc[-1])


def _slope(activation: str, out: torch.Tensor) -> torch.Tensor:
    """The activation's derivative, written in terms of its output (all three allow it)."""
    if activation == "sigmoid":
        return out * (1 - out)
    if activation == "tanh":
        return 1 - out * out
    return (out > 0).to(out.dtype)


def gradient_profile(family: Literal["plain", "resnet"], depth: int, activation: ActivationName = "relu",
                     init: InitName = "he", batchnorm: bool = True, batch_size: int = 8,
                     seed: int = 0, dtype: torch.dtype = torch.float32) -> GradientProfile:
    """One backward pass of cross-entropy on random images and labels.

    A plain net's gradient can fall below float32's range (1e-38) long before the first layer. Rather than pay
    for float64 (5x slower on CPUs), the backward pass is renormalised at every block boundary: the gradient
    leaving block b is divided by its norm n_b, and every layer inside block b is reported times the product of
    the n's from the top down to b, kept as a float64 logarithm. Backprop is linear in the incoming gradient,
    and a block boundary is a cut that all of it crosses, so the reported norms are exact up to rounding."""
    model = lesson_net(family, depth, activation, init, batchnorm, seed).to(dtype).train()
    gen = generator(seed)
    images = torch.randn(batch_size, 3, 32, 32, generator=gen).to(dtype)
    labels = torch.randint(0, 10, (batch_size,), generator=gen)
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    blocks = [n for n, m in model.named_modules() if isinstance(m, (ResidualBlock, PlainBlock))]
    outputs: dict[str, torch.Tensor] = {}
    log_scale: dict[str, float] = {}  # block name -> log10 of the factor its layers' gradients were divided by
    seen: list[float] = []  # log10 norms of the cuts crossed so far in the backward pass

    def keep(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            output.retain_grad()
            outputs[name] = output
        return hook

    def cut(name: str):
        def rescale(grad: torch.Tensor) -> torch.Tensor:
            norm = float(grad.norm())
            if norm == 0 or not math.isfinite(norm):
                log_scale[name] = sum(seen)
                return grad
            seen.append(math.log10(norm))
            log_scale[name] = sum(seen)
            return grad / norm

        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            output.register_hook(rescale)
        return hook

    acts: list[tuple[float, float, float]] = []

    def stats(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        out = output.detach()
        acts.append((float(out.mean()), float(out.std()), float(_slope(activation, out).mean())))

    act_type = ACTIVATIONS[activation]
    handles = [m.register_forward_hook(keep(n)) for n, m in layers]
    handles += [model.get_submodule(n).register_forward_hook(cut(n)) for n in blocks]
    handles += [m.register_forward_hook(stats) for m in model.modules() if isinstance(m, act_type)]
    start = time.perf_counter()
    try:
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    seconds = time.perf_counter() - start

    def owner(name: str) -> float:
        """log10 scale of a layer: that of its block; the stem sits below block 1; the head above every cut."""
        if name.startswith("head"):
            return 0.0
        block = next((b for b in blocks if name.startswith(b + ".")), blocks[0])
        return log_scale.get(block, 0.0)

    rows = []
    for i, (name, _) in enumerate(layers, start=1):
        measured = float(outputs[name].grad.double().norm())
        value = 0.0 if measured == 0 else 10 ** (math.log10(measured) + owner(name)) / batch_size
        rows.append({"layer": i, "name": name, "grad_norm": value})
    act_frame = pd.DataFrame(acts, columns=["mean", "std", "slope"])
    act_frame.insert(0, "index", range(1, len(act_frame) + 1))
    return GradientProfile(layers=pd.DataFrame(rows), activations=act_frame, seconds=seconds)


SAME_ORDER = 100.0  # a first-to-last ratio within this factor of 1 crosses the net; beyond it, it vanishes/explodes


KINDS = {"vanishes": N_("vanishes"), "explodes": N_("explodes"), "keeps": N_("keeps")}  # the verdicts' verbs


def verdict(ratios: dict[str, float]) -> list[str]:
    """What the chart on screen shows, one line per net (label -> first-to-last gradient ratio), then how the nets
    compare: the lesson's box says this, not a fixed expectation that a setting may contradict."""
    lines, kinds = [], {}
    for net, ratio in ratios.items():
        if not ratio > 0 or not math.isfinite(ratio):
            kinds[net] = "vanishes"
            lines.append(_("{net}: no gradient reaches the first layer (ratio {ratio}): it vanishes completely."
                           ).format(net=net, ratio=f"{ratio:.2g}"))
            continue
        orders = abs(math.log10(ratio))
        if ratio < 1 / SAME_ORDER:
            kinds[net] = "vanishes"
            lines.append(_("{net}: the first layer receives {ratio} of the last layer's gradient, {orders} "
                           "orders of magnitude less: the gradient **vanishes** on its way down."
                           ).format(net=net, ratio=f"{ratio:.2g}", orders=f"{orders:.0f}"))
        elif ratio > SAME_ORDER:
            kinds[net] = "explodes"
            lines.append(_("{net}: the first layer receives {ratio} times the last layer's gradient, {orders} "
                           "orders of magnitude more: the gradient **explodes** on its way down."
                           ).format(net=net, ratio=f"{ratio:.2g}", orders=f"{orders:.0f}"))
        else:
            kinds[net] = "keeps"
            lines.append(_("{net}: the first layer receives {ratio} times the last layer's gradient, within a "
                           "factor of {factor}: the gradient crosses the whole net."
                           ).format(net=net, ratio=f"{ratio:.2g}", factor=f"{SAME_ORDER:.0f}"))
    plain = [net for net in kinds if net.startswith("plain")]
    residual = [net for net in kinds if not net.startswith("plain")]
    if plain and residual:
        p, r = plain[0], residual[0]
        if kinds[p] != "keeps" and kinds[r] == "keeps":
            # TRANSLATORS: {kind} is "vanishes" or "explodes", translated on its own
            lines.append(_("The shortcut rescues it: {residual} keeps the gradient's scale where {plain}'s gradient "
                           "{kind}.").format(residual=r, plain=p, kind=_(KINDS[kinds[p]])))
        elif kinds[p] == "keeps" and kinds[r] == "keeps":
            lines.append(_("Both nets pass the gradient down in this setting, so the shortcut is not what saves the "
                           "plain net here; try sigmoid without BatchNorm to see the difference."))
        elif kinds[r] != "keeps":
            lines.append(_("Even {residual}'s gradient {kind} here: the residual branches add up over many blocks."
                           ).format(residual=r, kind=_(KINDS[kinds[r]])))
    return lines
