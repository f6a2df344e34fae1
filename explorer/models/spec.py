"""ArchSpec: one validated description of any residual-family design, as plain data (no torch).

Everything the app shows (graph, summary, costs, training) starts from an ArchSpec. `layout()` derives the
per-stage widths, block counts and spatial sizes in one place; the builder and the renderers both read it,
so the graph can never disagree with the model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

Family = Literal[
    "plain", "resnet", "wrn", "resnext", "shake_shake", "pyramidnet", "densenet", "highway", "fractalnet", "vgg"
]
Block = Literal["basic", "bottleneck"]
Stem = Literal["cifar", "imagenet"]
ShortcutOption = Literal["A", "B", "C"]  # He et al. 2015, sec. 4.1: A zero-pad, B project on change, C project all
ShortcutVariant = Literal[
    "identity", "constant_scaling", "exclusive_gating", "shortcut_only_gating", "conv1x1", "dropout"
]  # Identity Mappings (1603.05027), Table 1 / Fig. 2
Activation = Literal[
    "original", "bn_after_add", "relu_before_add", "relu_only_preact", "full_preact"
]  # Identity Mappings, Table 2 / Fig. 4 (a)-(e)
ResNeXtForm = Literal["grouped", "split", "concat"]  # ResNeXt Fig. 3 (c), (a), (b)
ShakeForward = Literal["shake", "even"]
ShakeBackward = Literal["shake", "even", "keep"]
ShakeLevel = Literal["batch", "image"]
Widening = Literal["additive", "multiplicative"]

FAMILY_LABELS: dict[str, str] = {
    "plain": "Plain (no shortcuts)",
    "vgg": "VGG",
    "highway": "Highway",
    "resnet": "ResNet / pre-activation",
    "wrn": "Wide ResNet",
    "resnext": "ResNeXt",
    "shake_shake": "Shake-Shake",
    "pyramidnet": "PyramidNet",
    "densenet": "DenseNet",
    "fractalnet": "FractalNet",
}

# Budget for one design: refused above these, before anything is allocated.
MAX_PARAMS = 250_000_000  # vgg16 (138M) and resnext101_32x8d (89M) fit; resnet1202 at k=10 (~1.9G) does not
MAX_ACTIVATION_BYTES = 3 * 2**30  # fp32 activations kept for backward, for one training image
MAX_DEPTH = 2000  # deepest published CIFAR net is 1202 layers

IMAGENET_RESNET_STAGES: dict[int, tuple[Block, tuple[int, ...]]] = {  # He et al. 2015, Table 1
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_DENSENET_BLOCKS: dict[int, tuple[int, ...]] = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}
VGG_CONFIGS: dict[int, tuple[tuple[int, ...], ...]] = {  # Simonyan & Zisserman 2014, Table 1 (A, B, D, E)
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}
FRACTAL_WIDTHS = (64, 128, 256, 512, 512, 512, 512, 512)  # Larsson et al. 2016, sec. 4.1: doubles, capped at 512
# Srivastava et al. 2015 do not print their CIFAR widths. These give highway19 (6+6+5 highway layers) 2,295,722
# parameters, the published "2.3M"; plain doubling (32, 64, 128) would give 2.04M.
HIGHWAY_WIDTHS = (32, 80, 128)
RESIDUAL_FAMILIES = ("resnet", "wrn", "resnext", "shake_shake", "pyramidnet")


class SpecError(ValueError):
    """An invalid design. The message names the field, the rule, the value and a fix."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, kw_only=True)
