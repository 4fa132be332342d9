"""The patient's own chart, drawn on the server as SVG: no JavaScript, a few kilobytes.

Staff pages keep Plotly (recovery.web.charts); a patient's phone gets this instead, so the
result page stays light on a weak connection (docs/charts.md, "The patient's chart"). Numbers in,
numbers out: `templates/patient/_chart.html` draws the shapes, and the words (tick labels, the
text alternative) come from the Flask layer.

The plot is a 1000 x 1000 viewBox stretched to its box (``preserveAspectRatio="none"``), with
``vector-effect: non-scaling-stroke`` so lines and dots keep their size; a dot is a zero-length
line with round caps, which stays round however the box is stretched. Time runs on the same
axis as the staff chart (`charts.axis_position`: log2(1 + hours), the baseline in a "Before"
slot); pain runs from 0 at the bottom to 10 at the top, so the page can put its 0, 5 and 10
labels at the bottom, middle and top of the box in HTML, where they grow with the page's text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .charts import BEFORE_POSITION, PAIN_MAX, X_MIN, X_RIGHT_PAD, axis_position

#: The patient's chart always spans the default protocol (to 3 months), so its tick labels
#: stay where the page's layout expects them; a later score sits at the right edge.
X_MAX = axis_position(2160.0) + X_RIGHT_PAD
VIEW = 1000
#: Ticks: hours since procedure, and a level: 0 always shown, 1 hidden when the chart is
#: very narrow for its text (200% text on a small phone), 2 hidden on a phone (app.css).
TICKS: tuple[tuple[float, int], ...] = (
    (0.0, 0),
    (6.0, 2),
    (24.0, 1),
    (168.0, 2),
    (2160.0, 0),
)


@dataclass(frozen=True)
class Tick:
    """A label under the time axis: its position as a percentage of the width."""

    hours: float
    percent: float
    level: int
    anchor: str  # SVG text-anchor: "start" at the left edge, "end" at the right, else "middle"


@dataclass(frozen=True)
class PhoneChart:
    """Shapes in viewBox units (0..1000, y down), ready for the template."""

    band: str  # polygon points: the expected range (expected .. amber, capped at 10)
    expected: str  # polyline points: the expected curve
    observed: str  # polyline points: the patient's scores in time order
    dots: list[tuple[float, float]]
    baseline_dot: tuple[float, float] | None
    ticks: list[Tick]
    gridlines: list[float]  # y of pain 0, 5 and 10
    divider: float  # x of the dotted line between "Before" and the time since procedure


def _x(hours: float) -> float:
    position = min(axis_position(hours), X_MAX)
    return round((position - X_MIN) / (X_MAX - X_MIN) * VIEW, 1)


def _curve_x(hours: float) -> float:
    # The curve starts at the procedure (log2(1 + 0) = 0), not in the baseline slot.
    return _x(hours) if hours > 0 else round((0 - X_MIN) / (X_MAX - X_MIN) * VIEW, 1)


def _y(pain: float) -> float:
    return round((PAIN_MAX - min(max(pain, 0.0), PAIN_MAX)) / PAIN_MAX * VIEW, 1)


def _points(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:g},{y:g}" for x, y in points)


def phone_chart(
    *, entries: Sequence[Mapping[str, Any]], curve: Mapping[str, Sequence[float]]
) -> PhoneChart:
    """The chart for `entries` (each with ``hours`` since procedure and ``pain``) against
    `curve` (``hours``, ``expected``, ``amber`` as from `recovery.clinical.curve.curve_points`)."""
    rows = [
        (hours, expected, amber)
        for hours, expected, amber in zip(
            curve["hours"], curve["expected"], curve["amber"], strict=True
        )
        if hours >= 0
    ]
    upper = [(_curve_x(h), _y(min(amber, PAIN_MAX))) for h, _e, amber in rows]
    lower = [(_curve_x(h), _y(min(expected, PAIN_MAX))) for h, expected, _a in rows]
    ordered = sorted(entries, key=lambda entry: entry["hours"])
    before = [entry for entry in ordered if entry["hours"] <= 0]
    after = [entry for entry in ordered if entry["hours"] > 0]
    dots = [(_x(entry["hours"]), _y(entry["pain"])) for entry in after]
    baseline = before[-1] if before else None
    span = X_MAX - X_MIN
    ticks = []
    for hours, level in TICKS:
        position = BEFORE_POSITION if hours <= 0 else axis_position(hours)
        percent = round((position - X_MIN) / span * 100, 1)
        anchor = "start" if hours <= 0 else "end" if hours == TICKS[-1][0] else "middle"
        edge = {"start": 0.0, "end": 100.0}.get(anchor, percent)
        ticks.append(Tick(hours, edge, level, anchor))
    return PhoneChart(
        band=_points(upper + lower[::-1]),
        expected=_points(lower),
        observed=_points(dots),
        dots=dots,
        baseline_dot=(_x(0.0), _y(baseline["pain"])) if baseline else None,
        ticks=ticks,
        gridlines=[_y(0), _y(5), _y(10)],
        divider=round((BEFORE_POSITION / 2 - X_MIN) / span * VIEW, 1),
    )
