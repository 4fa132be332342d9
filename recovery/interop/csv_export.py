"""CSV of entries and alerts, for one episode or a clinic over a range of days.

Every export runs a fixed number of SQL statements whatever the number of rows: the entries
CSV is one streamed query (`yield_per`), the alerts CSV one streamed query plus one for the
notes in each alert's history per batch of STREAM_BATCH alerts. Columns: docs/api.md.

Cells: times are ISO 8601, once in UTC (suffix Z) and once in the clinic's time zone (with its
offset); red flags are their codes joined with ';'; text a person typed (names, notes, MRNs,
reasons) that starts with = + - @ tab or CR gets a leading apostrophe, so a spreadsheet shows
it instead of running it as a formula.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.orm import aliased

from ..care.alerts import NOTE_KINDS, notes_text
from ..care.audit import record_event
from ..care.clinics import clinic_zone
from ..care.models import (
    Alert,
    AlertEvent,
    Clinic,
    Episode,
    PainEntry,
    Patient,
    StaffUser,
)
from ..extensions import db

#: The longest clinic-wide export, in days, both ends included.
MAX_RANGE_DAYS = 400
#: Export dates outside these are refused (and date arithmetic never overflows).
EARLIEST_EXPORT_DATE = date(2000, 1, 1)
LATEST_EXPORT_DATE = date(2099, 12, 31)
#: Rows fetched from the database per round trip while a CSV streams.
STREAM_BATCH = 500

ENTRY_COLUMNS = (
    "entry_id",
    "episode_id",
    "patient_name",
    "mrn",
    "procedure_at_utc",
    "procedure_at_local",
    "recorded_at_utc",
    "recorded_at_local",
    "hours_since_procedure",
    "pain",
    "red_flags",
    "analgesic",
    "note",
    "source",
    "recorded_by",
    "received_at_utc",
    # Corrections: an entry is never deleted; a correction is a new entry naming the one it
    # replaces and why, and the replaced one names its correction (no longer in force).
    "corrects_entry_id",
    "correction_reason",
    "corrected_by_entry_id",
)

ALERT_COLUMNS = (
    "alert_id",
    "episode_id",
    "patient_name",
    "mrn",
    "rule",
    "severity",
    "status",
    "reason",
    "entry_id",
    "opened_at_utc",
    "opened_at_local",
    "updated_at_utc",
    "updated_at_local",
    "acknowledged_at_utc",
    "acknowledged_at_local",
    "acknowledged_by",
    "resolved_at_utc",
    "resolved_at_local",
    "resolved_by",
    "note",
)

# Spreadsheets run a cell starting with these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(text: str) -> str:
    """`text` with a leading apostrophe when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def utc_text(value: datetime | None) -> str:
    """ISO 8601 in UTC with a Z suffix; empty for None."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_text(value: datetime | None, zone: ZoneInfo) -> str:
    """ISO 8601 in `zone`, with its UTC offset; empty for None."""
    return "" if value is None else value.astimezone(zone).isoformat()


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer can stream."""

    def write(self, line: str) -> str:
        return line


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """CSV text, one line at a time (RFC 4180: CRLF line ends, quotes where needed).

    Strings are guarded against formula injection; None is an empty cell; booleans are
    true/false; numbers are written as they are.
    """
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return neutralise_formula(value)
    return value


def _staff_name(staff):
    """SQL: a staff member's name, or their email when the name is empty."""
    return func.coalesce(func.nullif(staff.name, ""), staff.email)


def _entries_statement():
    recorder = aliased(StaffUser)
    successor = aliased(PainEntry)
    return (
        db.select(
            PainEntry.id,
            PainEntry.episode_id,
            Patient.display_name,
            Patient.mrn,
            Episode.procedure_dt,
            PainEntry.recorded_dt,
            PainEntry.pain,
            PainEntry.red_flags,
            PainEntry.is_analgesic_taken,
            PainEntry.note,
            PainEntry.source,
            _staff_name(recorder).label("recorded_by"),
            PainEntry.received_dt,
            PainEntry.supersedes_id,
            PainEntry.correction_reason,
            successor.id.label("superseded_by_id"),
        )
        .join(Episode, Episode.id == PainEntry.episode_id)
        .join(Patient, Patient.id == Episode.patient_id)
        .outerjoin(recorder, recorder.id == PainEntry.recorded_by_id)
        .outerjoin(successor, successor.supersedes_id == PainEntry.id)
        .order_by(PainEntry.episode_id, PainEntry.recorded_dt, PainEntry.id)
        .execution_options(yield_per=STREAM_BATCH)
    )


