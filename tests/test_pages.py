"""The Home, Build and Compare pages under streamlit.testing (AppTest): controls, URLs, errors, tables."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer import FAMILY_DEFAULTS, PRESETS, ArchSpec, cost, i18n, layout
from explorer.models.builder import FAMILY_BUILDERS
from explorer.models.fields import setting, widget_bounds
from explorer.models.presets import IMAGENET_DEFAULTS

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120  # resnet-sized pages take about a second; a loaded CI machine can be much slower


def open_page(page: str | None, query: dict | None = None, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(markdown: str) -> str:
    """An alert's text as shown: untrusted parts come backslash-escaped (pages.plain)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def dots(at: AppTest) -> list[str]:
    return [chart.proto.spec for chart in at.get("graphviz_chart")]


def params_text(spec: ArchSpec) -> str:
    return f"{cost(spec).params / 1e6:.2f}M"


# ---------------------------------------------------------------- home

def test_home_draws_the_family_tree_and_links_every_family_to_build():
    at = open_page(None)
    (tree,) = dots(at)
    assert "ResNet" in tree and "Shake-Shake" in tree and "DenseNet" in tree
    links = [link.proto for link in at.get("page_link")]
    assert all(link.page == "build" for link in links)
    queries = {link.query_string for link in links}
    assert {"family=resnet", "family=wrn", "family=densenet", "preset=preact_resnet110"} <= queries
    # In reading order, row by row (a phone stacks them so; columns filled one by one scrambled it)
    assert [link.label for link in links][:4] == ["VGG", "Plain net (no shortcuts)", "Highway networks", "ResNet"]
    assert any("Teachers" in md.value for md in at.markdown) and any("Students" in md.value for md in at.markdown)


# ---------------------------------------------------------------- build

def test_build_default_is_resnet20_and_puts_it_in_the_url_and_session():
    at = open_page("pages/build.py")
    assert metrics(at)["Parameters"] == "0.27M"
    assert metrics(at)["Weight layers"] == "20"
    assert at.query_params == {"preset": "resnet20"}
    assert at.session_state["design"] == PRESETS["resnet20"]
    assert any("8.75%" in s.value for s in at.success)  # the paper's error, with its kind and source
    assert any("Table 6" in s.value for s in at.success)


def test_changing_controls_changes_the_parameters_shown():
    at = open_page("pages/build.py")
    at.sidebar.selectbox(key="b_preset").set_value("resnet56").run()
    assert metrics(at)["Parameters"] == "0.85M"
    at.sidebar.selectbox(key="b_depth").set_value(110).run()
    assert metrics(at)["Parameters"] == "1.73M"
    assert at.query_params == {"preset": "resnet110"}
    at.sidebar.number_input(key="b_width_factor").set_value(2).run()
    spec = PRESETS["resnet110"].replace(width_factor=2)
    assert metrics(at)["Parameters"] == params_text(spec)
    assert at.query_params == {"family": "resnet", "depth": "110", "width_factor": "2"}
    assert any("differs from every published one" in i.value for i in at.info)
    assert not at.exception


def test_depth_offers_only_valid_values_for_the_family():
    at = open_page("pages/build.py")
    assert at.sidebar.selectbox(key="b_depth").options[:4] == ["8", "14", "20", "26"]
    at.sidebar.selectbox(key="b_block").set_value("bottleneck").run()
    assert at.sidebar.selectbox(key="b_depth").options[:3] == ["11", "20", "29"]  # 9n+2
    assert not at.exception


def test_settings_that_do_not_apply_are_hidden():
    at = open_page("pages/build.py")
    keys = {w.key for w in at.sidebar.number_input} | {w.key for w in at.sidebar.selectbox}
    assert "b_width_factor" in keys and "b_cardinality" not in keys and "b_growth_rate" not in keys
    at.sidebar.selectbox(key="b_family").set_value("resnext").run()
    keys = {w.key for w in at.sidebar.number_input} | {w.key for w in at.sidebar.selectbox}
    assert "b_cardinality" in keys and "b_width_factor" not in keys and "b_shortcut_variant" not in keys


