"""assets/published.json: structure, the figures the app shows, every table row found by its design, and clear
errors for a malformed file."""

import json
from typing import get_args

import pytest

from explorer import ArchSpec
from explorer.models import published
from explorer.models.figures import CLASSES, Kind, dataset_of
from explorer.models.presets import PRESETS
from explorer.models.published import (
    Published, PublishedDataError, all_published, columns, figures_for, published_for, recipe, table, table_names,
)

def test_every_published_preset_is_a_preset():
    assert set(all_published()) <= set(PRESETS)


@pytest.mark.parametrize("name, params_m, error, kind", [
    ("resnet20", 0.27, 8.75, "single run"),  # He et al. 2015, Table 6: single runs ...
    ("resnet56", 0.85, 6.97, "single run"),
    ("resnet110", 1.7, 6.43, "best of 5"),  # ... except ResNet-110
    ("resnet1202", 19.4, 7.93, "single run"),
    ("preact_resnet164", 1.7, 5.46, "median of 5"),
    ("preact_resnet1001", 10.2, 4.92, "median of 5"),  # Identity Mappings Table 4 (mean 4.89)
    ("wrn_28_10", 36.5, 4.00, "median of 5"),
    ("resnext29_16x64d", 68.1, 3.58, "mean of 10"),
    ("densenet_bc190_k40", 25.6, 3.46, "as printed"),
    ("highway19", 2.3, 7.54, "best run"),
    ("shake_shake26_2x96d", 26.2, 2.86, "mean of 5"),
    ("resnet110_stochastic", 1.7, 5.25, "as printed"),
    ("wrn_28_10_dropout", None, 3.89, "median of 5"),
])
def test_cifar_headline_figures(name, params_m, error, kind):
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
    assert round(p.params_m * 1e6) == params == p.params_exact
    assert p.params_text == f"{params:,}"
    assert p.error == pytest.approx(top1_error)


def test_estimated_shake_shake_counts_are_not_published_counts():
    for name in ("shake_shake26_2x32d", "shake_shake26_2x64d"):
        assert published_for(name).params_m is None
        assert not [f for f in figures_for(PRESETS[name]) if f.metric == "parameters"]
    rows = {r["key"]: r for r in table("shake_shake_params")}
    assert [rows[k]["status"] for k in rows] == ["estimate", "estimate", "printed"]
    assert published_for("shake_shake26_2x96d").params_text == "26.2M"  # the paper prints this one


def test_unknown_preset_has_no_figures():
    assert published_for("vgg16_cifar") is None
    assert published_for("plain20") is None  # Fig. 6 only: no table prints a plain CIFAR net's number
    assert published_for("nope") is None


# ------------------------------------------------------------------ every table row, looked up by its design

def _expected_spec(row: dict, column: dict) -> ArchSpec:
    """The row's design built here independently of explorer.models.figures: preset + row + column fields."""
    fields = {**column.get("design", {}), **row["design"]}
    spec = PRESETS[fields.pop("preset")].replace(**fields)
    return spec if column["dataset"] == "imagenet" else spec.replace(num_classes=CLASSES[column["dataset"]])


def _cells():
    for name in table_names():
        for row in table(name):
            for column in columns(name):
                if "design" in row and (row.get(column["field"]) is not None or row.get(column.get("text", ""))):
                    yield pytest.param(name, row, column, id=f"{name}-{row['key']}-{column['field']}")


CELLS = list(_cells())


def test_the_tables_name_many_designs():
    assert len(CELLS) > 250


@pytest.mark.parametrize("name, row, column", CELLS)
def test_looking_up_a_rows_design_gives_its_number(name, row, column):
    found = [f for f in figures_for(_expected_spec(row, column))
             if (f.table, f.key, f.column) == (name, row["key"], column["label"])]
    assert len(found) == 1
    figure = found[0]
    value = row[column["field"]]
    assert figure.value == (None if value is None else pytest.approx(value * column.get("scale", 1)))
    assert (figure.metric, figure.dataset, figure.source) == (column["metric"], column["dataset"], row["source"])
    if "text" in column and row.get(column["text"]) is not None:
        assert figure.text == row[column["text"]]
    else:
        assert float(figure.text) == pytest.approx(value)


@pytest.mark.parametrize("name", table_names())
def test_every_row_has_a_key_and_a_design_or_a_reason(name):
    rows = table(name)
    assert len({r["key"] for r in rows}) == len(rows)
    for row in rows:
        assert ("design" in row) != ("unbuildable" in row), row["key"]
        if "unbuildable" in row:
            assert len(row["unbuildable"]) > 20  # a reason, not a flag


