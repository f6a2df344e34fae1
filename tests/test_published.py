"""assets/published.json: structure, the figures the app shows, and clear errors for a malformed file."""

import json

import pytest

from explorer.models import published
from explorer.models.presets import PRESETS
from explorer.models.published import Published, PublishedDataError, all_published, published_for, recipe, table


def test_every_published_preset_is_a_preset():
    assert set(all_published()) <= set(PRESETS)


@pytest.mark.parametrize("name, params_m, error, kind", [
    ("resnet20", 0.27, 8.75, "best"),
    ("resnet56", 0.85, 6.97, "best"),
    ("resnet1202", 19.4, 7.93, "best"),
    ("preact_resnet164", 1.7, 5.46, "median of 5"),
    ("preact_resnet1001", 10.2, 4.92, "as printed"),
    ("wrn_28_10", 36.5, 4.00, "median of 5"),
    ("resnext29_16x64d", 68.1, 3.58, "mean of 10"),
    ("densenet_bc190_k40", 25.6, 3.46, "as printed"),
    ("highway19", 2.3, 7.54, "best"),
    ("fractalnet20", 38.6, 5.22, "as printed"),
])
def test_cifar_figures(name, params_m, error, kind):
    p = published_for(name)
    assert (p.params_m, p.error, p.error_kind, p.dataset) == (params_m, error, kind, "cifar10")
    assert p.source


@pytest.mark.parametrize("name, params, top1_error", [
    ("resnet18", 11_689_512, 30.242), ("resnet50", 25_557_032, 23.87), ("densenet121", 7_978_856, 25.566),
    ("vgg16", 138_357_544, 28.408), ("resnext101_32x8d", 88_791_336, 20.688),
])
def test_imagenet_figures_are_torchvision_counts(name, params, top1_error):
    p = published_for(name)
    assert p.dataset == "imagenet"
    assert round(p.params_m * 1e6) == params
    assert p.params_text == f"{params:,}"
    assert p.error == pytest.approx(top1_error)


def test_unconfirmed_shake_shake_counts_are_not_published_counts():
    for name in ("shake_shake26_2x32d", "shake_shake26_2x64d", "shake_shake26_2x96d"):
        assert published_for(name).params_m is None
        assert "UNCONFIRMED" in published_for(name).note
    assert all(row["status"] == "UNCONFIRMED" for row in table("shake_shake_params"))


def test_unknown_preset_has_no_figures():
    assert published_for("vgg16_cifar") is None
    assert published_for("nope") is None


def test_identity_table1_has_the_failures_and_the_settings():
    rows = table("identity_table1")
    assert len(rows) == 11
    assert sum(r["failed"] for r in rows) == 4
    gated = [r for r in rows if r["settings"].get("gate_bias") == -6.0]
    assert [r["error"] for r in gated] == [8.70, 6.91]
    assert all(r["source"].startswith("He et al. 2016") for r in rows)


def test_identity_table2_best_unit_is_full_preactivation():
    rows = table("identity_table2")
    assert min(rows, key=lambda r: r["resnet164"])["activation"] == "full_preact"
    assert [r["resnet110"] for r in rows] == [6.61, 8.17, 7.84, 6.71, 6.37]


def test_shake_shake_table1_best_is_shake_shake_image():
    rows = table("shake_shake_table1")
    assert len(rows) == 9
    best = min(rows, key=lambda r: r["w2x32d"])
    assert best["w2x32d"] == 3.47
    last = rows[-1]
    assert (last["settings"], last["w2x96d"]) == ({"shake_forward": "shake", "shake_backward": "shake",
                                                    "shake_level": "image"}, 2.86)


@pytest.mark.parametrize("name", ["identity_table1", "identity_table2", "shake_shake_table1", "reproductions",
                                  "imagenet", "imagenet_paper", "imagenet_flops", "se", "wrn", "resnext",
                                  "densenet", "pyramidnet", "fractalnet", "highway", "macs_cifar", "cifar_resnet"])
def test_tables_carry_sources(name):
    rows = table(name)
    assert rows and all(r["source"] for r in rows)


