"""The audit trail: one row per change, read back as an episode's timeline; and each alert's
own history (`AlertEvent`), which the episode page, the exports and the API read."""

from datetime import datetime

from ..clinical.message import Message
from ..extensions import db
from .models import Alert, AlertEvent, AuditEvent, Episode, PainEntry, StaffUser, utcnow


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