def test_widgets_follow_the_field_table():
    at = open_page("pages/build.py")
    keys = {w.key for w in at.sidebar.number_input}
    assert "b_gate_bias" not in keys  # shown only with a gating shortcut variant
    at.sidebar.selectbox(key="b_shortcut_variant").set_value("exclusive_gating").run()
    gate = at.sidebar.number_input(key="b_gate_bias")
    assert (gate.min, gate.max, gate.step) == widget_bounds("gate_bias") == (-20.0, 20.0, 1.0)
    assert gate.label == setting("gate_bias").label
    at.sidebar.selectbox(key="b_family").set_value("wrn").run()
    dropout = at.sidebar.number_input(key="b_dropout")
    assert (dropout.min, dropout.max) == (0.0, 0.95)  # [0, 1): the widget stops one step inside


def test_plain_net_on_the_imagenet_stem_is_a_valid_design():
    # It loaded ResNet-34's shortcut option B into a plain net, which validate refuses.
    at = open_page("pages/build.py")
    at.sidebar.selectbox(key="b_family").set_value("plain").run()
    at.sidebar.selectbox(key="b_stem").set_value("imagenet").run()
    assert not at.exception and not at.error
    assert at.session_state["design"] == IMAGENET_DEFAULTS["plain"]


def test_invalid_combination_shows_the_error_and_keeps_the_last_valid_design():
    at = open_page("pages/build.py")
    at.sidebar.selectbox(key="b_preset").set_value("resnet56").run()
    at.sidebar.selectbox(key="b_shortcut_variant").set_value("exclusive_gating").run()
    at.sidebar.selectbox(key="b_activation").set_value("full_preact").run()
    assert not at.exception
    assert any(shown(e.value).startswith("This combination is not valid. Shortcut variant: ")  # the page's words
               and "activation 'original'" in shown(e.value) for e in at.error), [shown(e.value) for e in at.error]
    assert metrics(at)["Parameters"] == params_text(PRESETS["resnet56"].replace(
        shortcut_variant="exclusive_gating"))  # the last valid design stays visible
    assert at.session_state["design"].activation == "original"


def test_graph_dot_names_the_stages_and_the_block_detail_follows_the_spec():
    at = open_page("pages/build.py", {"preset": "resnet56"})
    overview, detail = dots(at)
    for stage in ("stage1", "stage2", "stage3"):
        assert f"\t{stage} [label=" in overview  # the stage's node, named by its module
    assert "basic block × 9" in overview
    assert "stage2.block1 in detail" in detail and "zero-pad" in detail


@pytest.mark.parametrize("query", [
    {"preset": "wrn_28_10"},
    {"family": "resnet", "depth": "38", "width_factor": "2", "se_reduction": "8"},
    {"family": "densenet", "depth": "100", "block": "bottleneck", "compression": "0.5", "growth_rate": "12"},
    {"preset": "resnet56", "activation": "full_preact"},
])
def test_query_params_round_trip(query):
    from explorer.models.urls import spec_from_params, spec_to_params

    spec = spec_from_params(query)
    at = open_page("pages/build.py", query)
    assert at.session_state["design"] == spec
    assert at.query_params == spec_to_params(spec)
    assert metrics(at)["Parameters"] == params_text(spec)
    assert not at.warning


@pytest.mark.parametrize("query, field", [
    ({"depth": "21"}, "depth"),
    ({"preset": "resnet9000"}, "preset"),
    ({"family": "resnet", "depth": "abc"}, "depth"),
    ({"family": "wrn", "cardinality": "8"}, "cardinality"),
    ({"hack": "<script>"}, "hack"),
])
def test_bad_url_gives_a_clear_message_and_a_valid_default(query, field):
    at = open_page("pages/build.py", query)
    assert not at.exception
    assert any(f"({field}:" in shown(w.value) for w in at.warning), [w.value for w in at.warning]
    assert at.session_state["design"] == PRESETS["resnet20"]
    assert metrics(at)["Parameters"] == "0.27M"


@pytest.mark.parametrize("family", sorted(FAMILY_DEFAULTS))
def test_every_family_opens_from_a_link(family):
    at = open_page("pages/build.py", {"family": family})
    if family not in FAMILY_BUILDERS:
        assert any("not in this version" in e.value for e in at.error)
        return
    assert at.session_state["design"] == FAMILY_DEFAULTS[family]
    assert metrics(at)["Parameters"] == params_text(FAMILY_DEFAULTS[family])
    assert len(dots(at)) == 2


