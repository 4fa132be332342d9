"""The OpenAPI 3.1 description served at /api/v1/openapi.json.

Only the paths and their operations are written here; every body's schema is generated from
the models in `schemas.py` (the ones that validate and shape the bodies), and every limit is
read from the constant the code enforces.
"""

from __future__ import annotations

from typing import Any

from ..care.models import MAX_ID
from ..interop.csv_export import EARLIEST_EXPORT_DATE, LATEST_EXPORT_DATE, MAX_RANGE_DAYS
from ..interop.feed import ALERT_FILTERS
from .integration import DEFAULT_LIMIT, MAX_LIMIT
from .schemas import component_schemas

#: What each refusal means, by HTTP status (the codes are in docs/api.md).
REFUSALS = {
    400: "refused input: `error.code` says why and `error.field` names the field or "
    "parameter at fault",
    401: "`unauthorized` (no or malformed `Authorization: Bearer` header) or `invalid_token` "
    "(unknown, revoked or inactive; or a token of the other kind)",
    404: "`not_found`: no such id in the token's clinic (another clinic's is a 404 too)",
    409: "`idempotency_conflict`: this idempotency_key was used for a different check-in",
    413: "`request_entity_too_large`: the body is over 64 KiB",
    415: "`unsupported_media_type`: the body is not application/json",
    422: "well-formed but refused: `in_future`, `too_early` (recorded_at), `closed`",
    429: "`too_many_entries`: the episode has taken its new entries for the hour "
    "(ENTRIES_PER_EPISODE_PER_HOUR); send the same check-in again after `Retry-After` seconds",
    503: "`unavailable`: the database is down; retry later",
}

ALLOW = {
    "description": "the methods this path takes",
    "schema": {"type": "string", "examples": ["GET, HEAD, OPTIONS"]},
}


RETRY_AFTER = {
    "required": True,
    "description": "seconds until the episode takes another new entry",
    "schema": {"type": "integer", "minimum": 1},
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema_name: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }


def _refusals(*statuses: int) -> dict:
    return {str(s): _json("Error", REFUSALS[s]) for s in statuses}


def _csv(description: str) -> dict:
    return {
        "description": description,
        "headers": {
            "Content-Disposition": {
                "required": True,
                "description": 'attachment; filename="..."',
                "schema": {"type": "string"},
            }
        },
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }


