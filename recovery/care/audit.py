"""The audit trail: one row per change and per view of a patient's record, read back as an
episode's timeline and on the administrators' audit page; and each alert's own history
(`AlertEvent`), which the episode page, the exports and the API read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_
from sqlalchemy.orm import aliased

from ..clinical.message import N_, Message
from ..extensions import db
from .models import (
    Alert,
    AlertEvent,
    AuditEvent,
    Episode,
    PainEntry,
    Patient,
    StaffUser,
    utcnow,
)
from .text import like_pattern

#: A staff member looked at an episode (its page, or an alert of it through the API); exports
#: are their own actions (`exported_*`). Not on the episode's timeline, which shows changes.
VIEWED = "episode_viewed"


def record_event(
    action: str,
    *,
    clinic_id: int | None,
    episode: Episode | None = None,
    staff: StaffUser | None = None,
    actor: str | None = None,
    detail: str = "",
    detail_message: Message | None = None,
    address: str | None = None,
) -> AuditEvent:
    """Add an audit event; `actor` defaults to the staff member, else "system"
    (the command line, the alert rules); a patient's own entries pass "patient".

    `detail` is kept as written (the audit trail); `detail_message`, when given, is what the
    timeline shows, in the reader's language.
    """
    event = AuditEvent(
        clinic_id=clinic_id,
        episode_id=episode.id if episode is not None else None,
        staff_id=staff.id if staff is not None else None,
        actor=actor or (f"staff:{staff.id}" if staff is not None else "system"),
        action=action,
        detail=detail[:1000],
        detail_message=detail_message.to_json() if detail_message is not None else None,
        address=(address or None) and address[:64],
        created_dt=utcnow(),
    )
    db.session.add(event)
    return event


def record_view(
    episode: Episode, staff: StaffUser, how: Message, *, address: str | None = None
) -> AuditEvent:
    """Record that `staff` viewed `episode` (`how`: `VIEWED_PAGE`, `viewed_alert(id)`): one
    row per view, so the audit page can say who saw a patient's record and when."""
    return record_event(
        VIEWED,
        clinic_id=episode.clinic_id,
        episode=episode,
        staff=staff,
        detail=str(how),
        detail_message=how,
        address=address,
    )


#: How a record was viewed: its page on the staff side.
VIEWED_PAGE = Message(N_("episode page"))


def viewed_alert(alert_id: int) -> Message:
    """How a record was viewed: one of its alerts through the integration API."""
    return Message(N_("API: alert %(id)s"), {"id": alert_id})


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page and its CSV narrow a clinic's events to; every part optional.

    `patient`: part of a patient's name or MRN; `start` and `end`: UTC instants, `end`
    excluded (the page turns the clinic's days into them).
    """

    episode_id: int | None = None
    patient: str = ""
    staff_id: int | None = None
    action: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _staff_name(staff):
    """SQL: a staff member's name, or their email when they have none."""
    return func.coalesce(func.nullif(staff.name, ""), staff.email)


def _audit_where(clinic_id: int, filters: AuditFilter) -> list:
    where = [AuditEvent.clinic_id == clinic_id]
    if filters.episode_id is not None:
        where.append(AuditEvent.episode_id == filters.episode_id)
    if filters.patient:
        pattern = like_pattern(filters.patient)
        where.append(
            or_(
                Patient.display_name.ilike(pattern, escape="\\"),
                Patient.mrn.ilike(pattern, escape="\\"),
            )
        )
    if filters.staff_id is not None:
        where.append(AuditEvent.staff_id == filters.staff_id)
    if filters.action:
        where.append(AuditEvent.action == filters.action)
    if filters.start is not None:
        where.append(AuditEvent.created_dt >= filters.start)
    if filters.end is not None:
        where.append(AuditEvent.created_dt < filters.end)
    return where


def _audit_select(clinic_id: int, filters: AuditFilter, *columns):
    return (
        db.select(*columns)
        .select_from(AuditEvent)
        .outerjoin(Episode, Episode.id == AuditEvent.episode_id)
        .outerjoin(Patient, Patient.id == Episode.patient_id)
        .where(*_audit_where(clinic_id, filters))
    )


def audit_rows(clinic_id: int, filters: AuditFilter):
    """The clinic's events matching `filters`, newest first: SQL rows of the event, the staff
    member's name and the patient's name and MRN (a statement to page or stream)."""
    staff = aliased(StaffUser)
    return (
        _audit_select(
            clinic_id,
            filters,
            AuditEvent,
            _staff_name(staff).label("staff_name"),
            Patient.display_name.label("patient_name"),
            Patient.mrn.label("mrn"),
        )
        .outerjoin(staff, staff.id == AuditEvent.staff_id)
        .order_by(AuditEvent.created_dt.desc(), AuditEvent.id.desc())
    )


def audit_page(
    clinic_id: int, filters: AuditFilter, *, page: int, per_page: int
) -> tuple[list, int]:
    """One page of `audit_rows` and how many events match in all (two statements)."""
    total = db.session.scalar(_audit_select(clinic_id, filters, func.count(AuditEvent.id)))
    rows = db.session.execute(
        audit_rows(clinic_id, filters).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return rows, total


def record_alert_event(
    alert: Alert,
    kind: str,
    *,
    now: datetime,
    staff: StaffUser | None = None,
    action: str | None = None,
    note: str = "",
    finding: Message | None = None,
    detail: Message | str = "",
    entry: PainEntry | None = None,
) -> AlertEvent:
    """Add a line to `alert`'s history (`kind` from `AlertEventKind`); `staff` None is the
    system. `finding` is the reason of a new finding (opened, updated, escalated), kept in
    English and as a Message; `detail` is the same for the system's own events (which target
    was notified, why a notification failed), a Message or plain text. The event takes the
    alert's severity as it now stands."""
    if finding is None and isinstance(detail, Message):
        finding, detail = detail, ""
    event = AlertEvent(
        alert=alert,
        kind=kind,
        created_dt=now,
        staff=staff,
        action=action,
        severity=alert.severity,
        note=note,
        detail=str(finding) if finding is not None else detail,
        detail_message=finding.to_json() if finding is not None else None,
        entry=entry,
    )
    db.session.add(event)
    return event
