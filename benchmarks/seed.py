"""Benchmark data: a clinic with 10,000 active episodes, seeded in seconds.

Entries come from `recovery.clinical.simulate` (the same patient kinds as the backtest), cut at each
episode's time since procedure. Alerts are what `recovery.clinical.backtest.replay` (the live rules)
opens on those entries. The summary columns (`last_pain`, `last_expected`, `last_amber`,
`due_*`) are filled by `recovery.care.episodes.refresh_summary` itself, run on stand-ins, so the
rows are what the app would have written; `check_summaries` re-derives a sample from the
stored entries to prove it. Rows are then written with bulk INSERTs (explicit ids).

A few episodes go through the real services (`enrol_patient`, `record_pain_entry`): the one
with 40 entries for the episode page, and the check-in template that is bulk-copied so every
timed check-in lands on an episode that already has 20 entries.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, text

from recovery.care.accounts import create_staff
from recovery.care.clinics import create_clinic
from recovery.care.episodes import (
    enrol_patient,
    episode_entries,
    record_pain_entry,
    refresh_summary,
)
from recovery.care.models import Alert, AuditEvent, Clinic, Episode, PainEntry, Patient
from recovery.care.tokens import hash_token, new_token
from recovery.clinical.backtest import replay
from recovery.clinical.simulate import simulate_cohort
from recovery.extensions import db

NURSE_EMAIL = "nurse@bench.test"
PASSWORD = "bench-password-1"
SEARCH_TERM = "Okafor"
# 20 first names x 50 surnames: a surname search matches one patient in 50.
_FIRST = "Margaret Joan Aisha Wei Olga Pedro Fatima George Ingrid Kwame Rosa Henrik Mei Tomasz "
_FIRST += "Leila Arthur Nadia Brian Sofia Yusuf"
_LAST = "Smith Okafor Nguyen Kowalski Haddad Jensen Silva Murphy Patel Novak Rossi Schmidt Tanaka "
_LAST += "Ivanova Dubois Larsen Costa Byrne Ahmed Fischer Moreau Walsh Kaur Berg Romero Lindqvist "
_LAST += "Mensah Kim Horvat Brennan Ortiz Sato Keller Popescu Evans Chen Doyle Varga Nowak Ali "
_LAST += "Petrov Garcia Lund Hughes Baker Farah Wright Lopez Quinn Young"
FIRST_NAMES, LAST_NAMES = _FIRST.split(), _LAST.split()
INDICATION_WEIGHTS = (("osteoporosis", 0.8), ("tumour", 0.15), ("other", 0.05))


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


class IdSequence:
    """Explicit primary keys for bulk inserts, continuing after what is already stored."""

    def __init__(self, *models):
        self._next = {m: (db.session.scalar(db.select(func.max(m.id))) or 0) + 1 for m in models}

    def take(self, model) -> int:
        """The next free id of `model`'s table."""
        value = self._next[model]
        self._next[model] = value + 1
        return value


def _weighted(rng: random.Random, pairs) -> Any:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights)[0]


def _summary(clinic: Clinic, procedure_dt, baseline_pain, entries: list[dict]) -> dict[str, Any]:
    """The summary columns exactly as `refresh_summary` computes them for these entries."""
    stand_in = SimpleNamespace(
        clinic=clinic, procedure_dt=procedure_dt, baseline_pain=baseline_pain
    )
    stand_in.hours_since_procedure = lambda when: Episode.hours_since_procedure(stand_in, when)
    stand_in.at_hours = lambda hours: Episode.at_hours(stand_in, hours)
    refresh_summary(
        stand_in,
        [
            SimpleNamespace(id=e["id"], recorded_dt=e["recorded_dt"], pain=e["pain"])
            for e in entries
        ],
    )
    keys = ("last_pain", "last_entry_dt", "last_expected", "last_amber")
    return {k: getattr(stand_in, k) for k in (*keys, "due_label", "due_start_dt", "due_end_dt")}


