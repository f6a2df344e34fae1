"""explorer.draw.summary: torchinfo rows and totals agree with the model and with explorer.models.cost."""

from __future__ import annotations

import csv
import io

import pytest

from explorer import PRESETS, cost
from explorer.draw.summary import rows_to_csv, summarize
from explorer.models.cost import trace


@pytest.fixture(scope="module")
def resnet56():
    return summarize(PRESETS["resnet56"])


def test_totals_match_the_paper_and_cost(resnet56):
    assert resnet56.total_params == 853_018 == cost(PRESETS["resnet56"]).params
    # torchinfo also counts BN as multiply-adds; conv + fc alone is what cost() reports.
    assert 0 < resnet56.total_mult_adds - cost(PRESETS["resnet56"]).macs < 10_000
    assert resnet56.input_shape == (1, 3, 32, 32)


def test_depth_one_rows_are_stem_stages_head(resnet56):
    rows = resnet56.at_depth(1)
    assert [r["layer"] for r in rows] == ["stem", "stage1", "stage2", "stage3", "head"]
    assert [r["params"] for r in rows] == [464, 42_048, 162_432, 647_424, 650]
    assert [r["output_shape"] for r in rows] == ["1x16x32x32", "1x16x32x32", "1x32x16x16", "1x64x8x8", "1x10"]
    # Each container's multiply-adds are its subtree's, so depth-1 rows add up to the total.
    assert sum(r["mult_adds"] for r in rows) == resnet56.total_mult_adds


@pytest.mark.parametrize("depth, count", [(1, 5), (2, 5 + 3 + 27 + 3), (3, None)])
def test_depth_selects_rows(resnet56, depth, count):
    rows = resnet56.at_depth(depth)
    assert max(r["depth"] for r in rows) == depth
    if count is not None:
        assert len(rows) == count


def test_module_paths_use_the_app_names(resnet56):
    names = {r["layer"] for r in resnet56.rows}
    assert {"stage1.block3.residual.conv2", "stage2.block1.shortcut", "head.fc"} <= names
    conv = next(r for r in resnet56.rows if r["layer"] == "stage1.block1.residual.conv1")
    assert conv["params"] == 16 * 16 * 9 and conv["mult_adds"] == 16 * 16 * 9 * 32 * 32


def test_text_and_csv(resnet56):
    text = resnet56.text(2)
    assert "Total params: 853,018" in text and "stem (Sequential)" in text and "  block9 (ResidualBlock)" in text
    assert "conv1 (Conv2d)" not in text  # depth 4: hidden at depth 2
    parsed = list(csv.DictReader(io.StringIO(rows_to_csv(resnet56.at_depth(1)))))
    assert [r["layer"] for r in parsed] == ["stem", "stage1", "stage2", "stage3", "head"]
    assert int(parsed[3]["params"]) == 647_424


@pytest.mark.parametrize("name", ["densenet_bc100_k12", "resnext29_8x64d", "shake_shake26_2x32d", "highway19",
                                  "resnet18"])
def test_other_families_total_params_match_cost(name):
    summary = summarize(PRESETS[name])
    assert summary.total_params == cost(PRESETS[name]).params
    assert sum(r["mult_adds"] for r in summary.at_depth(1)) == summary.total_mult_adds


def test_densenet_rows_show_transitions():
    rows = summarize(PRESETS["densenet40_k12"]).at_depth(1)
    assert [r["layer"] for r in rows][:4] == ["stem", "stage1", "transition1", "stage2"]


@pytest.mark.parametrize("name", ["resnet56", "densenet40_k12", "fractalnet20"])
def test_the_summary_leaves_the_shared_model_as_it_found_it(name):
    # summarize runs torchinfo on cost.trace's cached model, which the counts and drawings share: no hook may
    # stay behind, it must stay in eval mode on the meta device, and a second summary must read the same.
    first = summarize(PRESETS[name])
    model = trace(PRESETS[name]).model
    assert all(not m._forward_hooks and not m._forward_pre_hooks and not m.training for m in model.modules())
    assert all(p.is_meta for p in model.parameters())
    assert summarize(PRESETS[name]) == first
    assert first.total_params == trace(PRESETS[name]).cost.params == cost(PRESETS[name]).params