class ArchSpec:
    """A design from the residual-network papers. Defaults are ResNet-20 on CIFAR-10 (He et al. 2015)."""

    family: Family = "resnet"  # which paper's network: selects the builder
    block: Block = "basic"  # "basic" (two 3x3) or "bottleneck" (1x1-3x3-1x1); DenseNet-B when "bottleneck"
    depth: int = 20  # weight layers as the papers count them (ResNet 6n+2, preact bottleneck 9n+2, WRN 6n+4)
    stem: Stem = "cifar"  # "cifar": 3x3 conv on 32x32; "imagenet": 7x7/2 conv + 3x3/2 max-pool on 224x224
    num_classes: int = 10  # classifier outputs (CIFAR-10: 10, ImageNet: 1000)
    base_width: int | None = None  # stage-1 width before k; None: the paper's (16 CIFAR, 64 ImageNet, 32 Shake)
    width_factor: int = 1  # WRN "k": multiplies every stage width (ImageNet bottleneck: the inner width only)
    cardinality: int = 1  # ResNeXt "C": number of parallel paths (groups of the 3x3 conv)
    bottleneck_width: int = 64  # ResNeXt "d": width of one path in stage 1, doubled each stage
    shortcut: ShortcutOption = "A"  # He et al. 2015: A zero-padded identity, B projection on change, C always
    shortcut_variant: ShortcutVariant = "identity"  # Identity Mappings Table 1: what the shortcut path does
    shortcut_scale: float = 1.0  # Table 1 "constant scaling": lambda on the shortcut
    residual_scale: float = 1.0  # Table 1 "constant scaling": lambda on F
    gate_bias: float = 0.0  # gate bias init b_g: Table 1 gating (-6 works) and Highway carry bias (-1 .. -3)
    shortcut_dropout: float = 0.5  # Table 1 "dropout shortcut": drop probability on the shortcut
    activation: Activation = "original"  # Identity Mappings Table 2: where BN/ReLU sit around the addition
    dropout: float = 0.0  # WRN: dropout probability between the two convs of a block (0.3 in the paper)
    stochastic_depth: float = 0.0  # ResDrop (1603.09382) "p_L": drop prob. of the last block, linear from 0
    se_reduction: int = 0  # SE (1709.01507) "r": squeeze-and-excitation on each residual block; 0 = off
    zero_init_residual: bool = False  # zero-init the last BN of each branch (Goyal et al. 2017, 1706.02677)
    resnext_form: ResNeXtForm = "grouped"  # ResNeXt Fig. 3: grouped conv, split-transform-merge, early concat
    shake_forward: ShakeForward = "shake"  # Shake-Shake alpha: "shake" random per pass, "even" 0.5
    shake_backward: ShakeBackward = "shake"  # Shake-Shake beta: "shake" new random, "even" 0.5, "keep" = alpha
    shake_level: ShakeLevel = "image"  # Shake-Shake: one coefficient per "batch" or per "image"
    pyramid_alpha: int = 48  # PyramidNet "alpha": total width added across all blocks
    pyramid_widening: Widening = "additive"  # PyramidNet: widths grow linearly or geometrically
    growth_rate: int = 12  # DenseNet "k": channels each layer adds
    compression: float = 1.0  # DenseNet "theta": transition keeps this fraction of channels (C: 0.5)
    fractal_columns: int = 3  # FractalNet "C": columns; the deepest has 2^(C-1) convs per block
    fractal_blocks: int = 5  # FractalNet "B": fractal blocks, each followed by 2x2 max-pool
    drop_path_local: float = 0.15  # FractalNet local drop-path: probability of dropping each join input
    drop_path_global: float = 0.5  # FractalNet: fraction of batches trained on one global column

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> ArchSpec:
        """Build and validate a spec from untrusted data; missing fields take the family's canonical preset."""
        known = known_fields(cls, data, "spec")
        family = data.get("family", "resnet")
        _check_choice("family", family, Family)
        from explorer.models.presets import FAMILY_DEFAULTS

        base = FAMILY_DEFAULTS[family].to_dict()
        values = {name: _coerce(known[name], name, value) for name, value in data.items()}
        spec = cls(**{**base, **values})
        validate(spec)
        return spec

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError, RecursionError) as err:
            raise SpecError("spec", f"not valid JSON ({err}); paste the JSON that 'Download spec' gives") from None
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> ArchSpec:
        return dataclasses.replace(self, **changes)