def test_kinds_are_a_closed_set():
    kinds = {f.kind for cell in CELLS for f in figures_for(_expected_spec(*cell.values[1:]))}
    assert kinds <= set(get_args(Kind))
    assert {"single run", "best of 5", "median of 5", "mean of 10", "10-crop", "exact count"} <= kinds


def test_every_figure_is_on_its_designs_dataset():
    for spec, figures in published._load()["figures"].items():
        assert {f.dataset for f in figures} == {dataset_of(spec)}


def _values(spec: ArchSpec, metric: str = "test error") -> list[float]:
    return [f.value for f in figures_for(spec) if f.metric == metric]


@pytest.mark.parametrize("spec, value, table_name", [
    (PRESETS["resnet110"].replace(activation="bn_after_add"), 8.17, "identity_table2"),
    (PRESETS["resnet110"].replace(shortcut_variant="exclusive_gating", gate_bias=-6.0), 8.70, "identity_table1"),
    (PRESETS["resnet110_stochastic"], 5.25, "stochastic_depth"),
    (PRESETS["resnet1202_stochastic"], 4.91, "stochastic_depth"),
    (PRESETS["wrn_28_10_dropout"], 3.89, "wrn_table5"),
    (PRESETS["wrn_16_4"].replace(depth=40, width_factor=2), 5.33, "wrn_table4"),
    (PRESETS["shake_shake26_2x64d"].replace(shake_forward="even", shake_backward="even"), 3.76,
     "shake_shake_table1"),
    (PRESETS["densenet_bc190_k40"].replace(num_classes=100), 17.18, "densenet"),
    (PRESETS["preact_resnet1001"].replace(activation="original"), 7.61, "identity_table3"),
    (PRESETS["pyramidnet164_a270_bottleneck"].replace(num_classes=100), 17.01,
     "pyramidnet"),
])
def test_designs_that_are_not_presets_find_their_rows(spec, value, table_name):
    assert value in [f.value for f in figures_for(spec) if f.table == table_name]


@pytest.mark.parametrize("name, top1", [("plain18", 27.94), ("plain34", 28.54), ("resnet34_a", 25.03),
                                        ("resnet34", 24.52), ("resnet34_c", 24.19)])
def test_imagenet_table3_options_a_b_c_and_the_plain_nets(name, top1):
    tables = {f.table for f in figures_for(PRESETS[name]) if f.metric == "top-1 error" and f.value == top1}
    assert tables & {"imagenet_table2", "imagenet_table3"}


def test_resnext_templates_are_one_complexity_apart_by_cardinality():
    errors = {f.key: f.value for spec in (PRESETS["resnet50"], *(PRESETS["resnext50_32x4d"].replace(
        cardinality=c, bottleneck_width=w) for c, w in ((2, 40), (4, 24), (8, 14), (32, 4))))
        for f in figures_for(spec) if f.table == "resnext_templates"}
    assert errors == {"resnet50_1x64d": 23.9, "resnext50_2x40d": 23.0, "resnext50_4x24d": 22.6,
                      "resnext50_8x14d": 22.3, "resnext50_32x4d": 22.2}


@pytest.mark.parametrize("near_miss, missing", [
    (PRESETS["resnet110"].replace(shortcut="B"), 6.43),  # another shortcut option
    (PRESETS["resnet110"].replace(num_classes=100), 6.43),  # CIFAR-100
    (PRESETS["resnet34"], 25.03),  # ResNet-34 B does not get option A's number
    (PRESETS["resnet34_a"], 24.52),
    (PRESETS["wrn_28_10"], 3.89),  # no dropout
    (PRESETS["wrn_28_10"].replace(num_classes=100), 4.00),
    (PRESETS["resnet110"], 5.25),  # no stochastic depth
])
def test_near_misses_do_not_get_the_number(near_miss, missing):
    assert missing not in _values(near_miss) + _values(near_miss, "top-1 error")


def test_cifar100_designs_get_the_cifar100_columns_only():
    figures = figures_for(PRESETS["resnet110"].replace(num_classes=100))
    assert {f.dataset for f in figures} == {"cifar100"}
    assert [f.value for f in figures if f.table == "stochastic_depth"] == [27.22]  # constant depth
    stochastic = PRESETS["resnet110_stochastic"].replace(num_classes=100)
    assert [f.value for f in figures_for(stochastic) if f.table == "stochastic_depth"] == [24.98]
    assert published_for("resnet110").dataset == "cifar10"


def test_unbuildable_rows_say_why():
    reasons = {(name, r["key"]): r["unbuildable"] for name in table_names() for r in table(name)
               if "unbuildable" in r}
    assert "not a residual-family design" in reasons["cifar_others", "fitnet"]
    assert ("identity_table3", "resnet110_1layer") in reasons and ("fractalnet", "fractalnet40") in reasons


