"""Many simulated patients at once, written in bulk (COPY on PostgreSQL, many-row INSERTs on
SQLite): `flask --app wsgi recovery demo --patients N` and the benchmarks (benchmarks/seed.py)
seed with `seed_bulk`.

Each episode is what the app would have stored had it followed the patient from enrolment to
`now`:

- entries from `recovery.clinical.simulate` (the backtest's patient kinds), cut at the episode's
  time since procedure;
- alerts and their history (`AlertEvent`: opened, updated, escalated) from
  `recovery.clinical.backtest.episode_findings`, the live rules in the live order, with the
  missed check-ins the outreach job reports as each empty window closes (and its
  `CheckinWindow` row); a nurse has acknowledged or resolved most of them;
- the summary columns (`last_pain`, `last_expected`, `last_amber`, `due_*`) from
  `recovery.care.episodes.refresh_summary` itself, run on stand-ins; `check_summaries`
  re-derives a sample from the stored entries to prove it;
- the audit trail's rows for each of these, in the words the services write;
- a personal link per active episode (returned, since only its hash is stored).

Ids are drawn from each table's own sequence on PostgreSQL, so the app's later inserts and a
second seeding at once never collide; on SQLite the caller holds the write lock (a writing job,
`g.database_writer`) and the ids follow the largest stored. Each active episode's
`outreach_due_dt` is when the outreach job has something to do for it (`clinical.reminders`):
now for a window open and empty, else the next window event, so the job's next run looks only
at those. Not simulated: reminders sent, notifications, caregivers' links, corrections,
logins.
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

from ..clinical.backtest import episode_findings
from ..clinical.message import Message, join, joined_parts
from ..clinical.reminders import WindowRecord, due_now, next_look
from ..clinical.rules import History
from ..clinical.simulate import simulate_cohort
from ..clinical.vocabulary import AlertAction, AlertEventKind, Rule
from ..extensions import db
from .alerts import _rule_note, note_line
from .clinics import clinic_params, clinic_schedule
from .episodes import (
    _entry_text,
    _entry_words,
    _finding_words,
    episode_entries,
    refresh_summary,
)
from .models import (
    Alert,
    AlertEvent,
    AuditEvent,
    CheckinWindow,
    Clinic,
    Episode,
    PainEntry,
    Patient,
    StaffUser,
)
from .tokens import hash_token, new_token

# 20 first names x 50 surnames: a surname search matches one patient in 50.
_FIRST = "Margaret Joan Aisha Wei Olga Pedro Fatima George Ingrid Kwame Rosa Henrik Mei Tomasz "
_FIRST += "Leila Arthur Nadia Brian Sofia Yusuf"
_LAST = "Smith Okafor Nguyen Kowalski Haddad Jensen Silva Murphy Patel Novak Rossi Schmidt Tanaka "
_LAST += "Ivanova Dubois Larsen Costa Byrne Ahmed Fischer Moreau Walsh Kaur Berg Romero Lindqvist "
_LAST += "Mensah Kim Horvat Brennan Ortiz Sato Keller Popescu Evans Chen Doyle Varga Nowak Ali "
_LAST += "Petrov Garcia Lund Hughes Baker Farah Wright Lopez Quinn Young"
FIRST_NAMES, LAST_NAMES = _FIRST.split(), _LAST.split()
INDICATION_WEIGHTS = (("osteoporosis", 0.8), ("tumour", 0.15), ("other", 0.05))
LEVELS = ("T12", "L1", "L2", "T11, T12", "L1, L2")
#: Episodes simulated and written at a time, so that memory stays flat whatever the count.
CHUNK = 5000
#: The rows of one table written by one INSERT statement at most.
BATCH = 5000
#: What a nurse noted when acknowledging a seeded alert.
CALL_NOTES = (
    "Pain settling with regular paracetamol; will call again tomorrow.",
    "Spoke to the patient; advised to keep taking the prescribed analgesia.",
    "",
)
#: The tables in the order they are written (parents first), and what their ids refer to.
_TABLES = (Patient, Episode, PainEntry, CheckinWindow, Alert, AlertEvent, AuditEvent)
_REFERENCES = {
    Episode: {"patient_id": Patient},
    PainEntry: {"episode_id": Episode},
    CheckinWindow: {"episode_id": Episode},
    Alert: {"episode_id": Episode, "entry_id": PainEntry},
    AlertEvent: {"alert_id": Alert, "entry_id": PainEntry},
    AuditEvent: {"episode_id": Episode},
}


@dataclass
class BulkSeeded:
    """What `seed_bulk` wrote."""

    clinic_id: int
    #: The new episodes' ids, active ones first.
    episode_ids: list[int] = field(default_factory=list)
    #: (episode id, personal link token) of each new active episode.
    links: list[tuple[int, str]] = field(default_factory=list)
    #: Rows written, by table name.
    rows: dict[str, int] = field(default_factory=dict)


def reserve_ids(model, count: int) -> list[int]:
    """`count` unused primary keys of `model`'s table.

    PostgreSQL: drawn from the table's sequence, as the app's own inserts are, so nothing
    another transaction inserts at the same time (or later) can take them. SQLite: those after
    the largest stored, which holds while the transaction keeps the write lock (BEGIN
    IMMEDIATE: `g.database_writer`).
    """
    if count <= 0:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        return list(
            db.session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                    "FROM generate_series(1, :count)"
                ),
                {"table": model.__table__.name, "count": count},
            )
        )
    first = (db.session.scalar(db.select(func.max(model.id))) or 0) + 1
    return list(range(first, first + count))


def write_rows(rows: dict[Any, list[dict]]) -> None:
    """Bulk-insert `rows` (model -> rows with their final ids, all with the same keys; an
    episode's alerts with it), parents first: PostgreSQL's COPY, or INSERTs of many rows each.
    Each episode gets the counts of its open and acknowledged alerts, as the app keeps them."""
    counts = Counter((a["episode_id"], a["status"]) for a in rows.get(Alert, []))
    for episode in rows.get(Episode, []):
        episode["open_alerts"] = counts[episode["id"], "open"]
        episode["acknowledged_alerts"] = counts[episode["id"], "acknowledged"]
    copy = db.session.get_bind().dialect.name == "postgresql"
    for model in _TABLES:
        table_rows = rows.get(model, [])
        if not table_rows:
            continue
        if copy:
            _copy_rows(model.__table__, table_rows)
            continue
        # Core, not the ORM's bulk insert: the ORM leaves a None out of a row, so rows that
        # differ in which values are None would go in as many statements.
        for start in range(0, len(table_rows), BATCH):
            db.session.execute(insert(model.__table__), table_rows[start : start + BATCH])
    db.session.flush()


def _copy_rows(table, table_rows: list[dict]) -> None:
    """COPY `table_rows` into `table` (PostgreSQL), each value converted by its column's type
    as an INSERT would (UTC times, JSON)."""
    connection = db.session.connection()
    keys = list(table_rows[0])
    converters = [table.c[key].type.bind_processor(connection.dialect) for key in keys]
    names = ", ".join(f'"{table.c[key].name}"' for key in keys)
    cursor = connection.connection.dbapi_connection.cursor()
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in table_rows:
            copy.write_row(
                [
                    convert(row[key]) if convert is not None else row[key]
                    for convert, key in zip(converters, keys, strict=True)
                ]
            )


class _Rows:
    """Rows by table, each given a provisional id (its place in its table) that `assign_ids`
    replaces, with every reference to it, by an id reserved for it."""

    def __init__(self) -> None:
        self.tables: dict[Any, list[dict]] = {model: [] for model in _TABLES}

    def add(self, model, row: dict) -> int:
        rows = self.tables[model]
        row["id"] = len(rows)
        rows.append(row)
        return row["id"]

    def assign_ids(self) -> None:
        ids = {model: reserve_ids(model, len(rows)) for model, rows in self.tables.items()}
        for model, rows in self.tables.items():
            references = _REFERENCES.get(model, {})
            for row in rows:
                row["id"] = ids[model][row["id"]]
                for column, target in references.items():
                    if row[column] is not None:
                        row[column] = ids[target][row[column]]
        for row in self.tables[Patient]:
            row["mrn"] = f"S{row['id']:07d}"


def _weighted(rng: random.Random, pairs) -> Any:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights)[0]


def contact_details(index: int, name: str) -> dict[str, str | None]:
    """How a seeded patient is reached: a phone (UK drama numbers, never real) for most, an
    email for every other one, and neither for every ninth ("no reminder channel")."""
    if index % 9 == 0:
        return {"phone": None, "email": None, "no_phone_reason": "no phone"}
    return {
        "phone": f"+44 7700 900{index % 1000:03d}",
        "email": f"{name.lower().replace(' ', '.')}.{index}@example.org" if index % 2 else None,
        "no_phone_reason": None,
    }


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


class _Episode:
    """One seeded episode's rows as the services would have written them, in time order."""

    def __init__(self, rows: _Rows, clinic: Clinic, staff: StaffUser, episode_id: int):
        self.rows, self.clinic, self.staff, self.episode_id = rows, clinic, staff, episode_id
        self.updated_dt: datetime | None = None
        # rule -> (alert row, its reason as a Message) of the unresolved alerts
        self.alerts: dict[str, tuple[dict, Message]] = {}

    def audit(
        self,
        action: str,
        when: datetime,
        *,
        staff: bool = False,
        actor: str = "system",
        detail: str = "",
        message: Message | None = None,
    ) -> None:
        self.rows.add(
            AuditEvent,
            {
                "clinic_id": self.clinic.id,
                "episode_id": self.episode_id,
                "staff_id": self.staff.id if staff else None,
                "actor": f"staff:{self.staff.id}" if staff else actor,
                "action": action,
                "detail": detail[:1000],
                "detail_message": message.to_json() if message is not None else None,
                "address": None,
                "created_dt": when,
            },
        )
        self.updated_dt = max(self.updated_dt or when, when)

    def alert_event(
        self,
        alert: dict,
        kind: str,
        when: datetime,
        *,
        staff: bool = False,
        action: str | None = None,
        note: str = "",
        finding: Message | None = None,
        entry_id: int | None = None,
    ) -> None:
        self.rows.add(
            AlertEvent,
            {
                "alert_id": alert["id"],
                "kind": kind,
                "created_dt": when,
                "staff_id": self.staff.id if staff else None,
                "action": action,
                "severity": alert["severity"],
                "note": note,
                "detail": str(finding) if finding is not None else "",
                "detail_message": finding.to_json() if finding is not None else None,
                "entry_id": entry_id,
            },
        )

    def finding(self, kind: str, finding, when: datetime, entry_id: int | None) -> None:
        """What `apply_alerts` stores for one finding: the alert opened, escalated or updated,
        a line of its history and of the audit trail."""
        message = finding.message
        if kind == "opened":
            alert = {
                "clinic_id": self.clinic.id,
                "episode_id": self.episode_id,
                "rule": finding.rule,
                "severity": finding.severity.code,
                "status": "open",
                "opened_dt": when,
                "acknowledged_dt": None,
                "acknowledged_by_id": None,
                "resolved_dt": None,
                "resolved_by_id": None,
            }
            self.rows.add(Alert, alert)
        else:
            alert, previous = self.alerts[finding.rule]
            if kind == "escalated":
                alert["severity"] = finding.severity.code
            if finding.rule == Rule.RED_FLAG:
                # As `apply_alerts`: an open red-flag alert keeps every red flag reported.
                message = join([*joined_parts(previous, " | "), message], " | ")
        alert.update(
            reason=str(message),
            reason_message=message.to_json(),
            entry_id=entry_id,
            updated_dt=when,
        )
        self.alerts[finding.rule] = (alert, message)
        self.alert_event(alert, kind, when, finding=finding.message, entry_id=entry_id)
        detail, detail_message = _finding_words(finding)
        self.audit(f"alert_{kind}", when, detail=detail, message=detail_message)

    def act(self, alert: dict, fate: str, when: datetime, note: str) -> None:
        """A nurse acknowledged the alert (and, `fate` "resolved", then resolved it)."""
        action = AlertAction.CALLED_PATIENT.value
        alert.update(status="acknowledged", acknowledged_dt=when, acknowledged_by_id=self.staff.id)
        self.alert_event(
            alert, AlertEventKind.ACKNOWLEDGED.value, when, staff=True, action=action, note=note
        )
        self.audit(
            "alert_acknowledged",
            when,
            staff=True,
            detail=f"{alert['rule']}: {note_line(action, note)}",
            message=_rule_note(alert["rule"], AlertAction(action), note),
        )
        alert["updated_dt"] = when
        if fate == "resolved":
            when += timedelta(minutes=1)
            alert.update(
                status="resolved", resolved_dt=when, resolved_by_id=self.staff.id, updated_dt=when
            )
            self.alert_event(alert, AlertEventKind.RESOLVED.value, when, staff=True)
            self.audit(
                "alert_resolved",
                when,
                staff=True,
                detail=f"{alert['rule']}: ",
                message=_rule_note(alert["rule"], None, ""),
            )


def seed_bulk(
    clinic: Clinic,
    staff: StaffUser,
    *,
    active: int,
    now: datetime,
    seed: int,
    closed: int = 0,
    open_alert_share: float = 0.10,
) -> BulkSeeded:
    """Add `active` active (and `closed` closed) simulated episodes to `clinic`, enrolled by
    `staff`, who also acted on their alerts, as at `now`; flushes, the caller commits.

    Active episodes are between 2 hours and 45 days after their procedure (log-uniform, about
    5 entries each); 8% stopped answering earlier, so some are overdue. A share of the
    episodes with alerts keeps them open, so that about `open_alert_share` of the active
    episodes have an open alert; a nurse acknowledged the others (and resolved most). The
    same `seed` on the same database gives the same courses.
    """
    seeded = BulkSeeded(clinic_id=clinic.id)
    total = active + closed
    for chunk, start in enumerate(range(0, total, CHUNK)):
        count = min(CHUNK, total - start)
        indexes = range(start, start + count)
        rows, links = _chunk_rows(
            clinic,
            staff,
            indexes,
            active,
            now=now,
            seed=seed + 7919 * chunk,
            open_alert_share=open_alert_share,
        )
        rows.assign_ids()
        write_rows(rows.tables)
        episodes = rows.tables[Episode]
        seeded.episode_ids += [row["id"] for row in episodes]
        seeded.links += [(episodes[place]["id"], token) for place, token in links]
        for model, table_rows in rows.tables.items():
            name = model.__table__.name
            seeded.rows[name] = seeded.rows.get(name, 0) + len(table_rows)
    return seeded


def _chunk_rows(
    clinic: Clinic,
    staff: StaffUser,
    indexes: range,
    active: int,
    *,
    now: datetime,
    seed: int,
    open_alert_share: float,
) -> tuple[_Rows, list[tuple[int, str]]]:
    """The rows of the episodes numbered `indexes` (those below `active` are active), and
    (provisional episode id, link token) of the active ones."""
    rng = random.Random(seed)
    params, schedule = clinic_params(clinic), clinic_schedule(clinic)
    ends = {w.end_h: w for w in schedule if not w.is_pre_procedure}
    cohort = simulate_cohort(len(indexes), seed, params, schedule)
    plans = []
    for index, sim in zip(indexes, cohort, strict=True):
        is_active = index < active
        if is_active:
            elapsed_h = math.exp(rng.uniform(math.log(2), math.log(45 * 24)))
            cutoff = elapsed_h * rng.uniform(0.1, 0.5) if rng.random() < 0.08 else elapsed_h
            closed_h = None
        else:
            elapsed_h = cutoff = rng.uniform(100, 400) * 24
            closed_h = rng.uniform(95, 100) * 24
        readings = [r for r in sim.readings if r.hours <= cutoff]
        findings = episode_findings(
            readings,
            History(params, schedule=schedule),
            missed_checkins=True,
            until_h=min(elapsed_h, closed_h or elapsed_h),
        )
        plans.append((index, is_active, elapsed_h, closed_h, sim, readings, findings))
    alerted = sum(1 for plan in plans if plan[1] and plan[6])
    active_here = sum(1 for plan in plans if plan[1])
    keep_open = min(1.0, open_alert_share * active_here / alerted) if alerted else 0.0

    rows = _Rows()
    links = []
    for index, is_active, elapsed_h, closed_h, sim, readings, findings in plans:
        procedure_dt = now - timedelta(hours=elapsed_h)
        created_dt = procedure_dt - timedelta(days=rng.uniform(1, 14))
        name = (
            f"{FIRST_NAMES[index % len(FIRST_NAMES)]} "
            f"{LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]}"
        )
        patient_id = rows.add(
            Patient,
            {
                "clinic_id": clinic.id,
                "display_name": name,
                "mrn": None,  # from the patient's id, once known
                **contact_details(index, name),
                "preferred_language": "en",
                "reminders_stopped_dt": None,
                "created_dt": created_dt,
            },
        )
        # The episode's row is added first, for its id; it is filled in below.
        episode_row: dict[str, Any] = {"patient_id": patient_id}
        episode_id = rows.add(Episode, episode_row)
        story = _Episode(rows, clinic, staff, episode_id)
        story.audit("enrolled", created_dt, staff=True)
        entries, entry_at = [], {}
        for number, r in enumerate(readings):
            recorded_dt = procedure_dt + timedelta(hours=r.hours)
            entry = {
                "episode_id": episode_id,
                "pain": r.pain,
                "recorded_dt": recorded_dt,
                "received_dt": min(now, recorded_dt + timedelta(seconds=rng.uniform(1, 30))),
                "red_flags": list(r.red_flags),
                "is_analgesic_taken": rng.random() < 0.4,
                "note": "",
                "source": "patient",
                "recorded_by_id": None,
                "idempotency_key": f"seed-{seed}-{index}-{number}",
                "supersedes_id": None,
                "correction_reason": None,
            }
            rows.add(PainEntry, entry)
            entries.append(entry)
            entry_at[r.hours] = entry
        # As `record_pain_entry` writes them: an entry's findings, then its audit row; a
        # missed window's finding when the job runs after it closed.
        timeline = [(e["received_dt"], 1, 0, e, None, None) for e in entries]
        missed = []
        for number, (hours, kind, finding) in enumerate(findings):
            if finding.rule == Rule.MISSED_CHECKIN:
                when = min(now, procedure_dt + timedelta(hours=hours, seconds=rng.uniform(5, 60)))
                timeline.append((when, 0, number, None, (kind, finding), ends[hours]))
                missed.append(ends[hours])
            else:
                entry = entry_at[hours]
                timeline.append((entry["received_dt"], 0, number, entry, (kind, finding), None))
        timeline.sort(key=lambda item: item[:3])
        for when, _, _, entry, found, window in timeline:
            if found is None:
                flags = entry["red_flags"]
                story.audit(
                    "entry_recorded",
                    when,
                    actor="patient",
                    detail=_entry_text(entry["pain"], flags),
                    message=_entry_words(entry["pain"], flags),
                )
                continue
            if window is not None:
                rows.add(
                    CheckinWindow,
                    {
                        "episode_id": episode_id,
                        "label": window.label,
                        "start_dt": procedure_dt + timedelta(hours=window.start_h),
                        "end_dt": procedure_dt + timedelta(hours=window.end_h),
                        "reminded_dt": None,
                        "last_reminded_dt": None,
                        "missed_dt": when,
                    },
                )
            story.finding(*found, when, entry["id"] if entry is not None else None)
        fate = "open" if is_active and rng.random() < keep_open else None
        if fate is None:
            fate = "acknowledged" if is_active and rng.random() < 0.4 else "resolved"
        if fate != "open":
            for alert, _message in story.alerts.values():
                acted_dt = alert["updated_dt"] + timedelta(hours=rng.uniform(0.2, 6))
                # An alert newer than that is still waiting for the nurse.
                if acted_dt <= now - timedelta(minutes=2):
                    story.act(alert, fate, acted_dt, rng.choice(CALL_NOTES))
        closed_dt = procedure_dt + timedelta(hours=closed_h) if closed_h is not None else None
        if closed_dt is not None:
            story.audit("closed", closed_dt, staff=True)
        # As at enrolment: half the baselines were typed in, half come from the first entry.
        baseline_pain = sim.baseline if rng.random() < 0.5 else None
        token = new_token() if is_active else None
        if token is not None:
            links.append((episode_id, token))
        episode_row.update(
            clinic_id=clinic.id,
            procedure_dt=procedure_dt,
            levels=rng.choice(LEVELS),
            indication=_weighted(rng, INDICATION_WEIGHTS),
            baseline_pain=baseline_pain,
            status="active" if is_active else "closed",
            token_hash=hash_token(token) if token else None,
            token_issued_dt=created_dt,
            caregiver_token_hash=None,
            caregiver_token_issued_dt=None,
            created_dt=created_dt,
            closed_dt=closed_dt,
            updated_dt=story.updated_dt,
            # The outreach job looks at every seeded episode at its next run, as at enrolment.
            outreach_due_dt=_outreach_due(
                schedule, procedure_dt, created_dt, readings, missed, now=now
            )
            if is_active
            else None,
            **_summary(clinic, procedure_dt, baseline_pain, entries),
        )
    return rows, links


def _outreach_due(schedule, procedure_dt, created_dt, readings, missed, *, now) -> datetime | None:
    """When the outreach job next has something to do for a seeded episode, as it would have
    set it on its last run: now if a window is open and empty (a reminder is due), else the
    next window event, or None when the schedule is done."""
    entry_hours = [r.hours for r in readings]
    now_h = (now - procedure_dt).total_seconds() / 3600
    enrolled_h = (created_dt - procedure_dt).total_seconds() / 3600
    records = {window: WindowRecord(missed=True) for window in missed}
    due = due_now(schedule, entry_hours, now_h, enrolled_h=enrolled_h, records=records, quiet=False)
    if due.remind or due.remind_again or due.missed:
        return now
    look_h = next_look(schedule, entry_hours, now_h, enrolled_h=enrolled_h, records=records)
    return None if look_h is None else procedure_dt + timedelta(hours=look_h)


def check_summaries(clinic_id: int, sample: int, seed: int) -> str:
    """Re-derive the summary of `sample` stored active episodes of the clinic from their
    stored entries; says how many match. Rolls back what it changed."""
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
