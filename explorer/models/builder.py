"""build_model: the one way to turn an ArchSpec into a torch module."""

from __future__ import annotations

import torch
from torch import nn

from explorer.models.cost import build_unchecked, check_budget
from explorer.models.families import FAMILY_BUILDERS
from explorer.models.spec import ArchSpec, validate

__all__ = ["FAMILY_BUILDERS", "build_model", "build_unchecked"]


def build_model(spec: ArchSpec, device: str | torch.device = "cpu") -> nn.Module:
    """Validate the spec, refuse designs over the budget, then build it on `device` (He-initialised)."""
    validate(spec)
    check_budget(spec)
    return build_unchecked(spec, device)