def test_summary_depth_and_downloads():
    at = open_page("pages/build.py", {"preset": "resnet20"})
    (table,) = at.dataframe
    assert "stage1.block1" in set(table.value["layer"])
    at.slider(key="b_summary_depth").set_value(1).run()
    assert list(at.dataframe[0].value["layer"]) == ["stem", "stage1", "stage2", "stage3", "head"]
    labels = {b.proto.label for b in at.get("download_button")}
    assert {"Overview DOT", "Block DOT", "Spec JSON", "Summary as text", "Summary as CSV"} <= labels


# Issue 12, defect 11: a click's rerun let Streamlit's media cleanup drop the file a second click asked for.
# (The file names are checked in Chromium: tests/test_browser.py.)
def test_downloads_do_not_rerun_the_page():
    at = open_page("pages/build.py", {"preset": "resnet56"})
    buttons = at.get("download_button")
    assert len(buttons) >= 5 and all(b.proto.ignore_rerun for b in buttons), [b.proto.label for b in buttons]


# Issue 12, defect 2: the preset box kept showing a preset after edits had made the design custom.
def test_preset_box_follows_the_design():
    at = open_page("pages/build.py", {"preset": "resnet56"})
    box = lambda: at.sidebar.selectbox(key="b_preset").value  # noqa: E731
    assert box() == "resnet56"
    at.sidebar.number_input(key="b_width_factor").set_value(2).run()
    assert box() == "(custom design)"
    assert at.query_params == {"family": "resnet", "depth": "56", "width_factor": "2"}
    at.sidebar.number_input(key="b_width_factor").set_value(1).run()
    assert box() == "resnet56"  # equal to a preset again
    at.sidebar.selectbox(key="b_depth").set_value(110).run()
    assert box() == "resnet110"
    at.sidebar.selectbox(key="b_shortcut_variant").set_value("exclusive_gating").run()
    at.sidebar.selectbox(key="b_activation").set_value("full_preact").run()
    assert at.error and box() == "(custom design)"  # an invalid combination is no preset either
    assert not at.exception


# Issue 12, defect 13: switching the stem to ImageNet replaced the design with resnet50 without a word.
def test_switching_the_stem_says_which_design_it_loaded():
    at = open_page("pages/build.py", {"preset": "resnet56"})
    at.sidebar.selectbox(key="b_stem").set_value("imagenet").run()
    assert at.session_state["design"] == PRESETS["resnet50"]
    (note,) = at.sidebar.info
    assert "resnet50" in note.value and "in place of resnet56" in note.value
    assert at.sidebar.selectbox(key="b_preset").value == "resnet50"
    at.sidebar.selectbox(key="b_depth").set_value(101).run()
    assert not at.sidebar.info  # said once, not on every rerun
    at.sidebar.selectbox(key="b_stem").set_value("cifar").run()
    assert "resnet20" in at.sidebar.info[0].value and "in place of resnet101" in at.sidebar.info[0].value
    at.sidebar.number_input(key="b_width_factor").set_value(2).run()
    at.sidebar.selectbox(key="b_stem").set_value("imagenet").run()
    assert "in place of your custom design" in at.sidebar.info[0].value


# Issue 12, defect 13: the summary listed the nn.Identity placeholders of options that are off ("preact Identity").
def test_summary_shows_no_placeholder_rows():
    at = open_page("pages/build.py", {"preset": "resnet20"})
    at.slider(key="b_summary_depth").set_value(6).run()
    rows = at.dataframe[0].value
    placeholders = rows[(rows["type"] == "Identity") & ~rows["layer"].str.endswith(".shortcut")]
    assert placeholders.empty, list(placeholders["layer"])[:5]
    assert "stage1.block1.shortcut" in set(rows["layer"])  # an identity shortcut is part of the design
    assert "stage1.block1.residual.conv1" in set(rows["layer"])


