"""ResNet Explorer's library: architecture specs, builders, rendering, data and training. No UI code here."""

from __future__ import annotations

from typing import Any

from explorer.models.presets import FAMILY_DEFAULTS, PRESETS
from explorer.models.spec import ArchSpec, SpecError, layout, validate

__all__ = ["ArchSpec", "Cost", "FAMILY_DEFAULTS", "PRESETS", "SpecError", "build_model", "cost", "layout", "validate"]


def __getattr__(name: str) -> Any:
    """`from explorer import build_model, cost` on first use (PEP 562): they need torch, and importing any
    plain-Python module (explorer.models.spec, explorer.training.recipe) imports this package first."""
    if name == "build_model":
        from explorer.models.builder import build_model

        return build_model
    if name in ("cost", "Cost"):
        from explorer.models import cost as cost_module

        return getattr(cost_module, name)
    raise AttributeError(f"module 'explorer' has no attribute {name!r}")
