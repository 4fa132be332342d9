"""Tests for recovery.web.charts: plain data in, plotly figure dicts out."""

import ast
import json
import math
from pathlib import Path

import pytest

from recovery.clinical.vocabulary import format_duration
from recovery.web import charts

SAMPLE_HOURS = [0, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 120, 168, 336, 504, 720, 2160]


def make_curve(baseline=8.0, hours=SAMPLE_HOURS):
    """The published curve and band (docs/clinical.md), computed here: the test needs no module."""
    expected = [
        baseline * (0.29 + 0.59 * math.exp(-t / 3) + 0.12 * math.exp(-t / 720)) for t in hours
    ]
    return {
        "hours": list(hours),
        "expected": expected,
        "amber": [value + 2.6 for value in expected],
        "red": [value + 3.2 for value in expected],
    }


def entry(hours, pain, red_flags=(), source="patient"):
    return {
        "hours": hours,
        "pain": pain,
        "red_flags": list(red_flags),
        "source": source,
        "recorded_label": f"label {hours}",
    }


ENTRIES = [
    entry(-1, 8, source="staff"),
    entry(2, 6),
    entry(6, 4),
    entry(24, 7),
    entry(48, 5, red_flags=["numbness"]),
    entry(168, 3),
    entry(336, 2, source="staff"),
    entry(720, 6, red_flags=["new_pain", "fever"]),
    entry(2160, 2),
]
ALERTS = [
    {"hours": 24, "rule": "above_expected", "severity": "high", "reason": "7/10 at 24 h"},
    {"hours": 48, "rule": "red_flag", "severity": "urgent", "reason": "Numbness at 48 h"},
]


def episode(**overrides):
    kwargs = {
        "entries": ENTRIES,
        "curve": make_curve(),
        "alerts": ALERTS,
        "baseline": 8,
        "baseline_assumed": False,
    }
    return charts.episode_figure(**{**kwargs, **overrides})


def trace(fig, uid):
    (found,) = [item for item in fig["data"] if item["uid"] == uid]
    return found


def test_module_imports_no_plotly_flask_or_db():
    tree = ast.parse(Path(charts.__file__).read_text())
    imported = {
        name if name.startswith("clinical.") else name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
        )
    }
    # The vocabulary (and the messages it is written in) are pure: codes, words, durations.
    allowed = {"__future__", "math", "collections", "typing"}
    assert imported <= allowed | {"clinical.vocabulary", "clinical.message"}


def test_episode_traces_have_stable_uids_and_names():
    fig = episode()
    assert [item["uid"] for item in fig["data"]] == [
        "band",
        "expected",
        "red_line",
        "observed",
        "red_flags",
        "alerts",
    ]
    names = {item["uid"]: item["name"] for item in fig["data"]}
    assert names["observed"] == "Reported pain"
    assert names["expected"] == "Expected"
    assert names["band"] == "Expected range"


def test_episode_without_flags_or_alerts_keeps_every_trace_but_hides_empty_legend_entries():
    fig = episode(entries=[entry(-1, 8), entry(2, 5)], alerts=())
    assert {item["uid"] for item in fig["data"]} >= {"red_flags", "alerts"}
    assert trace(fig, "red_flags")["x"] == []
    assert trace(fig, "red_flags")["showlegend"] is False
    assert trace(fig, "alerts")["showlegend"] is False


def test_band_runs_from_expected_to_amber_capped_at_ten():
    curve = make_curve(baseline=9.5)
    band = trace(episode(curve=curve), "band")
    assert band["fill"] == "toself"
    assert max(band["y"]) == 10
    points = len(band["y"]) // 2
    upper, lower = band["y"][:points], band["y"][points:][::-1]
    assert upper == [round(min(value, 10), 2) for value in curve["amber"]]
    assert lower == [round(min(value, 10), 2) for value in curve["expected"]]


def test_red_line_starts_at_four_hours_and_never_above_ten():
    red = trace(episode(curve=make_curve(baseline=9)), "red_line")
    for hours, value in zip(SAMPLE_HOURS, red["y"], strict=True):
        if hours < 4:
            assert value is None
        if value is not None:
            assert value <= 10


def test_curve_starts_at_the_procedure_not_in_the_baseline_slot():
    fig = episode()
    assert trace(fig, "expected")["x"][0] == 0
    assert min(trace(fig, "band")["x"]) == 0


def test_observed_points_are_in_time_order_with_baseline_in_before_slot():
    observed = trace(episode(entries=list(reversed(ENTRIES))), "observed")
    assert observed["x"] == sorted(observed["x"])
    assert observed["x"][0] == charts.BEFORE_POSITION
    assert observed["y"] == [item["pain"] for item in ENTRIES]
    assert observed["marker"]["symbol"][0] == "square"  # staff entry