def test_identity_table1_has_the_failures_and_the_settings():
    rows = table("identity_table1")
    assert len(rows) == 11
    assert sum(r["failed"] for r in rows) == 4
    gated = [r for r in rows if r["design"].get("gate_bias") == -6.0]
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
    assert (last["design"], last["w2x96d"]) == ({"shake_forward": "shake", "shake_backward": "shake",
                                                  "shake_level": "image"}, 2.86)


@pytest.mark.parametrize("name", table_names())
def test_tables_carry_sources(name):
    rows = table(name)
    assert rows and all(r["source"] for r in rows)


def test_table_rows_are_copies():
    table("se")[0]["error_with"] = 0
    table("identity_table1")[1]["design"]["shortcut_scale"] = 9.0
    recipe("wrn")["milestones_epochs"].append(999)
    assert table("se")[0]["error_with"] == 5.21
    assert table("identity_table1")[1]["design"]["shortcut_scale"] == 0.0
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


def _row(d, name, key):
    return next(r for r in d["tables"][name] if r.get("key") == key)


@pytest.mark.parametrize("break_it, key", [
    (lambda d: d.pop("tables"), "tables"),
    (lambda d: d["tables"]["se"][0].pop("source"), "tables.se[0]"),
    (lambda d: d["recipe_for_family"].update(resnet="missing"), "recipe_for_family.resnet"),
    (lambda d: d["tables"].update(se=[]), "tables.se: expected a non-empty list"),
    (lambda d: d["sources"].insert(0, 3), "sources[0]: expected a JSON object; got 3"),
    (lambda d: d["tables"]["cifar_resnet"][1].update(key="resnet20"), "tables.cifar_resnet[1]: needs a 'key'"),
    (lambda d: _row(d, "cifar_resnet", "resnet20").pop("design"), "tables.cifar_resnet[resnet20]: needs either"),
    (lambda d: _row(d, "cifar_others", "fitnet").update(design={"preset": "resnet20"}),
     "tables.cifar_others[fitnet]: needs either"),
    (lambda d: _row(d, "cifar_resnet", "resnet20").update(error=True), "tables.cifar_resnet[resnet20].error: must"),
    (lambda d: _row(d, "cifar_resnet", "resnet20").update(error="8.75"), "[resnet20].error: must be a number"),
    (lambda d: _row(d, "cifar_resnet", "resnet20")["design"].update(preset="resnet21"),
     "tables.cifar_resnet[resnet20].error: 'preset' must name a preset; got 'resnet21'"),
    (lambda d: _row(d, "wrn_table4", "wrn_40_1")["design"].update(depth=41),
     "tables.wrn_table4[wrn_40_1].c10.depth"),
    (lambda d: _row(d, "wrn_table4", "wrn_40_1")["design"].update(widht_factor=1), "not an ArchSpec field"),
    (lambda d: _row(d, "imagenet_table2", "plain18")["design"].update(preset="plain20"),
     "the column's dataset is imagenet"),
    (lambda d: _row(d, "wrn_table5", "wrn_16_4")["design"].update(dropout=0.1), "both set dropout"),
    (lambda d: _row(d, "cifar_resnet", "resnet20").update(error_kind="best"), "kind must be one of"),
    (lambda d: d["columns"]["se"][0].update(metric="accuracy"), "columns.se[0].metric"),
    (lambda d: d["columns"].update(nope=[]), "columns.nope: names no table"),
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


def test_row_design_is_the_design_a_lesson_link_opens():
    assert (published.row_design("identity_table2", "bn_after_add", "resnet164")
            == PRESETS["preact_resnet164"].replace(activation="bn_after_add"))
    assert published.row_design("wrn_table5", "wrn_28_10", "c10_dropout") == PRESETS["wrn_28_10_dropout"]
    assert published.row_design("wrn_table5", "wrn_28_10", "c100") == PRESETS["wrn_28_10"].replace(num_classes=100)
    with pytest.raises(KeyError, match="fitnet"):
        published.row_design("cifar_others", "fitnet")
    with pytest.raises(KeyError, match="nope"):
        published.row_design("wrn_table5", "wrn_28_10", "nope")


def test_headline_of_a_design_that_is_no_preset():
    paper = published.headline(PRESETS["wrn_16_4"].replace(depth=40, width_factor=2))  # WRN Table 4, ZCA
    assert (paper.error, paper.params_text, paper.error_kind, paper.dataset) == (5.33, "2.2M", "as printed", "cifar10")
    assert published.headline(PRESETS["resnet56"].replace(width_factor=3)) is None


def test_a_cifar100_preset_has_its_cifar100_headline():
    p = published_for("shake_shake29_2x4x64d")  # the README's CIFAR-100 model, Shake-Even-Image
    assert (p.error, p.dataset) == (15.85, "cifar100")
    assert not figures_for(PRESETS["shake_shake29_2x4x64d"].replace(num_classes=10))


def test_the_presets_without_a_figure_are_the_ones_no_table_prints():
    # The plain CIFAR nets: Fig. 6 only. vgg16_cifar: this project's CIFAR form of VGG-16. fractalnet20 keeps the
    # family's local drop-path 0.15, while FractalNet Table 1's row is the net without drop-path or dropout.
    assert {n for n, s in PRESETS.items() if not figures_for(s)} == {
        "plain20", "plain32", "plain44", "plain56", "plain110", "vgg16_cifar", "fractalnet20"}


# ------------------------------------------------------------------ texts users read (issue 12, defect 9)

# Developer notes that reached the pages: a review status, an instruction to the code, a note on where a figure was
# looked up, a template placeholder, a command line given as a source, code in a note.
DEVELOPER_MARKERS = {
    "a review status": r"\b(UNCONFIRMED|TODO|FIXME|XXX|TBD)\b",
    "an instruction to the code": r"\bmust (equal|match)\b",
    "a lookup note": r"secondary source|papers\.md|\bauthor repo\b",
    "a placeholder": r"\{[A-Za-z_]*\}",
    "a command line": r"(^|[\s(])(python3?|pip|bash|streamlit|\.venv/\S*)\s|(^|\s)--[a-z]",
    "code": r"\w\(\.\.\.|\btorch\.\w+\(",
}


def user_texts() -> list[tuple[str, str]]:
    """(where, text) for every string a page shows from the data and the library: each published figure's source,
    note and column, every table row's and recipe's texts, the pitfalls, the measured tables' sources, each
    plan's note, each lesson's source line."""
    from explorer.lessons import cardinality, degradation, highway, imagenet, lesion, measured, stochastic, wrn
    from explorer.models.plans import PLANS

    found = []
    for spec, figures in published._load()["figures"].items():
        found += [(f"figure {f.table}[{f.key}].{attr}", getattr(f, attr)) for f in figures
                  for attr in ("source", "note", "column", "text")]
    for name in table_names():
        for row in table(name):
            found += [(f"tables.{name}[{row['key']}].{k}", v) for k, v in row.items() if isinstance(v, str)]
        found += [(f"columns.{name}.{c['field']}.{k}", c[k]) for c in columns(name) for k in ("label", "note")
                  if k in c]
    for family in ("resnet", "preact", "wrn", "resnext", "shake_shake", "densenet", "pyramidnet", "fractalnet",
                   "vgg"):
        found += [(f"recipes[{family}].{k}", v) for k, v in (recipe(family) or {}).items() if isinstance(v, str)]
    found += [(f"pitfalls[{i}].{k}", v) for i, p in enumerate(published.pitfalls()) for k, v in p.items()
              if isinstance(v, str)]
    found += [(f"measured.{name}.source", measured.measured(name).source) for name in ("degradation", "lesion")]
    found += [(f"plan {family}.note", plan.note) for family, plan in PLANS.items() if plan.note]
    found += [(f"lesson {m.__name__}.SOURCE", m.SOURCE)
              for m in (cardinality, degradation, highway, imagenet, lesion, stochastic, wrn)]
    return found


def test_user_texts_hold_no_developer_notes():
    import re

    texts = user_texts()
    assert len(texts) > 500  # the scan reaches the figures, not only a few captions
    bad = [(where, what, text) for where, text in texts for what, pattern in DEVELOPER_MARKERS.items()
           if re.search(pattern, text)]
    assert not bad, "\n".join(f"{where}: {what}: {text[:120]}" for where, what, text in bad)


@pytest.mark.parametrize("text, marker", [
    ("Shake-Shake 26 2x32d (UNCONFIRMED)", "a review status"),
    ("the ImageNet builder must equal it", "an instruction to the code"),
    ("via a secondary source", "a lookup note"),
    ("comparison with the state of the art{READ}", "a placeholder"),
    ("python benchmarks/lesson_runs.py --seed 0 (1, 2): the lesson's defaults", "a command line"),
    ("the authors' train.py (torch.optim.SGD(..., nesterov=True))", "code"),
])
def test_the_developer_markers_catch_what_issue_12_saw(text, marker):
    import re

    assert re.search(DEVELOPER_MARKERS[marker], text)
