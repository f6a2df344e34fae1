"""explorer.models.convert: the one converter for untrusted values, on a small dataclass of every field kind."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import pytest

from explorer.models.convert import SpecError, check, from_untrusted


@dataclass(frozen=True, kw_only=True)
class Thing:
    count: int = 1
    rate: float = 0.5
    on: bool = False
    kind: Literal["a", "b"] = "a"
    steps: tuple[float, ...] = (0.5, 0.75)
    width: int | None = None


@pytest.mark.parametrize("data, expected", [
    ({}, Thing()),
    ({"count": 20.0}, Thing(count=20)),  # JSON has no int/float distinction
    ({"rate": 1}, Thing(rate=1.0)),
    ({"steps": [0.1, 0.2]}, Thing(steps=(0.1, 0.2))),  # JSON has no tuples
    ({"width": None}, Thing()),
    ({"width": 3.0}, Thing(width=3)),
    ({"kind": "b", "on": True}, Thing(kind="b", on=True)),
])
def test_json_values_are_converted(data, expected):
    assert from_untrusted(Thing, data, "thing") == expected


@pytest.mark.parametrize("data, field, message", [
    ({"count": "20"}, "count", "must be a whole number; got '20'"),
    ({"count": True}, "count", "must be a whole number; got True"),
    ({"count": 20.5}, "count", "must be a whole number; got 20.5"),
    ({"count": None}, "count", "must be a whole number; got None"),
    ({"rate": math.nan}, "rate", "must be a finite number; got nan"),
    ({"rate": math.inf}, "rate", "must be a finite number; got inf"),
    ({"rate": False}, "rate", "must be a finite number; got False"),
    ({"on": 1}, "on", "must be true or false; got 1"),
    ({"kind": "c"}, "kind", "unknown value 'c'; choose from a, b"),
    ({"steps": [0.1, "x"]}, "steps", "item 1 must be a finite number; got 'x'"),
    ({"steps": 0.5}, "steps", "must be a list; got 0.5"),
    ({"cuont": 2}, "cuont", "unknown field; choose from count, rate, on, kind, steps, width"),
])
def test_bad_values_name_the_field_the_rule_and_the_value(data, field, message):
    with pytest.raises(SpecError) as err:
        from_untrusted(Thing, data, "thing")
    assert (err.value.field, err.value.message) == (field, message)
    assert str(err.value) == f"{field}: {message}"


def test_not_an_object_names_the_whole_value_and_the_noun():
    with pytest.raises(SpecError, match="^thing: expected a JSON object of thing fields; got list$"):
        from_untrusted(Thing, [1], "thing", noun="thing field")


def test_missing_fields_come_from_the_base_and_required_fields_are_named():
    assert from_untrusted(Thing, {"rate": 0.1}, "thing", base=Thing(count=7)) == Thing(count=7, rate=0.1)

    @dataclass(frozen=True)
    class Row:
        name: str
        note: str = ""

    with pytest.raises(SpecError, match="^name: missing$"):
        from_untrusted(Row, {"note": "x"}, "row")


@pytest.mark.parametrize("data, expected", [
    ({"count": "20", "on": "true", "width": "none", "rate": "0.3333333333333333"},
     Thing(count=20, on=True, rate=0.3333333333333333)),
    ({"on": "0"}, Thing()),
])
def test_text_values_from_a_url_are_parsed(data, expected):
    assert from_untrusted(Thing, data, "link", text=True) == expected


def test_text_values_keep_the_rules():
    with pytest.raises(SpecError, match="^rate: must be a finite number; got 'nan'$"):
        from_untrusted(Thing, {"rate": "nan"}, "link", text=True)
    with pytest.raises(SpecError, match="^count: must be a whole number; got '2e'$"):
        from_untrusted(Thing, {"count": "2e"}, "link", text=True)


def test_check_names_the_path_to_the_bad_value():
    kind = dict[str, list[str | int | float]]
    assert check(kind, {"t": ["a", 1, 2.5]}, "file") == {"t": ["a", 1, 2.5]}
    with pytest.raises(SpecError, match=r"^t\[1\]: expected text or a number; got \[1\]$"):
        check(kind, {"t": ["a", [1]]}, "file")
    with pytest.raises(SpecError, match="^file: expected a JSON object; got 3$"):
        check(kind, 3, "file")


def test_a_default_factory_fills_a_missing_field():
    @dataclass(frozen=True)
    class Listed:
        items: list[int] = field(default_factory=list)

    assert from_untrusted(Listed, {}, "listed") == Listed()
    assert from_untrusted(Listed, {"items": [1.0, 2]}, "listed") == Listed(items=[1, 2])
