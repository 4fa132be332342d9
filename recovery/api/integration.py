"""Integration API for hospital systems: the FHIR Bundle, the alert feed, CSV exports.

Authenticated with a staff API token (`Authorization: Bearer <token>`, issued by
`flask recovery create-staff --api-token`); every answer is limited to that staff member's
clinic, and another clinic's episode is a 404, never a 403.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

from flask import current_app, jsonify, request

from ..care.accounts import staff_for_api_token
from ..care.alerts import notes_text
from ..care.audit import record_view, viewed_alert
from ..care.models import MAX_ID, Alert, AlertEvent, Episode, StaffUser
from ..clinical.vocabulary import Severity
from ..extensions import db, writes_database
from ..interop.csv_export import (
    EARLIEST_EXPORT_DATE,
    LATEST_EXPORT_DATE,
    MAX_RANGE_DAYS,
    export_clinic_csv,
    export_episode_csv,
)
from ..interop.feed import ALERT_FILTERS, AlertCursor, clinic_alert, clinic_alerts
from ..interop.fhir import (
    FhirSettings,
    episode_in_clinic,
    export_episode_fhir,
    load_episode_for_export,
)
from ..web.site import csv_attachment
from . import bp, cursors, schemas
from .errors import ApiError, bearer_token

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
ALERT_PARAMS = {"status", "limit", "cursor"}
RANGE_PARAMS = {"start", "end"}
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


def api_staff() -> StaffUser:
    """The active staff member whose API token is in the Authorization header, or 401."""
    user = staff_for_api_token(bearer_token(request))
    if user is None:
        raise ApiError(
            401, "invalid_token", "the token is unknown, revoked or its account inactive"
        )
    return user


def refuse_unknown_params(allowed: set[str]) -> None:
    """400 for a query parameter this endpoint does not take (a typo would otherwise pass)."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(400, "unknown_parameter", f"unknown parameter: {unknown[0]}", unknown[0])


def export_episode(episode_id: int, user: StaffUser, *, with_records: bool = False) -> Episode:
    """The episode if it belongs to the user's clinic, else 404 (never 403).

    `with_records` also loads its patient, entries and alerts (for the FHIR Bundle).
    """
    load = load_episode_for_export if with_records else episode_in_clinic
    episode = load(episode_id, user.clinic_id)
    if episode is None:
        raise ApiError(404, "not_found", "no episode with this id")
    return episode


@bp.get("/episodes/<int:episode_id>/fhir")
@writes_database  # the download is audited
def episode_fhir(episode_id: int):
    """The episode as a FHIR R4 Bundle (collection) of Patient, Procedure, Observations, Flags."""
    user = api_staff()
    episode = export_episode(episode_id, user, with_records=True)
    settings = FhirSettings.from_config(current_app.config)
    bundle = export_episode_fhir(episode, user, settings, address=request.remote_addr)
    db.session.commit()
    response = current_app.response_class(json.dumps(bundle), mimetype="application/fhir+json")
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the alert feed ------------------------------------------------------------------------


def encode_cursor(cursor: AlertCursor) -> str:
    """An opaque, URL-safe page cursor."""
    rank, opened_dt, alert_id = cursor
    return cursors.encode([rank, opened_dt.isoformat(), alert_id])


def alert_position(values: list) -> AlertCursor:
    """An alert feed cursor's values as (rank, opened time, alert id); ValueError if not."""
    rank, opened, alert_id = values
    opened_dt = datetime.fromisoformat(opened)
    if (
        not all(isinstance(v, int) and not isinstance(v, bool) for v in (rank, alert_id))
        or opened_dt.tzinfo is None
        or not 0 <= rank <= max(Severity)
        or not 0 < alert_id <= MAX_ID
    ):
        raise ValueError
    return rank, opened_dt.astimezone(UTC), alert_id


def decode_cursor(text: str) -> AlertCursor:
    """The position a cursor stands for, or ApiError 400 `invalid_cursor`."""
    return cursors.decode(text, alert_position)


def parse_limit(value: str | None) -> int:
    """The page size: DEFAULT_LIMIT, or 1 to MAX_LIMIT."""
    if value is None:
        return DEFAULT_LIMIT
    if not value.isascii() or not value.isdigit():
        raise ApiError(
            400, "invalid_type", f"must be a whole number from 1 to {MAX_LIMIT}", "limit"
        )
    limit = int(value)
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "out_of_range", f"must be from 1 to {MAX_LIMIT}", "limit")
    return limit


def alert_fields(alert: Alert) -> dict:
    """One alert for integrators (`schemas.Alert`): what, how bad, its state, who acted."""
    return {
        "id": alert.id,
        "episode_id": alert.episode_id,
        "patient_name": alert.episode.patient.display_name,
        "rule": alert.rule,
        "severity": alert.severity,
        "status": alert.status,
        "reason": alert.reason,
        "entry_id": alert.entry_id,
        "opened_at": alert.opened_dt,
        "updated_at": alert.updated_dt,
        "acknowledged_at": alert.acknowledged_dt,
        "acknowledged_by": alert.acknowledged_by.display_name if alert.acknowledged_by else None,
        "resolved_at": alert.resolved_dt,
        "resolved_by": alert.resolved_by.display_name if alert.resolved_by else None,
        "note": notes_text(alert.events),
    }


