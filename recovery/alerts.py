"""The nurse's side of an alert: acknowledge with what was done, then resolve."""

from __future__ import annotations

from datetime import datetime

from .audit import record_event
from .episodes import lock_episode
from .extensions import db
from .message import Message, join
from .models import Alert, StaffUser, utcnow
from .vocabulary import AlertAction, Rule


class AlertError(ValueError):
    """The alert cannot make this change (for example it is already resolved)."""


def _lock(alert: Alert) -> None:
    """Take the episode's lock, as a check-in does, and see the alert as it is now.

    Two nurses at once must not both acknowledge one alert, and a nurse and a check-in must
    take the episode in the same order (episode, then alert) so neither waits on the other.
    """
    lock_episode(alert.episode)
    db.session.refresh(alert)


def _note(action: str | None, note: str) -> str:
    parts = [p for p in (action, note.strip()) if p]
    return ": ".join(parts)


def acknowledge_alert(
    alert: Alert,
    staff: StaffUser,
    *,
    action: str | None,
    note: str = "",
    address: str | None = None,
    now: datetime | None = None,
) -> None:
    """Mark an open alert as seen and being handled, with what was done."""
    _lock(alert)
    if alert.status != "open":
        raise AlertError("only an open alert can be acknowledged")
    if action is not None and action not in AlertAction.codes():
        raise AlertError(f"unknown action {action!r}")
    now = now or utcnow()
    alert.status = "acknowledged"
    alert.acknowledged_dt = now
    alert.acknowledged_by_id = staff.id
    alert.note = _append(alert.note, _note(action, note))
    alert.updated_dt = now
    alert.episode.updated_dt = now
    record_event(
        "alert_acknowledged",
        clinic_id=alert.episode.clinic_id,
        episode=alert.episode,
        staff=staff,
        detail=f"{alert.rule}: {_note(action, note)}",
        detail_message=_rule_note(alert.rule, action, note),
        address=address,
    )
    db.session.flush()


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
    alert.status = "resolved"
    alert.resolved_dt = now
    alert.resolved_by_id = staff.id
    alert.note = _append(alert.note, note.strip())
    alert.updated_dt = now
    alert.episode.updated_dt = now
    record_event(
        "alert_resolved",
        clinic_id=alert.episode.clinic_id,
        episode=alert.episode,
        staff=staff,
        detail=f"{alert.rule}: {note.strip()}",
        detail_message=_rule_note(alert.rule, None, note),
        address=address,
    )
    db.session.flush()


def _rule_note(rule: str, action: str | None, note: str) -> Message:
    """The timeline's words for an alert change: the rule, what was done, the note."""
    parts: list[Message | str] = [Rule(rule).message]
    if action:
        parts.append(AlertAction(action).message)
    if note.strip():
        parts.append(note.strip())
    return join(parts, ": ")


def _append(existing: str, addition: str) -> str:
    if not addition:
        return existing
    return f"{existing}\n{addition}" if existing else addition
