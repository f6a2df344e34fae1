"""validate(): the rules a design must keep, each raising a SpecError that names the field, the rule, the
value and a fix. Cheap: no torch, nothing allocated. The per-field rules (types, bounds, families, `needs`) come
from the field table (explorer.models.fields); each family's depth rule and rules across fields come from its
plan (explorer.models.plans); the rules that hold for every family are written out here.
"""

from __future__ import annotations

from explorer.i18n import _
from explorer.models.convert import SpecError, from_untrusted
from explorer.models.fields import (
    FAMILY_LABELS, MAX_DEPTH, SETTINGS, ArchFields, Block, applies, needs_met, short_label, unset_value,
)
from explorer.models.layout import layout
from explorer.models.plans import PLANS

# Budget for one design: refused above these, before anything is allocated (explorer.models.cost).
MAX_PARAMS = 250_000_000  # vgg16 (138M) and resnext101_32x8d (89M) fit; resnet1202 at k=10 (~1.9G) does not
MAX_ACTIVATION_BYTES = 3 * 2**30  # fp32 activations kept for backward, for one training image


def depth_rule(spec: ArchFields) -> tuple[str, list[int]]:
    """The family's depth rule in the paper's words, and the first valid depths (for messages and widgets)."""
    return PLANS[spec.family].depth_rule(spec)


def depth_choices(spec: ArchFields) -> tuple[str, list[int]]:
    """The depth rule and the depths a widget offers (those up to MAX_DEPTH)."""
    rule, valid = depth_rule(spec)
    return rule, [d for d in valid if d <= MAX_DEPTH]


def depth_fits(spec: ArchFields) -> bool:
    """Whether the family's depth rule accepts the spec's depth (also one past the first valid depths listed)."""
    try:
        PLANS[spec.family].check_depth(spec)
    except SpecError:
        return False
    return True


def imagenet_block(spec: ArchFields) -> Block | None:
    """The block an ImageNet ResNet-style depth implies (He et al. 2015, Table 1); None where the user picks."""
    return PLANS[spec.family].imagenet_block(spec)


def validate(spec: ArchFields) -> None:
    """Raise SpecError for the first rule the spec breaks."""
    from_untrusted(ArchFields, spec.to_dict(), "spec")  # the types: a programmatic replace() is checked too
    canonical = PLANS[spec.family].default  # a value of the family's own design is never refused
    for name, s in SETTINGS.items():
        value, default = getattr(spec, name), canonical.get(name, unset_value(name, spec))
        if value == default:
            continue
        if not applies(name, spec.family):
            _outside(spec, name, value)
        if not needs_met(name, spec):
            needs = s.needs
            raise SpecError(name, _("{rule}; got {value!r}, set {needed} to {needed_value!r} or reset {label} to "
                                    "{default!r}").format(rule=_(needs.text), value=value,
                                                          needed=short_label(needs.field),
                                                          needed_value=needs.values[0], label=short_label(name),
                                                          default=default))
    for name in SETTINGS:
        _check_range(spec, name)
    plan = PLANS[spec.family]
    plan.check_depth(spec)  # the field table has already bounded depth to 1 .. MAX_DEPTH
    plan.check(spec)
    _check_residual_branch(spec)
    _check_widths(spec)


def _outside(spec: ArchFields, name: str, value: object) -> None:
    s, family, default = SETTINGS[name], _(FAMILY_LABELS[spec.family]), unset_value(name, spec)
    if s.outside:
        # TRANSLATORS: {family} is a family's label ("VGG"), {rule} a fact about it ("is a CIFAR design")
        raise SpecError(name, _("{family} {rule}; got {value!r}, use {default!r}").format(
            family=family, rule=_(s.outside), value=value, default=default))
    names = ", ".join(_(FAMILY_LABELS[f]) for f in s.families or ())
    raise SpecError(name, _("only applies to {names}; got {value!r} for {family}, reset it to {default!r}").format(
        names=names, value=value, family=family, default=default))


def _check_range(spec: ArchFields, name: str) -> None:
    s, value = SETTINGS[name], getattr(spec, name)
    if s.low is None or s.high is None or value is None:
        return
    too_low = value <= s.low if s.open_low else value < s.low
    too_high = value >= s.high if s.open_high else value > s.high
    if too_low or too_high:
        rule = _(s.rule or "must be between {low} and {high}").format(low=s.low, high=s.high)
        fix = s.fix if s.fix is not None else (s.low if too_low else s.high)
        raise SpecError(name, _("{rule}; got {value}, try {fix}").format(rule=rule, value=value, fix=fix))


def _check_residual_branch(spec: ArchFields) -> None:
    """The rules of the residual-branch options (zero-init, SE) across the fields and the layout."""
    if spec.zero_init_residual and spec.activation in ("full_preact", "bn_after_add"):
        raise SpecError("zero_init_residual", _("{label} {value!r} leaves no BN at the end of the residual branch to "
                                                "zero; turn it off or use {label} 'original'").format(
                                                    label=short_label("activation"), value=spec.activation))
    if spec.se_reduction:
        widths = [w for s in layout(spec).stages for w in s.block_widths]
        if spec.se_reduction > min(widths):
            raise SpecError("se_reduction", _("r={r} leaves no channels in the narrowest block ({channels} "
                                              "channels); try 16").format(r=spec.se_reduction, channels=min(widths)))


def _check_widths(spec: ArchFields) -> None:
    """Every stage must keep at least one channel (DenseNet's compression floors the transition width), and a
    zero-padded (option A) shortcut can only widen."""
    # the shortcut option's families (ResNet, WRN, ResNeXt); ResNeXt's widths only grow, so it never trips this
    zero_pad = applies("shortcut", spec.family) and spec.shortcut == "A" and spec.shortcut_variant != "conv1x1"
    for stage in layout(spec).stages:
        narrowest = min(stage.in_channels, *stage.block_widths, *stage.inner_widths)
        if narrowest < 1:
            field = "compression" if applies("compression", spec.family) else "base_width"
            fix = _("try 0.5") if field == "compression" else _("try 16")
            raise SpecError(field, _("leaves {stage} with {channels} channels; got {value}, {fix}").format(
                stage=stage.name, channels=narrowest, value=getattr(spec, field), fix=fix))
        ins = (stage.in_channels, *stage.block_widths[:-1])
        for c_in, c_out in zip(ins, stage.block_widths):
            if zero_pad and c_out < c_in:
                raise SpecError("base_width", _("option A's zero-padded shortcut cannot shrink {c_in} channels to "
                                                "{c_out} in {stage}; got {label} {value}, try {c_in} or {shortcut} "
                                                "'B'").format(c_in=c_in, c_out=c_out, stage=stage.name,
                                                              label=short_label("base_width"),
                                                              value=spec.base_width,
                                                              shortcut=short_label("shortcut")))

