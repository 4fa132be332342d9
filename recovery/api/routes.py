"""API views: parse, authenticate, call one service, answer with a schema's body."""

from datetime import UTC, datetime

from flask import jsonify, request

from ..care.clinics import clinic_params
from ..care.episodes import (
    EntryCursor,
    EntryError,
    EntryLimitError,
    PersonalLink,
    baseline_score,
    corrected_by,
    entries_page,
    link_for_token,
    record_pain_entry,
)
from ..care.models import MAX_ID, Episode, PainEntry
from ..clinical.curve import chart_hours, curve_points, effective_baseline
from ..clinical.rules import Assessment
from ..web.results import ResultView, result_view
from ..web.site import commit_keeping_loaded, error_response, speak_to_patient
from . import bp, cursors, schemas
from .errors import ApiError, bearer_token, json_object
from .integration import parse_limit, refuse_unknown_params
from .openapi import openapi_document
from .schemas import CheckIn, CheckInResult, Entry, Result, parse_body


@bp.errorhandler(ApiError)
def api_error(exc: ApiError):
    """Every refusal has the same JSON shape (`schemas.Error`)."""
    body, status = error_response(exc.status, exc.code, exc.message, exc.field)
    return body, status, exc.headers


def patient_link() -> PersonalLink:
    """The live link (the patient's or their caregiver's) of an active episode whose token is
    in the Authorization header."""
    link = link_for_token(bearer_token(request))
    if link is None or link.episode.status != "active":
        raise ApiError(401, "invalid_token", "the token is unknown, revoked or its episode closed")
    speak_to_patient(link.episode)
    return link


def patient_episode() -> Episode:
    """The active episode of the patient (or caregiver) token in the Authorization header."""
    return patient_link().episode


def entry_body(episode: Episode, entry: PainEntry, corrected_by: int | None = None) -> Entry:
    """One entry: the check-in body's fields plus id, source and times, and what corrected it
    or what it corrects."""
    return Entry(
        id=entry.id,
        pain=entry.pain,
        recorded_at=entry.recorded_dt,
        red_flags=list(entry.red_flags or []),
        analgesic=entry.is_analgesic_taken,
        note=entry.note,
        idempotency_key=entry.idempotency_key,
        source=entry.source,
        received_at=entry.received_dt,
        hours_since_procedure=round(episode.hours_since_procedure(entry.recorded_dt), 2),
        corrects=entry.supersedes_id,
        corrected_by=corrected_by,
    )


def result_body(assessment: Assessment, view: ResultView) -> Result:
    """What the patient is told after a check-in (no staff-facing alert reasons)."""
    return Result(
        status=assessment.status,
        expected=round(assessment.expected, 1),
        headline=view.headline,
        message=view.comparison,
        actions=list(view.actions),
        clinic_phone=view.clinic_phone,
        emergency_number=view.emergency_number,
        next_checkin=view.next_checkin,
    )


@bp.post("/checkins")
def create_checkin():
    """Record a check-in; the same idempotency key again returns the first entry (200).

    The same key with a different answer is refused (409): a patient must never be told they
    are on track on the strength of an earlier, different answer.
    """
    link = patient_link()
    episode = link.episode
    checkin = parse_body(CheckIn, json_object(request))
    try:
        result = record_pain_entry(
            episode, source=link.holder, address=request.remote_addr, **checkin.entry_values()
        )
    except EntryLimitError as exc:
        raise ApiError(
            429, exc.code, exc.message, None, headers={"Retry-After": str(exc.retry_after)}
        ) from None
    except EntryError as exc:
        status = 409 if exc.code == "idempotency_conflict" else 422
        raise ApiError(status, exc.code, exc.message, exc.field) from None
    commit_keeping_loaded()
    view = result_view(episode, result.entry, result.assessment)
    body = CheckInResult(
        entry=entry_body(episode, result.entry), result=result_body(result.assessment, view)
    )
    return jsonify(body.model_dump(mode="json")), 201 if result.created else 200


EPISODE_PARAMS = {"limit", "cursor"}


def encode_entry_cursor(cursor: EntryCursor) -> str:
    """An opaque, URL-safe cursor for the page of older entries."""
    recorded_dt, entry_id = cursor
    return cursors.encode([recorded_dt.isoformat(), entry_id])


def entry_position(values: list) -> EntryCursor:
    """An entries cursor's values as (recorded time, entry id); ValueError if they are not."""
    recorded, entry_id = values
    recorded_dt = datetime.fromisoformat(recorded)
    if (
        not isinstance(entry_id, int)
        or isinstance(entry_id, bool)
        or not 0 < entry_id <= MAX_ID
        or recorded_dt.tzinfo is None
    ):
        raise ValueError
    return recorded_dt.astimezone(UTC), entry_id


def decode_entry_cursor(text: str) -> EntryCursor:
    """The position an entries cursor stands for, or ApiError 400 `invalid_cursor`."""
    return cursors.decode(text, entry_position)


@bp.get("/episode")
def get_episode():
    """The patient's episode, a page of its entries (the newest; `cursor` for older ones) and
    the expected curve."""
    episode = patient_episode()
    refuse_unknown_params(EPISODE_PARAMS)
    limit = parse_limit(request.args.get("limit"))
    cursor = request.args.get("cursor")
    before = decode_entry_cursor(cursor) if cursor is not None else None
    entries, older = entries_page(episode, limit=limit, before=before)
    corrections = corrected_by(entries)
    params = clinic_params(episode.clinic)
    baseline, assumed = effective_baseline(baseline_score(episode), params)
    body = schemas.Episode(
        id=episode.id,
        procedure_at=episode.procedure_dt,
        levels=episode.levels,
        indication=episode.indication,
        status=episode.status,
        baseline_pain=episode.baseline_pain,
        curve_baseline=baseline,
        curve_baseline_assumed=assumed,
        entries=[entry_body(episode, e, corrections.get(e.id)) for e in entries],
        next_cursor=encode_entry_cursor(older) if older else None,
        expected_curve=curve_points(baseline, chart_hours(), params),
    )
    return jsonify(body.model_dump(mode="json"))


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document())