def known_fields(cls: type, data: Any, what: str, noun: str = "field") -> dict[str, dataclasses.Field]:
    """The dataclass's fields, after checking that untrusted `data` is a dict naming only those fields."""
    if not isinstance(data, dict):
        raise SpecError(what, f"expected a JSON object of {noun}s; got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise SpecError(unknown[0], f"unknown {noun}; choose from {', '.join(known)}")
    return known


def coerce(name: str, kind: Any, value: Any, literals: dict[str, Any]) -> Any:
    """Check one untrusted value against a field's type (JSON has no int/float distinction for whole floats).

    `kind` is the field's annotation (a string under `from __future__ import annotations`); `literals` maps the
    names of the module's Literal types to those types.
    """
    kind = kind if isinstance(kind, str) else str(kind)
    if kind in literals:
        _check_choice(name, value, literals[kind])
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(name, f"must be true or false; got {value!r}")
        return value
    if kind in ("int", "int | None"):
        if value is None and kind == "int | None":
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(name, f"must be a whole number; got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(name, f"must be a finite number; got {value!r}")
        return float(value)
    if kind == "tuple[float, ...]":
        if not isinstance(value, (list, tuple)):
            raise SpecError(name, f"must be a list of numbers, like [0.5, 0.75]; got {value!r}")
        return tuple(coerce(name, "float", v, literals) for v in value)
    raise AssertionError(f"unhandled field type {kind} for {name}")


def _coerce(f: dataclasses.Field, name: str, value: Any) -> Any:
    return coerce(name, f.type, value, _LITERALS)


_LITERALS: dict[str, Any] = {
    "Family": Family, "Block": Block, "Stem": Stem, "ShortcutOption": ShortcutOption,
    "ShortcutVariant": ShortcutVariant, "Activation": Activation, "ResNeXtForm": ResNeXtForm,
    "ShakeForward": ShakeForward, "ShakeBackward": ShakeBackward, "ShakeLevel": ShakeLevel, "Widening": Widening,
}


def _check_choice(name: str, value: Any, literal: Any) -> None:
    choices = get_args(literal)
    if value not in choices:
        raise SpecError(name, f"unknown value {value!r}; choose from {', '.join(map(str, choices))}")


def _nearest(valid: list[int], value: int) -> str:
    below = [v for v in valid if v < value]
    above = [v for v in valid if v > value]
    picks = ([max(below)] if below else []) + ([min(above)] if above else [])
    return " or ".join(map(str, picks))


def depth_rule(spec: ArchSpec) -> tuple[str, list[int]]:
    """The family's depth rule in the paper's words, and the first valid depths (for messages and widgets)."""
    if spec.family == "vgg":
        return "VGG has 11, 13, 16 or 19 layers", sorted(VGG_CONFIGS)
    if spec.family == "fractalnet":
        d = spec.fractal_blocks * 2 ** (spec.fractal_columns - 1)
        return f"FractalNet depth is B x 2^(C-1) = {d} for B={spec.fractal_blocks}, C={spec.fractal_columns}", [d]
    if spec.family == "highway":
        return "a Highway net has a stem, at least 3 highway layers and a classifier (5 or more)", list(range(5, 41))
    if spec.stem == "imagenet":
        if spec.family == "densenet":
            return "ImageNet DenseNet has 121, 169 or 201 layers", sorted(IMAGENET_DENSENET_BLOCKS)
        if spec.family in ("wrn", "resnext"):
            return f"an ImageNet {FAMILY_LABELS[spec.family]} has 50, 101 or 152 layers", [50, 101, 152]
        return "an ImageNet ResNet has 18, 34, 50, 101 or 152 layers", sorted(IMAGENET_RESNET_STAGES)
    step, offset, what = _cifar_step(spec)
    return f"a CIFAR {what} has {step}n+{offset} layers", [step * n + offset for n in range(1, 400)]


def _cifar_step(spec: ArchSpec) -> tuple[int, int, str]:
    if spec.family == "wrn":
        return 6, 4, "Wide ResNet"
    if spec.family == "densenet":
        return (6, 4, "DenseNet-B") if spec.block == "bottleneck" else (3, 4, "DenseNet")
    if spec.family == "resnext":
        return 9, 2, "ResNeXt"
    name = FAMILY_LABELS[spec.family].split(" ")[0]
    return (9, 2, f"bottleneck {name}") if spec.block == "bottleneck" else (6, 2, name)


# Which families each non-default setting belongs to. Defaults are always allowed.
_APPLIES: dict[str, tuple[str, ...]] = {
    "width_factor": ("plain", "resnet", "wrn"),  # PyramidNet sets its widths by alpha alone
    "cardinality": ("resnext",),
    "bottleneck_width": ("resnext",),
    "shortcut": ("resnet", "wrn", "resnext"),
    "shortcut_variant": ("resnet",),
    "shortcut_scale": ("resnet",),
    "residual_scale": ("resnet",),
    "gate_bias": ("resnet", "highway"),
    "shortcut_dropout": ("resnet",),
    "activation": ("resnet", "wrn"),
    "dropout": ("wrn", "resnet", "densenet"),
    "stochastic_depth": RESIDUAL_FAMILIES,
    "se_reduction": RESIDUAL_FAMILIES,
    "zero_init_residual": RESIDUAL_FAMILIES,
    "resnext_form": ("resnext",),
    "shake_forward": ("shake_shake",),
    "shake_backward": ("shake_shake",),
    "shake_level": ("shake_shake",),
    "pyramid_alpha": ("pyramidnet",),
    "pyramid_widening": ("pyramidnet",),
    "growth_rate": ("densenet",),
    "compression": ("densenet",),
    "fractal_columns": ("fractalnet",),
    "fractal_blocks": ("fractalnet",),
    "drop_path_local": ("fractalnet",),
    "drop_path_global": ("fractalnet",),
}
_DEFAULTS = {f.name: f.default for f in fields(ArchSpec)}


def applies(field: str, family: str) -> bool:
    """Whether a setting means anything for a family (the UI hides the ones that don't)."""
    return family in _APPLIES.get(field, (family,))


def validate(spec: ArchSpec) -> None:
    """Raise SpecError for the first rule the spec breaks. Cheap: no torch, nothing allocated."""
    for f in fields(spec):
        _coerce(f, f.name, getattr(spec, f.name))
    for name, families in _APPLIES.items():
        value = getattr(spec, name)
        if spec.family not in families and value != _DEFAULTS[name]:
            names = ", ".join(FAMILY_LABELS[f] for f in families)
            raise SpecError(name, f"only applies to {names}; got {value!r} for {FAMILY_LABELS[spec.family]}, "
                                  f"reset it to {_DEFAULTS[name]!r}")
    _check_range("num_classes", spec.num_classes, 2, 100_000)
    if spec.base_width is not None:
        _check_range("base_width", spec.base_width, 1, 1024)
    _check_range("width_factor", spec.width_factor, 1, 64)
    _check_range("cardinality", spec.cardinality, 1, 256)
    _check_range("bottleneck_width", spec.bottleneck_width, 1, 1024)
    _check_range("se_reduction", spec.se_reduction, 0, 1024)
    _check_range("pyramid_alpha", spec.pyramid_alpha, 0, 4096)
    _check_range("growth_rate", spec.growth_rate, 1, 512)
    _check_range("fractal_columns", spec.fractal_columns, 1, 6)
    _check_range("fractal_blocks", spec.fractal_blocks, 1, 5)
    for name in ("dropout", "stochastic_depth", "shortcut_dropout", "drop_path_local", "drop_path_global"):
        _check_fraction(name, getattr(spec, name), upper_open=name != "drop_path_global")
    for name in ("shortcut_scale", "residual_scale"):
        _check_range(name, getattr(spec, name), 0.0, 10.0)
    _check_range("gate_bias", spec.gate_bias, -20.0, 20.0)
    if not 0.0 < spec.compression <= 1.0:
        raise SpecError("compression", f"DenseNet theta must be in (0, 1]; got {spec.compression}, try 0.5")
    if spec.family in ("shake_shake", "pyramidnet", "highway", "fractalnet") and spec.stem != "cifar":
        # before the depth rule, which depends on the stem
        raise SpecError("stem", f"{FAMILY_LABELS[spec.family]} is a CIFAR design; got {spec.stem!r}, use 'cifar'")
    _check_depth(spec)
    _check_family_rules(spec)
    _check_widths(spec)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        fix = low if value < low else high
        raise SpecError(name, f"must be between {low} and {high}; got {value}, try {fix}")


def _check_fraction(name: str, value: float, upper_open: bool) -> None:
    ok = 0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0
    if not ok:
        raise SpecError(name, f"is a probability in [0, 1{')' if upper_open else ']'}; got {value}, try 0.0")


# Depths the papers used, per CIFAR depth rule (step, offset): the examples a depth message quotes.
_PAPER_DEPTHS: dict[tuple[int, int], tuple[int, ...]] = {
    (6, 2): (20, 32, 44, 56, 110),  # He et al. 2015, Table 6
    (9, 2): (29, 110, 164, 272, 1001),  # ResNeXt-29, preact bottleneck 164/1001, PyramidNet-272
    (6, 4): (16, 22, 28, 40, 100),  # WRN-d-k; DenseNet-BC 100
    (3, 4): (40, 100),  # DenseNet L=40, 100
}


def _check_depth(spec: ArchSpec) -> None:
    if spec.depth < 1 or spec.depth > MAX_DEPTH:
        raise SpecError("depth", f"must be between 1 and {MAX_DEPTH} layers; got {spec.depth}, try 20")
    rule, valid = depth_rule(spec)
    if spec.family == "fractalnet":
        if spec.depth != valid[0]:
            raise SpecError("depth", f"{rule}; got {spec.depth}, set depth to {valid[0]} or change B and C")
        return
    if spec.family == "highway":
        if spec.depth < 5:
            raise SpecError("depth", f"{rule}; got {spec.depth}, try 19")
        return
    if spec.stem == "cifar" and spec.family not in ("vgg",):
        step, offset, _ = _cifar_step(spec)
        if spec.depth < step + offset or (spec.depth - offset) % step:
            examples = ", ".join(map(str, _PAPER_DEPTHS.get((step, offset), ())))
            raise SpecError("depth", f"{rule} ({examples}, ...); got {spec.depth}, "
                                     f"try {_nearest([step * n + offset for n in range(1, 400)], spec.depth)}")
        return
    if spec.depth not in valid:
        raise SpecError("depth", f"{rule}; got {spec.depth}, try {_nearest(valid, spec.depth)}")


def _check_family_rules(spec: ArchSpec) -> None:
    f = spec.family
    if f == "resnext" and spec.block != "bottleneck":
        raise SpecError("block", f"ResNeXt uses bottleneck blocks; got {spec.block!r}, use 'bottleneck'")
    if f in ("shake_shake", "highway", "vgg", "fractalnet") and spec.block != "basic":
        raise SpecError("block", f"{FAMILY_LABELS[f]} has one block type; got {spec.block!r}, use 'basic'")
    if f == "wrn" and spec.stem == "cifar" and spec.block != "basic":
        raise SpecError("block", f"a CIFAR Wide ResNet uses basic blocks; got {spec.block!r}, use 'basic'")
    if spec.stem == "imagenet" and f in ("plain", "resnet", "wrn", "resnext"):
        block = IMAGENET_RESNET_STAGES[spec.depth][0]
        if spec.block != block:
            raise SpecError("block", f"ImageNet {FAMILY_LABELS[f]}-{spec.depth} uses {block} blocks; "
                                     f"got {spec.block!r}, use {block!r}")
    if f == "resnet":
        gated = spec.shortcut_variant in ("exclusive_gating", "shortcut_only_gating")
        if spec.gate_bias != 0.0 and not gated:
            raise SpecError("gate_bias", f"only used by the gating shortcut variants; got {spec.gate_bias}, "
                                         "set shortcut_variant to 'exclusive_gating' or reset gate_bias to 0")
        scaled = (spec.shortcut_scale, spec.residual_scale) != (1.0, 1.0)
        if scaled and spec.shortcut_variant != "constant_scaling":
            raise SpecError("shortcut_scale", "scales only apply to shortcut_variant 'constant_scaling'; "
                                              f"got {spec.shortcut_variant!r}, choose it or reset both scales to 1")
        if spec.shortcut_variant != "identity" and spec.activation != "original":
            raise SpecError("shortcut_variant", "Table 1's shortcut variants use the original unit; got "
                                                f"activation {spec.activation!r}, use activation 'original'")
        if spec.shortcut_dropout != 0.5 and spec.shortcut_variant != "dropout":
            raise SpecError("shortcut_dropout", "only used by shortcut_variant 'dropout'; "
                                                f"got {spec.shortcut_dropout}, reset it to 0.5")
    if f == "resnext":
        for stage in layout(spec).stages:
            width = stage.inner_widths[0]
            if width % spec.cardinality:  # a grouped conv needs whole groups
                raise SpecError("cardinality", f"C={spec.cardinality} groups must divide the grouped conv width "
                                               f"{width} of {stage.name}; choose C dividing {width}")
    if f == "shake_shake" and default_base_width(spec) < 2:
        raise SpecError("base_width", "Shake-Shake's shortcut concatenates two 1x1 convs of half the width each, "
                                      f"so widths need 2 channels or more; got {spec.base_width}, try 32")
    if spec.zero_init_residual and spec.activation in ("full_preact", "bn_after_add"):
        raise SpecError("zero_init_residual", f"activation {spec.activation!r} leaves no BN at the end of the "
                                              "residual branch to zero; turn it off or use activation 'original'")
    if spec.se_reduction:
        widths = [w for s in layout(spec).stages for w in s.block_widths]
        if spec.se_reduction > min(widths):
            raise SpecError("se_reduction", f"r={spec.se_reduction} leaves no channels in the narrowest block "
                                            f"({min(widths)} channels); try 16")


def _check_widths(spec: ArchSpec) -> None:
    """Every stage must keep at least one channel (DenseNet's compression floors the transition width), and a
    zero-padded (option A) shortcut can only widen."""
    zero_pad = spec.family in ("resnet", "wrn") and spec.shortcut == "A" and spec.shortcut_variant != "conv1x1"
    for stage in layout(spec).stages:
        narrowest = min(stage.in_channels, *stage.block_widths, *stage.inner_widths)
        if narrowest < 1:
            field = "compression" if spec.family == "densenet" else "base_width"
            fix = "try 0.5" if field == "compression" else "try 16"
            raise SpecError(field, f"leaves {stage.name} with {narrowest} channels; got {getattr(spec, field)}, {fix}")
        ins = (stage.in_channels, *stage.block_widths[:-1])
        for c_in, c_out in zip(ins, stage.block_widths):
            if zero_pad and c_out < c_in:
                raise SpecError("base_width", f"option A's zero-padded shortcut cannot shrink {c_in} channels to "
                                              f"{c_out} in {stage.name}; got base_width {spec.base_width}, "
                                              f"try {c_in} or shortcut 'B'")


@dataclass(frozen=True, kw_only=True)
class StagePlan:
    """One stage: blocks between two downsamplings (a dense block, a fractal block, a VGG conv group)."""

    name: str  # module name, e.g. "stage1"
    kind: str  # block kind shown in graphs: "basic", "bottleneck", "dense", "fractal", "highway", "conv"
    num_blocks: int  # blocks (DenseNet: layers; VGG: convs) in this stage
    in_channels: int
    block_widths: tuple[int, ...]  # output channels of each block (PyramidNet widens every block)
    inner_widths: tuple[int, ...]  # bottleneck / grouped-conv width of each block (== output for basic)
    stride: int  # stride of the stage's first block
    in_size: int  # spatial size entering the stage
    out_size: int  # spatial size leaving the stage

    @property
    def out_channels(self) -> int:
        return self.block_widths[-1]


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Derived quantities read by the builder and the renderers alike."""

    input_size: int  # 32 (CIFAR) or 224 (ImageNet)
    stem_channels: int
    stem_size: int  # spatial size after the stem
    stages: tuple[StagePlan, ...]
    head_in: int  # channels entering the classifier
    weight_layers: int  # conv + fc layers on the longest path, as the papers count depth


def default_base_width(spec: ArchSpec) -> int:
    if spec.base_width is not None:
        return spec.base_width
    if spec.stem == "imagenet" or spec.family in ("resnext", "vgg", "fractalnet"):
        return 64
    return {"shake_shake": 32, "highway": HIGHWAY_WIDTHS[0]}.get(spec.family, 16)


def layout(spec: ArchSpec) -> Layout:
    """Per-stage widths, block counts and sizes of a spec (assumed valid)."""
    size = 224 if spec.stem == "imagenet" else 32
    stem_size = size // 4 if spec.stem == "imagenet" else size
    base = default_base_width(spec)
    f = spec.family
    if f == "vgg":
        return _vgg_layout(spec, size, base)
    if f == "densenet":
        return _densenet_layout(spec, size, stem_size)
    if f == "fractalnet":
        return _fractal_layout(spec, size, base)
    if f == "highway":
        return _highway_layout(spec, size, base)
    return _residual_layout(spec, size, stem_size, base)


def blocks_per_stage(spec: ArchSpec) -> tuple[int, ...]:
    if spec.stem == "imagenet":
        return IMAGENET_RESNET_STAGES[spec.depth][1]
    step, offset, _ = _cifar_step(spec)
    n = (spec.depth - offset) // step
    stages = 3
    return (n,) * stages


def _residual_layout(spec: ArchSpec, size: int, stem_size: int, base: int) -> Layout:
    counts = blocks_per_stage(spec)
    bottleneck = spec.block == "bottleneck"
    expansion = 4 if bottleneck else 1
    imagenet = spec.stem == "imagenet"
    k = spec.width_factor
    if spec.family == "pyramidnet":
        return _pyramid_layout(spec, size, counts, expansion)
    stem_channels = base if (imagenet or spec.family in ("resnext",)) else 16
    if spec.family == "shake_shake":
        stem_channels = 16
    stages, in_ch, cur = [], stem_channels, stem_size
    for i, n in enumerate(counts):
        if spec.family == "resnext":
            inner = spec.cardinality * spec.bottleneck_width * 2**i
            out = base * 2**i * expansion
        elif bottleneck:
            inner = base * 2**i * (k if imagenet else k)
            out = base * 2**i * expansion * (1 if imagenet else k)
        else:
            inner = out = base * 2**i * k
        stride = 1 if i == 0 else 2
        stages.append(StagePlan(name=f"stage{i + 1}", kind=spec.block, num_blocks=n, in_channels=in_ch,
                                block_widths=(out,) * n, inner_widths=(inner,) * n, stride=stride,
                                in_size=cur, out_size=cur // stride))
        in_ch, cur = out, cur // stride
    convs_per_block = 3 if bottleneck else 2
    weight_layers = 1 + sum(counts) * convs_per_block + 1
    if spec.family == "wrn" and not imagenet:
        weight_layers = spec.depth  # WRN counts its 1x1 projections: 6n+4
    return Layout(input_size=size, stem_channels=stem_channels, stem_size=stem_size, stages=tuple(stages),
                  head_in=in_ch, weight_layers=weight_layers)


def _pyramid_layout(spec: ArchSpec, size: int, counts: tuple[int, ...], expansion: int) -> Layout:
    """Han et al. 2017, eq. (2): block k of N has floor(16 + k * alpha / N) channels (additive), or, eq. (3),
    floor(16 * r^k) with r chosen so the last block also reaches 16 + alpha (multiplicative).

    Additive widths use exact integer arithmetic: a float running sum (as in the author's code) lands on
    215.999... instead of 216 and changes pyramidnet272_a200_bottleneck's count. floor (the paper's equation)
    matches the printed 1.7M and 26.0M; the author's PyTorch code rounds instead (1.8M, 26.2M)."""
    total = sum(counts)
    start, stages, in_ch, cur, index = 16, [], 16, size, 0
    factor = (1 + spec.pyramid_alpha / start) ** (1 / total)
    for i, n in enumerate(counts):
        outs, inners = [], []
        for _ in range(n):
            index += 1
            if spec.pyramid_widening == "additive":
                width = start + spec.pyramid_alpha * index // total
            else:
                width = int(math.floor(start * factor**index + 1e-9))
            inners.append(width)
            outs.append(width * expansion)
        stride = 1 if i == 0 else 2
        stages.append(StagePlan(name=f"stage{i + 1}", kind=spec.block, num_blocks=n, in_channels=in_ch,
                                block_widths=tuple(outs), inner_widths=tuple(inners), stride=stride,
                                in_size=cur, out_size=cur // stride))
        in_ch, cur = outs[-1], cur // stride
    layers = 1 + total * (3 if expansion == 4 else 2) + 1
    return Layout(input_size=size, stem_channels=start, stem_size=size, stages=tuple(stages),
                  head_in=in_ch, weight_layers=layers)


def _densenet_layout(spec: ArchSpec, size: int, stem_size: int) -> Layout:
    k = spec.growth_rate
    bottleneck = spec.block == "bottleneck"
    if spec.stem == "imagenet":
        counts, in_ch = IMAGENET_DENSENET_BLOCKS[spec.depth], 2 * k
    else:
        n = (spec.depth - 4) // (6 if bottleneck else 3)
        counts = (n, n, n)
        in_ch = 2 * k if (bottleneck or spec.compression < 1) else 16  # Huang et al. sec. 3: 16, or 2k for BC
    stages, cur = [], stem_size
    for i, n in enumerate(counts):
        widths = tuple(in_ch + k * (j + 1) for j in range(n))
        last = i == len(counts) - 1
        stages.append(StagePlan(name=f"stage{i + 1}", kind="dense", num_blocks=n, in_channels=in_ch,
                                block_widths=widths, inner_widths=(4 * k if bottleneck else k,) * n, stride=1,
                                in_size=cur, out_size=cur if last else cur // 2))
        out = widths[-1]
        in_ch = out if last else int(math.floor(out * spec.compression))
        cur = cur if last else cur // 2
    layers = 1 + sum(counts) * (2 if bottleneck else 1) + (len(counts) - 1) + 1
    return Layout(input_size=size, stem_channels=2 * k if spec.stem == "imagenet" else stages[0].in_channels,
                  stem_size=stem_size, stages=tuple(stages), head_in=in_ch, weight_layers=layers)


def _vgg_layout(spec: ArchSpec, size: int, base: int) -> Layout:
    stages, in_ch, cur = [], 3, size
    for i, group in enumerate(VGG_CONFIGS[spec.depth]):
        widths = tuple(w * base // 64 for w in group)
        stages.append(StagePlan(name=f"stage{i + 1}", kind="conv", num_blocks=len(widths), in_channels=in_ch,
                                block_widths=widths, inner_widths=widths, stride=1, in_size=cur, out_size=cur // 2))
        in_ch, cur = widths[-1], cur // 2
    return Layout(input_size=size, stem_channels=3, stem_size=size, stages=tuple(stages), head_in=in_ch,
                  weight_layers=spec.depth)


def _fractal_layout(spec: ArchSpec, size: int, base: int) -> Layout:
    stages, in_ch, cur = [], 3, size
    for i in range(spec.fractal_blocks):
        w = FRACTAL_WIDTHS[i] * base // FRACTAL_WIDTHS[0]  # base_width scales the paper's widths
        stages.append(StagePlan(name=f"stage{i + 1}", kind="fractal", num_blocks=spec.fractal_columns,
                                in_channels=in_ch, block_widths=(w,) * spec.fractal_columns,
                                inner_widths=(w,) * spec.fractal_columns, stride=1, in_size=cur, out_size=cur // 2))
        in_ch, cur = w, cur // 2
    return Layout(input_size=size, stem_channels=3, stem_size=size, stages=tuple(stages), head_in=in_ch,
                  weight_layers=spec.depth)


def _highway_layout(spec: ArchSpec, size: int, base: int) -> Layout:
    """Stem conv, then depth - 2 highway layers split over three stages (HIGHWAY_WIDTHS scaled by base_width)."""
    layers = spec.depth - 2
    counts = [layers // 3 + (1 if i < layers % 3 else 0) for i in range(3)]
    stages, in_ch, cur = [], base, size
    for i, n in enumerate(counts):
        w = HIGHWAY_WIDTHS[i] * base // HIGHWAY_WIDTHS[0]
        stride = 1 if i == 0 else 2
        stages.append(StagePlan(name=f"stage{i + 1}", kind="highway", num_blocks=n, in_channels=in_ch,
                                block_widths=(w,) * n, inner_widths=(w,) * n, stride=stride,
                                in_size=cur, out_size=cur // stride))
        in_ch, cur = w, cur // stride
    return Layout(input_size=size, stem_channels=base, stem_size=size, stages=tuple(stages), head_in=in_ch,
                  weight_layers=spec.depth)
