"""Altair charts for the lessons, styled for a projector: large dark labels, thick lines, and a palette that
stays distinguishable with colour-vision deficiencies and on a washed-out image. Pure functions of DataFrames."""

from __future__ import annotations

import altair as alt
import pandas as pd

from explorer.draw.colors import family_scale
from explorer.i18n import N_, _

# Okabe-Ito: distinguishable with every common colour-vision deficiency and on a washed-out projector.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#E69F00", "#56B4E9", "#882255", "#44AA99",
           "#999933"]  # the last three from Paul Tol's muted set, for the nine families
FONT = 18  # px: axis labels and legends; titles are larger


def styled(chart: alt.Chart, height: int | None = 460) -> alt.Chart:
    """Projector style: large labels, thick lines, the colour-blind-safe palette."""
    if height is not None:
        chart = chart.properties(height=height)
    return (chart
            .configure_axis(labelFontSize=FONT, titleFontSize=FONT + 2, gridOpacity=0.4, labelColor="#111",
                            titleColor="#111", labelLimit=400, titleLimit=800)
            .configure_legend(labelFontSize=FONT, titleFontSize=FONT, symbolSize=200, symbolStrokeWidth=4,
                              orient="bottom", columns=4, labelLimit=400, labelColor="#111", titleColor="#111")
            .configure_title(fontSize=FONT + 4)
            .configure_range(category=PALETTE))


COSTS = {"params (M)": N_("params (M)"), "multiply-adds (G)": N_("multiply-adds (G)")}  # error_chart's x axes


def error_chart(frame: pd.DataFrame, x: str) -> alt.Chart:
    """Published error against a cost (log axis), one colour and shape per family."""
    points = alt.Chart(frame).mark_point(size=220, filled=True, opacity=0.9).encode(
        x=alt.X(f"{x}:Q", scale=alt.Scale(type="log"), title=_("{cost} (log)").format(cost=_(COSTS.get(x, x)))),
        y=alt.Y("error (%):Q", scale=alt.Scale(zero=False), title=_("published CIFAR-10 error (%)")),
        # each family in its own colour, the same as on Compare and Sweep (explorer.draw.colors)
        color=alt.Color("design family:N", title=None, scale=alt.Scale(**family_scale(frame["design family"]))),
        shape=alt.Shape("design family:N", title=None,
                        scale=alt.Scale(**family_scale(frame["design family"], shapes=True))),
        tooltip=["preset", x, "error (%)", "error kind", "source"])
    return styled(points, height=500)


def curve_chart(frame: pd.DataFrame, log: bool = False) -> alt.Chart:
    """Fig. 6 style: thin lines for training error, bold for test error. `log` spreads the nets that all end
    near 0% (errors under 0.1% are drawn at 0.1%, since a log axis has no 0)."""
    if log:
        frame = frame.assign(error=frame["error"].clip(lower=0.1))
    scale = alt.Scale(type="log", domain=[0.1, 100]) if log else alt.Scale(zero=True)
    return styled(alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title=_("epoch"), axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("error:Q", title=_("error (%, log scale)") if log else _("error (%)"), scale=scale,
                axis=alt.Axis(values=[0.1, 0.3, 1, 3, 10, 30, 100]) if log else alt.Axis()),
        color=alt.Color("net:N", title=_("net")),
        strokeWidth=alt.StrokeWidth("split:N", scale=alt.Scale(domain=["train", "test"], range=[1.5, 5]),
                                    title=_("thin: train, bold: test")),
        strokeDash=alt.StrokeDash("split:N", scale=alt.Scale(domain=["train", "test"], range=[[6, 3], [1, 0]]),
                                  legend=None),
        tooltip=["net", "split", "epoch", alt.Tooltip("error:Q", format=".2f")]), height=500)


def shake_chart(frame: pd.DataFrame, step: int) -> alt.Chart:
    """alpha and beta per image for one step, against the 0.5 of the even modes."""
    long = frame.melt(id_vars=["image"], value_vars=["alpha", "beta"], var_name="coefficient")
    long["coefficient"] = long["coefficient"].map({"alpha": _("alpha (forward)"), "beta": _("beta (backward)")})
    bars = alt.Chart(long, title=_("step {step}").format(step=step)).mark_bar().encode(
        x=alt.X("image:O", title=_("image in the batch"), axis=alt.Axis(labelAngle=0)), xOffset="coefficient:N",
        y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=_("weight of branch 1")),
        color=alt.Color("coefficient:N", title=None))
    rule = alt.Chart(pd.DataFrame({"y": [0.5]})).mark_rule(strokeDash=[6, 4], color="black", size=2).encode(y="y:Q")
    return styled(alt.layer(bars, rule), height=420)
