"""A design as URL query parameters, so a copied link reopens it.

Format: `?preset=resnet56` when the design is a preset; otherwise `?family=resnet&depth=58&width_factor=2`, listing
only the fields that differ from the family's canonical design (FAMILY_DEFAULTS). A preset may carry overrides:
`?preset=resnet56&se_reduction=16`. Decoding untrusted text raises SpecError naming the parameter and a fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from explorer.i18n import _
from explorer.models.convert import from_untrusted
from explorer.models.presets import FAMILY_DEFAULTS, PRESETS, preset_name
from explorer.models.spec import ArchSpec, SpecError, validate

_FIELDS = [f.name for f in fields(ArchSpec)]
IGNORED = ("embed", "embed_options", "lang")  # Streamlit's own parameters, and app.py's language


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return repr(value) if isinstance(value, float) else str(value)  # repr: the shortest text that reads back exactly


def spec_to_params(spec: ArchSpec) -> dict[str, str]:
    """The shortest query parameters that decode back to `spec`."""
    name = preset_name(spec)
    if name is not None:
        return {"preset": name}
    base = FAMILY_DEFAULTS[spec.family]
    params = {"family": spec.family}
    for field in _FIELDS:
        value = getattr(spec, field)
        if field != "family" and value != getattr(base, field):
            params[field] = _text(value)
    return params


def spec_from_params(params: Mapping[str, Any]) -> ArchSpec:
    """Decode (and validate) a design from query parameters; SpecError with a fix when they are bad."""
    values = {k: str(v[-1] if isinstance(v, (list, tuple)) else v) for k, v in params.items() if k not in IGNORED}
    base = FAMILY_DEFAULTS["resnet"]
    name = values.pop("preset", None)
    if name is not None:
        if name not in PRESETS:
            raise SpecError("preset", _("unknown preset {name!r}; choose one of {presets}, ...").format(
                name=name, presets=", ".join(list(PRESETS)[:8])))
        base = PRESETS[name]
    family = values.get("family")
    if family is not None and family != base.family:
        base = FAMILY_DEFAULTS.get(family, base)  # a different family starts from its canonical design
    for key in values:
        if key not in _FIELDS:
            raise SpecError(str(key), _("unknown URL parameter; use preset= or the spec fields ({fields})").format(
                fields=", ".join(_FIELDS)))
    if name is None and "bottleneck_stride" not in values:  # unset: the design's family and stem decide it
        values["bottleneck_stride"] = "none"
    spec = from_untrusted(ArchSpec, values, "link", base=base, text=True)
    validate(spec)
    return spec
