"""Plotly figure dicts for pain charts, built from plain lists.

Numbers in, JSON-safe dicts out (``{"data": [...], "layout": {...}, "config": {...}}``), ready
for ``tojson`` in a ``<script type="application/json">`` element that ``static/js/charts.js``
hands to ``Plotly.newPlot``. No database, no request, no plotly import: the figures follow
the plotly.js 4 schema and the tests validate them with ``plotly.graph_objects.Figure``.

Pain is the 0-10 NRS; time is hours since the end of the procedure, with hours <= 0 as the
pre-procedure baseline (docs/clinical.md, "Expected curve" and "Band").
The time axis is ``log2(1 + hours)`` so that the first 48 hours stay readable beside
3 months; the baseline sits in a "Before" slot left of the procedure. See docs/charts.md.

Every user-facing string comes from ``labels`` (defaults in ``DEFAULT_LABELS``), so the Flask
layer can pass translated text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..clinical.vocabulary import DURATION_TEMPLATES, RedFlag, Severity, duration

__all__ = [
    "BEFORE_POSITION",
    "DEFAULT_LABELS",
    "TICK_HOURS",
    "axis_position",
    "cohort_figure",
    "elapsed_label",
    "episode_figure",
]

#: x position of the pre-procedure baseline slot ("Before"), left of the procedure (x = 0).
BEFORE_POSITION = -1.0
#: Tick positions in hours since procedure (the default check-in schedule); 0 means "Before".
TICK_HOURS: tuple[tuple[str, float], ...] = (
    ("tick_before", 0.0),
    ("tick_2h", 2.0),
    ("tick_6h", 6.0),
    ("tick_24h", 24.0),
    ("tick_48h", 48.0),
    ("tick_1wk", 168.0),
    ("tick_2wk", 336.0),
    ("tick_1mo", 720.0),
    ("tick_3mo", 2160.0),
)
#: No score-only alerts before 4 h (docs/clinical.md, "Alert rules"), so no call line before it.
RED_LINE_FROM_HOURS = 4.0

PAIN_MAX = 10
# Alerts sit in a strip above the 0-10 scale, so they never hide a score.
ALERT_STRIP_Y = 11.2
Y_RANGE = (-0.4, 11.7)
X_MIN = BEFORE_POSITION - 0.7
# Room right of the 3-month tick for its label.
X_RIGHT_PAD = 0.5
# Height of the x tick labels plus axis title, and of one legend row, in CSS pixels.
AXIS_TEXT_PX = 52
LEGEND_ROW_PX = 24
NOTE_LINE_PX = 18
EPISODE_HEIGHT_PX = 400
COHORT_HEIGHT_PX = 380
COHORT_Y_RANGE = (0.0, 1.25)

COLOURS = {
    "observed": "#1f4e79",
    "staff": "#5b7fa6",
    "expected": "#2e7d4f",
    "band": "rgba(46,125,79,0.18)",
    "red_line": "#b3261e",
    "red_flag": "#b3261e",
    "emergency": "#4d0000",
    "urgent": "#8e0000",
    "high": "#d9480f",
    "moderate": "#e8a200",
    "muted": "#5f6368",
    "grid": "#e6e6e6",
}


def N_(text: str) -> str:
    """Mark `text` for translation without translating it here (pybabel extracts N_)."""
    return text


DEFAULT_LABELS: dict[str, str] = {
    # trace names (legend)
    "observed": N_("Reported pain"),
    "expected": N_("Expected"),
    "band": N_("Expected range"),
    "red_line": N_("Call line"),
    "red_flags": N_("Red-flag symptom"),
    "alerts": N_("Alert"),
    # axes
    "x_title": N_("Time since procedure"),
    "y_title": N_("Pain (0-10)"),
    "y_low": N_("0 = no pain"),
    "y_high": N_("10 = worst pain imaginable"),
    # ticks
    "tick_before": N_("Before"),
    "tick_2h": N_("2 h"),
    "tick_6h": N_("6 h"),
    "tick_24h": N_("24 h"),
    "tick_48h": N_("48 h"),
    "tick_1wk": N_("1 wk"),
    "tick_2wk": N_("2 wk"),
    "tick_1mo": N_("1 mo"),
    "tick_3mo": N_("3 mo"),
    # hover and notes
    "staff_entry": N_("entered by staff"),
    "baseline_assumed": N_("Baseline not recorded: assumed {baseline}/10"),
    # severities ("severity_<code>"), red flags in the clinician's words ("flag_<code>") and
    # the duration units: from recovery.clinical.vocabulary
    **{f"severity_{severity.code}": severity.label for severity in Severity},
    **{f"flag_{flag.value}": flag.label for flag in RedFlag},
    **{template: template for template in DURATION_TEMPLATES},
    # cohort chart
    "cohort_median": N_("Clinic median"),
    "cohort_iqr": N_("Middle half of patients"),
    "published": N_("Published curve"),
    "cohort_y_title": N_("Pain as a percentage of baseline"),
    "median": N_("median"),
    "iqr": N_("IQR"),
    "n": N_("n = {n}"),
}


def axis_position(hours: float) -> float:
    """Return the x position for a time in hours since procedure end.

    ``log2(1 + hours)`` for hours > 0, so 2 h, 6 h, 24 h and 48 h are spread out while a week
    and 3 months still fit; hours <= 0 (baseline) map to the ``BEFORE_POSITION`` slot.
    """
    if hours <= 0:
        return BEFORE_POSITION
    return math.log2(1.0 + hours)


def elapsed_label(hours: float, labels: Mapping[str, str] | None = None) -> str:
    """A short label for hours since procedure ("45 min", "24 h", "3 d", "2 wk"): the app's
    one duration formatter (`recovery.clinical.vocabulary.duration`), in the labels' language."""
    text = _labels(labels)
    return duration(hours).render(lambda template: text.get(template, template))


