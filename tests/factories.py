"""gen_* factories for test data, going through the same services as the app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

from flask import current_app
from sqlalchemy import case, func, inspect, or_

from recovery.care.accounts import create_staff
from recovery.care.clinics import create_clinic
from recovery.care.episodes import enrol_patient, record_pain_entry
from recovery.care.models import Alert, Clinic, Episode, StaffUser
from recovery.extensions import db

PASSWORD = "correct horse battery"
#: How test apps hash passwords: one round of PBKDF2 instead of scrypt (about 0.2 s a hash),
#: which the app keeps by default (recovery.config; tests/test_auth.py checks both).
PASSWORD_HASH_METHOD = "pbkdf2:sha256:1"
_seq = count(1)


def app_config(database_url: str, **extra) -> dict:
    """The configuration every test app runs with, plus `extra`."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "PUBLIC_BASE_URL": "http://localhost",
        "PASSWORD_HASH_METHOD": PASSWORD_HASH_METHOD,
        **extra,
    }


def gen_clinic(slug: str | None = None, name: str = "Test Clinic", **kw) -> Clinic:
    """A committed clinic."""
    clinic = create_clinic(slug or f"clinic-{next(_seq)}", name, **kw)
    db.session.commit()
    return clinic


def gen_staff(clinic: Clinic, email: str | None = None, role: str = "nurse") -> StaffUser:
    """A committed staff user with password PASSWORD."""
    user = create_staff(clinic, email or f"staff{next(_seq)}@example.test", PASSWORD, role)
    db.session.commit()
    return user


@dataclass
class Enrolled:
    """An episode and the token of its personal link."""

    episode: Episode
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def gen_episode(
    clinic: Clinic,
    *,
    procedure_dt: datetime | None = None,
    baseline_pain: int | None = 8,
    name: str | None = None,
    **kw,
) -> Enrolled:
    """A committed, active episode with a live link."""
    result = enrol_patient(
        clinic,
        display_name=name or f"Patient {next(_seq)}",
        procedure_dt=procedure_dt or datetime.now(UTC) - timedelta(hours=24),
        baseline_pain=baseline_pain,
        **kw,
    )
    db.session.commit()
    return Enrolled(result.episode, result.token)


def gen_entry(episode: Episode, pain: int, hours: float, **kw):
    """A committed entry recorded `hours` after the procedure.

    A history seeded at once is not a burst of arrivals: the per-episode entry limit
    (ENTRIES_PER_EPISODE_PER_HOUR, tests/test_entry_limit.py) is off while it is stored.
    """
    recorded = episode.procedure_dt + timedelta(hours=hours)
    config = current_app.config
    limit = config["ENTRIES_PER_EPISODE_PER_HOUR"]
    config["ENTRIES_PER_EPISODE_PER_HOUR"] = 0
    try:
        result = record_pain_entry(
            episode, pain=pain, recorded_dt=recorded, now=max(recorded, datetime.now(UTC)), **kw
        )
    finally:
        config["ENTRIES_PER_EPISODE_PER_HOUR"] = limit
    db.session.commit()
    return result


def miscounted_episodes() -> list[tuple[int, int, int, int, int]]:
    """Episodes whose open and acknowledged alert counts (kept by the app on every alert
    change) differ from their alerts: (id, open kept, open, acknowledged kept, acknowledged).
    Empty when the schema is not the app's (a test that migrated it away)."""
    counted = (
        db.select(
            Alert.episode_id,
            func.sum(case((Alert.status == "open", 1), else_=0)).label("open_n"),
            func.sum(case((Alert.status == "acknowledged", 1), else_=0)).label("ack_n"),
        )
        .group_by(Alert.episode_id)
        .subquery()
    )
    open_n = func.coalesce(counted.c.open_n, 0)
    ack_n = func.coalesce(counted.c.ack_n, 0)
    statement = (
        db.select(Episode.id, Episode.open_alerts, open_n, Episode.acknowledged_alerts, ack_n)
        .outerjoin(counted, counted.c.episode_id == Episode.id)
        .where(or_(Episode.open_alerts != open_n, Episode.acknowledged_alerts != ack_n))
    )
    try:
        if "open_alerts" not in {c["name"] for c in inspect(db.engine).get_columns("episode")}:
            return []
        return [tuple(row) for row in db.session.execute(statement)]
    finally:
        db.session.remove()
