"""explorer.precompute: assets/preset_cache.json.gz is current, covers every preset, agrees with a fresh
computation, and is never used for a design or code it does not describe."""

from __future__ import annotations

import dataclasses
import gzip
import json

import pytest

from explorer import PRESETS, cost, precompute
from explorer.draw.overview import block_dot, detail_blocks, overview_dot
from explorer.draw.summary import summarize
from explorer.models.cost import trace

REGENERATE = "assets/preset_cache.json.gz is stale: run `python -m explorer.precompute` and commit it"
# Cheap presets from every kind of drawing (residual, bottleneck, paths, shake, highway, dense, fractal, VGG,
# an ImageNet stem): recomputed in full and compared with the file.
SAMPLE = ("plain20", "resnet20", "preact_resnet110", "wrn_16_4", "resnext29_8x64d", "shake_shake26_2x32d",
          "highway19", "densenet40_k12", "fractalnet20", "vgg16_cifar", "resnet18")


def stored() -> dict:
    with gzip.open(precompute.CACHE_PATH, "rt", encoding="utf-8") as f:
        return json.load(f)


def test_the_file_was_written_by_this_code():
    assert stored()["version"] == precompute.code_version(), REGENERATE


def test_every_preset_has_an_entry():
    missing = [name for name, spec in PRESETS.items() if precompute.lookup(spec.to_json()) is None]
    assert not missing, f"{REGENERATE} (no entry for {', '.join(missing)})"
    assert {e["preset"] for e in precompute.entries().values()} == set(PRESETS)


@pytest.mark.parametrize("name", [n for n in SAMPLE if n in PRESETS])
def test_entry_matches_a_fresh_computation(name):
    spec = PRESETS[name]
    entry = precompute.lookup(spec.to_json())
    assert entry is not None, REGENERATE
    fresh = precompute.compute_entry(spec)
    assert {k: v for k, v in entry.items() if k != "preset"} == fresh
    # and what the pages read back is what the library computes
    key = spec.to_json()
    assert precompute.cost_of(key) == dataclasses.asdict(cost(spec))
    assert precompute.overview_of(key) == overview_dot(spec)
    for stage in range(len(entry["detail_blocks"])):
        assert precompute.detail_blocks_of(key, stage) == detail_blocks(spec, stage)
        assert precompute.block_of(key, stage, 0) == block_dot(spec, stage, 0)
    summary, again = precompute.summary_of(key), summarize(spec)
    for depth in (1, 2, precompute.SUMMARY_DEPTH):
        assert summary.at_depth(depth) == again.at_depth(depth)
        assert summary.text(depth) == again.text(depth)


def test_a_preset_is_read_from_the_file_without_building_a_model():
    spec = PRESETS["resnet110"]
    key = spec.to_json()
    assert precompute.lookup(key) is not None, REGENERATE
    trace.cache_clear()
    counts, rows = precompute.cost_of(key), precompute.summary_of(key).at_depth(2)
    drawings = precompute.overview_of(key), precompute.block_of(key, 1, 1), precompute.detail_blocks_of(key, 1)
    assert trace.cache_info().misses == 0  # no meta model was built
    assert counts == dataclasses.asdict(cost(spec)) and drawings[2] == 18
    assert [r["layer"] for r in rows if r["depth"] == 1] == ["stem", "stage1", "stage2", "stage3", "head"]
    assert sum(r["type"] == "ResidualBlock" for r in rows) == 3 * 18


# ---------------------------------------------------------------- a stale entry is never used

@pytest.fixture
def small_file(tmp_path):
    """A cache file holding resnet20 alone, written by this code."""
    path = tmp_path / "cache.json.gz"
    precompute.write(path, {"resnet20": PRESETS["resnet20"]})
    return path


def rewrite(path, change) -> None:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        table = json.load(f)
    change(table)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(table, f)
    precompute._TABLES.pop(path, None)


def test_the_entry_answers_only_for_its_exact_design(small_file):
    spec = PRESETS["resnet20"]
    assert precompute.lookup(spec.to_json(), small_file)["cost"]["params"] == cost(spec).params
    for other in (spec.replace(zero_init_residual=not spec.zero_init_residual), spec.replace(depth=32),
                  spec.replace(width_factor=2)):
        assert precompute.lookup(other.to_json(), small_file) is None


def test_a_file_from_other_code_is_ignored(small_file):
    rewrite(small_file, lambda t: t.update(version="0" * 16))
    assert precompute.entries(small_file) == {}


def test_an_entry_under_another_designs_key_is_dropped(small_file):
    wrong_key = PRESETS["resnet56"].to_json()  # resnet20's numbers filed under resnet56

    def swap(table):
        table["entries"] = {wrong_key: next(iter(table["entries"].values()))}

    rewrite(small_file, swap)
    assert precompute.lookup(wrong_key, small_file) is None


@pytest.mark.parametrize("content", [b"", b"not gzip at all", gzip.compress(b"{not json"), gzip.compress(b"[]")])
def test_a_broken_file_means_computing_everything(tmp_path, content):
    path = tmp_path / "cache.json.gz"
    path.write_bytes(content)
    assert precompute.entries(path) == {}


def test_a_design_without_an_entry_is_computed():
    spec = PRESETS["resnet20"].replace(depth=26)  # not a preset
    key = spec.to_json()
    assert precompute.lookup(key) is None
    assert precompute.cost_of(key) == dataclasses.asdict(cost(spec))
    assert precompute.overview_of(key) == overview_dot(spec)
    assert precompute.summary_of(key).total_params == cost(spec).params


def test_regenerating_gives_the_same_bytes(small_file, tmp_path):
    again = tmp_path / "again.json.gz"
    precompute.write(again, {"resnet20": PRESETS["resnet20"]})
    assert again.read_bytes() == small_file.read_bytes()