def _alerts_from_events(events: list[dict]) -> dict[str, dict[str, Any]]:
    """rule -> first opening hour, last event hour and highest severity, from replay events."""
    by_rule: dict[str, dict[str, Any]] = {}
    for ev in events:
        current = by_rule.setdefault(ev["rule"], {"opened_h": ev["hours"]})
        current.update(last_h=ev["hours"], severity=ev["severity"], reason=ev["reason"])
    return by_rule


def seed_cohort(
    clinic: Clinic,
    nurse_id: int,
    *,
    active: int,
    closed: int,
    now: datetime,
    seed: int,
    open_alert_share: float = 0.10,
) -> dict[str, list[dict]]:
    """Rows (by table) for `active` + `closed` simulated episodes of `clinic`.

    Active episodes are between 2 hours and 45 days after their procedure (log-uniform, which
    gives about 5 entries each); 8% stopped answering earlier (so some are overdue). Of the
    active episodes with alerts, a share keeps them open so that about `open_alert_share` of
    all active episodes have an open alert; the others were acknowledged or resolved.
    """
    rng = random.Random(seed)
    ids = IdSequence(Patient, Episode, PainEntry, Alert, AuditEvent)
    cohort = simulate_cohort(active + closed, seed)
    plans = []
    for index, sim in enumerate(cohort):
        is_active = index < active
        if is_active:
            elapsed_h = math.exp(rng.uniform(math.log(2), math.log(45 * 24)))
            cutoff = elapsed_h * rng.uniform(0.1, 0.5) if rng.random() < 0.08 else elapsed_h
        else:
            elapsed_h = cutoff = rng.uniform(100, 400) * 24
        readings = [r for r in sim.readings if r.hours <= cutoff]
        events = replay({sim.episode_id: readings})
        plans.append((is_active, elapsed_h, readings, _alerts_from_events(events)))
    alerted = sum(1 for is_active, _, _, alerts in plans if is_active and alerts)
    keep_open = min(1.0, open_alert_share * active / alerted) if alerted else 0.0

    rows: dict[str, list[dict]] = {t: [] for t in ("patient", "episode", "entry", "alert", "audit")}
    for index, (is_active, elapsed_h, readings, alerts) in enumerate(plans):
        procedure_dt = now - timedelta(hours=elapsed_h)
        created_dt = procedure_dt - timedelta(days=rng.uniform(1, 14))
        patient_id, episode_id = ids.take(Patient), ids.take(Episode)
        rows["patient"].append(
            {
                "id": patient_id,
                "clinic_id": clinic.id,
                "display_name": f"{FIRST_NAMES[index % len(FIRST_NAMES)]} "
                f"{LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]}",
                "mrn": f"B{clinic.id}-{index:07d}",
                "email": None,
                "phone": None,
                "preferred_language": "en",
                "created_dt": created_dt,
            }
        )
        audit = [("enrolled", created_dt, None, "")]
        entries = []
        for r in readings:
            recorded_dt = procedure_dt + timedelta(hours=r.hours)
            entries.append(
                {
                    "id": ids.take(PainEntry),
                    "episode_id": episode_id,
                    "pain": r.pain,
                    "recorded_dt": recorded_dt,
                    "received_dt": recorded_dt + timedelta(seconds=rng.uniform(1, 30)),
                    "red_flags": list(r.red_flags),
                    "is_analgesic_taken": rng.random() < 0.4,
                    "note": "",
                    "source": "patient",
                    "recorded_by_id": None,
                    "idempotency_key": f"bench-{episode_id}-{len(entries)}",
                }
            )
            audit.append(("entry_recorded", recorded_dt, None, f"{r.pain}/10"))
        entry_at = {r.hours: e["id"] for r, e in zip(readings, entries, strict=True)}
        # As at enrolment: half the baselines were typed in, half come from the first entry.
        baseline_pain = sim.baseline if rng.random() < 0.5 else None
        summary = _summary(clinic, procedure_dt, baseline_pain, entries)
        updated_dt = max([created_dt] + [e["received_dt"] for e in entries])
        fate = "open" if is_active and rng.random() < keep_open else None
        if fate is None:
            fate = "acknowledged" if is_active and rng.random() < 0.4 else "resolved"
        for rule, a in alerts.items():
            opened_dt = procedure_dt + timedelta(hours=a["opened_h"])
            last_dt = procedure_dt + timedelta(hours=a["last_h"])
            acted_dt = min(
                now - timedelta(minutes=1), last_dt + timedelta(hours=rng.uniform(0.2, 6))
            )
            acted = fate != "open"
            rows["alert"].append(
                {
                    "id": ids.take(Alert),
                    "clinic_id": clinic.id,
                    "episode_id": episode_id,
                    "rule": rule,
                    "severity": a["severity"],
                    "status": fate,
                    "reason": a["reason"][:300],
                    "entry_id": entry_at[a["last_h"]],
                    "opened_dt": opened_dt,
                    "updated_dt": acted_dt if acted else last_dt,
                    "acknowledged_dt": acted_dt if acted else None,
                    "acknowledged_by_id": nurse_id if acted else None,
                    "resolved_dt": acted_dt if fate == "resolved" else None,
                    "resolved_by_id": nurse_id if fate == "resolved" else None,
                    "note": "called the patient" if acted else "",
                }
            )
            audit.append(("alert_opened", opened_dt, None, f"{rule} ({a['severity']})"))
            if acted:
                audit.append((f"alert_{fate}", acted_dt, nurse_id, ""))
            updated_dt = max(updated_dt, acted_dt if acted else last_dt)
        closed_dt = procedure_dt + timedelta(days=rng.uniform(95, 100)) if not is_active else None
        if closed_dt is not None:
            audit.append(("closed", closed_dt, nurse_id, ""))
            updated_dt = max(updated_dt, closed_dt)
        rows["episode"].append(
            {
                "id": episode_id,
                "clinic_id": clinic.id,
                "patient_id": patient_id,
                "procedure_dt": procedure_dt,
                "levels": rng.choice(("T12", "L1", "L2", "T11-T12", "L1-L2")),
                "indication": _weighted(rng, INDICATION_WEIGHTS),
                "baseline_pain": baseline_pain,
                "status": "active" if is_active else "closed",
                "token_hash": hash_token(f"bench-{clinic.id}-{episode_id}") if is_active else None,
                "token_issued_dt": created_dt,
                "created_dt": created_dt,
                "closed_dt": closed_dt,
                "updated_dt": updated_dt,
                # As the migration leaves an existing episode: looked at by the next run.
                "outreach_due_dt": procedure_dt if is_active else None,
                **summary,
            }
        )
        rows["entry"] += entries
        for action, when, staff_id, detail in audit:
            rows["audit"].append(
                {
                    "id": ids.take(AuditEvent),
                    "clinic_id": clinic.id,
                    "episode_id": episode_id,
                    "staff_id": staff_id,
                    "actor": f"staff:{staff_id}" if staff_id else "patient",
                    "action": action,
                    "detail": detail,
                    "address": None,
                    "created_dt": when,
                }
            )
    return rows


