"""Check-in schedule: when a patient is asked for a pain score, and the window around each time.

Pure: standard library only. Times are hours since the end of the procedure (float); hours <= 0
are before it.

Default protocol (docs/clinical.md, "Check-in schedule"): baseline, then 2 h, 6 h,
24 h, 48 h, 1 week, 2 weeks, 1 month and 3 months after the procedure, the time points of the
trials the expected curve comes from (VERTOS II, Klazen 2010; VERTOS IV, Firanescu 2018;
INVEST, Kallmes 2009; Buchbinder 2009; VAPOUR, Clark 2016; Diamond 2003), so a clinic's data
stay comparable with them. The windows 2 h: 1-4 h, 24 h: 18-30 h and 1 week: 5-9 days are the
clinical reference's examples; the others are this module's choice (docs/clinical.md, "Schedule").

Windows are closed intervals [start_h, end_h]. Two windows may touch; a reading on the shared
hour belongs to the earlier one, so one reading never fills two check-ins. An entry outside
every window is still stored and used by the rules; it just fills no check-in.

The baseline (a window that ends at or before hour 0) is recorded at enrolment, so it is never
reported missed and never offered as the next check-in.

The schedule also says when the alert rules start: a rule tied to a check-in applies from the
opening of that check-in's window (`window_opening`), so a clinic that edits its windows moves
its rules with them (docs/clinical.md, "Alert rules", version 2).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .message import N_

HOURS_PER_DAY = 24.0
# Hours read back from JSON settings may differ from the nominal hour in the last bit.
_SAME_HOUR = 1e-9


@dataclass(frozen=True)
class Window:
    """One scheduled check-in.

    ``label``: what patients and nurses call it ("24 h", "1 wk"). ``target_h``: the time asked
    for; ``start_h`` and ``end_h``: the window in which an entry counts as this check-in, all in
    hours since the end of the procedure.
    """

    label: str
    target_h: float
    start_h: float
    end_h: float

    @property
    def is_pre_procedure(self) -> bool:
        """True for the baseline window, which ends at or before the procedure."""
        return self.end_h <= 0

    def contains(self, hours: float) -> bool:
        """True when `hours` (since procedure) lies in [start_h, end_h]."""
        return self.start_h <= hours <= self.end_h


def _days(days: float) -> float:
    return days * HOURS_PER_DAY


DEFAULT_SCHEDULE: tuple[Window, ...] = (
    # The pre-procedure score is usually taken at the listing visit or on the day; a week
    # before is the oldest score still describing the pain being treated.
    Window(N_("baseline"), 0.0, -_days(7), 0.0),
    Window(N_("2 h"), 2.0, 1.0, 4.0),
    # Starts where the 2 h window ends; 12 h keeps an evening check-in after a morning list.
    Window(N_("6 h"), 6.0, 4.0, 12.0),
    Window(N_("24 h"), 24.0, 18.0, 30.0),
    # +-12 h, as wide as the 24 h window allows in proportion. Its opening (36 h) is where
    # no_improvement turns high and rebound starts.
    Window(N_("48 h"), 48.0, 36.0, 60.0),
    Window(N_("1 wk"), _days(7), _days(5), _days(9)),
    Window(N_("2 wk"), _days(14), _days(10), _days(18)),
    # +-1 week around 30 days: wide enough for an outpatient visit to land in it.
    Window(N_("1 mo"), _days(30), _days(23), _days(37)),
    Window(N_("3 mo"), _days(90), _days(76), _days(104)),
)


def schedule_to_list(schedule: Iterable[Window]) -> list[dict[str, Any]]:
    """The schedule as JSON-safe dicts (``label``, ``target_h``, ``start_h``, ``end_h``)."""
    return [
        {"label": w.label, "target_h": w.target_h, "start_h": w.start_h, "end_h": w.end_h}
        for w in schedule
    ]


def _hours_field(item: Mapping[str, Any], key: str, position: int) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"check-in {position}: {key} must be a number of hours")
    try:
        hours = float(value)
    except ValueError:
        raise ValueError(f"check-in {position}: {key} must be a number of hours") from None
    if not math.isfinite(hours):
        raise ValueError(f"check-in {position}: {key} must be a finite number of hours")
    return hours


def schedule_from_list(items: Iterable[Mapping[str, Any]]) -> tuple[Window, ...]:
    """Build and validate a schedule from dicts as written by `schedule_to_list`.

    Raises ValueError, naming the check-in, unless every window has a label, finite hours with
    start_h <= target_h <= end_h, labels are unique, and windows are in time order without
    overlapping (touching is allowed).
    """
    windows: list[Window] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            raise ValueError(f"check-in {position}: expected an object with label and hours")
        label = item.get("label")
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"check-in {position}: label must be non-empty text")
        window = Window(
            label.strip(),
            _hours_field(item, "target_h", position),
            _hours_field(item, "start_h", position),
            _hours_field(item, "end_h", position),
        )
        if not window.start_h <= window.target_h <= window.end_h:
            raise ValueError(
                f"check-in {window.label!r}: needs start_h <= target_h <= end_h, "
                f"got {window.start_h:g} <= {window.target_h:g} <= {window.end_h:g}"
            )
        if windows:
            previous = windows[-1]
            if window.label in {w.label for w in windows}:
                raise ValueError(f"check-in {window.label!r}: label used twice")
            if window.target_h <= previous.target_h:
                raise ValueError(
                    f"check-in {window.label!r}: must come after {previous.label!r} "
                    "(check-ins are listed in time order)"
                )
            if window.start_h < previous.end_h:
                raise ValueError(
                    f"check-in {window.label!r}: its window ({window.start_h:g}-"
                    f"{window.end_h:g} h) overlaps {previous.label!r} "
                    f"({previous.start_h:g}-{previous.end_h:g} h)"
                )
        windows.append(window)
    if not windows:
        raise ValueError("a schedule needs at least one check-in")
    return tuple(windows)


def window_for(schedule: Sequence[Window], hours: float) -> Window | None:
    """The check-in window that an entry at `hours` since procedure fills, or None.

    On an hour where two windows touch, the earlier window gets the entry.
    """
    for window in schedule:
        if window.contains(hours):
            return window
    return None


def window_opening(schedule: Sequence[Window], hours: float) -> float:
    """The hour a rule tied to the check-in at `hours` (since procedure) starts from.

    The rules name a check-in by its nominal hour ("from the 24 h check-in"); they start when
    that check-in's window opens (docs/clinical.md, "Alert rules", version 2). Returns the
    ``start_h`` of the post-procedure window whose ``target_h`` is `hours`; failing that, of the
    post-procedure window containing `hours` (the earlier one where two touch); failing that,
    `hours` itself. Never later than `hours`.
    """
    post = [w for w in schedule if not w.is_pre_procedure]
    for window in post:
        if math.isclose(window.target_h, hours, rel_tol=0.0, abs_tol=_SAME_HOUR):
            return window.start_h
    containing = window_for(post, hours)
    return containing.start_h if containing else hours


def filled_windows(schedule: Sequence[Window], entry_hours: Iterable[float]) -> set[Window]:
    """The windows that at least one entry (hours since procedure) falls in."""
    filled = set()
    for hours in entry_hours:
        window = window_for(schedule, hours)
        if window is not None:
            filled.add(window)
    return filled


def closed_empty_windows(
    schedule: Sequence[Window], entry_hours: Sequence[float], now_hours: float
) -> list[Window]:
    """Post-procedure windows that have closed (end_h <= now_hours) with no entry in them.

    ``entry_hours`` and ``now_hours`` are hours since procedure. The baseline window is never
    included: it is recorded at enrolment, not asked for.
    """
    filled = filled_windows(schedule, entry_hours)
    return [
        w for w in schedule if not w.is_pre_procedure and w.end_h <= now_hours and w not in filled
    ]


def next_due(
    schedule: Sequence[Window], entry_hours: Sequence[float], now_hours: float
) -> Window | None:
    """The first post-procedure window with no entry yet whose end is after `now_hours`.

    It may already be open (start_h <= now_hours) or still to come. None when the protocol is
    finished.
    """
    return next_unfilled(schedule, filled_windows(schedule, entry_hours), now_hours)


def next_unfilled(
    schedule: Sequence[Window], filled: Collection[Window], now_hours: float
) -> Window | None:
    """`next_due` with the windows the entries fill already known (`filled_windows`)."""
    for window in schedule:
        if not window.is_pre_procedure and window.end_h > now_hours and window not in filled:
            return window
    return None
