"""A design as URL query parameters, so a copied link reopens it.

Format: `?preset=resnet56` when the design is a preset; otherwise `?family=resnet&depth=58&width_factor=2`, listing
only the fields that differ from the family's canonical design (FAMILY_DEFAULTS). A preset may carry overrides:
`?preset=resnet56&se_reduction=16`. Decoding untrusted text raises SpecError naming the parameter and a fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from explorer.models.presets import FAMILY_DEFAULTS, PRESETS, preset_name
from explorer.models.spec import ArchSpec, SpecError

_FIELDS = {f.name: f for f in fields(ArchSpec)}
IGNORED = ("embed", "embed_options")  # Streamlit's own parameters


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


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


def _parse(field: str, text: str) -> Any:
    kind = str(_FIELDS[field].type)
    if text.lower() == "none" and kind == "int | None":
        return None
    if kind == "bool":
        if text.lower() not in ("true", "false", "1", "0"):
            raise SpecError(field, f"must be true or false; got {text!r}")
        return text.lower() in ("true", "1")
    if kind in ("int", "int | None"):
        try:
            return int(text)
        except ValueError:
            raise SpecError(field, f"must be a whole number; got {text!r}") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise SpecError(field, f"must be a number; got {text!r}") from None
    return text  # Literal choices: ArchSpec.from_dict checks them


def spec_from_params(params: Mapping[str, Any]) -> ArchSpec:
    """Decode (and validate) a design from query parameters; SpecError with a fix when they are bad."""
    values = {k: (v[-1] if isinstance(v, (list, tuple)) else v) for k, v in params.items() if k not in IGNORED}
    data: dict[str, Any] = {}
    name = values.pop("preset", None)
    if name is not None:
        if name not in PRESETS:
            raise SpecError("preset", f"unknown preset {name!r}; choose one of {', '.join(list(PRESETS)[:8])}, ...")
        data = PRESETS[name].to_dict()
    family = values.get("family")
    if family is not None and family != data.get("family"):
        data = {}  # a different family starts from that family's canonical design (from_dict fills it)
    for key, text in values.items():
        if key not in _FIELDS:
            raise SpecError(str(key), f"unknown URL parameter; use preset= or the spec fields ({', '.join(_FIELDS)})")
        data[key] = _parse(key, str(text))
    return ArchSpec.from_dict(data)
