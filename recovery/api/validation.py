"""Strict parsing of API request bodies into plain values, with one error shape."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from flask import Request

from ..care.episodes import IDEMPOTENCY_KEY_MAX, NOTE_MAX
from ..care.text import storable_text_problem
from ..clinical.vocabulary import RedFlag


class ApiError(Exception):
    """A refused request: HTTP status, machine code, human message, the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


CHECKIN_FIELDS = {"pain", "recorded_at", "red_flags", "analgesic", "note", "idempotency_key"}


def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or ApiError."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the JSON parser goes
        body = None
    if body is None:
        raise ApiError(400, "malformed_json", "the body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object")
    return body


def parse_timestamp(value: Any, field: str) -> datetime:
    """An ISO 8601 timestamp with a UTC offset."""
    if not isinstance(value, str):
        raise ApiError(400, "invalid_type", "must be an ISO 8601 string", field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            400, "invalid_format", "must be ISO 8601, e.g. 2026-01-31T14:05:00+01:00", field
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ApiError(400, "missing_offset", "must include a UTC offset, e.g. +01:00 or Z", field)
    return parsed


def parse_checkin(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a check-in body; returns keyword arguments for `record_pain_entry`."""
    unknown = sorted(set(body) - CHECKIN_FIELDS)
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field: {unknown[0]}", unknown[0])
    if "pain" not in body:
        raise ApiError(400, "required", "pain is required", "pain")
    pain = body["pain"]
    if isinstance(pain, bool) or not isinstance(pain, int):
        if isinstance(pain, float) and math.isfinite(pain):
            raise ApiError(400, "invalid_type", "must be a whole number from 0 to 10", "pain")
        raise ApiError(400, "invalid_type", "must be an integer from 0 to 10", "pain")
    if not 0 <= pain <= 10:
        raise ApiError(400, "out_of_range", "must be from 0 to 10", "pain")
    values: dict[str, Any] = {"pain": pain}
    if body.get("recorded_at") is not None:
        values["recorded_dt"] = parse_timestamp(body["recorded_at"], "recorded_at")
    flags = body.get("red_flags", [])
    if flags is None:
        flags = []
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise ApiError(400, "invalid_type", "must be a list of red-flag codes", "red_flags")
    unknown_flags = [f for f in flags if f not in RedFlag.codes()]
    if unknown_flags:
        raise ApiError(
            400,
            "unknown_code",
            f"unknown red-flag code {unknown_flags[0]!r}; known: {', '.join(RedFlag.codes())}",
            "red_flags",
        )
    values["red_flags"] = flags
    analgesic = body.get("analgesic", False)
    if not isinstance(analgesic, bool):
        raise ApiError(400, "invalid_type", "must be true or false", "analgesic")
    values["is_analgesic_taken"] = analgesic
    note = body.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise ApiError(400, "invalid_type", "must be a string", "note")
    if len(note) > NOTE_MAX:
        raise ApiError(400, "too_long", f"must be at most {NOTE_MAX} characters", "note")
    if problem := storable_text_problem(note):
        raise ApiError(400, "invalid_text", problem, "note")
    values["note"] = note
    key = body.get("idempotency_key")
    if key is not None:
        if not isinstance(key, str):
            raise ApiError(400, "invalid_type", "must be a string", "idempotency_key")
        if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
            raise ApiError(
                400,
                "invalid_length",
                f"must be 1 to {IDEMPOTENCY_KEY_MAX} characters",
                "idempotency_key",
            )
        if problem := storable_text_problem(key):
            raise ApiError(400, "invalid_text", problem, "idempotency_key")
        values["idempotency_key"] = key
    return values


def bearer_token(request: Request) -> str:
    """The token of an `Authorization: Bearer ...` header, or ApiError 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "the Authorization header must be Bearer <token>")
    return token.strip()
