"""When a patient is reminded of a check-in, and when a check-in counts as missed.

Pure: standard library and the schedule only. Times are hours since the end of the procedure
(`recovery.clinical.schedule`); clock times are minutes after local midnight in the clinic's zone.

For each post-procedure window of the schedule (docs/clinical.md, "Reminders"):

- **First reminder** once the window is open, if it is still empty and at least
  `FIRST_REMINDER_MIN_LEFT_H` of it remains. A window already open when the patient is
  enrolled, or while the job was stopped, is reminded at the next run on the same terms.
- **Second reminder** from `second_reminder_hour` (3 h before the end, but not before the
  window's middle), if the window is still empty, the first went out at least
  `SECOND_REMINDER_GAP_H` earlier, and the window is still open.
- **Missed**: the window has closed with no entry in it (`schedule.closed_empty_windows`, the
  rule the backtest uses).
- None of this for a window that had closed before the patient was enrolled: they could not
  have been asked. Reminders wait during the clinic's quiet hours; missed check-ins do not,
  but one found more than `MISSED_REPORT_WITHIN_H` after the window closed is not reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .schedule import Window, closed_empty_windows, filled_windows

#: No first reminder for a window with less than this left: too late to be of use.
FIRST_REMINDER_MIN_LEFT_H = 1.0
#: A window found closed empty more than this after it closed (the job was stopped for longer,
#: or had just been installed) is not reported: a missed check-in is worth a nurse's call
#: while it is recent, and older gaps show on the chart.
MISSED_REPORT_WITHIN_H = 24.0
#: The second reminder goes this long before the window closes...
SECOND_REMINDER_BEFORE_END_H = 3.0
#: ...and at least this long after the first.
SECOND_REMINDER_GAP_H = 1.0

MINUTES_PER_DAY = 24 * 60


def in_quiet_hours(minute_of_day: int, quiet: tuple[int, int] | None) -> bool:
    """Whether a local clock time (minutes after midnight) is in the quiet hours
    (start, end), which may cross midnight ("21:00-08:00"); the end minute is not quiet."""
    if quiet is None:
        return False
    start, end = quiet
    if start < end:
        return start <= minute_of_day < end
    return minute_of_day >= start or minute_of_day < end


def second_reminder_hour(window: Window) -> float:
    """When a still-empty window's second reminder is due (hours since procedure)."""
    middle = (window.start_h + window.end_h) / 2
    return max(window.end_h - SECOND_REMINDER_BEFORE_END_H, middle)


@dataclass(frozen=True)
class WindowRecord:
    """What has been done about one window: hours since procedure of each step, or None."""

    reminded_h: float | None = None
    second_reminded_h: float | None = None
    missed: bool = False


@dataclass(frozen=True)
class Due:
    """What is due now for the episode: windows to remind, remind again, or report missed."""

    remind: tuple[Window, ...] = ()
    remind_again: tuple[Window, ...] = ()
    missed: tuple[Window, ...] = ()


def due_now(
    schedule: Sequence[Window],
    entry_hours: Iterable[float],
    now_h: float,
    *,
    enrolled_h: float,
    records: dict[Window, WindowRecord],
    quiet: bool,
) -> Due:
    """What the job should do for one episode at `now_h` (hours since procedure).

    `entry_hours`: the hours of the episode's entries; `enrolled_h`: when the patient was
    enrolled; `records`: what was already done per window; `quiet`: whether it is now the
    clinic's quiet hours (reminders wait).
    """
    entry_hours = list(entry_hours)
    filled = filled_windows(schedule, entry_hours)
    remind, again = [], []
    for window in schedule:
        if window.is_pre_procedure or window in filled or quiet:
            continue
        if not window.start_h <= now_h < window.end_h or window.end_h <= enrolled_h:
            continue
        record = records.get(window, WindowRecord())
        if record.reminded_h is None:
            if window.end_h - now_h >= FIRST_REMINDER_MIN_LEFT_H:
                remind.append(window)
        elif (
            record.second_reminded_h is None
            and now_h >= second_reminder_hour(window)
            and now_h - record.reminded_h >= SECOND_REMINDER_GAP_H
        ):
            again.append(window)
    missed = [
        window
        for window in closed_empty_windows(schedule, entry_hours, now_h)
        if window.end_h > enrolled_h
        and now_h - window.end_h <= MISSED_REPORT_WITHIN_H
        and not records.get(window, WindowRecord()).missed
    ]
    return Due(tuple(remind), tuple(again), tuple(missed))


def next_look(
    schedule: Sequence[Window],
    entry_hours: Iterable[float],
    now_h: float,
    *,
    enrolled_h: float,
    records: dict[Window, WindowRecord],
) -> float | None:
    """The first hour after `now_h` at which `due_now` could say something new for the
    episode if no entry comes (a window opens, a second reminder falls due, a window closes),
    or None when nothing more can be due. The job looks at the episode again then, so a run
    costs nothing for the episodes between their check-ins. (A reminder held back by the quiet
    hours is the job's to look at again when they end.)"""
    filled = filled_windows(schedule, list(entry_hours))
    hours = []
    for window in schedule:
        if window.is_pre_procedure or window in filled or window.end_h <= enrolled_h:
            continue
        record = records.get(window, WindowRecord())
        hours.append(window.start_h)
        if not record.missed:
            hours.append(window.end_h)
        if record.second_reminded_h is None:
            second = second_reminder_hour(window)
            if record.reminded_h is not None:
                second = max(second, record.reminded_h + SECOND_REMINDER_GAP_H)
            hours.append(second)
    return min((h for h in hours if h > now_h), default=None)
