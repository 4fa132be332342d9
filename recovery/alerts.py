"""The nurse's side of an alert: acknowledge with what was done, then resolve.

Every change is a line of the alert's history (`AlertEvent`, written by
`audit.record_alert_event`); the alert's own columns keep only its current state for the
worklist: status, severity, and the acknowledgement that last took it out of "open".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from .audit import record_alert_event, record_event
from .episodes import lock_episode
from .extensions import db
from .message import Message, join
from .models import Alert, AlertEvent, StaffUser, utcnow
from .vocabulary import AlertAction, AlertEventKind, Rule

#: The same nurse sending the same acknowledgement again within this is a double click, not a
#: second call.
REPEAT_WINDOW = timedelta(minutes=10)


class AlertError(ValueError):
    """The alert cannot make this change (for example it is already resolved)."""


class Acknowledged(StrEnum):
    """What an acknowledgement did to the alert."""

    #: It was open; it is now acknowledged by this nurse.
    FIRST = "first"
    #: Someone had already acknowledged it (two nurses at once, or a later call): this
    #: acknowledgement is added to its history, the first one stays the alert's.
    ADDED = "added"
    #: The same nurse sent the same acknowledgement again within REPEAT_WINDOW (a double
    #: click): nothing new.
    REPEATED = "repeated"


def _lock(alert: Alert) -> None:
    """Take the episode's lock, as a check-in does, and see the alert as it is now.

    Two nurses at once are taken one after the other, so the second sees the first's
    acknowledgement; and a nurse and a check-in take the episode in the same order
    (episode, then alert), so neither waits on the other.
    """
    lock_episode(alert.episode)
    db.session.refresh(alert)


def latest_acknowledgement(alert_id):
    """SELECT the latest acknowledgement of the alert `alert_id` (an id, or a column to
    correlate with): the event that says what was last done about it."""
    return (
        db.select(AlertEvent)
        .where(AlertEvent.alert_id == alert_id, AlertEvent.kind == AlertEventKind.ACKNOWLEDGED)
        .order_by(AlertEvent.created_dt.desc(), AlertEvent.id.desc())
        .limit(1)
    )


def acknowledge_alert(
    alert: Alert,
    staff: StaffUser,
    *,
    action: str | None,
    note: str = "",
    address: str | None = None,
    now: datetime | None = None,
) -> Acknowledged:
    """Record that `staff` saw the alert and did `action` (an `AlertAction` code), with a note.

    An open alert becomes acknowledged by `staff`. An alert someone already acknowledged keeps
    that acknowledgement and gains this one in its history (`Acknowledged.ADDED`), so two
    nurses acting at once both keep their notes; the same nurse sending the same action and
    note again within REPEAT_WINDOW changes nothing (`Acknowledged.REPEATED`). A resolved
    alert is refused.
    """
    if action is not None and action not in AlertAction.codes():
        raise AlertError(f"unknown action {action!r}")
    _lock(alert)
    if alert.status == "resolved":
        raise AlertError("this alert is already resolved")
    note = note.strip()
    now = now or utcnow()
    outcome = Acknowledged.FIRST
    if alert.status == "acknowledged":
        latest = db.session.scalar(latest_acknowledgement(alert.id))
        if (
            latest is not None
            and latest.staff_id == staff.id
            and (latest.action, latest.note) == (action, note)
            and abs(now - latest.created_dt) <= REPEAT_WINDOW
        ):
            return Acknowledged.REPEATED
        outcome = Acknowledged.ADDED
    if outcome is Acknowledged.FIRST:
        alert.status = "acknowledged"
        alert.acknowledged_dt = now
        alert.acknowledged_by_id = staff.id
    record_alert_event(
        alert, AlertEventKind.ACKNOWLEDGED, now=now, staff=staff, action=action, note=note
    )
    alert.updated_dt = now
    alert.episode.updated_dt = now
    record_event(
        "alert_acknowledged",
        clinic_id=alert.episode.clinic_id,
        episode=alert.episode,
        staff=staff,
        detail=f"{alert.rule}: {note_line(action, note)}",
        detail_message=_rule_note(alert.rule, action, note),
        address=address,
    )
    db.session.flush()
    return outcome


def resolve_alert(
    alert: Alert,
    staff: StaffUser,
    *,
    note: str = "",
    address: str | None = None,
    now: datetime | None = None,
) -> None:
    """Close an alert; a later finding of the same rule opens a new one."""
    _lock(alert)
    if alert.status == "resolved":
        raise AlertError("this alert is already resolved")
    now = now or utcnow()
    note = note.strip()
    alert.status = "resolved"
    alert.resolved_dt = now
    alert.resolved_by_id = staff.id
    record_alert_event(alert, AlertEventKind.RESOLVED, now=now, staff=staff, note=note)
    alert.updated_dt = now
    alert.episode.updated_dt = now
    record_event(
        "alert_resolved",
        clinic_id=alert.episode.clinic_id,
        episode=alert.episode,
        staff=staff,
        detail=f"{alert.rule}: {note}",
        detail_message=_rule_note(alert.rule, None, note),
        address=address,
    )
    db.session.flush()


def note_line(action: str | None, note: str) -> str:
    """An acknowledgement or resolution as one line of text: "called_patient: rang at 10"."""
    return ": ".join(part for part in (action, note) if part)


#: The history events that carry the staff's notes: acknowledgements and resolutions.
NOTE_KINDS = (AlertEventKind.ACKNOWLEDGED, AlertEventKind.RESOLVED)


def notes_text(events: Iterable[AlertEvent]) -> str:
    """The staff's notes on an alert, oldest first, one line per acknowledgement or resolution
    that says something: the action's code, then the note (the CSV's and the feed's `note`)."""
    lines = (note_line(event.action, event.note) for event in events if event.kind in NOTE_KINDS)
    return "\n".join(line for line in lines if line)


def _rule_note(rule: str, action: str | None, note: str) -> Message:
    """The audit trail's words for an alert change: the rule, what was done, the note."""
    parts: list[Message | str] = [Rule(rule).message]
    if action:
        parts.append(AlertAction(action).message)
    if note.strip():
        parts.append(note.strip())
    return join(parts, ": ")
