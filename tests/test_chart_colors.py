"""explorer.draw.colors and explorer.draw.labels (issue 12, defects 10 and 12), and the charts that use them: one
fixed colour per family with enough contrast, the same on Compare and the lessons; colours that do not swap when a
series appears; 1-2-5 log ticks; names on a scatter that do not overlap; the Train page's line charts."""

from __future__ import annotations

import pandas as pd
import pytest

from explorer.draw import colors, labels
from explorer.models.spec import FAMILY_LABELS


def test_every_family_has_its_own_colour_and_shape_with_contrast_on_white():
    assert set(colors.FAMILY_COLORS) == set(FAMILY_LABELS) == set(colors.FAMILY_SHAPES)
    assert len(set(colors.FAMILY_COLORS.values())) == len(FAMILY_LABELS)
    assert len(set(colors.FAMILY_SHAPES.values())) == len(FAMILY_LABELS)
    for color in [*colors.FAMILY_COLORS.values(), *colors.CATEGORY]:
        assert colors.contrast_on_white(color) >= colors.MIN_CONTRAST, color  # Tableau's #edc948 is 1.6


def test_contrast_matches_wcag():
    assert colors.contrast_on_white("#000000") == pytest.approx(21.0)
    assert colors.contrast_on_white("#ffffff") == pytest.approx(1.0)
    assert colors.contrast_on_white("#767676") == pytest.approx(4.54, abs=0.01)  # the WCAG AA grey


def test_a_family_keeps_its_colour_whichever_families_are_shown():
    every = colors.family_scale()
    some = colors.family_scale(["DenseNet", "Wide ResNet"])
    assert some["domain"] == ["Wide ResNet", "DenseNet"]  # the fixed order, not the order given
    for label, color in zip(some["domain"], some["range"]):
        assert every["range"][every["domain"].index(label)] == color
    shapes = colors.family_scale(["DenseNet"], shapes=True)
    assert shapes == {"domain": ["DenseNet"], "range": [colors.FAMILY_SHAPES["densenet"]]}


def test_category_scale_is_fixed_by_names():
    assert colors.category_scale(["train", "test"])["range"] == colors.CATEGORY[:2]
    many = colors.category_scale([str(i) for i in range(12)])
    assert many["range"][10] == colors.CATEGORY[0] and len(many["domain"]) == 12


@pytest.mark.parametrize("low, high, domain, ticks", [
    (1.2, 2.3, [1, 5], [1, 2, 5]),
    (2.3, 2.3, [2, 5], [2, 5]),  # a single point still gets two ticks
    (0.27, 76, [0.2, 100], [0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]),
    (0.0031, 0.0049, [0.002, 0.005], [0.002, 0.005]),
    (1e-5, 3, [1e-5, 5], [1e-5, 1e-4, 1e-3, 0.01, 0.1, 1]),  # a loss near 0: powers of ten only
])
def test_log_axis_ticks_at_1_2_5(low, high, domain, ticks):
    got_domain, got_ticks = labels.log_axis(low, high)
    assert got_domain == pytest.approx(domain) and got_ticks == pytest.approx(ticks)
    assert 9 not in got_ticks


def test_log_axis_refuses_zero():
    with pytest.raises(ValueError, match="positive"):
        labels.log_axis(0, 1)


CROWD = [(0.85, 6.97, "resnet56"), (0.86, 6.9, "resnet56_b"), (0.87, 6.95, "resnet56_c"), (1.7, 6.43, "resnet110"),
         (1.7, 6.4, "preact_resnet110"), (36.5, 4.0, "wrn_28_10"), (36.5, 3.9, "wrn_28_10_dropout")]


@pytest.mark.parametrize("width", [320, 400, 800, 1200, 1600])
def test_placed_names_never_overlap(width):
    x_domain, y_domain = (0.5, 50), (3.0, 8.0)
    anchors = labels.place(CROWD, x_domain, y_domain, 420)
    naive = [labels.Placed(x, y, "left", False) for x, y, _ in CROWD]  # a name beside each point
    assert labels.overlaps(CROWD, naive, x_domain, y_domain, 420, width)  # the defect: they collide
    assert labels.overlaps(CROWD, anchors, x_domain, y_domain, 420, width) == []
    assert all(y_domain[0] <= a.y <= y_domain[1] for a in anchors)
    # Near the right edge the name goes left of its point, so it is not cut off.
    assert {a.align for a, (x, _, _) in zip(anchors, CROWD) if x > 30} == {"right"}


def test_a_lone_point_keeps_its_name_beside_it():
    (anchor,) = labels.place([(1.0, 5.0, "resnet20")], (0.5, 50), (3, 8), 420)
    assert anchor == labels.Placed(1.0, 5.0, "left", False)


# ---------------------------------------------------------------- the charts that use them

def scale_of(chart, channel: str) -> dict:
    spec = chart.to_dict()
    layers = spec.get("layer", [spec])
    return next(layer["encoding"][channel]["scale"] for layer in layers if channel in layer.get("encoding", {}))


def test_lessons_and_compare_colour_families_alike():
    from explorer.lessons import budget, charts

    frame = budget.published_chart()
    scale = scale_of(charts.error_chart(frame, "params (M)"), "color")
    assert scale == colors.family_scale(frame["design family"])
    assert scale_of(charts.error_chart(frame, "params (M)"), "shape") == colors.family_scale(frame["design family"],
                                                                                              shapes=True)


def curves(splits: list[str], steps: int = 3) -> pd.DataFrame:
    return pd.DataFrame([{"step": 20 * (i + 1), "split": s, "loss": 2.3 - 0.1 * i, "error (%)": 90.0 - i}
                         for s in splits for i in range(steps)])


def test_train_line_chart_keeps_colours_when_the_first_test_point_arrives():
    from pages.train_views.runs import line_chart

    before = scale_of(line_chart(curves(["train"]), "step", "error (%)", "split", "Error (%)"), "color")
    after = scale_of(line_chart(curves(["test", "train"]), "step", "error (%)", "split", "Error (%)"), "color")
    assert before["range"][before["domain"].index("train")] == after["range"][after["domain"].index("train")]
    assert after["domain"] == ["train", "test"]


def test_train_line_chart_axes_for_a_single_point_and_a_log_loss():
    from pages.train_views.runs import line_chart

    one = curves(["train"], steps=1)
    spec = line_chart(one, "step", "error (%)", "split", "Error (%)").to_dict()
    assert spec["encoding"]["x"]["axis"] == {"format": "d", "tickMinStep": 1}  # not 20.000000
    assert spec["encoding"]["y"]["axis"]["format"] == ".3~g"
    log = line_chart(curves(["train"], steps=8), "step", "loss", "split", "Loss", log=True).to_dict()
    assert log["encoding"]["y"]["axis"]["values"] == [1, 2, 5]  # not 1, 5, 9
    assert log["encoding"]["y"]["scale"] == {"type": "log", "domain": [1, 5], "nice": False}


def test_overlay_legend_names_the_design_and_recipe(tmp_path):
    from explorer import PRESETS
    from explorer.training.recipe import Recipe
    from explorer.training.runs import RunStore
    from pages.train_views.runs import run_name

    store = RunStore(tmp_path / "runs")
    recipe = Recipe(dataset="synthetic", epochs=2, train_size=256, batch_size=64, lr=0.05, seed=3)
    run = store.get(store.request(PRESETS["resnet20"], recipe)[0])
    name = run_name(run)
    assert name.startswith("resnet20 · ") and "2 epochs" in name and "lr 0.05" in name and "seed 3" in name
    assert name.endswith(run.id.removeprefix("resnet20-")) and run.id not in name
