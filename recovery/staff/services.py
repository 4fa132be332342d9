"""Queries behind the staff pages: a fixed number of statements per page, none per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_
from sqlalchemy.orm import aliased, selectinload

from ..care.alerts import latest_acknowledgement
from ..care.audit import VIEWED
from ..care.episodes import baseline_score, entries_page
from ..care.models import (
    Alert,
    AlertEvent,
    AuditEvent,
    Episode,
    PainEntry,
    Patient,
    StaffUser,
    entries_in_force,
    severity_value,
)
from ..care.text import like_pattern
from ..clinical.vocabulary import AlertStatus
from ..extensions import db

# Episode statuses on the worklist, most pressing first.
STATUSES = ("alert", "overdue", "watch", "on_track")
PER_PAGE = 50
#: The statuses of an alert still to be dealt with.
UNRESOLVED = (str(AlertStatus.OPEN), str(AlertStatus.ACKNOWLEDGED))
#: Patients listed per page of each alert section of the worklist, the most pressing first:
#: a page costs the same to build in a clinic of any size.
ALERT_PATIENTS_PER_PAGE = 25


@dataclass(frozen=True)
class AlertRow:
    """An alert on the worklist, with who acknowledged it and what was last done."""

    alert: Alert
    acknowledged_by: str | None
    #: The latest acknowledgement (the first, or one a nurse added later): its action code,
    #: note and author (None if none).
    acknowledged_action: str | None = None
    acknowledged_note: str | None = None
    acknowledged_latest_by: str | None = None


@dataclass(frozen=True)
class PatientAlerts:
    """A patient (an active episode) on the worklist, with their unresolved alerts most
    severe first and what a nurse needs to judge them and to call."""

    episode_id: int
    patient_name: str
    mrn: str | None
    phone: str | None
    email: str | None
    no_phone_reason: str | None
    procedure_dt: datetime
    last_pain: int | None
    last_expected: float | None
    #: The alert that places the row: the patient's most pressing alert of the section's status.
    lead_alert_id: int
    alerts: list[AlertRow]


def _staff_name(staff):
    """SQL: a staff member's name, or their email when they have none."""
    return func.coalesce(func.nullif(staff.name, ""), staff.email)


def _latest_acknowledgement(column):
    """SQL: `column` of the alert's latest acknowledgement event (a scalar subquery)."""
    return (
        latest_acknowledgement(Alert.id)
        .with_only_columns(column)
        .correlate(Alert)
        .scalar_subquery()
    )


def alert_urgency_order():
    """SQL sort keys for alerts: most severe first (unknown severities last), then oldest."""
    return severity_value(Alert.severity).desc(), Alert.opened_dt, Alert.id


def _section_where(clinic_id: int, status: str) -> list:
    """SQL conditions for the alerts that put a patient in a worklist section: "open" (any
    open alert), or "acknowledged" (acknowledged alerts, and none open: a patient with an open
    alert is in the open section, with all their alerts)."""
    where = [
        Alert.clinic_id == clinic_id,
        Alert.status == status,
        Episode.status == "active",
    ]
    if status == "acknowledged":
        other = aliased(Alert)
        where.append(
            ~db.select(other.id)
            .where(
                other.clinic_id == clinic_id,
                other.status == "open",
                other.episode_id == Alert.episode_id,
            )
            .exists()
        )
    return where


@dataclass(frozen=True)
class AlertSection:
    """One page of a worklist alert section."""

    rows: list[PatientAlerts]
    #: Alerts of the section's status, and patients with one, in the whole clinic.
    alerts: int
    patients: int
    #: The page shown (the last one when a later page was asked for).
    page: int


