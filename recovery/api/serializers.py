"""JSON shapes of the API. Entries use the same field names as the check-in body."""

from __future__ import annotations

from datetime import UTC, datetime

from ..care.models import Episode, PainEntry
from ..clinical.rules import Assessment


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z suffix."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def entry_json(episode: Episode, entry: PainEntry) -> dict:
    """One entry: the check-in body's fields plus id, source and times."""
    return {
        "id": entry.id,
        "pain": entry.pain,
        "recorded_at": iso(entry.recorded_dt),
        "red_flags": list(entry.red_flags or []),
        "analgesic": entry.is_analgesic_taken,
        "note": entry.note,
        "idempotency_key": entry.idempotency_key,
        "source": entry.source,
        "received_at": iso(entry.received_dt),
        "hours_since_procedure": round(episode.hours_since_procedure(entry.recorded_dt), 2),
    }


def result_json(assessment: Assessment, view) -> dict:
    """What the patient is told after a check-in (no staff-facing alert reasons)."""
    return {
        "status": assessment.status,
        "expected": round(assessment.expected, 1),
        "headline": view.headline,
        "message": view.comparison,
        "actions": list(view.actions),
        "clinic_phone": view.clinic_phone,
        "emergency_number": view.emergency_number,
        "next_checkin": view.next_checkin,
    }


def episode_json(episode: Episode, entries, baseline: float, assumed: bool, curve: dict) -> dict:
    """The episode, its entries in time order and the expected curve's points."""
    return {
        "id": episode.id,
        "procedure_at": iso(episode.procedure_dt),
        "levels": episode.levels,
        "indication": episode.indication,
        "status": episode.status,
        "baseline_pain": episode.baseline_pain,
        "curve_baseline": baseline,
        "curve_baseline_assumed": assumed,
        "entries": [entry_json(episode, e) for e in entries],
        "expected_curve": curve,
    }
