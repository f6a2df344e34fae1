"""Text on charts: where to write the names of a few marked points on a scatter chart so that no two overlap,
and a log axis's ticks.

Vega-Lite has no label placement, and a name drawn beside each point collides as soon as two chosen designs have
similar sizes and errors. The chart's height and its axes' domains are fixed here, but its width follows the page;
so a name goes right of its point (left of it near the right edge) and moves down, or up, until its box is clear
of every other name and point at each of WIDTHS. Pure geometry on estimated text sizes: no drawing library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTHS = (320, 480, 720, 1000, 1500)  # px of plot width: a phone, half a laptop page, a laptop, a projector
CHAR_WIDTH = 0.62  # of the font size: Vega's default sans-serif, a generous average
GAP = 10  # px between a point's centre and its name
DOT = 9  # px: half the size of a marked point


@dataclass(frozen=True)
class Placed:
    """A name's anchor in data units, the side of its point it is on, and whether it was moved off its point's
    height (then a leader line joins them)."""

    x: float
    y: float
    align: str  # "left": the name starts right of the point; "right": it ends left of it
    moved: bool


def _box(fx: float, fy: float, align: str, text: str, font: float, width: float) -> tuple[float, ...]:
    w = CHAR_WIDTH * font * len(text)
    x = fx * width
    left = x + GAP if align == "left" else x - GAP - w
    return left, fy - font / 2 - 1, left + w, fy + font / 2 + 1


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place(points: list[tuple[float, float, str]], x_domain: tuple[float, float], y_domain: tuple[float, float],
          height: float, font: float = 12, log_x: bool = True) -> list[Placed]:
    """Anchors for the names of `points` ((x, y, name) in data units) on a plot `height` px tall whose axes span
    the domains (y grows upward; x on a log scale when `log_x`), in the order given."""
    tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    x0, x1 = tx(x_domain[0]), tx(x_domain[1])
    y0, y1 = y_domain

    def fx(v: float) -> float:  # 0 to 1 of the plot's width
        return (tx(v) - x0) / (x1 - x0)

    def fy(v: float) -> float:  # px from the top
        return (y1 - v) / (y1 - y0) * height

    dots = [(fx(x), fy(y)) for x, y, _ in points]
    placed: dict[int, tuple[float, str]] = {}  # index -> (px from the top, align)
    step = font + 3
    for i in sorted(range(len(points)), key=lambda j: dots[j][1]):
        x, y = dots[i]
        name = points[i][2]
        # Right of the point unless the name would run past the right edge of the narrowest plot.
        align = "left" if x * WIDTHS[0] + GAP + CHAR_WIDTH * font * len(name) <= WIDTHS[0] else "right"

        def clear(top: float) -> bool:
            if top - font / 2 < 0 or top + font / 2 > height:
                return False
            for width in WIDTHS:
                box = _box(x, top, align, name, font, width)
                others = (_box(dots[j][0], t, a, points[j][2], font, width) for j, (t, a) in placed.items())
                if any(_overlap(box, other) for other in others):
                    return False
                if any(_overlap(box, (dx * width - DOT, dy - DOT, dx * width + DOT, dy + DOT)) for dx, dy in dots):
                    return False
            return True

        offsets = [0.0] + [s * k * step for k in range(1, 40) for s in (1, -1)]
        top = next((y + o for o in offsets if clear(y + o)), y)  # when nothing is clear, at its point
        placed[i] = (top, align)
    return [Placed(points[i][0], y1 - placed[i][0] / height * (y1 - y0), placed[i][1], placed[i][0] != dots[i][1])
            for i in range(len(points))]


def overlaps(points: list[tuple[float, float, str]], anchors: list[Placed], x_domain: tuple[float, float],
             y_domain: tuple[float, float], height: float, width: float, font: float = 12,
             log_x: bool = True) -> list[tuple[str, str]]:
    """The pairs of names whose boxes overlap at this plot width (for tests and checks)."""
    tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    x0, x1 = tx(x_domain[0]), tx(x_domain[1])
    y0, y1 = y_domain
    boxes = [_box((tx(a.x) - x0) / (x1 - x0), (y1 - a.y) / (y1 - y0) * height, a.align, name, font, width)
             for (_, _, name), a in zip(points, anchors)]
    return [(points[i][2], points[j][2]) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
            if _overlap(boxes[i], boxes[j])]


def log_axis(low: float, high: float) -> tuple[list[float], list[float]]:
    """A log axis's domain and tick values at 1, 2 and 5 times a power of ten (powers of ten alone over more than
    three decades): from the largest such value at or under `low` to the smallest at or over `high` (both
    positive), so it always has at least two ticks, and never the odd ticks (1, 5, 9) Vega picks for a short
    range."""
    if not (low > 0 and high > 0):
        raise ValueError(f"a log axis needs positive values; got {low} to {high}")
    low, high = min(low, high), max(low, high)
    steps = [m * 10.0 ** e for e in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 2)
             for m in (1, 2, 5)]
    start = max(v for v in steps if v <= low * (1 + 1e-9))
    end = min(v for v in steps if v >= high * (1 - 1e-9) and v > start)
    ticks = [float(f"{v:.12g}") for v in steps if start <= v <= end]
    if len(ticks) > 10:  # over more than three decades 1-2-5 crowds the axis: powers of ten only
        ticks = [t for t in ticks if f"{t:e}".startswith("1")]
    return [float(f"{start:.12g}"), float(f"{end:.12g}")], ticks
