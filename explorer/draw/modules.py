"""Reading a built model for the drawings: the text of one module from its own attributes, and its role from its
module tree. The model and its shapes come from `explorer.models.cost.trace`, the one meta build and forward pass
that also gives the design's counts; the drawings only read it.

Modules are recognised by their module tree (child names such as `residual`, `shortcut`, `merge`) and their
attributes (`stride`, `drop_prob`, `exclusive`), which the builder keeps stable, not by class names, which move
between modules. Nothing here reads the spec's fields: what is drawn is what was built.
"""

from __future__ import annotations

from torch import nn

from explorer.models.cost import Shape


def shape_of(shape: Shape) -> str:
    """C×H×W, or just C for a flat vector."""
    return "×".join(str(d) for d in shape)


def has(module: nn.Module, *names: str) -> bool:
    """Whether the module has all these children or attributes: how a drawing recognises a module's role."""
    return all(hasattr(module, n) for n in names)


def conv_text(conv: nn.Conv2d) -> str:
    k, s = conv.kernel_size[0], conv.stride[0]
    stride = f" /{s}" if s > 1 else ""
    if conv.groups == 1:
        return f"{k}×{k} conv{stride}, {conv.out_channels}"
    # ResNeXt Fig. 3(c): a grouped conv is C paths side by side, each seeing only its own slice of channels
    return (f"{k}×{k} conv{stride}, {conv.out_channels}, groups {conv.groups}\n"
            f"= {conv.groups} paths of {conv.in_channels // conv.groups}→{conv.out_channels // conv.groups} ch")


def _pool_text(pool: nn.Module, kind: str) -> str:
    k = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
    s = pool.stride if isinstance(pool.stride, int) else pool.stride[0]
    return f"{k}×{k} {kind}-pool /{s}"


def op(module: nn.Module) -> tuple[str, str] | None:
    """(kind, text) of one leaf operation, read from the module's own attributes; None for a pass-through."""
    if isinstance(module, (nn.Identity, nn.Flatten)):
        return None
    if isinstance(module, nn.Conv2d):
        return "conv", conv_text(module)
    if isinstance(module, nn.BatchNorm2d):
        return "norm", "BN"
    if isinstance(module, nn.ReLU):
        return "activation", "ReLU"
    if isinstance(module, nn.Dropout):
        return "regularizer", f"dropout p={module.p:g}"
    if isinstance(module, nn.MaxPool2d):
        return "pool", _pool_text(module, "max")
    if isinstance(module, nn.AvgPool2d):
        return "pool", _pool_text(module, "avg")
    if isinstance(module, nn.AdaptiveAvgPool2d):
        out = module.output_size if isinstance(module.output_size, int) else module.output_size[0]
        return "pool", "global avg-pool" if out == 1 else f"avg-pool to {out}×{out}"
    if isinstance(module, nn.Linear):
        return "conv", f"fc {module.in_features}→{module.out_features}"
    if has(module, "p", "mode") and not list(module.children()):  # torchvision's StochasticDepth
        return "regularizer", f"stochastic depth\ndrop branch ({module.mode}), p={module.p:.3g}"
    if has(module, "fc1", "fc2") and isinstance(module.fc1, nn.Conv2d):  # squeeze-excitation: fc1 squeezes
        c, s = module.fc1.in_channels, module.fc1.out_channels
        return "gate", f"squeeze-excitation, r={c // s}: {c}→{s}→{c}\navg-pool, fc, ReLU, fc, sigmoid, ×"
    if not list(module.children()):
        return "conv", type(module).__name__  # an operation this file has no words for: named, not hidden
    return None  # a container: `ops` reads its children


def ops(module: nn.Module, path: str) -> list[tuple[str, str, str]]:
    """(kind, text, module path) of each operation in a chain (a Sequential of leaves), in order."""
    found = op(module)
    if found is not None or not list(module.children()):
        return [(*found, path)] if found else []
    result = []
    for name, child in module.named_children():
        result += ops(child, f"{path}.{name}")
    return result


def shortcut_text(shortcut: nn.Module) -> str:
    """What a shortcut path does, one line per operation, read from the shortcut module."""
    if isinstance(shortcut, nn.Identity):
        return "shortcut: identity"
    if has(shortcut, "subsample", "stride", "in_channels", "out_channels"):  # zero-padded identity (option A)
        s = shortcut.stride
        resize = ("" if s == 1 else f"\n{s}×{s} avg-pool /{s}" if shortcut.subsample == "avgpool"
                  else f"\nsubsample /{s}")
        return f"shortcut: zero-pad\n{shortcut.in_channels}→{shortcut.out_channels} ch{resize}"
    if has(shortcut, "inner", "dropout"):
        return f"{shortcut_text(shortcut.inner)}\nthen dropout p={shortcut.dropout.p:g}"
    if has(shortcut, "conv1", "conv2", "bn", "stride"):  # Shake-Shake sec. 2.3: two shifted 1x1 paths
        s = f" /{shortcut.stride}" if shortcut.stride > 1 else ""
        return (f"shortcut: ReLU, 2 × (avg-pool{s}, 1×1 conv), concat, BN\n"
                f"{shortcut.conv1.out_channels} + {shortcut.conv2.out_channels} ch, the second shifted one pixel")
    if has(shortcut, "conv", "bn"):
        norm = "BN" if isinstance(shortcut.bn, nn.BatchNorm2d) else "no BN"
        return f"shortcut: projection\n{conv_text(shortcut.conv)}, {norm}"
    return f"shortcut: {type(shortcut).__name__}"


def block_form(module: nn.Module) -> str | None:
    """How a block wires its parts, recognised from its module tree; None for a module that is not a block.

      residual  x -> preact -> residual -> se -> stochastic_depth -> merge(F, shortcut(x)) -> post
      plain     x -> residual -> post
      paths     C paths (a ModuleList) -> sum or concat -> conv3 -> bn3 -> ... -> + shortcut(x) -> post
      shake     mix(branch1(x), branch2(x)) -> se -> stochastic_depth -> + shortcut(x)
      dense     concat(x, residual(x))
      highway   transform(x) * T + x * (1 - T), T = sigmoid(gate(x))
      fractal   widen -> C-column fractal path -> join -> pool
    """
    forms = (("shake", ("branch1", "branch2", "mix")), ("paths", ("paths", "shortcut")),
             ("highway", ("transform", "gate")), ("fractal", ("widen", "path", "join")),
             ("residual", ("residual", "shortcut")), ("plain", ("residual", "post")))
    for form, names in forms:
        if has(module, *names):
            return form
    names = [n for n, _ in module.named_children()]
    return "dense" if names == ["residual"] else None


def block_kind(block: nn.Module) -> str:
    """The block's name in the papers' words, for the overview's "kind × N"."""
    form = block_form(block)
    if form == "paths":
        return f"ResNeXt block (C={len(block.paths)})"
    if form in ("shake", "dense", "highway", "fractal"):
        return {"shake": "shake-shake block (2 branches)", "dense": "dense layer", "highway": "highway layer",
                "fractal": "fractal block"}[form]
    convs = [m for m in block.residual if isinstance(m, nn.Conv2d)]
    groups = max(c.groups for c in convs)
    if groups > 1:
        return f"ResNeXt block (C={groups})"
    kind = "bottleneck block" if len(convs) == 3 else "basic block"
    return f"plain {kind}" if form == "plain" else kind
