"""The audit trail: one row per change, read back as an episode's timeline."""

from .extensions import db
from .message import Message
from .models import AuditEvent, Episode, StaffUser, utcnow


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
