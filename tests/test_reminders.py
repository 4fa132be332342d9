"""The pure reminder rules (recovery/clinical/reminders.py) at every boundary, in numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recovery.clinical.reminders import (
    Due,
    WindowRecord,
    due_now,
    in_quiet_hours,
    next_look,
    second_reminder_hour,
)
from recovery.clinical.schedule import DEFAULT_SCHEDULE

W2H, W6H, W24H = DEFAULT_SCHEDULE[1], DEFAULT_SCHEDULE[2], DEFAULT_SCHEDULE[3]
NIGHT = (21 * 60, 8 * 60)


def due(now_h, entries=(), enrolled_h=0.0, records=None, quiet=False) -> Due:
    return due_now(
        DEFAULT_SCHEDULE, entries, now_h, enrolled_h=enrolled_h, records=records or {}, quiet=quiet
    )


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [
        ("20:59", False),
        ("21:00", True),
        ("23:59", True),
        ("00:00", True),
        ("07:59", True),
        ("08:00", False),
        ("12:00", False),
    ],
)
def test_quiet_hours_across_midnight(clock, quiet):
    hours, minutes = map(int, clock.split(":"))
    assert in_quiet_hours(hours * 60 + minutes, NIGHT) is quiet


def test_quiet_hours_within_a_day_and_none():
    assert in_quiet_hours(13 * 60, (12 * 60, 14 * 60))
    assert not in_quiet_hours(14 * 60, (12 * 60, 14 * 60))
    assert not in_quiet_hours(3 * 60, None)


def test_first_reminder_from_the_opening_while_an_hour_is_left():
    assert due(0.99).remind == ()
    assert due(1.0).remind == (W2H,)
    assert due(3.0).remind == (W2H,)  # exactly an hour left
    assert due(3.01).remind == ()


def test_no_reminder_for_a_filled_window_in_quiet_hours_or_once_reminded():
    assert due(2.0, entries=[1.5]).remind == ()
    assert due(2.0, quiet=True).remind == ()
    assert due(2.0, records={W2H: WindowRecord(reminded_h=1.0)}).remind == ()


def test_second_reminder_three_hours_before_the_end_but_not_before_the_middle():
    assert second_reminder_hour(W24H) == 27.0
    assert second_reminder_hour(W2H) == 2.5  # the middle of 1-4 h
    reminded = {W24H: WindowRecord(reminded_h=18.0)}
    assert due(26.99, records=reminded).remind_again == ()
    assert due(27.0, records=reminded).remind_again == (W24H,)
    assert due(29.99, records=reminded).remind_again == (W24H,)
    assert due(30.0, records=reminded).remind_again == ()  # closed
    done = {W24H: WindowRecord(reminded_h=18.0, second_reminded_h=27.0)}
    assert due(28.0, records=done).remind_again == ()
    assert due(28.0, entries=[20.0], records=reminded).remind_again == ()


def test_second_reminder_waits_an_hour_after_a_late_first():
    late = {W24H: WindowRecord(reminded_h=27.5)}
    assert due(28.49, records=late).remind_again == ()
    assert due(28.5, records=late).remind_again == (W24H,)


def test_missed_once_a_window_closes_empty_and_only_once():
    assert due(3.99).missed == ()
    assert due(4.0).missed == (W2H,)
    assert due(12.0).missed == (W2H, W6H)
    assert due(12.0, entries=[2.0]).missed == (W6H,)
    assert due(12.0, records={W2H: WindowRecord(missed=True)}).missed == (W6H,)
    assert due(12.0, quiet=True).missed == (W2H, W6H)  # staff are told at any hour
    assert due(28.0).missed == (W2H, W6H)


def test_a_window_found_closed_more_than_a_day_late_is_not_reported():
    assert due(28.0).missed == (W2H, W6H)  # 2 h closed 24 h ago
    assert due(28.01).missed == (W6H,)


def test_windows_before_enrolment_are_neither_reminded_nor_missed():
    assert due(13.0, enrolled_h=13.0).missed == ()
    assert due(4.0, enrolled_h=4.0).missed == ()  # closed as the patient was enrolled
    assert due(4.0, enrolled_h=3.99).missed == (W2H,)
    assert due(3.0, enrolled_h=2.0).remind == (W2H,)  # open at enrolment: reminded


def test_the_baseline_window_is_never_reminded_or_missed():
    result = due(-1.0, enrolled_h=-48.0)
    assert result == Due()


@given(
    now_h=st.floats(-200, 3000, allow_nan=False),
    entries=st.lists(st.floats(-100, 3000, allow_nan=False), max_size=12),
)
def test_a_window_is_never_both_reminded_and_missed_nor_anything_before_it_opens(now_h, entries):
    result = due(now_h, entries=entries, enrolled_h=-1.0)
    assert not set(result.remind) & set(result.missed)
    for window in result.remind + result.remind_again:
        assert window.start_h <= now_h < window.end_h
    for window in result.missed:
        assert window.end_h <= now_h and not window.is_pre_procedure


def look(now_h, entries=(), records=None, enrolled_h=0.0):
    return next_look(DEFAULT_SCHEDULE, entries, now_h, enrolled_h=enrolled_h, records=records or {})


def test_the_next_look_is_the_next_window_event():
    assert look(0.0) == 1.0  # the 2 h window opens
    assert look(1.0, records={W2H: WindowRecord(reminded_h=1.0)}) == 2.5  # second reminder
    late = {W2H: WindowRecord(reminded_h=2.0)}
    assert look(2.0, records=late) == 3.0  # an hour after a late first reminder
    both = {W2H: WindowRecord(reminded_h=1.0, second_reminded_h=2.5)}
    assert look(2.5, records=both) == 4.0  # the window closes: missed or not
    assert look(2.0, entries=[1.5]) == 4.0  # filled: the 6 h window opens at 4 h
    # 6 h (4-12 h) opened at 4 h and was reminded then: next, its second reminder at 9 h.
    assert look(4.0, records={W2H: WindowRecord(missed=True)}) == 9.0


def test_nothing_more_to_look_at_after_the_last_window():
    last = DEFAULT_SCHEDULE[-1]
    assert look(last.end_h) is None
    assert look(0.0, enrolled_h=last.end_h) is None


@given(
    now_h=st.floats(-200, 3000, allow_nan=False),
    entries=st.lists(st.floats(-100, 3000, allow_nan=False), max_size=12),
)
def test_nothing_falls_due_before_the_next_look(now_h, entries):
    """Between now and the next look, `due_now` has nothing new: the job may skip it."""
    records = {}
    first = due(now_h, entries=entries, enrolled_h=-1.0)
    for window in first.remind:
        records[window] = WindowRecord(reminded_h=now_h)
    for window in first.missed:
        records[window] = WindowRecord(missed=True)
    for window in first.remind_again:
        records[window] = WindowRecord(reminded_h=now_h - 1, second_reminded_h=now_h)
    after = look(now_h, entries=entries, records=records, enrolled_h=-1.0)
    probe = (now_h + after) / 2 if after is not None else now_h + 5000
    assert due(probe, entries=entries, enrolled_h=-1.0, records=records) == Due()