def episode_figure(
    *,
    entries: Sequence[Mapping[str, Any]],
    curve: Mapping[str, Sequence[float]],
    alerts: Sequence[Mapping[str, Any]] = (),
    baseline: float,
    baseline_assumed: bool,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict:
    """Build the staff chart of one episode against its expected curve.

    ``entries``: dicts with ``hours`` (hours since procedure, <= 0 for baseline), ``pain``
    (0-10 NRS), ``red_flags`` (codes), ``source`` ("patient" or "staff") and
    ``recorded_label`` (human time for hover). ``curve``: ``hours``, ``expected``, ``amber``
    and ``red`` lists (0-10 NRS) from ``curve.curve_points``. ``alerts``: dicts with
    ``hours``, ``rule``, ``severity`` and ``reason``. ``baseline`` is the B used for the
    curve; ``baseline_assumed`` says it is the population default, noted on the chart.
    Trace ``uid``s: observed, expected, band, red_line, red_flags, alerts.
    """
    text = _labels(labels)
    ordered = sorted(entries, key=lambda entry: entry["hours"])
    curve_hours, expected, amber, red = _curve_columns(curve)
    red_line = [
        value if hours >= RED_LINE_FROM_HOURS and value <= PAIN_MAX else None
        for hours, value in zip(curve_hours, red, strict=True)
    ]
    flagged = [entry for entry in ordered if entry.get("red_flags")]
    data = [
        _band_trace(curve_hours, expected, amber, text["band"]),
        {
            "type": "scatter",
            "uid": "expected",
            "name": text["expected"],
            "mode": "lines",
            "x": _curve_positions(curve_hours),
            "y": _rounded(expected),
            "customdata": [elapsed_label(hours, text) for hours in curve_hours],
            "line": {"color": COLOURS["expected"], "width": 2, "dash": "dash"},
            "hovertemplate": f"{text['expected']} %{{customdata}}: %{{y:.1f}}<extra></extra>",
        },
        {
            "type": "scatter",
            "uid": "red_line",
            "name": text["red_line"],
            "mode": "lines",
            "x": _curve_positions(curve_hours),
            "y": _rounded(red_line),
            "customdata": [elapsed_label(hours, text) for hours in curve_hours],
            "line": {"color": COLOURS["red_line"], "width": 1.5, "dash": "dot"},
            "hovertemplate": f"{text['red_line']} %{{customdata}}: %{{y:.1f}}<extra></extra>",
        },
        {
            "type": "scatter",
            "uid": "observed",
            "name": text["observed"],
            "mode": "lines+markers",
            "x": _positions(entry["hours"] for entry in ordered),
            "y": [entry["pain"] for entry in ordered],
            "customdata": [_entry_hover(entry, text) for entry in ordered],
            "line": {"color": COLOURS["observed"], "width": 2},
            "marker": {
                "size": 9,
                "color": [_source_colour(entry) for entry in ordered],
                "symbol": [_source_symbol(entry) for entry in ordered],
                "line": {"color": "#ffffff", "width": 1},
            },
            # Only <br> in hover text: plotly styles <b>, <i> and friends with a style
            # attribute, which the CSP (style-src 'self') blocks.
            "hovertemplate": "%{y}/10, %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
        },
        {
            "type": "scatter",
            "uid": "red_flags",
            "name": text["red_flags"],
            "mode": "markers",
            "showlegend": bool(flagged),
            "x": _positions(entry["hours"] for entry in flagged),
            "y": [entry["pain"] for entry in flagged],
            "customdata": [_flag_hover(entry, text) for entry in flagged],
            "marker": {
                "size": 17,
                "symbol": "circle-open",
                "color": COLOURS["red_flag"],
                "line": {"color": COLOURS["red_flag"], "width": 3},
            },
            "hovertemplate": "%{customdata}<extra></extra>",
        },
        _alerts_trace(alerts, text),
    ]
    annotations = _scale_notes(text)
    if baseline_assumed:
        # A line of its own above the plot, where nothing can hide it.
        annotations.append(
            {
                "text": text["baseline_assumed"].format(baseline=_number(baseline)),
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": 1,
                "xanchor": "left",
                "yanchor": "bottom",
                "yshift": 4,
                "showarrow": False,
                "font": {"size": 11, "color": COLOURS["muted"]},
            }
        )
    last_hours = max([*curve_hours, *(entry["hours"] for entry in ordered), 0.0])
    legend_items = 4 + bool(flagged) + bool(alerts)
    layout = _time_layout(
        text,
        title,
        last_hours,
        height=EPISODE_HEIGHT_PX,
        legend_items=legend_items,
        note_line=baseline_assumed,
    )
    layout["annotations"] = annotations
    return {"data": data, "layout": layout, "config": _config()}


def cohort_figure(
    *,
    hours: Sequence[float],
    median: Sequence[float | None],
    q1: Sequence[float | None],
    q3: Sequence[float | None],
    n: Sequence[int],
    published: Mapping[str, Sequence[float]],
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict:
    """Build the clinic chart: median and IQR of pain / baseline against the published curve.

    ``hours``: time points (hours since procedure); ``median``, ``q1``, ``q3``: pain divided
    by baseline at each point (None where there are no data); ``n``: episodes per point.
    ``published``: ``hours`` and ``ratio`` (E(t) / B from the published curve).
    Trace ``uid``s: cohort_iqr, published, cohort_median.
    """
    text = _labels(labels)
    points = list(zip(hours, median, q1, q3, n, strict=True))
    time_labels = [elapsed_label(point_hours, text) for point_hours in hours]
    iqr_x: list[float | None] = []
    iqr_y: list[float | None] = []
    run: list[tuple[float, float, float]] = []
    for point_hours, _median, low, high, _n in [*points, (0.0, None, None, None, 0)]:
        if low is not None and high is not None:
            run.append((axis_position(point_hours), low, high))
            continue
        if run:
            # One closed shape per run of points with data; None separates the shapes.
            iqr_x += [x for x, _, _ in run] + [x for x, _, _ in reversed(run)] + [None]
            iqr_y += [high for _, _, high in run] + [low for _, low, _ in reversed(run)] + [None]
            run = []
    hover = (
        f"%{{customdata[0]}}: {text['median']} %{{y:.0%}}<br>"
        f"{text['iqr']} %{{customdata[1]:.0%}}-%{{customdata[2]:.0%}}<br>%{{customdata[3]}}"
        "<extra></extra>"
    )
    data = [
        {
            "type": "scatter",
            "uid": "cohort_iqr",
            "name": text["cohort_iqr"],
            "mode": "lines",
            "x": _rounded(iqr_x),
            "y": _rounded(iqr_y),
            "fill": "toself",
            "fillcolor": "rgba(31,78,121,0.18)",
            "line": {"width": 0},
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "uid": "published",
            "name": text["published"],
            "mode": "lines",
            "x": _curve_positions(published["hours"]),
            "y": _rounded(published["ratio"]),
            "line": {"color": COLOURS["expected"], "width": 2, "dash": "dash"},
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "uid": "cohort_median",
            "name": text["cohort_median"],
            "mode": "lines+markers",
            "x": _positions(hours),
            "y": _rounded(median),
            "text": [text["n"].format(n=count) for count in n],
            "customdata": [
                [label, _round(low), _round(high), text["n"].format(n=count)]
                for label, (_h, _m, low, high, count) in zip(time_labels, points, strict=True)
            ],
            "line": {"color": COLOURS["observed"], "width": 2},
            "marker": {"size": 8, "color": COLOURS["observed"]},
            "hovertemplate": hover,
        },
    ]
    last_hours = max([*hours, *published["hours"], 0.0])
    layout = _time_layout(text, title, last_hours, height=COHORT_HEIGHT_PX, legend_items=3)
    layout["margin"]["l"] = 56  # room for the percentage tick labels
    layout["yaxis"] = {
        "title": {"text": text["cohort_y_title"]},
        "range": list(COHORT_Y_RANGE),
        "tickformat": ".0%",
        "dtick": 0.25,
        "fixedrange": True,
        "zeroline": False,
        "gridcolor": COLOURS["grid"],
    }
    return {"data": data, "layout": layout, "config": _config()}


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {**DEFAULT_LABELS, **(labels or {})}


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _rounded(values: Sequence[float | None]) -> list[float | None]:
    return [_round(value) for value in values]


def _positions(hours: Any) -> list[float]:
    return [round(axis_position(value), 2) for value in hours]


def _curve_positions(hours: Any) -> list[float]:
    # The curve starts at the procedure (x = 0), not in the baseline slot.
    return [round(math.log2(1.0 + max(value, 0.0)), 2) for value in hours]


def _number(value: float) -> str:
    return f"{value:g}"


def _curve_columns(
    curve: Mapping[str, Sequence[float]],
) -> tuple[list[float], list[float], list[float], list[float]]:
    # The curve is drawn from the procedure on; before it there is only the baseline slot.
    rows = [
        row
        for row in zip(curve["hours"], curve["expected"], curve["amber"], curve["red"], strict=True)
        if row[0] >= 0
    ]
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[], [], [], []]
    return columns[0], columns[1], columns[2], columns[3]


def _band_trace(
    hours: Sequence[float], expected: Sequence[float], amber: Sequence[float], name: str
) -> dict:
    """Shade expected .. amber (capped at 10) as one closed shape."""
    upper = [min(value, PAIN_MAX) for value in amber]
    lower = [min(value, PAIN_MAX) for value in expected]
    x = _curve_positions(hours)
    return {
        "type": "scatter",
        "uid": "band",
        "name": name,
        "mode": "lines",
        "x": x + x[::-1],
        "y": _rounded(upper + lower[::-1]),
        "fill": "toself",
        "fillcolor": COLOURS["band"],
        "line": {"width": 0},
        "hoverinfo": "skip",
    }


def _entry_hover(entry: Mapping[str, Any], text: Mapping[str, str]) -> list[str]:
    when = elapsed_label(entry["hours"], text)
    detail = entry.get("recorded_label", "")
    if entry.get("source") == "staff":
        detail = f"{detail} ({text['staff_entry']})" if detail else text["staff_entry"]
    if entry.get("red_flags"):
        # The ring marker sits under the pointer with this point, so say it here too.
        detail = f"{detail}<br>{_flag_hover(entry, text)}"
    return [when, detail]


def _flag_hover(entry: Mapping[str, Any], text: Mapping[str, str]) -> str:
    names = [text.get(f"flag_{code}", code) for code in entry["red_flags"]]
    return f"{text['red_flags']}: {', '.join(names)}"


def _source_colour(entry: Mapping[str, Any]) -> str:
    return COLOURS["staff"] if entry.get("source") == "staff" else COLOURS["observed"]


def _source_symbol(entry: Mapping[str, Any]) -> str:
    return "square" if entry.get("source") == "staff" else "circle"


def _alerts_trace(alerts: Sequence[Mapping[str, Any]], text: Mapping[str, str]) -> dict:
    ordered = sorted(alerts, key=lambda alert: alert["hours"])
    return {
        "type": "scatter",
        "uid": "alerts",
        "name": text["alerts"],
        "mode": "markers",
        "showlegend": bool(ordered),
        "x": _positions(alert["hours"] for alert in ordered),
        "y": [ALERT_STRIP_Y] * len(ordered),
        "customdata": [
            [
                text.get(f"severity_{alert['severity']}", alert["severity"]),
                elapsed_label(alert["hours"], text),
                alert["reason"],
            ]
            for alert in ordered
        ],
        "marker": {
            "size": 13,
            "symbol": "triangle-down",
            "color": [COLOURS.get(alert["severity"], COLOURS["moderate"]) for alert in ordered],
            "line": {"color": "#ffffff", "width": 1},
        },
        "hovertemplate": "%{customdata[0]}, %{customdata[1]}<br>%{customdata[2]}<extra></extra>",
    }


def _scale_notes(text: Mapping[str, str]) -> list[dict]:
    """Say what 0 and 10 mean, inside the plot where scores rarely fall.

    "0" sits just right of the baseline slot (scores of 0 in the first hours are rare);
    "10" sits at the top right, under the alert strip.
    """
    notes = []
    for label, x, xref, y, xanchor in (
        (text["y_low"], BEFORE_POSITION / 2, "x", 0, "left"),
        (text["y_high"], 1, "paper", PAIN_MAX, "right"),
    ):
        notes.append(
            {
                "text": label,
                "xref": xref,
                "yref": "y",
                "x": x,
                "y": y,
                "xanchor": xanchor,
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 10, "color": COLOURS["muted"]},
            }
        )
    return notes