# Issue 12, defect 13: megabytes were 10^6 bytes here and 2^20 on the dense lesson.
def test_activation_memory_is_in_binary_units_named_mib():
    at = open_page("pages/build.py", {"preset": "resnet56"})
    shown_value = metrics(at)["Activations / image"]
    assert shown_value == f"{cost(PRESETS['resnet56']).activation_bytes / 2**20:.2f} MiB"


# Issue 11: a pandas Styler rendered the figure tables (a quarter of the CPU under a class's load).
def test_figure_table_needs_no_pandas_styler(monkeypatch):  # Compare draws its figures with the same function
    from pandas.io.formats.style import Styler

    def refuse(*args, **kwargs):
        raise AssertionError("a pandas Styler was built")

    monkeypatch.setattr(Styler, "__init__", refuse)
    at = open_page("pages/build.py", {"preset": "wrn_28_10"})
    assert ("4.00", "median of 5") in {(row["figure"], row["kind"]) for row in figure_table(at)}  # WRN-28-10


# ---------------------------------------------------------------- compare

def compare_table(at: AppTest) -> dict[str, dict[str, str]]:
    """The Compare table as shown: {design: {quantity: text}} (one column per design, cells plain text)."""
    table = at.table[0].value
    return {shown(design): {row: shown(text) for row, text in column.items()} for design, column in table.items()}


def test_compare_table_lists_the_chosen_designs_from_the_url():
    at = open_page("pages/compare.py", {"designs": "resnet56,wrn_28_10,densenet40_k12"})
    table = compare_table(at)
    assert list(table) == ["resnet56", "wrn_28_10", "densenet40_k12"]
    assert [t["params (M)"] for t in table.values()] == ["0.853", f"{cost(PRESETS['wrn_28_10']).params / 1e6:.3f}",
                                                          "1.020"]
    assert [t["paper's error (%)"] for t in table.values()] == ["6.97", "4.00", "5.24"]  # the paper's decimals
    assert "Table 6" in table["wrn_28_10"]["source"]  # a column per design: the source is never cut off
    assert len(dots(at)) == 3
    assert len(at.get("vega_lite_chart")) == 3  # two bar charts and the published-error scatter
    assert at.query_params == {"designs": "resnet56,wrn_28_10,densenet40_k12"}


def test_compare_shows_an_imagenet_error_with_its_three_decimals_and_no_none():
    custom = PRESETS["resnet56"].replace(width_factor=3)  # in no paper
    at = open_page("pages/compare.py", state={"design": custom, "c_designs": ["design from Build", "resnet50"]})
    table = compare_table(at)
    assert table["resnet50"]["paper's error (%)"] == "23.870"  # torchvision's table, as printed
    cells = [text for column in table.values() for text in column.values()]
    assert "None" not in " ".join(cells) and "nan" not in cells
    assert table["design from Build (ResNet / pre-activation)"]["paper's error (%)"] == "–"


def test_compare_choice_changes_the_url_and_ignores_bad_names():
    at = open_page("pages/compare.py", {"designs": "resnet20,nonsense,resnet110"})
    assert any("nonsense" in w.value for w in at.warning)
    at.multiselect(key="c_designs").select("resnext29_8x64d").run()
    assert list(compare_table(at)) == ["resnet20", "resnet110", "resnext29_8x64d"]
    assert at.query_params["designs"] == "resnet20,resnet110,resnext29_8x64d"


def test_compare_carries_the_build_design_and_shares_it_by_url():
    spec = PRESETS["resnet56"].replace(width_factor=3)
    at = open_page("pages/compare.py", state={"design": spec, "c_designs": ["design from Build", "resnet56"]})
    assert list(compare_table(at))[0].startswith("design from Build")
    custom = at.query_params["custom"]
    assert dict(parse_qsl(custom)) == {"family": "resnet", "depth": "56", "width_factor": "3"}
    again = open_page("pages/compare.py", dict(at.query_params))
    assert list(compare_table(again).values())[0]["params (M)"] == f"{cost(spec).params / 1e6:.3f}"


