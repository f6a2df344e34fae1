"""assets/measured.json: the app's own reference runs, shown beside the class's runs, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from explorer.lessons import measured as measured_module
from explorer.lessons.measured import MeasuredDataError, measured


def test_degradation_reference_shows_the_papers_orderings() -> None:
    from explorer.lessons.degradation import LEVEL

    table = measured("degradation").table.set_index("net")
    seeds = [c for c in table.columns if "seed" in c]
    assert len(seeds) == 3
    for column in seeds:
        errors = table[column]
        assert errors["plain-56"] > errors["plain-20"] + 10  # degradation, in every seed
        assert errors["ResNet-56"] < errors["plain-56"] - 10  # the shortcuts' rescue, in every seed
        assert errors["ResNet-56"] <= errors["ResNet-20"] + LEVEL  # never worse than noise: both fit the shapes
    assert "benchmarks/lesson_runs.py" in measured("degradation").source


def test_lesion_reference_residual_hurt_less_than_plain() -> None:
    table = measured("lesion").table.set_index("net")
    harm = table["mean with one block deleted (%)"] - table["intact (%)"]
    assert harm["ResNet-56"] < harm["ResNet-20"] < harm["plain-20"]
    assert "benchmarks/lesson_runs.py" in measured("lesion").source


def test_measured_returns_a_copy() -> None:
    first = measured("lesion").table
    before = first.copy()
    first.loc[0, "net"] = "changed"
    del first[first.columns[-1]]
    pd.testing.assert_frame_equal(measured("lesion").table, before)  # the cached table did not change


def test_unknown_table_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="degradation"):
        measured("nonsense")


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot read it"),
    ("[]", "expected an object of named tables"),
    ('{"t": {"rows": [{"a": 1}]}}', "t.source: missing"),
    ('{"t": {"source": "  ", "rows": [{"a": 1}]}}', "t.source: expected non-empty text"),
    ('{"t": []}', "t: expected a JSON object"),
    ('{"t": {"source": "s", "rows": []}}', "t.rows: expected a non-empty list"),
    ('{"t": {"source": "s", "rows": [{"a": 1}, {"b": 2}]}}', r"t.rows\[1\]: expected the columns \['a'\]"),
    ('{"t": {"source": "s", "rows": [{"a": [1]}]}}', r"t.rows\[0\].a: expected text or a number"),
    ('{"t": {"source": "s", "rows": [{"a": true}]}}', r"t.rows\[0\].a: expected text or a number"),
    ('{"t": {"source": "s", "rows": [{"a": NaN}]}}', r"t.rows\[0\].a: expected text or a number"),
])
def test_malformed_file_names_the_key(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "measured.json"
    path.write_text(content)
    with pytest.raises(MeasuredDataError, match=message) as err:
        measured_module._load.__wrapped__(path)
    assert "restore it from git" in str(err.value)


def test_the_shipped_file_is_valid_json_with_sources() -> None:
    raw = json.loads(measured_module.MEASURED_PATH.read_text())
    assert {"degradation", "lesion"} <= raw.keys()
