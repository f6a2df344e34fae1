"""One converter for every value that comes from a user, a URL or a file, driven by the type hints.

`from_untrusted(cls, data, what)` turns untrusted data into a frozen, keyword-only dataclass (ArchSpec, the
training Recipe, a row of an asset file). `check(kind, data, what)` does the same for any type hint (a nested
asset structure). Both validate with pydantic v2 against the hints, strictly where JSON is the source:

  - no text for a number ("20" is not 20), no true/false for a number, no 0/1 for true/false;
  - a whole float is a whole number (20.0 -> 20: JSON has no int/float distinction); 20.5 is refused;
  - finite floats only (no NaN, no infinity);
  - lists become tuples where the hint is a tuple (JSON has no tuples).

URL query parameters are text, so `text=True` parses them ("20" -> 20, "true" -> True, "none" -> None).
Every pydantic error becomes a SpecError naming the field, the rule, the value and a fix.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Annotated, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError, create_model

from explorer.i18n import N_, _, particles

T = TypeVar("T")
_STRICT_JSON = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid")


class SpecError(ValueError):
    """An invalid value from a user, a URL or a file. The message names the field, the rule, the value and a fix."""

    def __init__(self, field: str, message: str):
        message = particles(message)  # Korean: "26(으)로" -> "26으로" once the values are in
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message  # without the field: for wrapping into another error (an asset file's key)


def from_untrusted(cls: type[T], data: object, what: str, *, base: T | None = None, noun: str = N_("field"),
                   text: bool = False) -> T:
    """Build `cls` (a dataclass) from untrusted `data`, a dict of field names to values.

    `what` names the whole value in errors ("spec", "recipe"). Unknown fields are refused with the list of known
    ones (`noun` words it: "unknown recipe field"; marked with N_, translated here). Missing fields take `base`'s
    values, else the dataclass's defaults; a field without a default is required ("missing"). `text=True` parses
    text values (URL parameters). Raises SpecError(field, "rule; got value"); range and cross-field rules are the
    caller's.
    """
    if not isinstance(data, dict):
        # TRANSLATORS: {noun} is "field" or "recipe field" (translated); {kind} a Python type name
        raise SpecError(what, _("expected a JSON object of {noun}s; got {kind}").format(noun=_(noun),
                                                                                     kind=type(data).__name__))
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(str(k) for k in data if k not in names)
    if unknown:
        raise SpecError(unknown[0], _("unknown {noun}; choose from {names}").format(noun=_(noun),
                                                                                  names=", ".join(names)))
    if text:
        data = {k: (None if isinstance(v, str) and v.lower() == "none" else v) for k, v in data.items()}
    values = {**_values(base), **data}
    try:
        model = _model(cls).model_validate(values, strict=False if text else None)
    except ValidationError as err:
        raise _spec_error(err, what, _hints(cls), flat=True) from None
    return cls(**dict(model))


def check(kind: object, data: object, what: str) -> object:
    """Validate `data` against a type hint built of dicts, lists, TypedDicts and scalars, with the strict JSON
    rules; returns the validated value. Errors name the path to the bad value: `tables.se[0].source`.
    (For dataclass rows, call `from_untrusted` per row.)"""
    try:
        return _wrapper(kind).model_validate({"value": data}).value
    except ValidationError as err:
        raise _spec_error(err, what, {}, flat=False) from None


def _values(base: object | None) -> dict[str, object]:
    if base is None:
        return {}
    return {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}


@functools.cache
def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


@functools.cache
def _model(cls: type) -> type[BaseModel]:
    """A pydantic model with `cls`'s fields, types and defaults (the dataclass itself stays plain Python)."""
    fields = {}
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=f.default_factory)
        else:
            default = f.default if f.default is not dataclasses.MISSING else ...
        fields[f.name] = (_json_type(_hints(cls)[f.name]), default)
    return create_model(f"{cls.__name__}Input", __config__=_STRICT_JSON, **fields)


@functools.cache
def _wrapper(kind: object) -> type[BaseModel]:
    """A one-field model around `kind`, so the strict JSON config reaches it (TypedDicts refuse a config)."""
    return create_model("CheckInput", __config__=_STRICT_JSON, value=(_json_type(kind), ...))


