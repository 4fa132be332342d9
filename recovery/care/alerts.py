"""The nurse's side of an alert: acknowledge with what was done, record attempts to reach the
patient, then resolve.

Every change is a line of the alert's history (`AlertEvent`, written by
`audit.record_alert_event`); the alert's own columns keep only its current state for the
worklist: status, severity, and the acknowledgement that last took it out of "open".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from ..clinical.message import Message, join
from ..clinical.vocabulary import AlertAction, AlertEventKind, ContactOutcome, Rule
from ..extensions import db
from .audit import record_alert_event, record_event
from .episodes import lock_episode
from .models import Alert, AlertEvent, StaffUser, utcnow

#: The same nurse sending the same acknowledgement again within this is a double click, not a
#: second call.
REPEAT_WINDOW = timedelta(minutes=10)
#: The same nurse recording the same contact attempt again within this is a double click; a
#: second call that went the same way (no answer twice) takes longer than this to make.
CONTACT_REPEAT_WINDOW = timedelta(minutes=1)


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


def latest_event(alert_id, kind: AlertEventKind):
    """SELECT the alert's latest history event of `kind` (`alert_id`: an id, or a column to
    correlate with)."""
    return (
        db.select(AlertEvent)
        .where(AlertEvent.alert_id == alert_id, AlertEvent.kind == kind)
        .order_by(AlertEvent.created_dt.desc(), AlertEvent.id.desc())
        .limit(1)
    )


def latest_acknowledgement(alert_id):
    """SELECT the latest acknowledgement of the alert `alert_id` (an id, or a column to
    correlate with): the event that says what was last done about it."""
    return latest_event(alert_id, AlertEventKind.ACKNOWLEDGED)


def _is_repeat(
    alert: Alert,
    kind: AlertEventKind,
    staff: StaffUser,
    action: str | None,
    note: str,
    now: datetime,
    window: timedelta,
) -> bool:
    """Whether `staff` recorded this same `kind` event (action and note) within `window`: a
    double click or a form sent again, not a second call."""
    latest = db.session.scalar(latest_event(alert.id, kind))
    return (
        latest is not None
        and latest.staff_id == staff.id
        and (latest.action, latest.note) == (action, note)
        and abs(now - latest.created_dt) <= window
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
    return _acknowledge(alert, staff, action, note.strip(), address, now or utcnow())


def _acknowledge(
    alert: Alert,
    staff: StaffUser,
    action: str | None,
    note: str,
    address: str | None,
    now: datetime,
) -> Acknowledged:
    """`acknowledge_alert` once the alert is locked and known to be unresolved."""
    outcome = Acknowledged.FIRST
    if alert.status == "acknowledged":
        kind = AlertEventKind.ACKNOWLEDGED
        if _is_repeat(alert, kind, staff, action, note, now, REPEAT_WINDOW):
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
        detail_message=_rule_note(alert.rule, AlertAction(action) if action else None, note),
        address=address,
    )
    db.session.flush()
    return outcome


class Contacted(StrEnum):
    """What recording a contact attempt did."""

    #: Added to the alert's history; the alert's state is unchanged.
    RECORDED = "recorded"
    #: The patient was reached about an open alert: added, and the alert is now acknowledged
    #: by this nurse ("called the patient").
    ACKNOWLEDGED = "acknowledged"
    #: The same nurse sent the same attempt again within CONTACT_REPEAT_WINDOW: nothing new.
    REPEATED = "repeated"


def record_contact_attempt(
    alert: Alert,
    staff: StaffUser,
    *,
    outcome: str,
    note: str = "",
    address: str | None = None,
    now: datetime | None = None,
) -> Contacted:
    """Record that `staff` tried to reach the patient about the alert and how it went (a
    `ContactOutcome` code), with a note: a line of the alert's history and of the timeline.

    Reaching the patient about an open alert also acknowledges it ("called the patient"), as
    the nurse would otherwise have to do next; no answer or a message left does not, since
    nobody has yet heard how the patient is. A resolved alert is refused.
    """
    if outcome not in ContactOutcome.codes():
        raise AlertError(f"unknown contact outcome {outcome!r}")
    _lock(alert)
    if alert.status == "resolved":
        raise AlertError("this alert is already resolved")
    note = note.strip()
    now = now or utcnow()
    if _is_repeat(alert, AlertEventKind.CONTACT, staff, outcome, note, now, CONTACT_REPEAT_WINDOW):
        return Contacted.REPEATED
    record_alert_event(
        alert, AlertEventKind.CONTACT, now=now, staff=staff, action=outcome, note=note
    )
    alert.updated_dt = now
    alert.episode.updated_dt = now
    record_event(
        "alert_contact",
        clinic_id=alert.episode.clinic_id,
        episode=alert.episode,
        staff=staff,
        detail=f"{alert.rule}: {note_line(outcome, note)}",
        detail_message=_rule_note(alert.rule, ContactOutcome(outcome), note),
        address=address,
    )
    if outcome == ContactOutcome.REACHED and alert.status == "open":
        _acknowledge(alert, staff, AlertAction.CALLED_PATIENT.value, "", address, now)
        return Contacted.ACKNOWLEDGED
    db.session.flush()
    return Contacted.RECORDED


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
    """An acknowledgement, contact attempt or resolution as one line of text:
    "called_patient: rang at 10", "no_answer: rang twice"."""
    return ": ".join(part for part in (action, note) if part)


#: The history events that carry the staff's notes: acknowledgements, contact attempts and
#: resolutions.
NOTE_KINDS = (AlertEventKind.ACKNOWLEDGED, AlertEventKind.CONTACT, AlertEventKind.RESOLVED)


def notes_text(events: Iterable[AlertEvent]) -> str:
    """The staff's notes on an alert, oldest first, one line per acknowledgement, contact
    attempt or resolution that says something: the action's or the outcome's code, then the
    note (the CSV's and the feed's `note`)."""
    lines = (note_line(event.action, event.note) for event in events if event.kind in NOTE_KINDS)
    return "\n".join(line for line in lines if line)


def _rule_note(rule: str, action: AlertAction | ContactOutcome | None, note: str) -> Message:
    """The audit trail's words for an alert change: the rule, what was done (or how a contact
    attempt went), the note."""
    parts: list[Message | str] = [Rule(rule).message]
    if action:
        parts.append(action.message)
    if note.strip():
        parts.append(note.strip())
    return join(parts, ": ")
