"""Data leaving the system: CSV of entries and alerts, the FHIR R4 Bundle, the alert feed.

Every export runs a fixed number of SQL statements whatever the number of rows: the entries
CSV is one streamed query (`yield_per`), the alerts CSV one streamed query plus one for the
notes in each alert's history per batch of STREAM_BATCH alerts, the Bundle loads the episode
with its patient, clinic, entries and alerts in three. Column lists and the FHIR mapping are
documented in docs/api.md.

CSV cells: times are ISO 8601, once in UTC (suffix Z) and once in the clinic's time zone
(with its offset); red flags are their codes joined with ';'; text a person typed (names,
notes, MRNs, reasons) that starts with = + - @ tab or CR gets a leading apostrophe, so a
spreadsheet shows it instead of running it as a formula.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload

from .alerts import NOTE_KINDS, notes_text
from .audit import record_event
from .clinics import clinic_zone
from .extensions import db
from .models import (
    Alert,
    AlertEvent,
    Clinic,
    Episode,
    PainEntry,
    Patient,
    StaffUser,
    severity_value,
)
from .vocabulary import Indication, RedFlag, Severity, label_of

# --- shared bounds -------------------------------------------------------------------------

#: The longest clinic-wide export, in days, both ends included.
MAX_RANGE_DAYS = 400
#: Export dates outside these are refused (and date arithmetic never overflows).
EARLIEST_EXPORT_DATE = date(2000, 1, 1)
LATEST_EXPORT_DATE = date(2099, 12, 31)
#: Rows fetched from the database per round trip while a CSV streams.
STREAM_BATCH = 500

# --- CSV -----------------------------------------------------------------------------------

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
        )
        .join(Episode, Episode.id == PainEntry.episode_id)
        .join(Patient, Patient.id == Episode.patient_id)
        .outerjoin(recorder, recorder.id == PainEntry.recorded_by_id)
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


def clinic_export_filename(kind: str, clinic: Clinic, start: date, end: date) -> str:
    """E.g. `entries-north-clinic-2026-01-01-to-2026-01-31.csv` (slugs are [a-z0-9-])."""
    return f"{kind}-{clinic.slug}-{start.isoformat()}-to-{end.isoformat()}.csv"


def episode_export_filename(kind: str, episode: Episode) -> str:
    """E.g. `episode-12-entries.csv`."""
    return f"episode-{episode.id}-{kind}.csv"


#: The CSV exports by kind: of one episode, and of a clinic over a range of days.
EPISODE_CSV = {"entries": episode_entries_csv, "alerts": episode_alerts_csv}
CLINIC_CSV = {"entries": clinic_entries_csv, "alerts": clinic_alerts_csv}


def audit_export(
    action: str,
    staff: StaffUser,
    *,
    episode: Episode | None = None,
    detail: str = "",
    address: str | None = None,
) -> None:
    """Record who exported what, and commit (an export changes nothing else)."""
    record_event(
        action,
        clinic_id=staff.clinic_id,
        episode=episode,
        staff=staff,
        detail=detail,
        address=address,
    )
    db.session.commit()


# --- the alert feed (JSON API) -------------------------------------------------------------

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


# --- FHIR R4 -------------------------------------------------------------------------------

LOINC = "http://loinc.org"
PAIN_LOINC = "72514-3"
PAIN_LOINC_DISPLAY = "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
FLAG_PRIORITY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY_SYSTEM = "http://hl7.org/fhir/flag-priority-code"
FLAG_DETAIL_EXTENSION = "http://hl7.org/fhir/StructureDefinition/flag-detail"
# Local code systems for what has no standard code here (documented in docs/api.md).
RED_FLAG_SYSTEM = "urn:recovery:red-flag"
COMPONENT_SYSTEM = "urn:recovery:observation-component"
ALERT_RULE_SYSTEM = "urn:recovery:alert-rule"
ALERT_SEVERITY_SYSTEM = "urn:recovery:alert-severity"

PROCEDURE_TEXT = "Percutaneous vertebroplasty"
# FHIR's example flag priorities stop at "high"; the exact severity rides along as a second
# coding in the local system.
FLAG_PRIORITY = {
    Severity.MODERATE.code: ("PM", "Medium priority"),
    Severity.HIGH.code: ("PH", "High priority"),
    Severity.URGENT.code: ("PH", "High priority"),
    Severity.EMERGENCY.code: ("PH", "High priority"),
}


#: Fixed, so a resource keeps its urn:uuid across exports; FHIR_ID_NAMESPACE overrides it.
DEFAULT_ID_NAMESPACE = uuid.UUID("8f0c6d52-3f8e-5c1a-9b57-6a1f0b6c2e4d")
DEFAULT_MRN_SYSTEM = "urn:recovery:clinic:{clinic}:mrn"


@dataclass(frozen=True)
class FhirSettings:
    """Deployment choices for the Bundle.

    `id_namespace`: uuid5 namespace of every fullUrl. `mrn_system`: Patient.identifier.system,
    `{clinic}` replaced by the clinic's slug (a clinic's own `fhir_mrn_system` setting wins).
    `procedure_coding`: codings for Procedure.code (the text is always there).
    """

    id_namespace: uuid.UUID = DEFAULT_ID_NAMESPACE
    mrn_system: str = DEFAULT_MRN_SYSTEM
    procedure_coding: tuple[Mapping[str, str], ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, config: Mapping) -> FhirSettings:
        """Read FHIR_ID_NAMESPACE, FHIR_MRN_SYSTEM and FHIR_PROCEDURE_CODING from `config`.

        Without FHIR_ID_NAMESPACE, the namespace is derived from PUBLIC_BASE_URL, so two
        deployments never give their patient 1 the same urn:uuid.
        """
        namespace = config.get("FHIR_ID_NAMESPACE")
        if namespace:
            id_namespace = uuid.UUID(str(namespace))
        elif config.get("PUBLIC_BASE_URL"):
            id_namespace = uuid.uuid5(DEFAULT_ID_NAMESPACE, config["PUBLIC_BASE_URL"])
        else:
            id_namespace = DEFAULT_ID_NAMESPACE
        return cls(
            id_namespace=id_namespace,
            mrn_system=config.get("FHIR_MRN_SYSTEM") or DEFAULT_MRN_SYSTEM,
            procedure_coding=tuple(config.get("FHIR_PROCEDURE_CODING") or ()),
        )

    def resource_id(self, resource: str, key: int | str) -> str:
        """The stable uuid5 of `recovery/<resource>/<key>`."""
        return str(uuid.uuid5(self.id_namespace, f"recovery/{resource}/{key}"))

    def mrn_system_for(self, clinic: Clinic) -> str:
        """The identifier system of the clinic's MRNs."""
        own = (clinic.settings or {}).get("fhir_mrn_system")
        return own or self.mrn_system.format(clinic=clinic.slug)