def worklist_alerts(clinic_id: int, status: str, page: int = 1) -> AlertSection:
    """Patients of active episodes with alerts in one section ("open" or "acknowledged", see
    `_section_where`), one row each with all their unresolved alerts, most severe first.

    Rows are ordered by each patient's most pressing alert of that status (most severe, then
    oldest), ALERT_PATIENTS_PER_PAGE a page. Two statements whatever the number of rows.
    """
    where = _section_where(clinic_id, status)
    alerts_total, patients_total = db.session.execute(
        db.select(func.count(Alert.id), func.count(func.distinct(Alert.episode_id)))
        .join(Episode, Episode.id == Alert.episode_id)
        .where(*where)
    ).one()
    page = min(page, page_count(patients_total, ALERT_PATIENTS_PER_PAGE))
    severity = severity_value(Alert.severity)
    ranked = (
        db.select(
            Alert.episode_id,
            Alert.id.label("lead_id"),
            severity.label("lead_severity"),
            Alert.opened_dt.label("lead_opened_dt"),
            func.row_number()
            .over(
                partition_by=Alert.episode_id, order_by=(severity.desc(), Alert.opened_dt, Alert.id)
            )
            .label("rank"),
        )
        .join(Episode, Episode.id == Alert.episode_id)
        .where(*where)
        .subquery()
    )
    lead_order = (ranked.c.lead_severity.desc(), ranked.c.lead_opened_dt, ranked.c.lead_id)
    leads = (
        db.select(ranked)
        .where(ranked.c.rank == 1)
        .order_by(*lead_order)
        .limit(ALERT_PATIENTS_PER_PAGE)
        .offset((page - 1) * ALERT_PATIENTS_PER_PAGE)
        .subquery()
    )
    acknowledger = aliased(StaffUser)
    query = (
        db.select(
            Alert,
            _staff_name(acknowledger),
            _latest_acknowledgement(AlertEvent.action),
            _latest_acknowledgement(AlertEvent.note),
            _latest_acknowledgement(
                db.select(_staff_name(StaffUser))
                .where(StaffUser.id == AlertEvent.staff_id)
                .scalar_subquery()
            ),
            leads.c.lead_id,
            Patient.display_name,
            Patient.mrn,
            Patient.phone,
            Patient.email,
            Patient.no_phone_reason,
            Episode.procedure_dt,
            Episode.last_pain,
            Episode.last_expected,
        )
        .join(leads, leads.c.episode_id == Alert.episode_id)
        .join(Episode, Episode.id == Alert.episode_id)
        .join(Patient, Patient.id == Episode.patient_id)
        .outerjoin(acknowledger, acknowledger.id == Alert.acknowledged_by_id)
        .where(Alert.clinic_id == clinic_id, Alert.status.in_(UNRESOLVED))
        .order_by(
            leads.c.lead_severity.desc(),
            leads.c.lead_opened_dt,
            leads.c.lead_id,
            *alert_urgency_order(),
        )
    )
    rows: dict[int, PatientAlerts] = {}
    for alert, *columns in db.session.execute(query):
        acknowledged, lead_id, patient = columns[:4], columns[4], columns[5:]
        row = rows.get(alert.episode_id)
        if row is None:
            row = PatientAlerts(alert.episode_id, *patient, lead_alert_id=lead_id, alerts=[])
            rows[alert.episode_id] = row
        row.alerts.append(AlertRow(alert, *acknowledged))
    return AlertSection(list(rows.values()), alerts_total, patients_total, page)


def episode_status_expression(now: datetime):
    """SQL for an episode's worklist status (see docs/dashboard.md for the definitions), from
    its own row: its alert counts and summary, kept current on every write."""
    return case(
        (Episode.open_alerts > 0, "alert"),
        (and_(Episode.due_end_dt.is_not(None), Episode.due_end_dt < now), "overdue"),
        (
            or_(
                Episode.acknowledged_alerts > 0,
                and_(Episode.last_amber.is_not(None), Episode.last_pain >= Episode.last_amber),
            ),
            "watch",
        ),
        else_="on_track",
    )


@dataclass(frozen=True)
class EpisodeRow:
    """An active episode on the worklist."""

    episode_id: int
    name: str
    mrn: str | None
    indication: str
    procedure_dt: datetime
    baseline_pain: int | None
    last_pain: int | None
    last_expected: float | None
    due_label: str | None
    due_start_dt: datetime | None
    due_end_dt: datetime | None
    status: str
    phone: str | None = None
    email: str | None = None
    no_phone_reason: str | None = None