def _path_id(name: str, what: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"the {what}'s id; any other number answers 404",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


EPISODE_ID = _path_id("episode_id", "episode")
DATE_RANGE = [
    {
        "name": name,
        "in": "query",
        "required": True,
        "description": f"the {label} day, YYYY-MM-DD in the clinic's time zone (included), from "
        f"{EARLIEST_EXPORT_DATE} to {LATEST_EXPORT_DATE}; `end` not before `start`, and at most "
        f"{MAX_RANGE_DAYS} days in all (else 400 `invalid_range`, `range_too_long`)",
        "schema": {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
    }
    for name, label in (("start", "first"), ("end", "last"))
]


def page_parameters(items: str) -> list[dict]:
    """The query parameters of a keyset-paged list of `items` (api/cursors.py)."""
    return [
        {
            "name": "limit",
            "in": "query",
            "description": f"{items} per page, a whole number written in ASCII digits",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT,
            },
        },
        {
            "name": "cursor",
            "in": "query",
            "description": "the `next_cursor` of the previous page, passed back as it came: "
            "an opaque string, not to be built or changed; anything else (even a string of "
            "the same alphabet) is refused with 400 `invalid_cursor`",
            "schema": {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_-]+$"},
        },
    ]


ALERT_QUERY = [
    {
        "name": "status",
        "in": "query",
        "schema": {"type": "string", "enum": list(ALERT_FILTERS), "default": "open"},
    },
    *page_parameters("alerts"),
]


ENTRY_QUERY = page_parameters("entries")


def _staff_get(summary: str, ok: dict, parameters: list, refusals: tuple[int, ...]) -> dict:
    description = "Any query parameter not listed is refused (400 `unknown_parameter`)."
    return {
        "get": {
            "summary": summary,
            "description": description,
            "security": [{"staffToken": []}],
            "parameters": parameters,
            "responses": {"200": ok, **_refusals(*refusals, 401, 503)},
        }
    }


def integration_paths() -> dict:
    """The staff-token endpoints (recovery/api/integration.py); see docs/api.md."""
    episode_csv = (EPISODE_ID,)
    return {
        "/alerts": _staff_get(
            "The clinic's alerts: most severe first, then longest open",
            _json("AlertPage", "one page of alerts"),
            ALERT_QUERY,
            (400,),
        ),
        "/alerts/{alert_id}": _staff_get(
            "One alert of the clinic with its history",
            _json("AlertDetail", "the alert and its history, oldest first"),
            [_path_id("alert_id", "alert")],
            (400, 404),
        ),
        "/episodes/{episode_id}/fhir": _staff_get(
            "The episode as a FHIR R4 Bundle (type collection)",
            {
                "description": "Patient, Procedure, Observation per entry, Flag per alert",
                "content": {"application/fhir+json": {"schema": {"type": "object"}}},
            },
            [*episode_csv],
            (404,),
        ),
        "/episodes/{episode_id}/entries.csv": _staff_get(
            "Every pain entry of the episode as CSV",
            _csv("one row per entry"),
            [*episode_csv],
            (404,),
        ),
        "/episodes/{episode_id}/alerts.csv": _staff_get(
            "Every alert of the episode as CSV",
            _csv("one row per alert"),
            [*episode_csv],
            (404,),
        ),
        "/entries.csv": _staff_get(
            "The clinic's entries recorded in a date range, as CSV",
            _csv("one row per entry"),
            DATE_RANGE,
            (400,),
        ),
        "/alerts.csv": _staff_get(
            "The clinic's alerts opened in a date range, as CSV",
            _csv("one row per alert"),
            DATE_RANGE,
            (400,),
        ),
    }


def patient_paths() -> dict:
    """The patient-token endpoints (recovery/api/routes.py)."""
    return {
        "/checkins": {
            "post": {
                "summary": "Record a pain check-in",
                "security": [{"patientToken": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("CheckIn")}},
                },
                "responses": {
                    "201": _json("CheckInResult", "stored"),
                    "200": _json("CheckInResult", "already stored under this idempotency key"),
                    **_refusals(400, 401, 409, 413, 415, 422, 503),
                    "429": {
                        **_json("Error", REFUSALS[429]),
                        "headers": {"Retry-After": RETRY_AFTER},
                    },
                },
            }
        },
        "/episode": {
            "get": {
                "summary": "The patient's episode, a page of its entries and the expected curve",
                "description": "Entries come newest page first, each page in time order; "
                "`next_cursor` leads to the older ones. Any query parameter not listed is "
                "refused (400 `unknown_parameter`).",
                "security": [{"patientToken": []}],
                "parameters": ENTRY_QUERY,
                "responses": {
                    "200": _json("Episode", "the episode and one page of its entries"),
                    **_refusals(400, 401, 503),
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    """The whole document, as a dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Recovery API",
            "version": "1",
            "description": "Pain check-ins after vertebroplasty, and exports for integrations. "
            "Every refusal is an `Error` body. A method a path does not take answers 405 with "
            "an `Allow` header (`MethodNotAllowed`); an unknown path answers 404 `not_found`.",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {
                "patientToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the token of the patient's personal link",
                },
                "staffToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a staff API token (create-staff --api-token)",
                },
            },
            "schemas": component_schemas(),
            "responses": {
                "MethodNotAllowed": {
                    "description": "`method_not_allowed`: the path does not take this method",
                    "headers": {"Allow": {"required": True, **ALLOW}},
                    "content": {"application/json": {"schema": _ref("Error")}},
                },
            },
        },
        "paths": {
            **patient_paths(),
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            **integration_paths(),
        },
    }