def _entry_rows(statement, zone: ZoneInfo) -> Iterator[list[object]]:
    for row in db.session.execute(statement):
        yield [
            row.id,
            row.episode_id,
            row.display_name,
            row.mrn,
            utc_text(row.procedure_dt),
            local_text(row.procedure_dt, zone),
            utc_text(row.recorded_dt),
            local_text(row.recorded_dt, zone),
            round((row.recorded_dt - row.procedure_dt).total_seconds() / 3600.0, 2),
            row.pain,
            ";".join(row.red_flags or ()),
            row.is_analgesic_taken,
            row.note,
            row.source,
            row.recorded_by,
            utc_text(row.received_dt),
            row.supersedes_id,
            row.correction_reason,
            row.superseded_by_id,
        ]


def _alerts_statement():
    acknowledger = aliased(StaffUser)
    resolver = aliased(StaffUser)
    return (
        db.select(
            Alert.id,
            Alert.episode_id,
            Patient.display_name,
            Patient.mrn,
            Alert.rule,
            Alert.severity,
            Alert.status,
            Alert.reason,
            Alert.entry_id,
            Alert.opened_dt,
            Alert.updated_dt,
            Alert.acknowledged_dt,
            _staff_name(acknowledger).label("acknowledged_by"),
            Alert.resolved_dt,
            _staff_name(resolver).label("resolved_by"),
        )
        .join(Episode, Episode.id == Alert.episode_id)
        .join(Patient, Patient.id == Episode.patient_id)
        .outerjoin(acknowledger, acknowledger.id == Alert.acknowledged_by_id)
        .outerjoin(resolver, resolver.id == Alert.resolved_by_id)
        .order_by(Alert.episode_id, Alert.opened_dt, Alert.id)
        .execution_options(yield_per=STREAM_BATCH)
    )


def _history_notes(alert_ids: list[int]) -> dict[int, str]:
    """Each alert's staff notes from its history (`alerts.notes_text`), in one query."""
    events = db.session.scalars(
        db.select(AlertEvent)
        .where(
            AlertEvent.alert_id.in_(alert_ids),
            AlertEvent.kind.in_(NOTE_KINDS),
        )
        .order_by(AlertEvent.alert_id, AlertEvent.created_dt, AlertEvent.id)
    ).all()
    by_alert: dict[int, list[AlertEvent]] = {}
    for event in events:
        by_alert.setdefault(event.alert_id, []).append(event)
    return {alert_id: notes_text(history) for alert_id, history in by_alert.items()}


def _alert_rows(statement, zone: ZoneInfo) -> Iterator[list[object]]:
    for batch in db.session.execute(statement).partitions():
        notes = _history_notes([row.id for row in batch])
        yield from _alert_batch(batch, notes, zone)


def _alert_batch(batch, notes: dict[int, str], zone: ZoneInfo) -> Iterator[list[object]]:
    for row in batch:
        yield [
            row.id,
            row.episode_id,
            row.display_name,
            row.mrn,
            row.rule,
            row.severity,
            row.status,
            row.reason,
            row.entry_id,
            utc_text(row.opened_dt),
            local_text(row.opened_dt, zone),
            utc_text(row.updated_dt),
            local_text(row.updated_dt, zone),
            utc_text(row.acknowledged_dt),
            local_text(row.acknowledged_dt, zone),
            row.acknowledged_by,
            utc_text(row.resolved_dt),
            local_text(row.resolved_dt, zone),
            row.resolved_by,
            notes.get(row.id, ""),
        ]