def test_compare_keeps_the_multiply_adds_chart_in_the_link():
    at = open_page("pages/compare.py", {"designs": "resnet56,wrn_28_10"})
    at.toggle(key="c_macs").set_value(True).run()
    assert at.query_params["macs"] == "1"
    assert len(at.get("vega_lite_chart")) == 4  # the bars and both scatters
    again = open_page("pages/compare.py", dict(at.query_params))
    assert again.toggle(key="c_macs").value and len(again.get("vega_lite_chart")) == 4
    again.toggle(key="c_macs").set_value(False).run()
    assert "macs" not in again.query_params
    again.toggle(key="c_macs").set_value(True).run()
    again.switch_page("pages/build.py").run()  # another page drops the widgets' state
    again.switch_page("pages/compare.py").run()
    assert again.toggle(key="c_macs").value and again.query_params["macs"] == "1"


def scatter_layers(at: AppTest) -> tuple[dict, list[pd.DataFrame]]:
    """The published-error scatter's spec and each layer's data."""
    import json

    import pyarrow as pa

    chart = at.get("vega_lite_chart")[2]
    data = {d.name: pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets}
    spec = json.loads(chart.proto.spec)
    return spec, [data[layer["data"]["name"]] for layer in spec["layer"]]


def test_compare_scatter_fits_its_axis_to_the_data_and_names_designs_apart():
    from explorer.draw import labels
    from explorer.draw.colors import family_scale

    names = ["resnet56", "resnet110", "preact_resnet110", "wrn_28_10"]  # three near 1M params and 6.5%
    at = open_page("pages/compare.py", {"designs": ",".join(names)})
    spec, data = scatter_layers(at)
    dots_layer, points = spec["layer"][0], data[0]
    x_domain = dots_layer["encoding"]["x"]["scale"]["domain"]
    y_domain = dots_layer["encoding"]["y"]["scale"]["domain"]
    assert points["params (M)"].max() < x_domain[1] <= 1.5 * points["params (M)"].max()  # not 8x the largest
    assert points["params (M)"].min() / 1.5 <= x_domain[0] < points["params (M)"].min()
    assert dots_layer["encoding"]["color"]["scale"] == family_scale(points["family"])  # the lessons' colours
    named = pd.concat([frame for layer, frame in zip(spec["layer"], data)
                       if layer["mark"]["type"] == "text"]).drop_duplicates("preset")
    assert sorted(named["preset"]) == sorted(names)
    anchors = [labels.Placed(x, y, align, moved) for x, y, align, moved in
               zip(named["x"], named["label_y"], named["align"], named["moved"])]
    placed = [(x, y, name) for x, y, name in zip(named["x"], named["y"], named["preset"])]
    for width in (320, 800, 1500):
        assert labels.overlaps(placed, anchors, x_domain, y_domain, spec["height"], width) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_opens_on_build(name):
    at = open_page("pages/build.py", {"preset": name})
    spec = PRESETS[name]
    if spec.family not in FAMILY_BUILDERS:
        pytest.skip(f"{spec.family} builder not in this version")
    assert metrics(at)["Parameters"] == params_text(spec)
    assert at.query_params == {"preset": name}
    overview, _ = dots(at)
    assert all(f"\t{stage.name} [label=" in overview for stage in layout(spec).stages)
    deep = layout(spec).weight_layers > 400  # summary on request only
    assert len(at.toggle) == int(deep) and len(at.dataframe) == int(not deep)


@pytest.mark.parametrize("preset, has_block_choice", [("resnet20", True), ("densenet40_k12", False),
                                                      ("vgg16_cifar", False), ("highway19", True)])
def test_block_detail_offers_a_block_only_where_the_stage_has_blocks(preset, has_block_choice):
    at = open_page("pages/build.py", query={"preset": preset})
    keys = {w.key for w in at.selectbox}
    assert ("b_detail_block" in keys) == has_block_choice


# ---------------------------------------------------------------- published figures on Build and Compare

def figure_table(at: AppTest) -> list[dict[str, str]]:
    """The Build page's table of published figures (st.table; cells shown as plain text)."""
    (table,) = at.table
    return [{k: shown(v) for k, v in row.items()} for row in table.value.to_dict("records")]