def test_red_flag_entries_are_marked_and_named_in_hover():
    fig = episode()
    flags = trace(fig, "red_flags")
    assert flags["y"] == [5, 6]
    assert flags["x"] == [round(charts.axis_position(48), 2), round(charts.axis_position(720), 2)]
    assert "new numbness, tingling or shooting pain" in flags["customdata"][0]
    observed_hover = trace(fig, "observed")["customdata"][4][1]
    assert "Red-flag symptom" in observed_hover


def test_alerts_sit_above_the_scale_with_reason_in_hover():
    alerts = trace(episode(), "alerts")
    assert all(y > 10 for y in alerts["y"])
    assert alerts["customdata"][1][2] == "Numbness at 48 h"
    assert alerts["marker"]["color"][1] == charts.COLOURS["urgent"]


def test_hover_text_uses_no_styled_markup():
    # plotly renders <b>, <i>, <span> with a style attribute, which the CSP blocks.
    text = json.dumps(episode()) + json.dumps(cohort())
    for tag in ("<b>", "<i>", "<span", "<sup>", "<sub>", "<a "):
        assert tag not in text


@pytest.mark.parametrize("hours", [0, -3])
def test_baseline_maps_left_of_two_hours(hours):
    assert charts.axis_position(hours) == charts.BEFORE_POSITION
    assert charts.axis_position(hours) < charts.axis_position(0.01) < charts.axis_position(2)


def test_axis_position_is_monotonic_and_spreads_first_two_days():
    hours = [0, 0.1, 1, 2, 6, 24, 48, 168, 336, 720, 2160, 4000]
    positions = [charts.axis_position(value) for value in hours]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    span = charts.axis_position(2160) - charts.BEFORE_POSITION
    # The first 48 h take a good share of the axis beside 3 months.
    assert (charts.axis_position(48) - charts.axis_position(0.01)) / span > 0.4


def test_time_ticks_follow_the_check_in_schedule():
    xaxis = episode()["layout"]["xaxis"]
    assert xaxis["ticktext"] == [
        "Before",
        "2 h",
        "6 h",
        "24 h",
        "48 h",
        "1 wk",
        "2 wk",
        "1 mo",
        "3 mo",
    ]
    assert xaxis["tickvals"][0] == charts.BEFORE_POSITION
    assert xaxis["tickvals"] == sorted(xaxis["tickvals"])
    assert xaxis["tickvals"][3] == round(charts.axis_position(24), 2)
    assert xaxis["range"][0] < charts.BEFORE_POSITION
    assert xaxis["range"][1] > charts.axis_position(2160)


def test_y_axis_is_fixed_zero_to_ten_with_its_meaning_shown():
    layout = episode()["layout"]
    yaxis = layout["yaxis"]
    assert yaxis["title"]["text"] == "Pain (0-10)"
    assert yaxis["fixedrange"] is True
    assert yaxis["range"][0] < 0 and yaxis["range"][1] > 10
    assert yaxis["tickvals"] == [0, 2, 4, 6, 8, 10]
    notes = [note["text"] for note in layout["annotations"]]
    assert "0 = no pain" in notes
    assert "10 = worst pain imaginable" in notes


def test_assumed_baseline_is_said_on_the_chart():
    notes = [note["text"] for note in episode(baseline_assumed=True)["layout"]["annotations"]]
    assert "Baseline not recorded: assumed 8/10" in notes
    notes = [note["text"] for note in episode()["layout"]["annotations"]]
    assert not any("assumed" in note for note in notes)


def test_labels_override_every_user_facing_string():
    labels = {key: f"[{key}]" for key in charts.DEFAULT_LABELS}
    labels["%(n)s h"] = "%(n)s Std."
    fig = episode(labels=labels, baseline_assumed=True)
    assert trace(fig, "observed")["name"] == "[observed]"
    assert trace(fig, "red_line")["name"] == "[red_line]"
    assert fig["layout"]["xaxis"]["title"]["text"] == "[x_title]"
    assert fig["layout"]["yaxis"]["title"]["text"] == "[y_title]"
    assert fig["layout"]["xaxis"]["ticktext"][0] == "[tick_before]"
    assert trace(fig, "observed")["customdata"][1][0] == "2 Std."
    assert "[flag_numbness]" in trace(fig, "red_flags")["customdata"][0]
    notes = {note["text"] for note in fig["layout"]["annotations"]}
    assert {"[y_low]", "[y_high]", "[baseline_assumed]"} <= notes


def test_partial_labels_fall_back_to_defaults():
    fig = episode(labels={"observed": "Douleur signalée"})
    assert trace(fig, "observed")["name"] == "Douleur signalée"
    assert trace(fig, "expected")["name"] == "Expected"


@pytest.mark.parametrize("hours", [-1, 0, 0.25, 2.1, 24, 48, 60, 72, 168, 336, 720, 2160])
def test_the_chart_says_a_time_as_tables_and_reasons_do(hours):
    assert charts.elapsed_label(hours) == format_duration(hours)
    assert charts.elapsed_label(60) == "60 h"


def test_title_goes_on_the_layout_only_when_given():
    assert episode(title="Episode 3")["layout"]["title"]["text"] == "Episode 3"
    assert "title" not in episode()["layout"]