def test_table_rows_are_copies():
    table("se")[0]["error_with"] = 0
    table("identity_table1")[1]["settings"]["shortcut_scale"] = 9.0
    recipe("wrn")["milestones_epochs"].append(999)
    assert table("se")[0]["error_with"] == 5.21
    assert table("identity_table1")[1]["settings"]["shortcut_scale"] == 0.0
    assert recipe("wrn")["milestones_epochs"] == [60, 120, 160]


def test_unknown_table_lists_choices():
    with pytest.raises(KeyError, match="identity_table1"):
        table("nope")


@pytest.mark.parametrize("family, batch, wd, epochs", [
    ("resnet", 128, 1e-4, 164), ("plain", 128, 1e-4, 164), ("preact", 128, 1e-4, 164), ("wrn", 128, 5e-4, 200),
    ("resnext", 128, 5e-4, 300), ("shake_shake", 128, 1e-4, 1800), ("densenet", 64, 1e-4, 300),
    ("pyramidnet", 128, 1e-4, 300),
])
def test_recipes(family, batch, wd, epochs):
    r = recipe(family)
    assert (r["batch_size"], r["weight_decay"], r["epochs"]) == (batch, wd, epochs)
    assert r["source"]


def test_no_recipe_for_families_without_one():
    assert recipe("highway") is None
    assert recipe("unknown") is None


def test_sources_have_arxiv_ids():
    ids = {s["key"]: s["arxiv"] for s in published.sources()}
    assert ids["resnet"] == "1512.03385" and ids["preact"] == "1603.05027" and ids["shake_shake"] == "1705.07485"


def test_pitfalls_have_sources():
    assert all(p["source"] and p["text"] for p in published.pitfalls())


def _valid_data():
    return json.loads(published.PUBLISHED_PATH.read_text())


@pytest.mark.parametrize("break_it, key", [
    (lambda d: d.pop("tables"), "tables"),
    (lambda d: d["presets"]["resnet20"].pop("error_kind"), "presets.resnet20.error_kind"),
    (lambda d: d["presets"]["resnet20"].update(params_m="0.27M"), "presets.resnet20.params_m"),
    (lambda d: d["presets"]["resnet20"].update(dataset="cifar100"), "presets.resnet20.dataset"),
    (lambda d: d["tables"]["se"][0].pop("source"), "tables.se[0]"),
    (lambda d: d["recipe_for_family"].update(resnet="missing"), "recipe_for_family.resnet"),
    (lambda d: d["tables"].update(se=[]), "tables.se: expected a non-empty list"),
    (lambda d: d["presets"]["resnet20"].update(error=True), "presets.resnet20.error: must be a finite number"),
    (lambda d: d["presets"]["resnet20"].update(params_m=float("nan")), "presets.resnet20.params_m: must be a finite"),
    (lambda d: d["presets"]["resnet20"].update(eror=8.75), "presets.resnet20.eror: unknown field"),
    (lambda d: d["sources"].insert(0, 3), "sources[0]: expected a JSON object; got 3"),
])
def test_malformed_file_names_the_file_and_key(break_it, key):
    data = _valid_data()
    break_it(data)
    with pytest.raises(PublishedDataError, match="published.json") as err:
        published.validate_data(data)
    assert key in str(err.value)


def test_published_is_frozen():
    p = published_for("resnet20")
    assert isinstance(p, Published)
    with pytest.raises(AttributeError):
        p.error = 0.0


@pytest.mark.parametrize("name, preset, key", [("identity_table1", "resnet110", "settings"),
                                               ("shake_shake_table1", "shake_shake26_2x32d", "settings")])
def test_table_settings_are_valid_designs(name, preset, key):
    # The app turns a table row into a design; every row's settings must be a valid ArchSpec change.
    from explorer.models.spec import validate

    for row in table(name):
        validate(PRESETS[preset].replace(**row[key]))


def test_table2_activations_are_spec_values():
    from explorer.models.spec import validate

    for row in table("identity_table2"):
        validate(PRESETS["resnet110"].replace(activation=row["activation"]))
        validate(PRESETS["preact_resnet164"].replace(activation=row["activation"]))


def test_table_presets_exist():
    for name in ("identity_table1", "preact", "wrn", "resnext", "densenet", "pyramidnet", "se", "imagenet",
                 "imagenet_paper", "macs_cifar", "reproductions", "highway", "fractalnet"):
        for row in table(name):
            assert row.get("preset") is None or row["preset"] in PRESETS, (name, row)
