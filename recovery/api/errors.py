"""The API's refusals and the request plumbing every endpoint shares."""

from __future__ import annotations

from typing import Any

from flask import Request


class ApiError(Exception):
    """A refused request: HTTP status, machine code, human message, the field at fault, and
    any headers the answer needs."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        #: Headers the answer carries too (Retry-After on a 429).
        self.headers = headers or {}


def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or ApiError (415, 400); the schema checks its fields."""
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


def bearer_token(request: Request) -> str:
    """The token of an `Authorization: Bearer ...` header, or ApiError 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "the Authorization header must be Bearer <token>")
    return token.strip()
