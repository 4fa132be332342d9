"""An episode as a FHIR R4 Bundle: Patient, Procedure, the caregiver (RelatedPerson) if they
reported, an Observation per entry, a Flag per alert (the mapping: docs/api.md). The Bundle
loads the episode with its patient, clinic, entries and alerts in three queries."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import joinedload, selectinload

from ..care.audit import record_event
from ..care.models import (
    Alert,
    Clinic,
    Episode,
    PainEntry,
    Patient,
    StaffUser,
)
from ..clinical.vocabulary import EntrySource, Indication, RedFlag, Severity, label_of
from ..extensions import db
from .csv_export import utc_text

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


def fhir_observation(
    entry: PainEntry,
    episode: Episode,
    settings: FhirSettings,
    correction: PainEntry | None = None,
) -> dict:
    """Observation: the 0-10 score; red flags and analgesic as components, the note as a note.

    Corrections (an entry is never deleted): an entry a later one corrected (`correction`) is
    `entered-in-error`, with a note saying when and why it was corrected and by which
    Observation; the correction is `corrected`, with a note naming the one it replaces and the
    reason (FHIR R4 observation-status).
    """
    resource = _pain_observation(settings, episode, entry.pain)
    resource["effectiveDateTime"] = utc_text(entry.recorded_dt)
    resource["issued"] = utc_text(entry.received_dt)
    resource["performer"] = [_performer(entry, episode, settings)]
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
    notes = [{"text": entry.note}] if entry.note else []
    if correction is not None:
        resource["status"] = "entered-in-error"
        notes.append(
            {
                "time": utc_text(correction.received_dt),
                "text": f"Corrected by Observation "
                f"{_reference(settings, 'Observation', correction.id)['reference']}: "
                f"{correction.correction_reason or ''}",
            }
        )
    if entry.supersedes_id is not None:
        resource["status"] = "corrected"
        notes.append(
            {
                "time": utc_text(entry.received_dt),
                "text": f"Corrects Observation "
                f"{_reference(settings, 'Observation', entry.supersedes_id)['reference']}: "
                f"{entry.correction_reason or ''}",
            }
        )
    if notes:
        resource["note"] = notes
    return resource


def _performer(entry: PainEntry, episode: Episode, settings: FhirSettings) -> dict:
    """Who reported the score: the Patient (also when staff typed in what the patient said), or
    the episode's caregiver (a RelatedPerson in the Bundle) for an entry through their link."""
    if entry.source == EntrySource.CAREGIVER:
        return {**_reference(settings, "RelatedPerson", episode.id), "display": "caregiver"}
    return _reference(settings, "Patient", episode.patient_id)


def fhir_caregiver(episode: Episode, settings: FhirSettings) -> dict:
    """RelatedPerson: the patient's caregiver, who reported entries through their own link
    (no name is kept; one per episode)."""
    return {
        "resourceType": "RelatedPerson",
        "active": episode.caregiver_token_hash is not None,
        "patient": _reference(settings, "Patient", episode.patient_id),
        "relationship": [{"text": "caregiver"}],
    }


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

    Holds the Patient, the Procedure, a RelatedPerson for the caregiver when they reported
    any entry, one Observation per entry, corrected ones too (`fhir_observation`: the
    corrected one `entered-in-error`, its correction `corrected`; plus one for an enrolment
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
    if any(entry.source == EntrySource.CAREGIVER for entry in episode.entries):
        entries.append(_entry(settings, episode.id, fhir_caregiver(episode, settings)))
    corrections = {e.supersedes_id: e for e in episode.entries if e.supersedes_id is not None}
    entries += [
        _entry(
            settings,
            entry.id,
            fhir_observation(entry, episode, settings, corrections.get(entry.id)),
        )
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


def export_episode_fhir(
    episode: Episode, staff: StaffUser, settings: FhirSettings, *, address: str | None = None
) -> dict:
    """The episode's Bundle for `staff`, recorded in the audit trail (`exported_fhir`), as the
    CSV exports are (`csv_export.export_episode_csv`). Adds the audit row; the caller commits."""
    record_event(
        "exported_fhir",
        clinic_id=staff.clinic_id,
        episode=episode,
        staff=staff,
        address=address,
    )
    return fhir_bundle(episode, settings)