def episode_in_clinic(episode_id: int, clinic_id: int) -> Episode | None:
    """The episode with its clinic (one query), if it belongs to the clinic."""
    return db.session.scalar(
        db.select(Episode)
        .where(Episode.id == episode_id, Episode.clinic_id == clinic_id)
        .options(joinedload(Episode.clinic))
    )


def load_episode_for_export(episode_id: int, clinic_id: int) -> Episode | None:
    """The episode with its patient, clinic, entries and alerts (3 queries), if in the clinic."""
    return db.session.scalar(
        db.select(Episode)
        .where(Episode.id == episode_id, Episode.clinic_id == clinic_id)
        .options(
            joinedload(Episode.patient),
            joinedload(Episode.clinic),
            selectinload(Episode.entries),
            selectinload(Episode.alerts),
        )
    )


def _reference(settings: FhirSettings, resource: str, key: int | str) -> dict:
    return {"reference": f"urn:uuid:{settings.resource_id(resource.lower(), key)}"}


def _entry(settings: FhirSettings, key: int | str, resource: dict) -> dict:
    resource_id = settings.resource_id(resource["resourceType"].lower(), key)
    return {"fullUrl": f"urn:uuid:{resource_id}", "resource": {"id": resource_id, **resource}}


def fhir_patient(patient: Patient, clinic: Clinic, settings: FhirSettings) -> dict:
    """Patient: name as text, the MRN, phone and email, language, managing clinic."""
    resource: dict = {"resourceType": "Patient", "name": [{"text": patient.display_name}]}
    if patient.mrn:
        resource["identifier"] = [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {
                            "system": IDENTIFIER_TYPE,
                            "code": "MR",
                            "display": "Medical record number",
                        }
                    ]
                },
                "system": settings.mrn_system_for(clinic),
                "value": patient.mrn,
            }
        ]
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone, "use": "mobile"})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    if telecom:
        resource["telecom"] = telecom
    if patient.preferred_language:
        resource["communication"] = [
            {
                "language": {
                    "coding": [{"system": "urn:ietf:bcp:47", "code": patient.preferred_language}]
                },
                "preferred": True,
            }
        ]
    resource["managingOrganization"] = {"display": clinic.name}
    return resource


def fhir_procedure(episode: Episode, settings: FhirSettings) -> dict:
    """Procedure: completed vertebroplasty, performed at the procedure's end, levels as site."""
    code: dict = {"text": PROCEDURE_TEXT}
    if settings.procedure_coding:
        code = {"coding": [dict(c) for c in settings.procedure_coding], "text": PROCEDURE_TEXT}
    resource: dict = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": code,
        "subject": _reference(settings, "Patient", episode.patient_id),
        "performedDateTime": utc_text(episode.procedure_dt),
        "reasonCode": [{"text": label_of(Indication, episode.indication)}],
    }
    if episode.levels:
        resource["bodySite"] = [{"text": episode.levels}]
    return resource