def test_figures_are_small_rounded_and_untemplated():
    fig = episode(curve=make_curve(hours=[t / 4 for t in range(0, 48)] + list(range(12, 2161, 24))))
    encoded = json.dumps(fig, separators=(",", ":"))
    assert len(encoded) < 12 * 1024
    assert "template" not in fig["layout"]
    for item in fig["data"]:
        for value in item["x"] + item["y"]:
            assert value is None or round(value, 2) == value
    assert fig["config"]["displaylogo"] is False
    assert fig["config"]["responsive"] is True


def cohort(**overrides):
    hours = [2, 6, 24, 48, 168, 720, 2160]
    published_hours = [0, 2, 6, 24, 48, 168, 720, 2160]
    kwargs = {
        "hours": hours,
        "median": [0.7, 0.5, 0.45, None, 0.4, 0.35, 0.3],
        "q1": [0.55, 0.38, 0.3, None, 0.28, 0.22, 0.18],
        "q3": [0.85, 0.62, 0.6, None, 0.5, 0.5, 0.45],
        "n": [40, 38, 52, 0, 45, 41, 30],
        "published": {
            "hours": published_hours,
            "ratio": [value / 8 for value in make_curve(8, published_hours)["expected"]],
        },
    }
    return charts.cohort_figure(**{**kwargs, **overrides})


def test_cohort_figure_shows_median_iqr_published_and_n():
    fig = cohort()
    assert [item["uid"] for item in fig["data"]] == ["cohort_iqr", "published", "cohort_median"]
    median = trace(fig, "cohort_median")
    assert median["text"][0] == "n = 40"
    assert median["customdata"][2][3] == "n = 52"
    assert median["y"][3] is None
    iqr = trace(fig, "cohort_iqr")
    # Two closed shapes, split by the time point with no data.
    assert iqr["x"].count(None) == 2
    assert max(value for value in iqr["y"] if value is not None) == 0.85
    assert trace(fig, "published")["y"][0] == 1.0
    assert fig["layout"]["yaxis"]["tickformat"] == ".0%"


@pytest.mark.parametrize(
    "build",
    [
        episode,
        lambda: episode(baseline_assumed=True, alerts=(), title="T"),
        cohort,
    ],
)
def test_figures_validate_against_the_plotly_schema(build):
    go = pytest.importorskip("plotly.graph_objects")
    fig = build()
    validated = go.Figure(fig)  # raises on any property plotly.js does not know
    assert len(validated.data) == len(fig["data"])
    assert json.loads(json.dumps(fig, allow_nan=False)) == fig  # no NaN, nothing JSON loses


def test_config_uses_only_known_plotly_options():
    # plotly.graph_objects does not validate config, so check it against plotly.js's names.
    known = {"displaylogo", "responsive", "displayModeBar", "scrollZoom"}
    for fig in (episode(), cohort()):
        assert set(fig["config"]) <= known


# --- The patient's SVG chart (recovery.web.phone_chart) ------------------------------------


def test_phone_chart_places_scores_on_a_0_to_10_box():
    from recovery.web.phone_chart import VIEW, phone_chart

    chart = phone_chart(entries=ENTRIES, curve=make_curve())
    # The baseline sits in the "Before" slot; every later score is a dot, in time order.
    assert chart.baseline_dot is not None and chart.baseline_dot[1] == 200  # pain 8 of 10
    assert len(chart.dots) == len(ENTRIES) - 1
    xs = [x for x, _ in chart.dots]
    assert xs == sorted(xs) and chart.baseline_dot[0] < chart.divider < xs[0]
    assert [y for _, y in chart.dots] == [VIEW - pain * 100 for pain in (6, 4, 7, 5, 3, 2, 6, 2)]
    assert chart.gridlines == [VIEW, 500, 0]
    assert all(0 <= x <= VIEW for x in xs)


def test_phone_chart_band_is_capped_at_10_and_starts_at_the_procedure():
    from recovery.web.phone_chart import phone_chart

    chart = phone_chart(entries=[], curve=make_curve(baseline=10.0))
    band = [tuple(map(float, point.split(","))) for point in chart.band.split()]
    assert min(y for _, y in band) == 0  # amber above 10 is drawn at 10, never off the box
    assert min(x for x, _ in band) == float(chart.expected.split()[0].split(",")[0])
    assert chart.dots == [] and chart.baseline_dot is None and chart.observed == ""


def test_phone_chart_keeps_a_late_score_inside_the_box_and_labels_at_its_edges():
    from recovery.web.phone_chart import VIEW, phone_chart

    chart = phone_chart(entries=[entry(24 * 200, 1)], curve=make_curve())
    assert chart.dots == [(VIEW, 900)]
    first, *_middle, last = chart.ticks
    assert (first.anchor, first.percent, last.anchor, last.percent) == ("start", 0, "end", 100)
    assert sorted({tick.level for tick in chart.ticks}) == [0, 1, 2]
