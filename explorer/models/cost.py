"""What a design costs: parameters, multiply-adds and activation memory per image, from one meta-device pass.

The model is built on PyTorch's meta device (shapes only, no storage), so counting allocates nothing and the
numbers always agree with the model that `build_model` returns. `trace` is that one build and one forward pass:
it also records the call order and shapes the drawings read, so a design's counts and pictures share one build.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from explorer.models.families import FAMILY_BUILDERS
from explorer.i18n import _
from explorer.models.fields import applies, short_label, unset_value
from explorer.models.plans import PLANS
from explorer.models.spec import MAX_ACTIVATION_BYTES, MAX_PARAMS, ArchSpec, SpecError, layout, validate


@dataclass(frozen=True)
class Cost:
    params: int  # trainable parameters
    macs: int  # multiply-adds of conv and fc layers for one forward pass of one image (the papers' "FLOPs")
    activation_bytes: int  # fp32 outputs of every leaf module for one image: what training keeps for backward
    weight_layers: int  # conv + fc layers on the longest path, as the papers count depth


# In-place initialisers and shape-preserving ops that only fill values: meaningless on the meta device, where
# PyTorch runs them through Python decompositions (He init and batch norm were ~80% of a ResNet-1202 count).
_VALUE_ONLY = frozenset({
    "uniform_", "normal_", "zero_", "fill_", "kaiming_uniform_", "kaiming_normal_", "constant_", "zeros_",
    "ones_", "trunc_normal_", "xavier_uniform_", "xavier_normal_", "orthogonal_",
})


class ShapesOnly(TorchFunctionMode):
    """Skip value-only work on meta tensors. A torch-function mode is thread-local, so a training thread running
    real forwards at the same time is unaffected."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        first = args[0] if args else None
        if isinstance(first, torch.Tensor) and first.is_meta:
            if func is F.batch_norm or getattr(func, "__name__", "") in _VALUE_ONLY:
                return first  # same shape, and values don't exist on meta
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cycle collector while building thousands of modules: its full passes over the growing
    object graph cost ~30% of building ResNet-1202. Process-wide, so only ever for one short build."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _macs_hook(counter: list[int]):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            counter[0] += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            counter[0] += output.numel() * module.in_features
        if isinstance(output, torch.Tensor) and not next(module.children(), None):
            counter[1] += output.numel() * 4
    return hook


def build_unchecked(spec: ArchSpec, device: str | torch.device = "cpu") -> nn.Module:
    """Build without validation or the budget check: for `cost` itself, which builds on the meta device, and
    for `build_model` after both (re-exported by explorer.models.builder)."""
    device = torch.device(device)
    with paused_gc():
        if device == torch.get_default_device():  # the device context would only add ~30% to building ResNet-1202
            return FAMILY_BUILDERS[spec.family](spec)
        with device:
            return FAMILY_BUILDERS[spec.family](spec)


def meta_model(spec: ArchSpec) -> nn.Module:
    """The spec's model on the meta device (shapes, no storage), built without its value-only init work."""
    with paused_gc(), ShapesOnly():
        return build_unchecked(spec, device="meta")


Shape = tuple[int, ...]  # (channels, height, width) of one image, or (features,) after the head's flatten


@dataclass(frozen=True)
class Trace:
    """One design built on the meta device and one forward pass of a meta image through it.

    `model` is shared by every caller of `trace` (the counts, both drawings, the summary): read it, never edit,
    re-initialise, train or move it; a forward pass over it must remove its hooks again (see draw.summary)."""
    model: nn.Module  # on the meta device, in eval mode
    order: tuple[str, ...]  # top-level modules in the order the forward pass calls them
    shapes: Mapping[str, tuple[Shape, Shape]]  # path -> (input, output) per image, for top-level modules and blocks
    input_shape: Shape
    cost: Cost


def _record(shapes: dict, order: list[str], path: str, top: bool):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(output, torch.Tensor) and isinstance(inputs[0], torch.Tensor):  # not a fractal join's list
            shapes[path] = (tuple(inputs[0].shape[1:]), tuple(output.shape[1:]))
        if top:
            order.append(path)
    return hook


