"""Property test (issue 2): any input to ArchSpec.from_dict ends in a SpecError or a model that builds and runs.

No other exception and no hang: specs that validate are always counted (meta device); the small ones are
also built for real and run forward.
"""

import dataclasses
import math
import time
from typing import Literal, get_args, get_origin, get_type_hints

import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from explorer import ArchSpec, SpecError, build_model, cost
from explorer.models.presets import FAMILY_DEFAULTS, PRESETS
from explorer.models.spec import applies, layout
from explorer.models.urls import spec_from_params, spec_to_params

FIELDS = [f.name for f in dataclasses.fields(ArchSpec)]
HINTS = get_type_hints(ArchSpec)
SMALL_PARAMS = 3_000_000  # build and run forward only below this
SMALL_MACS = 400_000_000

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def _field_values(name: str) -> st.SearchStrategy:
    """Plausible and implausible values for one field: its type's edge cases and the choices of every preset."""
    from_presets = st.sampled_from(sorted({getattr(p, name) for p in PRESETS.values()}, key=repr))
    default = getattr(ArchSpec(), name)
    if isinstance(default, bool):
        typed = st.booleans()
    elif isinstance(default, int) or name == "base_width":
        typed = st.one_of(st.integers(-3, 70), st.integers(-10**9, 10**9), st.none())
    elif isinstance(default, float):
        typed = st.one_of(st.floats(-2, 2), st.floats(allow_nan=True, allow_infinity=True))
    else:
        typed = st.text(max_size=12)
    return st.one_of(from_presets, typed, json_scalars)


def _check(data) -> None:
    try:
        spec = ArchSpec.from_dict(data)
    except SpecError as err:
        event(f"SpecError on {err.field if err.field in FIELDS else 'an unknown field'}")
        return
    cost.cache_clear()
    start = time.perf_counter()
    c = cost(spec)  # must answer for every valid spec, however big, and soon (MAX_DEPTH and the ranges bound it)
    assert time.perf_counter() - start < 30
    assert c.params > 0 and c.macs > 0
    if c.params > SMALL_PARAMS or c.macs > SMALL_MACS:
        event("valid, counted only")
        return
    try:
        model = build_model(spec).eval()
    except SpecError:  # over the activation budget
        event("valid, over the budget")
        return
    event(f"built and ran: {spec.family}")
    size = layout(spec).input_size
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, spec.num_classes)
    assert torch.isfinite(out).all()
    assert sum(p.numel() for p in model.parameters()) == c.params


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), json_values, max_size=6))
def test_random_dicts(data):
    _check(data)


@st.composite
def one_field_changed(draw):
    base = draw(st.sampled_from(sorted(FAMILY_DEFAULTS)))
    name = draw(st.sampled_from(FIELDS))
    data = FAMILY_DEFAULTS[base].to_dict()
    data[name] = draw(_field_values(name))
    return data


@FAST
@given(one_field_changed())
def test_random_value_in_every_field(data):
    _check(data)


PROBABILITIES = ("dropout", "stochastic_depth", "shortcut_dropout", "drop_path_local", "drop_path_global",
                 "fractal_dropout")
SANE = {  # in-range values, so that many drawn specs validate and get built
    "depth": st.one_of(st.sampled_from([8, 11, 14, 16, 20, 22, 26, 28, 29, 32, 38, 40, 44, 56, 100, 110, 121, 164]),
                       st.integers(1, 300)),
    "base_width": st.one_of(st.none(), st.integers(1, 64)),
    "num_classes": st.integers(2, 100),
    "width_factor": st.integers(1, 4),
    "cardinality": st.sampled_from([1, 2, 3, 4, 8, 32]),
    "bottleneck_width": st.integers(1, 64),
    "se_reduction": st.sampled_from([0, 1, 2, 4, 8, 16, 32]),
    "growth_rate": st.integers(1, 24),
    "pyramid_alpha": st.integers(0, 300),
    "pyramid_ratio": st.floats(1.0, 8.0),
    "bottleneck_stride": st.sampled_from([None, "1x1", "3x3"]),
    "fractal_columns": st.integers(1, 4),
    "fractal_blocks": st.integers(1, 5),
    "compression": st.floats(0.01, 1.0),
    "gate_bias": st.floats(-8.0, 2.0),
    "shortcut_scale": st.floats(0.0, 2.0),
    "residual_scale": st.floats(0.0, 2.0),
    **{name: st.floats(0.0, 0.99) for name in PROBABILITIES},
}


def _sane_values(name: str) -> st.SearchStrategy:
    hint = HINTS[name]
    if get_origin(hint) is Literal:
        return st.sampled_from(list(get_args(hint)))
    if hint is bool:
        return st.booleans()
    return SANE[name]


@st.composite
def sane_combinations(draw):
    """A family default with a few of the settings that apply to it changed to in-range values."""
    family = draw(st.sampled_from(sorted(FAMILY_DEFAULTS)))
    data = FAMILY_DEFAULTS[family].to_dict()
    names = [n for n in FIELDS if n != "family" and applies(n, family)]
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True)):
        data[name] = draw(_sane_values(name))
    if family == "fractalnet" and draw(st.booleans()):  # its depth is fixed by C and B: keep it consistent
        data["depth"] = data["fractal_blocks"] * 2 ** (data["fractal_columns"] - 1)
        data["base_width"] = draw(st.integers(1, 16))
    return data


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sane_combinations())
def test_sane_combinations(data):
    _check(data)


@st.composite
def several_fields_changed(draw):
    data = {"family": draw(st.sampled_from(sorted(FAMILY_DEFAULTS)))}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=5, unique=True)):
        data[name] = draw(_field_values(name))
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(several_fields_changed())
def test_random_combinations(data):
    _check(data)


def test_nan_is_never_a_valid_value():
    for name in FIELDS:
        if isinstance(getattr(ArchSpec(), name), float):
            try:
                ArchSpec.from_dict({name: math.nan})
            except SpecError as err:
                assert err.field == name
            else:
                raise AssertionError(f"{name}=nan accepted")


@FAST
@given(sane_combinations())
def test_every_valid_spec_survives_a_link_exactly(data):
    # URL floats were written with `:g` (shortcut_scale 1/3 came back as 0.333333); repr reads back exactly.
    try:
        spec = ArchSpec.from_dict(data)
    except SpecError:
        return
    assert spec_from_params(spec_to_params(spec)) == spec


@FAST
@given(st.floats(0.0, 10.0), st.floats(0.0, 10.0))
def test_any_scale_survives_a_link_exactly(shortcut_scale, residual_scale):
    spec = ArchSpec(shortcut_variant="constant_scaling", shortcut_scale=shortcut_scale, residual_scale=residual_scale)
    assert spec_from_params(spec_to_params(spec)) == spec