def _legend_y(figure_px: int, items: int) -> float:
    """Paper y that puts the legend under the x tick labels and title.

    Plotly grows the bottom margin to fit a legend below the plot, which shrinks the plot and
    with it the legend's offset (a fraction of the plot height). Solve for an offset of at
    least ``AXIS_TEXT_PX`` with the legend as tall as it gets (two entries a row on a phone).
    """
    legend_px = math.ceil(items / 2) * LEGEND_ROW_PX + 8
    return -round(AXIS_TEXT_PX / (figure_px - legend_px - AXIS_TEXT_PX), 3)


def _time_layout(
    text: Mapping[str, str],
    title: str | None,
    last_hours: float,
    *,
    height: int,
    legend_items: int,
    note_line: bool = False,
) -> dict:
    ticks = TICK_HOURS
    margin_top = (36 if title else 12) + (NOTE_LINE_PX if note_line else 0)
    layout: dict[str, Any] = {
        "height": height,
        "margin": {"l": 44, "r": 12, "t": margin_top, "b": AXIS_TEXT_PX},
        "font": {"size": 12},
        "showlegend": True,
        "legend": {
            "orientation": "h",
            "x": 0,
            "y": _legend_y(height - margin_top, legend_items),
            "yanchor": "top",
        },
        "hovermode": "closest",
        "dragmode": False,
        "xaxis": {
            "title": {"text": text["x_title"], "standoff": 6},
            "range": [X_MIN, round(axis_position(max(last_hours, 2160.0)) + X_RIGHT_PAD, 2)],
            "tickmode": "array",
            "tickvals": [round(axis_position(hours), 2) for _, hours in ticks],
            "ticktext": [text[key] for key, _ in ticks],
            # Never rotated: the log axis keeps neighbouring labels apart at phone width.
            "tickangle": 0,
            "tickfont": {"size": 10},
            "fixedrange": True,
            "zeroline": False,
            "showgrid": True,
            "gridcolor": COLOURS["grid"],
        },
        "yaxis": {
            "title": {"text": text["y_title"]},
            "range": list(Y_RANGE),
            "tickmode": "array",
            "tickvals": list(range(0, PAIN_MAX + 1, 2)),
            "fixedrange": True,
            "zeroline": False,
            "gridcolor": COLOURS["grid"],
        },
        # Separates the baseline slot from the time since procedure.
        "shapes": [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": round(BEFORE_POSITION / 2, 2),
                "x1": round(BEFORE_POSITION / 2, 2),
                "y0": 0,
                "y1": 1,
                "line": {"color": COLOURS["muted"], "width": 1, "dash": "dot"},
            }
        ],
    }
    if title:
        layout["title"] = {"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}}
    return layout


def _config() -> dict:
    # No modebar: the axes are fixed, and the page's text table is the export.
    return {
        "displaylogo": False,
        "responsive": True,
        "displayModeBar": False,
        "scrollZoom": False,
    }
