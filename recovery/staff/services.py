"""Queries behind the staff pages: a fixed number of statements per page, none per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import abort
from sqlalchemy import func

from ..extensions import db
from ..models import Alert, Episode, PainEntry, Patient, StaffUser


@dataclass(frozen=True)
class PatientRow:
    """One line of the patient list."""

    episode_id: int
    name: str
    mrn: str | None
    procedure_dt: datetime
    hours_since: float
    last_pain: int | None
    last_dt: datetime | None
    open_alerts: int


def episode_for_staff(episode_id: int, user: StaffUser) -> Episode:
    """The episode if it belongs to the user's clinic, else 404 (never reveal others')."""
    episode = db.session.get(Episode, episode_id)
    if episode is None or episode.clinic_id != user.clinic_id:
        abort(404)
    return episode


def latest_entry_subquery():
    """Each episode's most recent entry by recorded time (window function, one pass)."""
    ranked = db.select(
        PainEntry.episode_id,
        PainEntry.pain,
        PainEntry.recorded_dt,
        func.row_number()
        .over(
            partition_by=PainEntry.episode_id,
            order_by=(PainEntry.recorded_dt.desc(), PainEntry.id.desc()),
        )
        .label("rank"),
    ).subquery()
    return db.select(ranked).where(ranked.c.rank == 1).subquery()


def open_alert_counts_subquery():
    """Unresolved alerts per episode."""
    return (
        db.select(Alert.episode_id, func.count().label("n"))
        .where(Alert.status != "resolved")
        .group_by(Alert.episode_id)
        .subquery()
    )


def patient_rows(clinic_id: int, now: datetime, *, page: int = 1, per_page: int = 50):
    """The clinic's active episodes, most recent procedure first, with last score and alerts.

    Returns (rows, total).
    """
    latest = latest_entry_subquery()
    counts = open_alert_counts_subquery()
    where = (Episode.clinic_id == clinic_id, Episode.status == "active")
    total = db.session.scalar(db.select(func.count()).select_from(Episode).where(*where))
    query = (
        db.select(
            Episode.id,
            Patient.display_name,
            Patient.mrn,
            Episode.procedure_dt,
            latest.c.pain,
            latest.c.recorded_dt,
            func.coalesce(counts.c.n, 0),
        )
        .join(Patient, Patient.id == Episode.patient_id)
        .outerjoin(latest, latest.c.episode_id == Episode.id)
        .outerjoin(counts, counts.c.episode_id == Episode.id)
        .where(*where)
        .order_by(Episode.procedure_dt.desc(), Episode.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = []
    for episode_id, name, mrn, procedure_dt, pain, last_dt, n_alerts in db.session.execute(query):
        rows.append(
            PatientRow(
                episode_id=episode_id,
                name=name,
                mrn=mrn,
                procedure_dt=procedure_dt,
                hours_since=(now - procedure_dt).total_seconds() / 3600,
                last_pain=pain,
                last_dt=last_dt,
                open_alerts=n_alerts,
            )
        )
    return rows, total
