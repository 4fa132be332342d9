"""Benchmark data: a clinic with 10,000 active episodes, seeded in seconds.

The episodes, their entries, alerts, history and audit rows come from
`recovery.care.bulk.seed_bulk`, the code behind `flask --app wsgi recovery demo --patients N`
(simulated courses, the live rules, summaries written by `refresh_summary`, bulk INSERTs);
`check_summaries` re-derives a sample from the stored entries to prove the summaries.

A few episodes go through the real services (`enrol_patient`, `record_pain_entry`): the one
with 40 entries for the episode page, and the check-in template that is bulk-copied so every
timed check-in lands on an episode that already has 20 entries.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, text, update

from recovery.care.accounts import create_staff
from recovery.care.bulk import check_summaries, reserve_ids, seed_bulk, write_rows
from recovery.care.clinics import create_clinic
from recovery.care.episodes import enrol_patient, episode_entries, record_pain_entry
from recovery.care.models import Alert, AuditEvent, Clinic, Episode, PainEntry, Patient
from recovery.care.tokens import hash_token, new_token
from recovery.extensions import db

NURSE_EMAIL = "nurse@bench.test"
PASSWORD = "bench-password-1"
#: A surname of `recovery.care.bulk.LAST_NAMES`: one patient in 50 has it.
SEARCH_TERM = "Okafor"


@dataclass
class Seeded:
    """What the timed requests need to know about the seeded data."""

    clinic_id: int
    episode_40_id: int = 0
    # (episode id, token) of episodes with 20 entries each, for the timed check-ins.
    checkin_episodes: list[tuple[int, str]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    mean_entries_active: float = 0.0
    summary_check: str = ""


def _course(rng: random.Random, baseline: int, hours: float) -> int:
    """A plausible score for a responder: most relief in the first day, some noise."""
    expected = baseline * (0.35 + 0.65 * math.exp(-hours / 6.0))
    return max(0, min(10, round(expected + rng.gauss(0, 0.8))))


def enrol_with_entries(
    clinic: Clinic, nurse, *, name: str, entries: int, days: float, now: datetime, rng
) -> tuple[Episode, str]:
    """An episode enrolled and filled through the real services, `entries` over `days`."""
    procedure_dt = now - timedelta(days=days)
    result = enrol_patient(
        clinic,
        display_name=name,
        procedure_dt=procedure_dt,
        baseline_pain=8,
        levels="L1",
        staff=nurse,
    )
    last_h = days * 24 - 1
    for i in range(entries):
        # Geometric spacing from 1 h to a day ago: dense early, as the schedule is.
        hours = math.exp(math.log(1) + (math.log(last_h) - math.log(1)) * i / (entries - 1))
        recorded_dt = procedure_dt + timedelta(hours=hours)
        record_pain_entry(
            result.episode,
            pain=_course(rng, 8, hours),
            recorded_dt=recorded_dt,
            idempotency_key=f"bench-service-{i}",
            now=recorded_dt + timedelta(minutes=2),
        )
    return result.episode, result.token


def copy_episode(template: Episode, copies: int) -> list[tuple[int, str]]:
    """Bulk copies of `template` (patient, episode, entries, alerts), each with its own link."""
    patient = template.patient
    entries = episode_entries(template)
    alerts = list(db.session.scalars(db.select(Alert).filter_by(episode_id=template.id)))
    per_copy = {Patient: 1, Episode: 1, PainEntry: len(entries), Alert: len(alerts)}
    ids = {model: iter(reserve_ids(model, copies * n)) for model, n in per_copy.items()}
    skip = {"id", "patient_id", "token_hash", "clinic", "patient", "entries", "alerts"}
    episode_columns = [c.key for c in Episode.__table__.columns if c.key not in skip]
    rows: dict[type, list[dict]] = {Patient: [], Episode: [], PainEntry: [], Alert: []}
    made = []
    for n in range(copies):
        patient_id, episode_id = next(ids[Patient]), next(ids[Episode])
        token = new_token()
        rows[Patient].append(
            {
                "id": patient_id,
                "clinic_id": patient.clinic_id,
                "display_name": f"{patient.display_name} {n}",
                "mrn": f"{patient.mrn or 'C'}-{n}",
                "preferred_language": patient.preferred_language,
                "created_dt": patient.created_dt,
            }
        )
        row = {k: getattr(template, k) for k in episode_columns}
        rows[Episode].append(
            {**row, "id": episode_id, "patient_id": patient_id, "token_hash": hash_token(token)}
        )
        new_entry_id = {}
        for e in entries:
            new_entry_id[e.id] = next(ids[PainEntry])
            rows[PainEntry].append(
                {
                    c.key: getattr(e, c.key)
                    for c in PainEntry.__table__.columns
                    if c.key not in ("id", "episode_id")
                }
                | {"id": new_entry_id[e.id], "episode_id": episode_id}
            )
        for a in alerts:
            rows[Alert].append(
                {c.key: getattr(a, c.key) for c in Alert.__table__.columns}
                | {
                    "id": next(ids[Alert]),
                    "episode_id": episode_id,
                    "entry_id": new_entry_id.get(a.entry_id),
                }
            )
        made.append((episode_id, token))
    write_rows(rows)
    return made


def seed_all(now: datetime, *, active: int, closed: int, other_clinic: int, seed: int) -> Seeded:
    """The whole benchmark data set; commits."""
    from recovery.staff.services import worklist_episodes

    clinic = create_clinic("bench", "Bench Clinic")
    nurse = create_staff(clinic, NURSE_EMAIL, PASSWORD, "nurse")
    other = create_clinic("bench-other", "Other Clinic")
    other_nurse = create_staff(other, "nurse@other.bench.test", PASSWORD, "nurse")
    db.session.flush()
    seed_bulk(clinic, nurse, active=active, closed=closed, now=now, seed=seed)
    if other_clinic:
        seed_bulk(other, other_nurse, active=other_clinic, now=now, seed=seed + 1)
    # As the upgrade that brought the outreach job left every episode: its first run (timed as
    # the catch-up) looks at each of them.
    db.session.execute(
        update(Episode)
        .where(Episode.status == "active")
        .values(outreach_due_dt=Episode.procedure_dt)
    )
    db.session.commit()
    mean_entries_active = _mean_entries_active(clinic)

    rng = random.Random(seed)
    seeded = Seeded(clinic_id=clinic.id)
    episode_40, _ = enrol_with_entries(
        clinic, nurse, name="Forty Entries", entries=40, days=90, now=now, rng=rng
    )
    # The check-in episodes belong to the other clinic, so they leave the worklist as seeded.
    template, token = enrol_with_entries(
        other, other_nurse, name="Twenty Entries", entries=20, days=30, now=now, rng=rng
    )
    db.session.commit()
    seeded.episode_40_id = episode_40.id
    seeded.checkin_episodes = [(template.id, token), *copy_episode(template, 210)]
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # Production has statistics (autovacuum); a freshly loaded table does not yet.
        db.session.execute(text("ANALYZE"))
        db.session.commit()

    for name, model in (
        ("episodes", Episode),
        ("patients", Patient),
        ("entries", PainEntry),
        ("alerts", Alert),
        ("audit events", AuditEvent),
    ):
        seeded.rows[name] = db.session.scalar(db.select(func.count()).select_from(model))
    for status in ("alert", "overdue", "watch", "on_track"):
        _, seeded.statuses[status] = worklist_episodes(clinic.id, now, status=status)
    seeded.mean_entries_active = mean_entries_active
    seeded.summary_check = check_summaries(clinic.id, 50, seed)
    return seeded


def _mean_entries_active(clinic: Clinic) -> float:
    """Entries per active episode of the clinic."""
    active = db.select(Episode.id).filter_by(clinic_id=clinic.id, status="active")
    entries = db.session.scalar(
        db.select(func.count()).select_from(PainEntry).where(PainEntry.episode_id.in_(active))
    )
    return entries / max(
        1, db.session.scalar(db.select(func.count()).select_from(active.subquery()))
    )
