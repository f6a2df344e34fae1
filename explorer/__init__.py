"""ResNet Explorer's library: architecture specs, builders, rendering, data and training. No UI code here."""

from explorer.builder import build_model
from explorer.cost import Cost, cost
from explorer.presets import FAMILY_DEFAULTS, PRESETS
from explorer.spec import ArchSpec, SpecError, layout, validate

__all__ = ["ArchSpec", "Cost", "FAMILY_DEFAULTS", "PRESETS", "SpecError", "build_model", "cost", "layout", "validate"]
