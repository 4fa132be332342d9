"""The alert feed of the integration API: a clinic's alerts, most severe first, keyset-paged."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from ..care.alerts import NOTE_KINDS
from ..care.models import (
    Alert,
    AlertEvent,
    Episode,
    severity_value,
)
from ..clinical.vocabulary import Severity
from ..extensions import db

ALERT_FILTERS = ("open", "acknowledged", "resolved", "all")

#: Where a page of the alert feed ends: (severity rank, opened time, alert id).
AlertCursor = tuple[int, datetime, int]


def alert_cursor(alert: Alert) -> AlertCursor:
    """The position of `alert` in the feed's order."""
    try:
        rank = int(Severity.from_code(alert.severity))
    except ValueError:
        rank = 0
    return rank, alert.opened_dt, alert.id


def clinic_alerts(
    clinic_id: int, status: str, *, limit: int, after: AlertCursor | None = None
) -> tuple[list[Alert], AlertCursor | None]:
    """One page of the clinic's alerts: most severe first, then longest open, then id.

    `status` is one of ALERT_FILTERS. Keyset paging: pass the returned cursor as `after` for
    the next page (None when this is the last). Patient and staff are loaded in the same query,
    the alerts' history (for their notes) in one more.
    """
    rank = severity_value(Alert.severity)
    statement = (
        _alerts_with_people()
        # Only the events with notes: the feed gives the notes, not the whole history.
        .options(selectinload(Alert.events.and_(AlertEvent.kind.in_(NOTE_KINDS))))
        .where(Episode.clinic_id == clinic_id)
        .order_by(rank.desc(), Alert.opened_dt, Alert.id)
        .limit(limit + 1)
    )
    if status != "all":
        statement = statement.where(Alert.status == status)
    if after is not None:
        after_rank, after_opened, after_id = after
        statement = statement.where(
            or_(
                rank < after_rank,
                and_(
                    rank == after_rank,
                    or_(
                        Alert.opened_dt > after_opened,
                        and_(Alert.opened_dt == after_opened, Alert.id > after_id),
                    ),
                ),
            )
        )
    alerts = list(db.session.scalars(statement).unique())
    if len(alerts) > limit:
        return alerts[:limit], alert_cursor(alerts[limit - 1])
    return alerts, None


def clinic_alert(alert_id: int, clinic_id: int) -> Alert | None:
    """The alert with its patient, staff and history (with the history's staff), if it
    belongs to the clinic; three queries."""
    return db.session.scalar(
        _alerts_with_people()
        .options(selectinload(Alert.events).joinedload(AlertEvent.staff))
        .where(Alert.id == alert_id, Episode.clinic_id == clinic_id)
    )


def _alerts_with_people():
    """Alerts with their episode, patient and acknowledging and resolving staff, in one query."""
    return (
        db.select(Alert)
        .join(Alert.episode)
        .join(Episode.patient)
        .options(
            contains_eager(Alert.episode).contains_eager(Episode.patient),
            joinedload(Alert.acknowledged_by),
            joinedload(Alert.resolved_by),
        )
    )
