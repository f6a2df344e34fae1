"""What a design costs: parameters, multiply-adds and activation memory per image, from one meta-device pass.

The model is built on PyTorch's meta device (shapes only, no storage), so counting allocates nothing and the
numbers always agree with the model that `build_model` returns.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from explorer.spec import MAX_ACTIVATION_BYTES, MAX_PARAMS, ArchSpec, SpecError, layout, validate


@dataclass(frozen=True)
class Cost:
    params: int  # trainable parameters
    macs: int  # multiply-adds of conv and fc layers for one forward pass of one image (the papers' "FLOPs")
    activation_bytes: int  # fp32 outputs of every leaf module for one image: what training keeps for backward
    weight_layers: int  # conv + fc layers on the longest path, as the papers count depth


def _macs_hook(counter: list[int]):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            counter[0] += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            counter[0] += output.numel() * module.in_features
        if isinstance(output, torch.Tensor) and not list(module.children()):
            counter[1] += output.numel() * 4
    return hook


@functools.lru_cache(maxsize=512)
def cost(spec: ArchSpec) -> Cost:
    """Parameters, multiply-adds and activation memory per image. Validates the spec; cached by spec."""
    from explorer.builder import build_unchecked

    validate(spec)
    model = build_unchecked(spec, device="meta").eval()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    counter = [0, 0]
    handles = [m.register_forward_hook(_macs_hook(counter)) for m in model.modules()]
    plan = layout(spec)
    with torch.no_grad():
        model(torch.empty(1, 3, plan.input_size, plan.input_size, device="meta"))
    for h in handles:
        h.remove()
    return Cost(params=params, macs=counter[0], activation_bytes=counter[1], weight_layers=plan.weight_layers)


def check_budget(spec: ArchSpec) -> Cost:
    """Refuse a design over the parameter or activation budget, with the estimate, before allocating it."""
    c = cost(spec)
    field = "width_factor" if spec.width_factor > 1 else "depth"
    if c.params > MAX_PARAMS:
        raise SpecError(field, f"this design has about {c.params / 1e6:,.0f}M parameters, over the "
                               f"{MAX_PARAMS / 1e6:.0f}M limit; lower depth or width_factor")
    if c.activation_bytes > MAX_ACTIVATION_BYTES:
        raise SpecError(field, f"this design needs about {c.activation_bytes / 2**30:.1f} GiB of activations per "
                               f"training image, over the {MAX_ACTIVATION_BYTES / 2**30:.0f} GiB limit; "
                               "lower depth or width")
    return c
