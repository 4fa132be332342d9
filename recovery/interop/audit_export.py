"""The audit trail as CSV: a clinic's events as its administrators filtered them on the audit
page, newest first, streamed (one query, `yield_per`) with the cells guarded against formula
injection as every CSV here is (`csv_export.csv_lines`). The export is itself audited."""

from __future__ import annotations

from collections.abc import Iterator
from zoneinfo import ZoneInfo

from ..care.audit import AuditFilter, audit_rows, record_event
from ..care.clinics import clinic_zone
from ..care.models import StaffUser
from ..extensions import db
from .csv_export import STREAM_BATCH, CsvExport, csv_lines, local_text, utc_text

AUDIT_COLUMNS = (
    "event_id",
    "at_utc",
    "at_local",
    "action",
    "actor",
    "staff_id",
    "staff_name",
    "episode_id",
    "patient_name",
    "mrn",
    "detail",
    "address",
)


def _rows(statement, zone: ZoneInfo) -> Iterator[list[object]]:
    for event, staff_name, patient_name, mrn in db.session.execute(statement):
        yield [
            event.id,
            utc_text(event.created_dt),
            local_text(event.created_dt, zone),
            event.action,
            event.actor,
            event.staff_id,
            staff_name,
            event.episode_id,
            patient_name,
            mrn,
            event.detail,
            event.address,
        ]


def filter_text(filters: AuditFilter) -> str:
    """The filters in a line, for the export's own audit row."""
    parts = [
        f"{name}={value.isoformat() if hasattr(value, 'isoformat') else value}"
        for name, value in vars(filters).items()
        if value not in (None, "")
    ]
    return ", ".join(parts) or "all events"


def export_audit_csv(
    staff: StaffUser, filters: AuditFilter, *, address: str | None = None
) -> CsvExport:
    """The staff member's clinic's events matching `filters` as CSV (AUDIT_COLUMNS), recorded
    in the audit trail (`audit_exported`, with the filters). Adds the audit row; the caller
    commits before the lines stream."""
    record_event(
        "audit_exported",
        clinic_id=staff.clinic_id,
        staff=staff,
        detail=filter_text(filters),
        address=address,
    )
    statement = audit_rows(staff.clinic_id, filters).execution_options(yield_per=STREAM_BATCH)
    zone = clinic_zone(staff.clinic)
    return CsvExport(
        f"audit-{staff.clinic.slug}.csv", csv_lines(AUDIT_COLUMNS, _rows(statement, zone))
    )
