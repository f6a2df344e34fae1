"""ArchSpec: one validated description of any residual-family design, as plain data (no torch).

Everything the app shows (graph, summary, costs, training) starts from an ArchSpec. The fields and their table
(labels, bounds, families) are in explorer.models.fields; `layout()` (explorer.models.layout) derives the
per-stage widths; `validate()` (explorer.models.rules) holds the rules. This module adds the constructors for
untrusted data and each family's canonical design (from its plan, explorer.models.plans), and re-exports the
names other modules import from here.

Imports run one way: convert, fields <- plans (each family's facts) <- layout <- rules <- spec <- presets <- urls.
"""

from __future__ import annotations

import json

from explorer.i18n import _
from explorer.models.convert import SpecError, from_untrusted
from explorer.models.fields import (
    FAMILY_LABELS, MAX_DEPTH, RESIDUAL_FAMILIES, Activation, ArchFields, Block, Family, ResNeXtForm, ShakeBackward,
    ShakeForward, ShakeLevel, ShortcutOption, ShortcutVariant, Stem, Widening, applies, offered, setting,
)
from explorer.models.layout import Layout, StagePlan, blocks_per_stage, default_base_width, layout
from explorer.models.plans import PLANS
from explorer.models.rules import (
    MAX_ACTIVATION_BYTES, MAX_PARAMS, depth_choices, depth_rule, imagenet_block, validate,
)

__all__ = [
    "FAMILY_DEFAULTS", "FAMILY_LABELS", "MAX_ACTIVATION_BYTES", "MAX_DEPTH", "MAX_PARAMS", "RESIDUAL_FAMILIES",
    "Activation", "ArchSpec", "Block", "Family", "Layout", "ResNeXtForm", "ShakeBackward", "ShakeForward",
    "ShakeLevel", "ShortcutOption", "ShortcutVariant", "SpecError", "StagePlan", "Stem", "Widening", "applies",
    "blocks_per_stage", "default_base_width", "depth_choices", "depth_rule", "imagenet_block", "layout", "offered",
    "setting", "validate",
]


class ArchSpec(ArchFields):
    """A design from the residual-network papers (the fields: explorer.models.fields.ArchFields)."""

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: object) -> ArchSpec:
        """Build and validate a spec from untrusted data; missing fields take the family's canonical design."""
        family = data.get("family", "resnet") if isinstance(data, dict) else None
        base = FAMILY_DEFAULTS[family] if isinstance(family, str) and family in FAMILY_DEFAULTS else None
        if isinstance(data, dict) and "bottleneck_stride" not in data:  # unset: the design's own family and stem
            data = {**data, "bottleneck_stride": None}  # decide it (an ImageNet ResNet-50 strides its 3x3)
        spec = from_untrusted(cls, data, "spec", base=base)  # an unknown family is refused here
        validate(spec)
        return spec

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError, RecursionError) as err:
            raise SpecError("spec", _("not valid JSON ({error}); paste the JSON that 'Download spec' gives").format(
                error=err)) from None
        except ValueError:  # an integer over Python's 4300-digit limit for int(str)
            raise SpecError("spec", _("a number has thousands of digits, more than any setting takes; paste the "
                                      "JSON that 'Download spec' gives")) from None
        return cls.from_dict(data)


# The canonical design of each family, from its plan: what `ArchSpec.from_dict` fills missing fields from (and
# the presets of the same name in explorer.models.presets).
FAMILY_DEFAULTS: dict[str, ArchSpec] = {
    family: ArchSpec(family=family, **plan.default) for family, plan in PLANS.items()
}