def _whole(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _json_type(hint: object) -> object:
    """The hint, with JSON's two gaps filled: whole floats count as ints, lists as tuples."""
    if hint is int:
        return Annotated[int, BeforeValidator(_whole)]
    origin = get_origin(hint)
    if origin is Annotated:  # keep the constraints (MinLen, StringConstraints) around the converted type
        inner, *constraints = get_args(hint)
        return Annotated[(_json_type(inner), *constraints)]
    if origin in (Union, types.UnionType):
        return Union[tuple(_json_type(a) for a in get_args(hint))]
    if origin is tuple:
        return Annotated[tuple[tuple(_json_type(a) if a is not Ellipsis else a for a in get_args(hint))],
                         Strict(False)]
    if origin in (list, dict):
        return origin[tuple(_json_type(a) for a in get_args(hint))]
    return hint


_RULES = {  # pydantic error type -> our rule (marked here, translated where the error is made)
    "int_type": N_("must be a whole number"), "int_parsing": N_("must be a whole number"),
    "int_from_float": N_("must be a whole number"),
    "float_type": N_("must be a finite number"), "float_parsing": N_("must be a finite number"),
    "finite_number": N_("must be a finite number"),
    "bool_type": N_("must be true or false"), "bool_parsing": N_("must be true or false"),
    "string_type": N_("expected text"), "none_required": N_("must be empty (null)"),
    "string_too_short": N_("expected non-empty text"), "tuple_type": N_("must be a list"),
    "list_type": N_("must be a list"), "dict_type": N_("expected a JSON object"),
    "extra_forbidden": N_("unknown key"), "too_short": N_("expected a non-empty list"),
}


def _spec_error(err: ValidationError, what: str, hints: dict[str, object], flat: bool) -> SpecError:
    """The first pydantic error as a SpecError naming the field (`flat`) or the dotted path, the rule, the value."""
    errors = err.errors()
    first = errors[0]
    skip = 0 if flat else 1  # check(): drop the wrapper model's "value" from every location
    loc = _place(first["loc"][skip:])
    field = (str(loc[0]) if flat else _path(loc)) if loc else what
    value = first.get("input")
    if first["type"] == "literal_error":
        hint = hints.get(str(loc[0])) if loc else None
        choices = _choices(hint) if hint is not None else (first.get("ctx") or {}).get("expected", "")
        return SpecError(field, _("unknown value {value!r}; choose from {choices}").format(value=value,
                                                                                         choices=choices))
    if first["type"] == "missing":
        return SpecError(field, _("missing"))
    branches = [e["loc"][skip + len(loc)] for e in errors
                if _place(e["loc"][skip:]) == loc and len(e["loc"]) > skip + len(loc)]
    if len(branches) > 1:  # a union: say what each branch wanted
        nouns = list(dict.fromkeys(_noun(str(b)) for b in branches))
        if "a number" in nouns and "a whole number" in nouns:  # a number covers the whole ones
            nouns.remove("a whole number")
        # TRANSLATORS: {choices} is a list such as "a number or null" (each noun translated, joined by " or ")
        rule = _("expected {choices}").format(choices=_(" or ").join(_(n) for n in nouns))
    else:
        rule = _(_RULES[first["type"]]) if first["type"] in _RULES else first["msg"]  # pydantic's own: English
    if len(loc) > 1 and isinstance(loc[-1], int) and flat:
        rule = _("item {index} {rule}").format(index=loc[-1], rule=rule)
    return SpecError(field, _("{rule}; got {value!r}").format(rule=rule, value=value))


def _place(loc: tuple) -> list:
    """The location without the union branch pydantic tried ('int', 'none', 'function-before[...]')."""
    return [p for p in loc if not (isinstance(p, str) and (p in _NOUNS or "[" in p))]


_NOUNS = {"str": N_("text"), "float": N_("a number"), "int": N_("a whole number"), "none": N_("null"),
          "bool": N_("true or false")}


def _noun(branch: str) -> str:
    return _NOUNS.get(branch, "a whole number" if "int" in branch else branch)


def _path(loc: list) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _choices(hint: object) -> str:
    literal = next((a for a in (hint, *get_args(hint)) if get_origin(a) is Literal), hint)
    return ", ".join(map(str, get_args(literal)))
