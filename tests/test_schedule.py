"""The check-in schedule and its windows (recovery/clinical/schedule.py)."""

import json

import pytest

from recovery.clinical.schedule import (
    DEFAULT_SCHEDULE,
    Window,
    closed_empty_windows,
    next_due,
    schedule_from_list,
    schedule_to_list,
    window_for,
    window_opening,
)

BY_LABEL = {w.label: w for w in DEFAULT_SCHEDULE}


def labels(windows):
    return [w.label for w in windows]


def test_default_protocol_has_clinicals_time_points():
    assert labels(DEFAULT_SCHEDULE) == [
        "baseline",
        "2 h",
        "6 h",
        "24 h",
        "48 h",
        "1 wk",
        "2 wk",
        "1 mo",
        "3 mo",
    ]
    assert [w.target_h for w in DEFAULT_SCHEDULE] == [0, 2, 6, 24, 48, 168, 336, 720, 2160]


def test_default_windows_use_clinicals_examples():
    assert (BY_LABEL["2 h"].start_h, BY_LABEL["2 h"].end_h) == (1, 4)
    assert (BY_LABEL["24 h"].start_h, BY_LABEL["24 h"].end_h) == (18, 30)
    assert (BY_LABEL["1 wk"].start_h, BY_LABEL["1 wk"].end_h) == (5 * 24, 9 * 24)


def test_default_schedule_is_valid_and_round_trips_through_json():
    items = json.loads(json.dumps(schedule_to_list(DEFAULT_SCHEDULE)))
    assert schedule_from_list(items) == DEFAULT_SCHEDULE


def _item(label, target, start, end):
    return {"label": label, "target_h": target, "start_h": start, "end_h": end}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "at least one"),
        ([_item("2 h", 2, 3, 4)], "start_h <= target_h <= end_h"),
        ([_item("", 2, 1, 4)], "label"),
        ([_item("2 h", "soon", 1, 4)], "number"),
        ([_item("2 h", float("nan"), 1, 4)], "finite"),
        ([_item("2 h", True, 1, 4)], "number"),
        (["2 h"], "object"),
        ([_item("6 h", 6, 4, 12), _item("2 h", 2, 1, 4)], "time order"),
        ([_item("2 h", 2, 1, 5), _item("6 h", 6, 4, 12)], "overlaps"),
        ([_item("a", 2, 1, 4), _item("a", 6, 4, 12)], "twice"),
    ],
)
def test_schedule_from_list_refuses_bad_schedules_with_a_clear_message(items, message):
    with pytest.raises(ValueError, match=message):
        schedule_from_list(items)


def test_windows_may_touch_and_the_shared_hour_belongs_to_the_earlier():
    schedule = schedule_from_list([_item("2 h", 2, 1, 4), _item("6 h", 6, 4, 12)])
    assert window_for(schedule, 4).label == "2 h"
    assert window_for(schedule, 4.01).label == "6 h"


@pytest.mark.parametrize(
    ("hours", "label"),
    [(-24, "baseline"), (0, "baseline"), (0.5, None), (1, "2 h"), (15, None), (18, "24 h")],
)
def test_window_for(hours, label):
    window = window_for(DEFAULT_SCHEDULE, hours)
    assert (window.label if window else None) == label


def test_closed_empty_windows_lists_post_procedure_windows_that_closed_without_entry():
    assert labels(closed_empty_windows(DEFAULT_SCHEDULE, [-1, 2, 24], 50)) == ["6 h"]
    # The 48 h window closes at 60 h.
    assert labels(closed_empty_windows(DEFAULT_SCHEDULE, [-1, 2, 24], 60)) == ["6 h", "48 h"]


def test_baseline_is_never_missed():
    assert labels(closed_empty_windows(DEFAULT_SCHEDULE, [], 5)) == ["2 h"]


def test_entries_outside_every_window_fill_nothing():
    assert labels(closed_empty_windows(DEFAULT_SCHEDULE, [2, 15], 13)) == ["6 h"]


def test_one_entry_on_a_shared_boundary_fills_one_window():
    assert labels(closed_empty_windows(DEFAULT_SCHEDULE, [4], 12)) == ["6 h"]


def test_next_due():
    assert next_due(DEFAULT_SCHEDULE, [], -5).label == "2 h"
    assert next_due(DEFAULT_SCHEDULE, [-5, 2], 3).label == "6 h"
    # An open window still counts as due until it closes.
    assert next_due(DEFAULT_SCHEDULE, [-5, 2], 5).label == "6 h"
    # A missed window is not due any more; the next one is.
    assert next_due(DEFAULT_SCHEDULE, [-5, 2], 13).label == "24 h"
    assert next_due(DEFAULT_SCHEDULE, [-5, 2, 6, 24, 48, 168, 336, 720], 800).label == "3 mo"
    assert next_due(DEFAULT_SCHEDULE, [2160], 2200) is None
    assert next_due(DEFAULT_SCHEDULE, [], 3000) is None


def test_window_is_a_plain_value():
    window = Window("x", 1, 0.5, 2)
    assert window.contains(0.5) and window.contains(2) and not window.contains(2.01)
    assert not window.is_pre_procedure and BY_LABEL["baseline"].is_pre_procedure


@pytest.mark.parametrize(
    ("hours", "opening"),
    [
        (24, 18),  # the 24 h check-in's window opens at 18 h
        (48, 36),
        (168, 120),
        (720, 552),
        (30, 18),  # no check-in at 30 h: the window containing it
        (4, 1),  # on a shared boundary: the earlier window
        (15, 15),  # between windows: the hour itself
        (5000, 5000),  # after the last window
    ],
)
def test_window_opening_of_a_check_in(hours, opening):
    assert window_opening(DEFAULT_SCHEDULE, hours) == opening


def test_window_opening_follows_an_edited_schedule():
    schedule = schedule_from_list([_item("day 1", 24, 20, 30), _item("day 2", 48, 40, 60)])
    assert window_opening(schedule, 24) == 20
    assert window_opening(schedule, 48) == 40
    # A target read back from JSON settings as a float still matches.
    assert window_opening(schedule, 24.000000000001) == 20


def test_window_opening_never_uses_the_baseline_window():
    assert window_opening(DEFAULT_SCHEDULE, 0) == 0
    assert window_opening(DEFAULT_SCHEDULE, -24) == -24
