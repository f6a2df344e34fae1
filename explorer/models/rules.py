"""validate(): the rules a design must keep, each raising a SpecError that names the field, the rule, the
value and a fix. Cheap: no torch, nothing allocated. The per-field rules (types, bounds, families, `needs`) come
from the field table (explorer.models.fields); the rules across fields are written out here.
"""

from __future__ import annotations

from explorer.models.convert import SpecError, from_untrusted
from explorer.models.fields import DEFAULTS, FAMILY_LABELS, MAX_DEPTH, SETTINGS, ArchFields, Block, applies, needs_met
from explorer.models.layout import (
    IMAGENET_DENSENET_BLOCKS, IMAGENET_RESNET_STAGES, VGG_CONFIGS, cifar_depth_step, default_base_width, layout,
)

# Budget for one design: refused above these, before anything is allocated (explorer.models.cost).
MAX_PARAMS = 250_000_000  # vgg16 (138M) and resnext101_32x8d (89M) fit; resnet1202 at k=10 (~1.9G) does not
MAX_ACTIVATION_BYTES = 3 * 2**30  # fp32 activations kept for backward, for one training image
IMAGENET_BLOCK_FAMILIES = ("plain", "resnet", "wrn", "resnext")  # their ImageNet depth fixes the block (Table 1)


def _nearest(valid: list[int], value: int) -> str:
    below = [v for v in valid if v < value]
    above = [v for v in valid if v > value]
    picks = ([max(below)] if below else []) + ([min(above)] if above else [])
    return " or ".join(map(str, picks))


def depth_rule(spec: ArchFields) -> tuple[str, list[int]]:
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
    step, offset, what = cifar_depth_step(spec)
    return f"a CIFAR {what} has {step}n+{offset} layers", [step * n + offset for n in range(1, 400)]



def depth_choices(spec: ArchFields) -> tuple[str, list[int]]:
    """The depth rule and the depths a widget offers (those up to MAX_DEPTH)."""
    rule, valid = depth_rule(spec)
    return rule, [d for d in valid if d <= MAX_DEPTH]


def imagenet_block(spec: ArchFields) -> Block | None:
    """The block an ImageNet ResNet-style depth implies (He et al. 2015, Table 1); None where the user picks."""
    if spec.stem == "imagenet" and spec.family in IMAGENET_BLOCK_FAMILIES and spec.depth in IMAGENET_RESNET_STAGES:
        return IMAGENET_RESNET_STAGES[spec.depth][0]
    return None


def validate(spec: ArchFields) -> None:
    """Raise SpecError for the first rule the spec breaks."""
    from_untrusted(ArchFields, spec.to_dict(), "spec")  # the types: a programmatic replace() is checked too
    for name, s in SETTINGS.items():
        value = getattr(spec, name)
        if value == DEFAULTS[name]:
            continue
        if not applies(name, spec.family):
            _outside(spec, name, value)
        if not needs_met(name, spec):
            needs = s.needs
            raise SpecError(name, f"{needs.text}; got {value!r}, set {needs.field} to {needs.values[0]!r} or "
                                  f"reset {name} to {DEFAULTS[name]!r}")
    for name in SETTINGS:
        _check_range(spec, name)
    _check_depth(spec)
    _check_family_rules(spec)
    _check_widths(spec)


def _outside(spec: ArchFields, name: str, value: object) -> None:
    s, family, default = SETTINGS[name], FAMILY_LABELS[spec.family], DEFAULTS[name]
    if s.outside:
        raise SpecError(name, f"{family} {s.outside}; got {value!r}, use {default!r}")
    names = ", ".join(FAMILY_LABELS[f] for f in s.families or ())
    raise SpecError(name, f"only applies to {names}; got {value!r} for {family}, reset it to {default!r}")


def _check_range(spec: ArchFields, name: str) -> None:
    s, value = SETTINGS[name], getattr(spec, name)
    if s.low is None or s.high is None or value is None:
        return
    too_low = value <= s.low if s.open_low else value < s.low
    too_high = value >= s.high if s.open_high else value > s.high
    if too_low or too_high:
        rule = s.rule or f"must be between {s.low} and {s.high}"
        fix = s.fix if s.fix is not None else (s.low if too_low else s.high)
        raise SpecError(name, f"{rule}; got {value}, try {fix}")


# Depths the papers used, per CIFAR depth rule (step, offset): the examples a depth message quotes.
_PAPER_DEPTHS: dict[tuple[int, int], tuple[int, ...]] = {
    (6, 2): (20, 32, 44, 56, 110),  # He et al. 2015, Table 6
    (9, 2): (29, 110, 164, 272, 1001),  # ResNeXt-29, preact bottleneck 164/1001, PyramidNet-272
    (6, 4): (16, 22, 28, 40, 100),  # WRN-d-k; DenseNet-BC 100
    (3, 4): (40, 100),  # DenseNet L=40, 100
}


def _check_depth(spec: ArchFields) -> None:
    """The family's depth rule (the field table has already bounded depth to 1 .. MAX_DEPTH)."""
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
        step, offset, _ = cifar_depth_step(spec)
        if spec.depth < step + offset or (spec.depth - offset) % step:
            examples = ", ".join(map(str, _PAPER_DEPTHS.get((step, offset), ())))
            raise SpecError("depth", f"{rule} ({examples}, ...); got {spec.depth}, "
                                     f"try {_nearest([step * n + offset for n in range(1, 400)], spec.depth)}")
        return
    if spec.depth not in valid:
        raise SpecError("depth", f"{rule}; got {spec.depth}, try {_nearest(valid, spec.depth)}")


def _check_family_rules(spec: ArchFields) -> None:
    f = spec.family
    if f == "resnext" and spec.block != "bottleneck":
        raise SpecError("block", f"ResNeXt uses bottleneck blocks; got {spec.block!r}, use 'bottleneck'")
    if f in ("shake_shake", "highway", "vgg", "fractalnet") and spec.block != "basic":
        raise SpecError("block", f"{FAMILY_LABELS[f]} has one block type; got {spec.block!r}, use 'basic'")
    if f == "wrn" and spec.stem == "cifar" and spec.block != "basic":
        raise SpecError("block", f"a CIFAR Wide ResNet uses basic blocks; got {spec.block!r}, use 'basic'")
    block = imagenet_block(spec)
    if block is not None:
        if spec.block != block:
            raise SpecError("block", f"ImageNet {FAMILY_LABELS[f]}-{spec.depth} uses {block} blocks; "
                                     f"got {spec.block!r}, use {block!r}")
    if f == "resnet" and spec.shortcut_variant != "identity" and spec.activation != "original":
        raise SpecError("shortcut_variant", "Table 1's shortcut variants use the original unit; got "
                                            f"activation {spec.activation!r}, use activation 'original'")
    # No rule that C divides the grouped width: layout() makes it C * d * 2^i, a multiple of C for every spec
    # (tests/test_spec.py::test_grouped_width_is_always_a_multiple_of_the_cardinality checks the bounds).
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


def _check_widths(spec: ArchFields) -> None:
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

