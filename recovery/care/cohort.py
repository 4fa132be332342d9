"""The clinic's cohort: pain relative to baseline against the published curve, and alert burden.

For clinical leads (docs/clinical.md, "Recalibration per clinic": report how far the clinic's
patients sit from the published curve; "Alert hygiene": alerts per 100 patient-days).
Definitions, in full, in docs/cohort.md:

- Ratio: pain / baseline (0-10 NRS over 0-10 NRS). Baseline: the episode's recorded
  ``baseline_pain``, else its latest pre-procedure entry (as
  `recovery.care.episodes.episode_baseline`).
  Episodes without a baseline above 0 are left out and counted: the population mean of 8 that a
  single patient's chart assumes would pull every ratio towards the published curve.
- Time points: the post-procedure windows of the check-in schedule
  (`recovery.clinical.schedule`). Each episode gives at most one value per window, from the
  entry nearest the window's target time (the earlier of two equally near), so a patient who
  checked in twice does not count twice.
- Quantiles: linear interpolation between order statistics (Hyndman-Fan type 7).
- Burden: alerts opened in the last 30 (90) days, per 100 patient-days of follow-up inside the
  same days; an episode is followed from its procedure until it is closed, for at most
  `FOLLOW_UP_DAYS`.

Every figure comes from a fixed number of SQL statements (three), whatever the clinic's size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from sqlalchemy import case, func

from ..clinical.curve import DEFAULT_PARAMS, CurveParams, chart_hours, expected_pain
from ..clinical.rules import RULES
from ..clinical.schedule import DEFAULT_SCHEDULE, Window, window_for
from ..clinical.vocabulary import Severity
from ..extensions import db
from .models import Alert, Episode, PainEntry

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


# Statistics (pure) -------------------------------------------------------------------------


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


def _episode_readings(clinic_id: int, now: datetime):
    """Every entry of the clinic's episodes up to `now`, ordered by episode then time."""
    return db.session.execute(
        db.select(
            Episode.id,
            Episode.procedure_dt,
            Episode.baseline_pain,
            PainEntry.recorded_dt,
            PainEntry.pain,
        )
        .join(PainEntry, PainEntry.episode_id == Episode.id)
        .where(Episode.clinic_id == clinic_id, PainEntry.recorded_dt <= now)
        .order_by(Episode.id, PainEntry.recorded_dt, PainEntry.id)
    )


def _baseline(recorded: int | None, rows: Sequence) -> int | None:
    # As recovery.care.episodes.episode_baseline: enrolled score, else the latest entry before the
    # procedure (rows are in time order, so the last such row).
    if recorded is not None:
        return recorded
    before = [row.pain for row in rows if row.recorded_dt <= row.procedure_dt]
    return before[-1] if before else None


def cohort_curve(
    clinic_id: int,
    now: datetime,
    params: CurveParams = DEFAULT_PARAMS,
    schedule: Sequence[Window] = DEFAULT_SCHEDULE,
) -> CohortCurve:
    """Median and interquartile range of pain / baseline per check-in of `schedule`.

    One SQL statement. See the module docstring for the definitions.
    """
    windows = [w for w in schedule if not w.is_pre_procedure]
    ratios: dict[str, list[float]] = {w.label: [] for w in windows}
    episodes = without_baseline = 0
    for _episode_id, group in groupby(_episode_readings(clinic_id, now), key=lambda row: row.id):
        rows = list(group)
        scores = nearest_per_window(
            (
                ((row.recorded_dt - row.procedure_dt).total_seconds() / SECONDS_PER_HOUR, row.pain)
                for row in rows
            ),
            schedule,
        )
        if not scores:
            continue
        baseline = _baseline(rows[0].baseline_pain, rows)
        if not baseline:  # None, or 0: pain / baseline is undefined
            without_baseline += 1
            continue
        episodes += 1
        for label, pain in scores.items():
            ratios[label].append(pain / baseline)
    points = []
    for window in windows:
        ordered = sorted(ratios[window.label])
        points.append(
            CohortPoint(
                label=window.label,
                hours=window.target_h,
                n=len(ordered),
                median=quantile(ordered, 0.5) if ordered else None,
                q1=quantile(ordered, 0.25) if ordered else None,
                q3=quantile(ordered, 0.75) if ordered else None,
                published=published_ratio(window.target_h, params),
            )
        )
    dense = chart_hours()
    return CohortCurve(
        points=tuple(points),
        episodes=episodes,
        without_baseline=without_baseline,
        published_hours=dense,
        published_ratios=[published_ratio(hours, params) for hours in dense],
    )


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


# Alert burden ------------------------------------------------------------------------------


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


def alert_burden(
    clinic_id: int,
    now: datetime,
    *,
    days: Sequence[int] = BURDEN_DAYS,
    follow_up_days: float = FOLLOW_UP_DAYS,
) -> AlertBurden:
    """Alerts opened and patient-days of follow-up in each of the last `days` before `now`.

    A period of d days is (now - d days, now]. Two SQL statements: alert counts grouped by rule
    and severity, and the follow-up spans of the episodes that can meet the longest period.
    """
    periods = tuple(sorted(set(days)))
    longest = now - timedelta(days=periods[-1])
    counts = db.select(
        Alert.rule,
        Alert.severity,
        *(func.sum(case((Alert.opened_dt > now - timedelta(days=d), 1), else_=0)) for d in periods),
    )
    counts = (
        counts.join(Episode, Episode.id == Alert.episode_id)
        .where(Episode.clinic_id == clinic_id, Alert.opened_dt > longest, Alert.opened_dt <= now)
        .group_by(Alert.rule, Alert.severity)
    )
    by_rule = {rule: dict.fromkeys(periods, 0) for rule in RULES}
    by_severity = {code: dict.fromkeys(periods, 0) for code in Severity.codes()}
    total = dict.fromkeys(periods, 0)
    for rule, severity, *numbers in db.session.execute(counts):
        for d, number in zip(periods, numbers, strict=True):
            number = int(number or 0)
            by_rule.setdefault(rule, dict.fromkeys(periods, 0))[d] += number
            by_severity.setdefault(severity, dict.fromkeys(periods, 0))[d] += number
            total[d] += number

    spans = db.session.execute(
        db.select(Episode.procedure_dt, Episode.closed_dt).where(
            Episode.clinic_id == clinic_id,
            Episode.procedure_dt <= now,
            Episode.procedure_dt > longest - timedelta(days=follow_up_days),
        )
    ).all()
    patient_days = dict.fromkeys(periods, 0.0)
    episodes = dict.fromkeys(periods, 0)
    for procedure_dt, closed_dt in spans:
        for d in periods:
            overlap = follow_up_overlap_days(
                procedure_dt, closed_dt, now - timedelta(days=d), now, follow_up_days
            )
            if overlap > 0:
                patient_days[d] += overlap
                episodes[d] += 1
    return AlertBurden(
        days=periods,
        total=total,
        by_rule=by_rule,
        by_severity=by_severity,
        patient_days=patient_days,
        episodes=episodes,
    )