@functools.lru_cache(maxsize=8)
def trace(spec: ArchSpec) -> Trace:
    """Build the spec's model on the meta device and run one meta image through it, counting multiply-adds and
    activations on every module and recording the shapes of the top two module levels. Does not validate (`cost`
    does). Cached for a few designs: a resnet1202 build and pass take about 1 s, and a page redraw needs its
    counts, overview and block detail together."""
    plan = layout(spec)
    size = plan.input_size
    with paused_gc(), ShapesOnly():
        model = meta_model(spec).eval()
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        counter = [0, 0]
        count = _macs_hook(counter)
        handles = [m.register_forward_hook(count) for m in model.modules()]
        shapes: dict[str, tuple[Shape, Shape]] = {}
        order: list[str] = []
        for name, child in model.named_children():
            handles.append(child.register_forward_hook(_record(shapes, order, name, True)))
            for sub, block in child.named_children():
                handles.append(block.register_forward_hook(_record(shapes, order, f"{name}.{sub}", False)))
        try:
            with torch.no_grad():
                model(torch.empty(1, 3, size, size, device="meta"))
        finally:
            for h in handles:
                h.remove()
    counts = Cost(params=params, macs=counter[0], activation_bytes=counter[1], weight_layers=plan.weight_layers)
    return Trace(model, tuple(order), MappingProxyType(shapes), (3, size, size), counts)


def cost(spec: ArchSpec) -> Cost:
    """Parameters, multiply-adds and activation memory per image. Validates the spec; cached by spec (and the
    model behind it by `trace`, for fewer designs)."""
    validate(spec)  # before the cache hashes the spec: ArchSpec(depth=[1]) is a SpecError, not a TypeError
    return _counted(spec)


@functools.lru_cache(maxsize=512)
def _counted(spec: ArchSpec) -> Cost:
    return trace(spec).cost


cost.cache_clear = _counted.cache_clear  # type: ignore[attr-defined]  # tests and benchmarks start cold


def check_budget(spec: ArchSpec) -> Cost:
    """Refuse a design over the parameter or activation budget, with the estimate and a fix, before allocating.
    The message blames the setting that made it too big, in the Build page's words (its label)."""
    c = cost(spec)
    if c.params <= MAX_PARAMS and c.activation_bytes <= MAX_ACTIVATION_BYTES:
        return c
    name, reset = _oversize_field(spec, by_params=c.params > MAX_PARAMS)
    label, value = short_label(name), getattr(spec, name)
    if c.params > MAX_PARAMS:
        if name == "width_factor":  # parameters grow with the square of the width
            smaller = max(1, math.floor(spec.width_factor * math.sqrt(MAX_PARAMS / c.params)))
            fix = _("try {label} {value}").format(label=label, value=smaller)
        else:
            fix = (_("try {label} {value}").format(label=label, value=reset) if reset is not None
                   else _("try a shallower or narrower design"))
        raise SpecError(name, _("{label} {value} gives about {params:,.0f}M parameters, over the {limit:.0f}M "
                                "limit; {fix}").format(label=label, value=value, params=c.params / 1e6,
                                                       limit=MAX_PARAMS / 1e6, fix=fix))
    fix = _("try {label} {value}").format(label=label, value=reset) if reset is not None else _("lower depth or width")
    raise SpecError(name, _("{label} {value} needs about {gib:.1f} GiB of activations per training image, over the "
                            "{limit:.0f} GiB limit; {fix}").format(label=label, value=value,
                                                                   gib=c.activation_bytes / 2**30,
                                                                   limit=MAX_ACTIVATION_BYTES / 2**30, fix=fix))


# The settings that make a design big: an over-budget design is blamed on the one of these whose own family value
# shrinks it most (cardinality 256 on ResNeXt-29 is the cardinality's fault, not the depth's).
SIZE_FIELDS = ("width_factor", "depth", "cardinality", "bottleneck_width", "base_width", "growth_rate",
               "pyramid_alpha", "pyramid_ratio", "fractal_columns", "fractal_blocks", "num_classes")


def _oversize_field(spec: ArchSpec, by_params: bool) -> tuple[str, Any]:
    """(field, the family's value for it that brings the design within budget, or None if none alone does);
    `by_params`: the parameters are over (else the activations), so the field that cuts them most is blamed."""
    canonical = PLANS[spec.family].default
    tried: list[tuple[int, bool, str, Any]] = []
    for name in SIZE_FIELDS:
        own = canonical.get(name, unset_value(name, spec))
        if not applies(name, spec.family) or getattr(spec, name) == own:
            continue
        try:
            smaller = cost(spec.replace(**{name: own}))
        except (SpecError, TypeError):
            continue  # the family's value does not combine with the rest of this design
        fits = smaller.params <= MAX_PARAMS and smaller.activation_bytes <= MAX_ACTIVATION_BYTES
        tried.append((smaller.params if by_params else smaller.activation_bytes, fits, name, own))
    if not tried:
        return ("width_factor" if spec.width_factor > 1 else "depth"), None
    _size, fits, name, own = min(tried, key=lambda t: (not t[1], t[0]))
    return name, own if fits else None