def _pain_observation(settings: FhirSettings, episode: Episode, pain: int) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {
            "coding": [{"system": LOINC, "code": PAIN_LOINC, "display": PAIN_LOINC_DISPLAY}],
            "text": "Pain score (0-10 NRS)",
        },
        "subject": _reference(settings, "Patient", episode.patient_id),
        "valueInteger": pain,
    }


def fhir_observation(entry: PainEntry, episode: Episode, settings: FhirSettings) -> dict:
    """Observation: the 0-10 score; red flags and analgesic as components, the note as a note."""
    resource = _pain_observation(settings, episode, entry.pain)
    resource["effectiveDateTime"] = utc_text(entry.recorded_dt)
    resource["issued"] = utc_text(entry.received_dt)
    resource["performer"] = [_reference(settings, "Patient", episode.patient_id)]
    components = [
        {
            "code": {
                "coding": [
                    {"system": RED_FLAG_SYSTEM, "code": flag, "display": label_of(RedFlag, flag)}
                ]
            },
            "valueBoolean": True,
        }
        for flag in entry.red_flags or ()
    ]
    components.append(
        {
            "code": {
                "coding": [
                    {
                        "system": COMPONENT_SYSTEM,
                        "code": "analgesic-taken",
                        "display": "Took pain medicine since the last check-in",
                    }
                ]
            },
            "valueBoolean": bool(entry.is_analgesic_taken),
        }
    )
    resource["component"] = components
    if entry.note:
        resource["note"] = [{"text": entry.note}]
    return resource


def fhir_baseline_observation(episode: Episode, settings: FhirSettings) -> dict:
    """Observation: the baseline score given at enrolment, some time before the procedure end."""
    resource = _pain_observation(settings, episode, episode.baseline_pain)
    resource["effectivePeriod"] = {"end": utc_text(episode.procedure_dt)}
    resource["note"] = [{"text": "Baseline (pre-procedure) score recorded at enrolment"}]
    return resource


def fhir_flag(alert: Alert, episode: Episode, settings: FhirSettings) -> dict:
    """Flag: active unless resolved; code = rule and reason; priority extension; its entry."""
    priority, priority_display = FLAG_PRIORITY.get(alert.severity, ("PM", "Medium priority"))
    extensions = [
        {
            "url": FLAG_PRIORITY_EXTENSION,
            "valueCodeableConcept": {
                "coding": [
                    {"system": FLAG_PRIORITY_SYSTEM, "code": priority, "display": priority_display},
                    {"system": ALERT_SEVERITY_SYSTEM, "code": alert.severity},
                ],
                "text": alert.severity,
            },
        }
    ]
    if alert.entry_id is not None:
        extensions.append(
            {
                "url": FLAG_DETAIL_EXTENSION,
                "valueReference": _reference(settings, "Observation", alert.entry_id),
            }
        )
    period = {"start": utc_text(alert.opened_dt)}
    if alert.status == "resolved" and alert.resolved_dt is not None:
        period["end"] = utc_text(alert.resolved_dt)
    return {
        "resourceType": "Flag",
        "extension": extensions,
        "status": "inactive" if alert.status == "resolved" else "active",
        "category": [
            {"coding": [{"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}
        ],
        "code": {
            "coding": [{"system": ALERT_RULE_SYSTEM, "code": alert.rule}],
            "text": f"{alert.rule}: {alert.reason}",
        },
        "subject": _reference(settings, "Patient", episode.patient_id),
        "period": period,
    }


def fhir_bundle(
    episode: Episode, settings: FhirSettings | None = None, *, now: datetime | None = None
) -> dict:
    """The episode as a FHIR R4 Bundle of type "collection" (a JSON-ready dict).

    Holds the Patient, the Procedure, one Observation per entry (plus one for an enrolment
    baseline), and one Flag per alert. fullUrls are urn:uuid from uuid5 of
    "recovery/<resource>/<id>", so references resolve inside the Bundle and stay the same
    between exports. Touches only the episode's patient, clinic, entries and alerts: load it
    with `load_episode_for_export` for a fixed number of queries.
    """
    settings = settings or FhirSettings()
    now = now or datetime.now(UTC)
    patient = episode.patient
    entries = [
        _entry(settings, patient.id, fhir_patient(patient, episode.clinic, settings)),
        _entry(settings, episode.id, fhir_procedure(episode, settings)),
    ]
    if episode.baseline_pain is not None:
        entries.append(
            _entry(settings, f"baseline-{episode.id}", fhir_baseline_observation(episode, settings))
        )
    entries += [
        _entry(settings, entry.id, fhir_observation(entry, episode, settings))
        for entry in episode.entries
    ]
    entries += [
        _entry(settings, alert.id, fhir_flag(alert, episode, settings)) for alert in episode.alerts
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": utc_text(now),
        "entry": entries,
    }
