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

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import groupby

from sqlalchemy import case, func

from ..clinical.cohort import (
    BURDEN_DAYS,
    FOLLOW_UP_DAYS,
    SECONDS_PER_HOUR,
    AlertBurden,
    CohortCurve,
    CohortPoint,
    follow_up_overlap_days,
    nearest_per_window,
    published_ratio,
    quantile,
)
from ..clinical.curve import DEFAULT_PARAMS, CurveParams, chart_hours
from ..clinical.rules import RULES
from ..clinical.schedule import DEFAULT_SCHEDULE, Window
from ..clinical.vocabulary import Severity
from ..extensions import db
from .models import Alert, Episode, PainEntry, entry_in_force


def _episode_readings(clinic_id: int, now: datetime):
    """Every entry in force (none a correction replaced) of the clinic's episodes up to `now`,
    ordered by episode then time."""
    return db.session.execute(
        db.select(
            Episode.id,
            Episode.procedure_dt,
            Episode.baseline_pain,
            PainEntry.recorded_dt,
            PainEntry.pain,
        )
        .join(PainEntry, PainEntry.episode_id == Episode.id)
        .where(Episode.clinic_id == clinic_id, PainEntry.recorded_dt <= now, entry_in_force())
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


# Alert burden ------------------------------------------------------------------------------


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