def worklist_episodes(
    clinic_id: int,
    now: datetime,
    *,
    status: str | None = None,
    indication: str | None = None,
    search: str = "",
    page: int = 1,
) -> tuple[list[EpisodeRow], int]:
    """Active episodes, most pressing status first, then most recent procedure; (rows, total)."""
    status_sql = episode_status_expression(now)
    status_rank = case({s: i for i, s in enumerate(STATUSES)}, value=status_sql)
    where = [Episode.clinic_id == clinic_id, Episode.status == "active"]
    if status:
        where.append(status_sql == status)
    if indication:
        where.append(Episode.indication == indication)
    if search:
        where.append(
            or_(
                Patient.display_name.ilike(like_pattern(search), escape="\\"),
                Patient.mrn.ilike(like_pattern(search), escape="\\"),
            )
        )
    # The page's episodes are chosen from the episode rows alone (their patients are joined
    # for a search only), then the 50 of them are joined to their patients.
    chosen = db.select(Episode.id).where(*where)
    if search:
        chosen = chosen.join(Patient, Patient.id == Episode.patient_id)
    total = db.session.scalar(chosen.with_only_columns(func.count()).order_by(None))
    page_ids = (
        chosen.add_columns(status_rank.label("rank"), Episode.procedure_dt)
        .order_by(status_rank, Episode.procedure_dt.desc(), Episode.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
        .subquery()
    )
    query = (
        db.select(
            Episode.id,
            Patient.display_name,
            Patient.mrn,
            Episode.indication,
            Episode.procedure_dt,
            Episode.baseline_pain,
            Episode.last_pain,
            Episode.last_expected,
            Episode.due_label,
            Episode.due_start_dt,
            Episode.due_end_dt,
            status_sql,
            Patient.phone,
            Patient.email,
            Patient.no_phone_reason,
        )
        .join(page_ids, page_ids.c.id == Episode.id)
        .join(Patient, Patient.id == Episode.patient_id)
        .order_by(page_ids.c.rank, page_ids.c.procedure_dt.desc(), Episode.id.desc())
    )
    return [EpisodeRow(*row) for row in db.session.execute(query)], total


def clinic_change_cursor(clinic_id: int) -> str:
    """A cheap token that changes whenever any entry or alert of the clinic changes."""
    latest, episodes = db.session.execute(
        db.select(func.max(Episode.updated_dt), func.count()).where(Episode.clinic_id == clinic_id)
    ).one()
    stamp = 0 if latest is None else int(latest.timestamp() * 1_000_000)
    return f"{stamp}-{episodes}"


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` rows fill, `per_page` a page: at least one."""
    return max(1, -(-total // per_page))


#: Entries in the episode page's table, newest first, per page (`?page=N`).
ENTRIES_PER_PAGE = 50
#: The most entries the episode page's chart plots: the newest, so a page stays bounded
#: whatever an episode holds (a usual follow-up has a few dozen, all of them plotted).
CHART_ENTRIES = 1000


@dataclass
class EpisodeDetail:
    """Everything the episode page shows, loaded in a fixed number of queries, whatever the
    number of entries: one page of the entries table and a bounded chart."""

    episode: Episode
    #: The chart's entries in recorded order: the newest CHART_ENTRIES (all, usually),
    #: corrected ones too; `current` is those in force.
    entries: list[PainEntry]
    alerts: list[Alert]
    events: list[AuditEvent]
    #: This page of the entries table, newest first.
    page_entries: list[PainEntry]
    #: How many entries the episode has.
    entry_total: int
    #: The baseline score (as enrolled, else the latest entry in force before the procedure).
    baseline: int | None
    #: The entries that correct, or were corrected by, those of this page, by id: the table
    #: says what each correction replaced and who corrected an entry, across page breaks.
    related: dict[int, PainEntry]
    page: int = 1

    @property
    def pages(self) -> int:
        """How many pages the entries table has (at least one)."""
        return page_count(self.entry_total, ENTRIES_PER_PAGE)

    @property
    def current(self) -> list[PainEntry]:
        """The entries in force (none a correction replaced): the chart's and the summary's."""
        return entries_in_force(self.entries)


#: The timeline's length: the newest changes of the episode and of its alerts.
TIMELINE_LENGTH = 200


def episode_detail(episode: Episode, page: int = 1) -> EpisodeDetail:
    """The episode's entries (page `page` of the table, and the chart's), alerts (with their
    history and its staff) and timeline.

    Alerts in the worklist's order, the unresolved ones before the resolved ones (history).
    `events` are the audit trail's other changes (links, entries, closing, downloads): alert
    changes are read from the alerts' own history, which `alerts` carries; views of the
    record are for the audit page, not the timeline.
    """
    entry_total = db.session.scalar(
        db.select(func.count()).select_from(PainEntry).where(PainEntry.episode_id == episode.id)
    )
    page = max(1, min(page, page_count(entry_total, ENTRIES_PER_PAGE)))
    page_entries = list(
        db.session.scalars(
            db.select(PainEntry)
            .filter_by(episode_id=episode.id)
            .order_by(PainEntry.recorded_dt.desc(), PainEntry.id.desc())
            .options(selectinload(PainEntry.recorded_by))
            .limit(ENTRIES_PER_PAGE)
            .offset((page - 1) * ENTRIES_PER_PAGE)
        )
    )
    entries, _older = entries_page(episode, limit=CHART_ENTRIES)
    baseline = baseline_score(episode)
    related = correction_links(page_entries)
    alerts = list(
        db.session.scalars(
            db.select(Alert)
            .filter_by(episode_id=episode.id)
            .options(
                selectinload(Alert.events).selectinload(AlertEvent.staff),
                selectinload(Alert.entry),
            )
            .order_by(case((Alert.status == "resolved", 1), else_=0), *alert_urgency_order())
        )
    )
    events = list(
        db.session.scalars(
            db.select(AuditEvent)
            .filter_by(episode_id=episode.id)
            .where(
                AuditEvent.action.not_like("alert\\_%", escape="\\"),
                AuditEvent.action != VIEWED,
            )
            .options(selectinload(AuditEvent.staff))
            .order_by(AuditEvent.created_dt.desc(), AuditEvent.id.desc())
            .limit(TIMELINE_LENGTH)
        )
    )
    return EpisodeDetail(
        episode, entries, alerts, events, page_entries, entry_total, baseline, related, page
    )


def correction_links(entries: list[PainEntry]) -> dict[int, PainEntry]:
    """The entries that correct `entries`, or that they correct, by id (one query, none when
    nothing on the page was corrected or is a correction)."""
    ids = [e.id for e in entries]
    replaced = [e.supersedes_id for e in entries if e.supersedes_id is not None]
    if not ids:
        return {}
    linked = db.session.scalars(
        db.select(PainEntry)
        .where(or_(PainEntry.supersedes_id.in_(ids), PainEntry.id.in_(replaced or [0])))
        .options(selectinload(PainEntry.recorded_by))
    )
    return {e.id: e for e in linked}