def test_build_shows_every_figure_of_a_preset():
    at = open_page("pages/build.py", {"preset": "wrn_28_10"})
    rows = figure_table(at)
    figures = {(r["dataset"], r["metric"], r["figure"], r["kind"]) for r in rows}
    assert ("CIFAR-10", "test error", "4.00", "median of 5") in figures  # WRN Table 6
    assert ("CIFAR-10", "test error", "4.17", "as printed") in figures  # WRN Table 4, ZCA
    assert all("CIFAR-100" != r["dataset"] for r in rows)  # a CIFAR-10 design gets no CIFAR-100 number
    assert any("Table 6" in r["source"] for r in rows)


def test_build_finds_a_table_row_that_is_no_preset():
    spec = PRESETS["resnet110"].replace(activation="bn_after_add")  # Identity Mappings Table 2
    at = open_page("pages/build.py", spec_params(spec))
    assert any("8.17%" in shown(s.value) and "Table 2" in shown(s.value) for s in at.success)
    assert not [i for i in at.info if "differs from every published one" in i.value]


def test_build_shows_cifar100_figures_for_a_cifar100_design():
    spec = PRESETS["densenet_bc190_k40"].replace(num_classes=100)
    at = open_page("pages/build.py", spec_params(spec))
    assert {(r["dataset"], r["figure"]) for r in figure_table(at)} == {("CIFAR-100", "17.18")}


@pytest.mark.parametrize("preset, top1", [("resnet34_a", "25.03"), ("resnet34", "24.52"), ("resnet34_c", "24.19"),
                                          ("plain34", "28.54")])
def test_build_shows_imagenet_table3_for_each_shortcut_option(preset, top1):
    at = open_page("pages/build.py", {"preset": preset})
    table3 = [r for r in figure_table(at) if "Table 3" in r["source"] and r["metric"] == "top-1 error"]
    assert [r["figure"] for r in table3] == [top1]


def spec_params(spec: ArchSpec) -> dict[str, str]:
    from explorer.models.urls import spec_to_params

    return spec_to_params(spec)


def test_lesson3_links_open_designs_with_their_paper_figure(tmp_path, monkeypatch):
    from urllib.parse import urlparse

    monkeypatch.setenv("EXPLORER_RUNS_DIR", str(tmp_path / "runs"))
    lesson = AppTest.from_file(str(Path(APP).parent / "pages" / "lessons.py"), default_timeout=TIMEOUT)
    lesson.query_params["lesson"] = "shortcut"
    lesson.run()
    t1, t2 = (frame.value for frame in lesson.dataframe[:2])
    links = [(link, text) for link, text in zip(t1["open"], t1["error_text"])]
    links += [(link, f"{e:.2f}") for col, err in (("open 110", "resnet110"), ("open 164", "resnet164"))
              for link, e in zip(t2[col], t2[err])]
    assert len(links) == 21
    for link, text in links:
        at = open_page("pages/build.py", dict(parse_qsl(urlparse(link).query)))
        assert text in [r["figure"] for r in figure_table(at)], link
        assert not [i for i in at.info if "differs from every published one" in i.value], link


def test_compare_uses_the_figures_of_each_chosen_design():
    spec = PRESETS["wrn_28_10"].replace(dropout=0.3)  # = wrn_28_10_dropout
    custom = PRESETS["resnet110"].replace(activation="bn_after_add")
    at = open_page("pages/compare.py", state={"design": custom,
                                              "c_designs": ["design from Build", "wrn_28_10_dropout"]})
    table = compare_table(at).values()
    assert [t["paper's error (%)"] for t in table] == ["8.17", "3.89"]
    assert spec == PRESETS["wrn_28_10_dropout"]
    assert [t["published figures"] for t in table] == ["1", "1"]  # CIFAR-10 only: CIFAR-100 is another design


# ---------------------------------------------------------------- Korean (issue 13)

def korean(page: str, query: dict | None = None) -> AppTest:
    return open_page(page, {"lang": "ko", **(query or {})})


