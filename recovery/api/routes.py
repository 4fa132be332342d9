"""API views: parse, authenticate, call one service, serialise."""

from flask import jsonify, request

from ..care.clinics import clinic_params
from ..care.episodes import EntryError, episode_baseline, episode_for_token, record_pain_entry
from ..clinical.curve import chart_hours, curve_points, effective_baseline
from ..extensions import db
from ..web.results import result_view
from ..web.site import error_response
from . import bp
from .openapi import openapi_document
from .serializers import entry_json, episode_json, result_json
from .validation import ApiError, bearer_token, json_object, parse_checkin


@bp.errorhandler(ApiError)
def api_error(exc: ApiError):
    """Every refusal has the same JSON shape."""
    return error_response(exc.status, exc.code, exc.message, exc.field)


def patient_episode():
    """The active episode of the patient token in the Authorization header."""
    episode = episode_for_token(bearer_token(request))
    if episode is None or episode.status != "active":
        raise ApiError(401, "invalid_token", "the token is unknown, revoked or its episode closed")
    return episode


@bp.post("/checkins")
def create_checkin():
    """Record a check-in; the same idempotency key again returns the first entry (200).

    The same key with a different answer is refused (409): a patient must never be told they
    are on track on the strength of an earlier, different answer.
    """
    episode = patient_episode()
    values = parse_checkin(json_object(request))
    try:
        result = record_pain_entry(episode, address=request.remote_addr, **values)
    except EntryError as exc:
        status = 409 if exc.code == "idempotency_conflict" else 422
        raise ApiError(status, exc.code, exc.message, exc.field) from None
    db.session.commit()
    body = {
        "entry": entry_json(episode, result.entry),
        "result": result_json(
            result.assessment, result_view(episode, result.entry, result.assessment)
        ),
    }
    return jsonify(body), 201 if result.created else 200


@bp.get("/episode")
def get_episode():
    """The patient's episode, entries and the expected curve."""
    episode = patient_episode()
    entries = episode.entries
    baseline, assumed = effective_baseline(
        episode_baseline(episode, entries), clinic_params(episode.clinic)
    )
    curve = curve_points(baseline, chart_hours(), clinic_params(episode.clinic))
    body = episode_json(episode, entries, baseline, assumed, curve)
    return jsonify(body)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API."""
    return jsonify(openapi_document())
