"""Recalibration: replace the published band with the clinic's own (docs/clinical.md,
"Recalibration per clinic"), from its finished episodes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..clinical.curve import (
    MIN_CALIBRATION_EPISODES,
    CalibrationPoint,
    calibration_report,
    fit_calibration,
)
from ..clinical.vocabulary import format_duration
from ..extensions import db
from .clinics import clinic_params, clinic_schedule, save_clinic_params
from .episodes import episode_baseline
from .models import Clinic, Episode, PainEntry, entry_in_force, utcnow


class CalibrationError(ValueError):
    """The clinic cannot be calibrated yet; the message says why."""


@dataclass(frozen=True)
class CalibrationOutcome:
    """The fitted points, the comparison with the published curve, and whether it was saved."""

    points: tuple[CalibrationPoint, ...]
    report: list[dict]
    report_text: str
    episodes: int
    applied: bool


def finished_episodes(clinic: Clinic, now: datetime) -> list[tuple[int | None, list]]:
    """(baseline, [(hours, pain), ...]) for episodes closed or past the last check-in window."""
    last_window_h = max(w.end_h for w in clinic_schedule(clinic))
    cutoff = now - timedelta(hours=last_window_h)
    episodes = list(
        db.session.scalars(
            db.select(Episode).where(
                Episode.clinic_id == clinic.id,
                (Episode.status == "closed") | (Episode.procedure_dt <= cutoff),
            )
        )
    )
    by_episode: dict[int, list[PainEntry]] = {e.id: [] for e in episodes}
    if episodes:
        for entry in db.session.scalars(
            db.select(PainEntry)
            .join(Episode)
            .where(
                Episode.clinic_id == clinic.id,
                (Episode.status == "closed") | (Episode.procedure_dt <= cutoff),
                entry_in_force(),
            )
        ):
            by_episode[entry.episode_id].append(entry)
    return [
        (
            episode_baseline(episode, by_episode[episode.id]),
            [
                (episode.hours_since_procedure(e.recorded_dt), e.pain)
                for e in by_episode[episode.id]
            ],
        )
        for episode in episodes
    ]


def calibrate_clinic(
    clinic: Clinic, *, apply: bool = False, now: datetime | None = None
) -> CalibrationOutcome:
    """Fit the clinic's band; saves it as the clinic's setting only when `apply` is true."""
    episodes = finished_episodes(clinic, now or utcnow())
    if len(episodes) < MIN_CALIBRATION_EPISODES:
        raise CalibrationError(
            f"{clinic.slug} has {len(episodes)} finished episodes; at least "
            f"{MIN_CALIBRATION_EPISODES} are needed before its own band replaces the published "
            "one. Nothing was changed."
        )
    params = clinic_params(clinic)
    try:
        points = fit_calibration(episodes, clinic_schedule(clinic))
    except ValueError as exc:
        raise CalibrationError(f"{exc}. Nothing was changed.") from exc
    report = calibration_report(points, params)
    if apply:
        save_clinic_params(clinic, replace(params, calibration=points))
    return CalibrationOutcome(
        points, report, format_report(report, len(episodes)), len(episodes), apply
    )


def format_report(report: list[dict], episodes: int) -> str:
    """A plain table of the clinic against the published curve (ratios of baseline)."""
    lines = [
        f"Calibration from {episodes} finished episodes (pain as a fraction of baseline; "
        f"shifts in points at baseline {report[0]['reference_baseline']:g}):",
        f"{'time':>6} {'n':>5} {'median':>15} {'amber (85th)':>15} {'red (90th)':>15} {'shift':>7}",
    ]
    for row in report:
        lines.append(
            f"{format_duration(row['hours']):>6} {row['n']:>5} "
            f"{row['clinic_median_ratio']:>6.2f} vs {row['published_median_ratio']:<5.2f} "
            f"{row['clinic_amber_ratio']:>6.2f} vs {row['published_amber_ratio']:<5.2f} "
            f"{row['clinic_red_ratio']:>6.2f} vs {row['published_red_ratio']:<5.2f} "
            f"{row['red_shift_points']:>+7.1f}"
        )
    lines.append("(clinic vs published; shift = clinic red line minus published, in points)")
    return "\n".join(lines)