def local_day_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """From midnight starting `start` to midnight ending `end`, clinic time, as UTC instants."""
    first = datetime.combine(start, time(0), tzinfo=zone).astimezone(UTC)
    after = datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return first, after


def episode_entries_csv(episode: Episode) -> Iterator[str]:
    """CSV of every entry of `episode`, oldest first (ENTRY_COLUMNS)."""
    zone = clinic_zone(episode.clinic)
    statement = _entries_statement().where(PainEntry.episode_id == episode.id)
    return csv_lines(ENTRY_COLUMNS, _entry_rows(statement, zone))


def clinic_entries_csv(clinic: Clinic, start: date, end: date) -> Iterator[str]:
    """CSV of the clinic's entries recorded from `start` to `end` (clinic days, inclusive)."""
    zone = clinic_zone(clinic)
    first, after = local_day_bounds(start, end, zone)
    statement = _entries_statement().where(
        Episode.clinic_id == clinic.id,
        PainEntry.recorded_dt >= first,
        PainEntry.recorded_dt < after,
    )
    return csv_lines(ENTRY_COLUMNS, _entry_rows(statement, zone))


def episode_alerts_csv(episode: Episode) -> Iterator[str]:
    """CSV of every alert of `episode`, in the order they opened (ALERT_COLUMNS)."""
    zone = clinic_zone(episode.clinic)
    statement = _alerts_statement().where(Alert.episode_id == episode.id)
    return csv_lines(ALERT_COLUMNS, _alert_rows(statement, zone))


def clinic_alerts_csv(clinic: Clinic, start: date, end: date) -> Iterator[str]:
    """CSV of the clinic's alerts opened from `start` to `end` (clinic days, inclusive)."""
    zone = clinic_zone(clinic)
    first, after = local_day_bounds(start, end, zone)
    statement = _alerts_statement().where(
        Episode.clinic_id == clinic.id,
        Alert.opened_dt >= first,
        Alert.opened_dt < after,
    )
    return csv_lines(ALERT_COLUMNS, _alert_rows(statement, zone))


#: The CSV exports by kind: of one episode, and of a clinic over a range of days.
EPISODE_CSV = {"entries": episode_entries_csv, "alerts": episode_alerts_csv}
CLINIC_CSV = {"entries": clinic_entries_csv, "alerts": clinic_alerts_csv}


@dataclass(frozen=True)
class CsvExport:
    """A CSV download: its file name and its lines (streamed from the database as read)."""

    filename: str
    lines: Iterator[str]


def export_episode_csv(
    kind: str, episode: Episode, staff: StaffUser, *, address: str | None = None
) -> CsvExport:
    """One episode's CSV of `kind` ("entries" or "alerts"), recorded in the audit trail.

    The one service behind the staff page's and the API's downloads. Adds the audit row;
    the caller commits before the lines stream.
    """
    record_event(
        f"exported_{kind}_csv",
        clinic_id=staff.clinic_id,
        episode=episode,
        staff=staff,
        address=address,
    )
    return CsvExport(f"episode-{episode.id}-{kind}.csv", EPISODE_CSV[kind](episode))


def export_clinic_csv(
    kind: str, staff: StaffUser, start: date, end: date, *, address: str | None = None
) -> CsvExport:
    """The staff member's clinic's CSV of `kind` from `start` to `end` (clinic days, both
    included), recorded in the audit trail. The caller has checked the range against
    MAX_RANGE_DAYS and the export dates. Adds the audit row; the caller commits before the
    lines stream."""
    clinic = staff.clinic
    record_event(
        f"exported_{kind}_csv",
        clinic_id=staff.clinic_id,
        staff=staff,
        detail=f"{start}..{end}",
        address=address,
    )
    # E.g. entries-north-clinic-2026-01-01-to-2026-01-31.csv (slugs are [a-z0-9-]).
    filename = f"{kind}-{clinic.slug}-{start.isoformat()}-to-{end.isoformat()}.csv"
    return CsvExport(filename, CLINIC_CSV[kind](clinic, start, end))