def test_build_in_korean_labels_its_controls_results_and_figures():
    at = korean("pages/build.py", {"preset": "wrn_28_10"})
    assert at.title[0].value == "설계 만들기"
    assert at.sidebar.selectbox(key="b_family").label == "계열"
    assert "Plain (shortcut 없음)" in at.sidebar.selectbox(key="b_family").options  # the options as shown
    assert "B: 모양이 바뀌는 곳만 projection" in at.sidebar.selectbox(key="b_shortcut").options
    assert at.sidebar.selectbox(key="b_preset").label == "프리셋에서 시작"
    assert at.sidebar.selectbox(key="b_preset").options[0] == "(직접 만든 설계)"
    assert at.sidebar.selectbox(key="b_preset").value == "wrn_28_10"  # values stay English
    assert metrics(at)["파라미터 수"] == params_text(PRESETS["wrn_28_10"])
    assert [s.value for s in at.subheader][:2] == ["개요", "블록 하나 자세히 보기"]
    rows = figure_table(at)
    assert {"데이터셋", "지표", "수치", "종류", "출처"} <= set(rows[0])
    figures = {(r["데이터셋"], r["지표"], r["수치"], r["종류"]) for r in rows}
    assert ("CIFAR-10", "테스트 오류율", "4.00", "5회 중 최고") not in figures  # Table 6 prints a median
    assert ("CIFAR-10", "테스트 오류율", "4.00", "5회 중앙값") in figures
    assert any("Table 6" in r["출처"] for r in rows)  # the source is the paper's, untranslated
    assert any(s.value.startswith("논문의 **wrn_28_10**:") for s in at.success)
    overview, detail = dots(at)
    assert "<b>범례</b>" in overview and ">입력 / 출력</td>" in overview and "Legend" not in overview
    assert "<b>범례</b>" in detail
    assert 'label="Wide ResNet, 가중치 28층"' in overview and 'label="stage2.block1 자세히 보기 (Wide ResNet)"' in detail
    assert "stage1" in overview and "input" in overview  # node labels are layer names: they stay
    assert at.session_state["design"] == PRESETS["wrn_28_10"]


def test_build_in_korean_names_an_invalid_combination_by_its_korean_label():
    at = korean("pages/build.py", {"preset": "resnet56"})
    with i18n.using("ko"):  # AppTest finds a choice by its label, with format_func run in this thread
        at.sidebar.selectbox(key="b_shortcut_variant").set_value("exclusive_gating").run()
        at.sidebar.selectbox(key="b_activation").set_value("full_preact").run()
    assert not at.exception
    assert any(shown(e.value).startswith("이 조합은 올바르지 않습니다. Shortcut 변형: ") for e in at.error), \
        [shown(e.value) for e in at.error]
    assert at.session_state["design"].activation == "original"


def test_build_in_korean_words_the_stem_switch_and_the_summary():
    at = korean("pages/build.py", {"preset": "resnet56"})
    with i18n.using("ko"):
        at.sidebar.selectbox(key="b_stem").set_value("imagenet").run()
    (note,) = at.sidebar.info
    assert "**resnet50**" in note.value and "resnet56 대신" in note.value and "불러왔습니다" in note.value
    assert at.slider(key="b_summary_depth").label == "요약 깊이"
    assert any(c.value.startswith("입력 1x3x224x224 (모양만)") for c in at.caption), [c.value for c in at.caption]


def test_compare_in_korean_names_its_rows_and_keeps_design_names():
    at = korean("pages/compare.py", {"designs": "resnet56,wrn_28_10"})
    assert at.title[0].value == "설계 비교"
    table = compare_table(at)
    assert list(table) == ["resnet56", "wrn_28_10"]
    assert table["resnet56"]["파라미터 수 (M)"] == "0.853"
    assert table["wrn_28_10"]["논문 오류율 (%)"] == "4.00"
    assert table["wrn_28_10"]["오류율 종류"] == "5회 중앙값, CIFAR-10"
    assert table["resnet56"]["계열"] == "ResNet / pre-activation"
    assert "Table 6" in table["wrn_28_10"]["출처"]
    assert [s.value for s in at.subheader] == ["그래프 나란히 보기", "모든 프리셋의 논문 CIFAR-10 오류율과 크기"]
    assert all("<b>범례</b>" in dot for dot in dots(at))
    assert at.query_params["designs"] == "resnet56,wrn_28_10"


def test_every_figure_metric_and_kind_has_a_shown_name():
    from typing import get_args

    from explorer.models import figures
    assert set(figures.METRIC_LABELS) == set(get_args(figures.Metric))
    assert set(figures.KIND_LABELS) == set(get_args(figures.Kind))
