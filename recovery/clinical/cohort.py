"""Cohort statistics, pure: quantiles, one reading per check-in window, the published ratio,
follow-up days, and the shapes of the cohort view's figures (recovery.care.cohort fills them
from the database). Definitions: docs/cohort.md."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .curve import DEFAULT_PARAMS, CurveParams, expected_pain
from .schedule import Window, window_for

#: Below this many episodes a time point's median and quartiles move with a handful of patients,
#: so the page says so (one patient is 5% of 20).
MIN_EPISODES_PER_POINT = 20
#: Follow-up counted for the alert burden: the protocol's last time point, 3 months.
FOLLOW_UP_DAYS = 90
#: The look-back periods of the alert burden, in days.
BURDEN_DAYS = (30, 90)
#: A clinic whose median sits within this fraction of baseline of the published curve (on
#: average over the time points) is "close to" it: 0.05 is 0.4 points for a baseline of 8.
CLOSE_TO_PUBLISHED = 0.05

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0


def quantile(ordered: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of sorted, non-empty `ordered`.

    Linear interpolation between order statistics (Hyndman-Fan type 7, numpy's and R's
    default), so the median of an even count is the mean of the middle two.
    """
    if not ordered:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be between 0 and 1, got {q}")
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def nearest_per_window(
    readings: Iterable[tuple[float, int]], schedule: Sequence[Window]
) -> dict[str, int]:
    """One pain score per post-procedure window, by window label: the reading nearest its target.

    ``readings``: (hours since procedure, pain 0-10) in time order; of two readings equally
    near the target, the earlier wins. Readings before the procedure or outside every window
    fill nothing. (Keyed by label, unique in a schedule, because hashing a `Window` is slow
    over a whole clinic's entries.)
    """
    nearest: dict[str, tuple[float, int]] = {}
    for hours, pain in readings:
        window = window_for(schedule, hours)
        if window is None or window.is_pre_procedure:
            continue
        distance = abs(hours - window.target_h)
        best = nearest.get(window.label)
        if best is None or distance < best[0]:
            nearest[window.label] = (distance, pain)
    return {label: pain for label, (_distance, pain) in nearest.items()}


def published_ratio(hours: float, params: CurveParams = DEFAULT_PARAMS) -> float:
    """E(t) / B at `hours` since procedure: the expected curve as a fraction of baseline."""
    return expected_pain(1.0, hours, params)


def follow_up_overlap_days(
    procedure_dt: datetime,
    closed_dt: datetime | None,
    start: datetime,
    end: datetime,
    follow_up_days: float = FOLLOW_UP_DAYS,
) -> float:
    """Days of an episode's follow-up inside [start, end].

    Follow-up runs from ``procedure_dt`` to the earliest of ``closed_dt``, ``end`` and
    ``procedure_dt + follow_up_days``; 0 when it does not meet the period.
    """
    stop = min(closed_dt or end, end, procedure_dt + timedelta(days=follow_up_days))
    seconds = (stop - max(procedure_dt, start)).total_seconds()
    return max(seconds, 0.0) / SECONDS_PER_HOUR / HOURS_PER_DAY


# Pain relative to baseline -----------------------------------------------------------------


@dataclass(frozen=True)
class CohortPoint:
    """The clinic at one check-in time point.

    ``hours``: the window's target (hours since procedure). ``median``, ``q1``, ``q3``: pain /
    baseline across episodes (None when ``n`` is 0). ``published``: E(t) / B at ``hours``.
    """

    label: str
    hours: float
    n: int
    median: float | None
    q1: float | None
    q3: float | None
    published: float

    @property
    def is_sparse(self) -> bool:
        """True when too few episodes back the point to read much into it."""
        return self.n < MIN_EPISODES_PER_POINT


@dataclass(frozen=True)
class CohortCurve:
    """Pain / baseline by time since procedure for a clinic, with the published curve.

    ``episodes``: episodes that gave at least one point. ``without_baseline``: episodes with a
    reading in some window but no baseline above 0, left out. ``published_hours`` and
    ``published_ratios``: the published E(t) / B sampled densely for the chart.
    """

    points: tuple[CohortPoint, ...]
    episodes: int
    without_baseline: int
    published_hours: list[float] = field(default_factory=list)
    published_ratios: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class CurveGap:
    """How far the clinic's median sits from the published curve.

    ``mean``: the mean over ``points`` of (median - published), as a fraction of baseline
    (positive: more pain than published). ``largest``: the point with the biggest gap.
    """

    mean: float
    points: tuple[CohortPoint, ...]
    largest: CohortPoint


def curve_gap(
    points: Sequence[CohortPoint], min_n: int = MIN_EPISODES_PER_POINT
) -> CurveGap | None:
    """The gap over the points with at least `min_n` episodes, each point weighing the same.

    None when no point has enough episodes.
    """
    used = tuple(p for p in points if p.n >= min_n and p.median is not None)
    if not used:
        return None
    gaps = [p.median - p.published for p in used]
    largest = max(used, key=lambda p: abs(p.median - p.published))
    return CurveGap(mean=sum(gaps) / len(gaps), points=used, largest=largest)


@dataclass(frozen=True)
class AlertBurden:
    """Alerts opened per period (``BURDEN_DAYS``) and the follow-up they came from.

    ``by_rule`` and ``by_severity``: {code: {days: alerts}}, every known code present (0 when
    none). Severity is the alert's current one, the highest it reached. ``patient_days`` and
    ``episodes``: {days: follow-up in days, episodes followed at some time in the period}.
    """

    days: tuple[int, ...]
    total: dict[int, int]
    by_rule: dict[str, dict[int, int]]
    by_severity: dict[str, dict[int, int]]
    patient_days: dict[int, float]
    episodes: dict[int, int]

    def per_100(self, alerts: int, days: int) -> float | None:
        """`alerts` per 100 patient-days of the period of `days`; None without follow-up."""
        exposure = self.patient_days[days]
        return 100.0 * alerts / exposure if exposure > 0 else None