def alert_event_body(event: AlertEvent) -> schemas.AlertEvent:
    """One line of an alert's history: when, what, who ("system" for the alert rules), what
    was done and the note (acknowledgements), the alert's severity then, the finding's reason
    in English and its entry (opened, updated, escalated)."""
    return schemas.AlertEvent(
        at=event.created_dt,
        kind=event.kind,
        by=event.staff.display_name if event.staff else "system",
        action=event.action,
        note=event.note,
        severity=event.severity,
        reason=event.detail or None,
        entry_id=event.entry_id,
    )


@bp.get("/alerts")
def list_alerts():
    """The clinic's alerts, most severe first, then longest open; keyset-paginated."""
    user = api_staff()
    refuse_unknown_params(ALERT_PARAMS)
    status = request.args.get("status", "open")
    if status not in ALERT_FILTERS:
        raise ApiError(
            400, "invalid_choice", f"must be one of {', '.join(ALERT_FILTERS)}", "status"
        )
    limit = parse_limit(request.args.get("limit"))
    cursor = request.args.get("cursor")
    after = decode_cursor(cursor) if cursor is not None else None
    alerts, next_cursor = clinic_alerts(user.clinic_id, status, limit=limit, after=after)
    page = schemas.AlertPage(
        alerts=[schemas.Alert(**alert_fields(a)) for a in alerts],
        next_cursor=encode_cursor(next_cursor) if next_cursor else None,
    )
    return jsonify(page.model_dump(mode="json"))


@bp.get("/alerts/<int:alert_id>")
@writes_database  # the view of the patient's alert is audited
def show_alert(alert_id: int):
    """One alert of the clinic, as in the feed, with its history oldest first; recorded in
    the audit trail as a view of its episode (`episode_viewed`)."""
    user = api_staff()
    refuse_unknown_params(set())
    alert = clinic_alert(alert_id, user.clinic_id)
    if alert is None:
        raise ApiError(404, "not_found", "no alert with this id")
    detail = schemas.AlertDetail(
        **alert_fields(alert), history=[alert_event_body(e) for e in alert.events]
    )
    body = detail.model_dump(mode="json")
    record_view(alert.episode, user, viewed_alert(alert.id), address=request.remote_addr)
    db.session.commit()
    return jsonify(body)


# --- CSV -----------------------------------------------------------------------------------


def parse_day(name: str) -> date:
    """A required YYYY-MM-DD query parameter."""
    value = request.args.get(name)
    if value is None:
        raise ApiError(400, "required", f"{name} is required (YYYY-MM-DD)", name)
    if not DATE_PATTERN.fullmatch(value):
        raise ApiError(400, "invalid_format", "must be a date as YYYY-MM-DD", name)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "invalid_format", "must be a date as YYYY-MM-DD", name) from None
    if not EARLIEST_EXPORT_DATE <= day <= LATEST_EXPORT_DATE:
        raise ApiError(
            400,
            "out_of_range",
            f"must be from {EARLIEST_EXPORT_DATE} to {LATEST_EXPORT_DATE}",
            name,
        )
    return day


def parse_range() -> tuple[date, date]:
    """`start` and `end` (clinic days, both included), at most MAX_RANGE_DAYS apart."""
    refuse_unknown_params(RANGE_PARAMS)
    start, end = parse_day("start"), parse_day("end")
    if end < start:
        raise ApiError(400, "invalid_range", "end is before start", "end")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ApiError(400, "range_too_long", f"at most {MAX_RANGE_DAYS} days at a time", "end")
    return start, end


def episode_csv(episode_id: int, kind: str):
    """One episode's CSV of `kind` (EPISODE_CSV)."""
    user = api_staff()
    episode = export_episode(episode_id, user)
    export = export_episode_csv(kind, episode, user, address=request.remote_addr)
    db.session.commit()
    return csv_attachment(export.lines, export.filename)


def clinic_csv(kind: str):
    """The clinic's CSV of `kind` (CLINIC_CSV) for the `start`..`end` query parameters."""
    user = api_staff()
    start, end = parse_range()
    export = export_clinic_csv(kind, user, start, end, address=request.remote_addr)
    db.session.commit()
    return csv_attachment(export.lines, export.filename)


@bp.get("/episodes/<int:episode_id>/entries.csv")
@writes_database  # the download is audited
def episode_entries(episode_id: int):
    """Every entry of one episode as CSV."""
    return episode_csv(episode_id, "entries")


@bp.get("/episodes/<int:episode_id>/alerts.csv")
@writes_database  # the download is audited
def episode_alerts(episode_id: int):
    """Every alert of one episode as CSV."""
    return episode_csv(episode_id, "alerts")


@bp.get("/entries.csv")
@writes_database  # the download is audited
def clinic_entries():
    """The clinic's entries recorded in a date range, as CSV."""
    return clinic_csv("entries")


@bp.get("/alerts.csv")
@writes_database  # the download is audited
def clinic_alerts_export():
    """The clinic's alerts opened in a date range, as CSV."""
    return clinic_csv("alerts")