def write_rows(rows: dict[str, list[dict]]) -> None:
    """Bulk-insert the rows of `seed_cohort`, parents first, each episode with the counts of
    its open and acknowledged alerts (as the app keeps them)."""
    counts = Counter((a["episode_id"], a["status"]) for a in rows["alert"])
    for episode in rows["episode"]:
        episode["open_alerts"] = counts[episode["id"], "open"]
        episode["acknowledged_alerts"] = counts[episode["id"], "acknowledged"]
    for table, model in (
        ("patient", Patient),
        ("episode", Episode),
        ("entry", PainEntry),
        ("alert", Alert),
        ("audit", AuditEvent),
    ):
        for start in range(0, len(rows[table]), 5000):
            db.session.execute(insert(model), rows[table][start : start + 5000])
    db.session.flush()


def fix_sequences() -> None:
    """After explicit ids, move PostgreSQL's id sequences past them (SQLite needs nothing)."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in db.metadata.sorted_tables:
        if "id" in table.c:
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f'COALESCE((SELECT max(id) FROM "{table.name}"), 0) + 1, false)'
                )
            )


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
    ids = IdSequence(Patient, Episode, PainEntry, Alert)
    patient = template.patient
    entries = episode_entries(template)
    alerts = list(db.session.scalars(db.select(Alert).filter_by(episode_id=template.id)))
    skip = {"id", "patient_id", "token_hash", "clinic", "patient", "entries", "alerts"}
    episode_columns = [c.key for c in Episode.__table__.columns if c.key not in skip]
    rows: dict[str, list[dict]] = {"patient": [], "episode": [], "entry": [], "alert": []}
    made = []
    for n in range(copies):
        patient_id, episode_id = ids.take(Patient), ids.take(Episode)
        token = new_token()
        rows["patient"].append(
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
        rows["episode"].append(
            {**row, "id": episode_id, "patient_id": patient_id, "token_hash": hash_token(token)}
        )
        new_entry_id = {}
        for e in entries:
            new_entry_id[e.id] = ids.take(PainEntry)
            rows["entry"].append(
                {
                    c.key: getattr(e, c.key)
                    for c in PainEntry.__table__.columns
                    if c.key not in ("id", "episode_id")
                }
                | {"id": new_entry_id[e.id], "episode_id": episode_id}
            )
        for a in alerts:
            rows["alert"].append(
                {c.key: getattr(a, c.key) for c in Alert.__table__.columns}
                | {
                    "id": ids.take(Alert),
                    "episode_id": episode_id,
                    "entry_id": new_entry_id.get(a.entry_id),
                }
            )
        made.append((episode_id, token))
    for table, model in (
        ("patient", Patient),
        ("episode", Episode),
        ("entry", PainEntry),
        ("alert", Alert),
    ):
        db.session.execute(insert(model), rows[table])
    db.session.flush()
    return made


def check_summaries(clinic_id: int, sample: int, seed: int) -> str:
    """Re-derive the summary of `sample` stored episodes from their stored entries."""
    ids = list(
        db.session.scalars(
            db.select(Episode.id)
            .filter_by(clinic_id=clinic_id, status="active")
            .order_by(Episode.id)
        )
    )
    columns = ("last_pain", "last_entry_dt", "last_expected", "last_amber", "due_label")
    columns += ("due_start_dt", "due_end_dt")
    bad = 0
    picked = random.Random(seed).sample(ids, min(sample, len(ids)))
    for episode_id in picked:
        episode = db.session.get(Episode, episode_id)
        stored = [getattr(episode, c) for c in columns]
        refresh_summary(episode, episode_entries(episode))
        bad += stored != [getattr(episode, c) for c in columns]
    db.session.rollback()
    return f"{len(picked) - bad}/{len(picked)} sampled episodes match refresh_summary"


def seed_all(now: datetime, *, active: int, closed: int, other_clinic: int, seed: int) -> Seeded:
    """The whole benchmark data set; commits."""
    from recovery.staff.services import worklist_episodes

    clinic = create_clinic("bench", "Bench Clinic")
    nurse = create_staff(clinic, NURSE_EMAIL, PASSWORD, "nurse")
    other = create_clinic("bench-other", "Other Clinic")
    other_nurse = create_staff(other, "nurse@other.bench.test", PASSWORD, "nurse")
    db.session.flush()
    rows = seed_cohort(clinic, nurse.id, active=active, closed=closed, now=now, seed=seed)
    write_rows(rows)
    if other_clinic:
        rows_other = seed_cohort(
            other, other_nurse.id, active=other_clinic, closed=0, now=now, seed=seed + 1
        )
        write_rows(rows_other)
    fix_sequences()
    db.session.commit()

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
    fix_sequences()
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
    active_ids = {e["id"] for e in rows["episode"] if e["status"] == "active"}
    seeded.mean_entries_active = sum(e["episode_id"] in active_ids for e in rows["entry"]) / len(
        active_ids
    )
    seeded.summary_check = check_summaries(clinic.id, 50, seed)
    return seeded
