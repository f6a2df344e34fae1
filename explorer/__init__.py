"""ResNet Explorer's library: architecture specs, builders, rendering, data and training. No UI code here."""

from explorer.models.builder import build_model
from explorer.models.cost import Cost, cost
from explorer.models.presets import FAMILY_DEFAULTS, PRESETS
from explorer.models.spec import ArchSpec, SpecError, layout, validate

__all__ = ["ArchSpec", "Cost", "FAMILY_DEFAULTS", "PRESETS", "SpecError", "build_model", "cost", "layout", "validate"]
