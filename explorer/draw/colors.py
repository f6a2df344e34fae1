"""The app's chart colours, in one place: one fixed colour per design family (the same on Compare, the lessons and
Sweep), and a categorical palette for everything else (runs, splits, swept values).

Every colour has a contrast of at least 3:1 against white (WCAG 2.1, non-text graphics), so no family fades on a
white page or a washed-out projector. The hues follow Okabe-Ito and Paul Tol's sets, darkened where the original is
pale, so that they stay apart with the common colour-vision deficiencies; charts add a shape per family as well.
Colours (and shapes) are fixed per name (a scale's domain), never by order of appearance: a series keeps its colour when
another one appears or is filtered out.
"""

from __future__ import annotations

from collections.abc import Iterable

from explorer.models.spec import FAMILY_LABELS

FAMILY_COLORS: dict[str, str] = {
    "plain": "#222222",  # near black: no shortcuts
    "vgg": "#767676",  # grey
    "highway": "#8C564B",  # brown
    "resnet": "#0072B2",  # blue (Okabe-Ito)
    "wrn": "#D55E00",  # vermillion (Okabe-Ito)
    "resnext": "#117733",  # green (Tol muted)
    "shake_shake": "#AA3377",  # purple (Tol bright)
    "pyramidnet": "#B07A00",  # amber (Okabe-Ito orange, darkened)
    "densenet": "#332288",  # indigo (Tol muted)
    "fractalnet": "#CC6677",  # rose (Tol muted)
}
# A shape per family as well (Vega's point shapes), for print and for colour-vision deficiencies.
FAMILY_SHAPES: dict[str, str] = {
    "plain": "wedge", "vgg": "arrow", "highway": "circle", "resnet": "square", "wrn": "triangle-up",
    "resnext": "cross", "shake_shake": "diamond", "pyramidnet": "triangle-right", "densenet": "triangle-down",
    "fractalnet": "triangle-left",
}
# Runs, splits, swept values: the first two are train and test.
CATEGORY: list[str] = ["#0072B2", "#D55E00", "#117733", "#AA3377", "#222222", "#B07A00", "#332288", "#8C564B",
                       "#CC6677", "#767676"]
MIN_CONTRAST = 3.0  # against white, for every colour above


def family_scale(shown: Iterable[str] | None = None, shapes: bool = False) -> dict[str, list[str]]:
    """A scale's domain (family labels, FAMILY_LABELS) and range, colours or (`shapes`) point shapes: every family,
    or only those `shown` (labels), each with its own whatever the others. Use as `alt.Scale(**family_scale())`."""
    wanted = None if shown is None else set(shown)
    table = FAMILY_SHAPES if shapes else FAMILY_COLORS
    pairs = [(FAMILY_LABELS[f], v) for f, v in table.items() if wanted is None or FAMILY_LABELS[f] in wanted]
    return {"domain": [label for label, _ in pairs], "range": [value for _, value in pairs]}


def category_scale(names: Iterable[str]) -> dict[str, list[str]]:
    """A colour scale for names known before the data arrives (["train", "test"], runs, swept values): CATEGORY in
    the given order, repeating past ten. Use as `alt.Scale(**category_scale(...))`."""
    names = list(names)
    return {"domain": names, "range": [CATEGORY[i % len(CATEGORY)] for i in range(len(names))]}


def contrast_on_white(color: str) -> float:
    """WCAG 2.1 contrast ratio of a #rrggbb colour against white (1 to 21)."""
    channels = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)
