"""The OpenAPI 3.1 description served at /api/v1/openapi.json."""

from ..care.episodes import IDEMPOTENCY_KEY_MAX, NOTE_MAX
from ..clinical.vocabulary import (
    AlertAction,
    AlertEventKind,
    AlertStatus,
    ContactOutcome,
    EntrySource,
    Indication,
    RedFlag,
    Rule,
    Severity,
)
from ..interop.csv_export import MAX_RANGE_DAYS
from ..interop.feed import ALERT_FILTERS

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string", "examples": ["out_of_range"]},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
        }
    },
}

CHECKIN_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["pain"],
    "properties": {
        "pain": {
            "type": "integer",
            "minimum": 0,
            "maximum": 10,
            "description": "0 = no pain, 10 = worst pain imaginable (LOINC 72514-3)",
        },
        "recorded_at": {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with a UTC offset; default now. Not in the "
            "future, not more than 7 days before the procedure.",
        },
        "red_flags": {"type": "array", "items": {"type": "string", "enum": list(RedFlag.codes())}},
        "analgesic": {"type": "boolean", "description": "took pain medicine since last check-in"},
        "note": {"type": "string", "maxLength": NOTE_MAX},
        "idempotency_key": {
            "type": "string",
            "minLength": 1,
            "maxLength": IDEMPOTENCY_KEY_MAX,
            "description": "the same key again returns the first entry",
        },
    },
}

ENTRY = {
    "type": "object",
    "properties": {
        **CHECKIN_BODY["properties"],
        "id": {"type": "integer"},
        "source": {"type": "string", "enum": list(EntrySource.codes())},
        "received_at": {"type": "string", "format": "date-time"},
        "hours_since_procedure": {"type": "number"},
    },
}

CURVE = {
    "type": "object",
    "properties": {
        k: {"type": "array", "items": {"type": "number"}}
        for k in ("hours", "expected", "amber", "red")
    },
}


ALERT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "episode_id": {"type": "integer"},
        "patient_name": {"type": "string"},
        "rule": {"type": "string", "enum": list(Rule.codes())},
        "severity": {"type": "string", "enum": list(Severity.codes())},
        "status": {"type": "string", "enum": list(AlertStatus.codes())},
        "reason": {"type": "string"},
        "entry_id": {"type": ["integer", "null"]},
        "opened_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "acknowledged_at": {"type": ["string", "null"], "format": "date-time"},
        "acknowledged_by": {"type": ["string", "null"]},
        "resolved_at": {"type": ["string", "null"], "format": "date-time"},
        "resolved_by": {"type": ["string", "null"]},
        "note": {
            "type": "string",
            "description": "every acknowledgement, contact attempt and resolution that says "
            "something, oldest first, one line each: the action's or outcome's code, then the note",
        },
    },
}

ALERT_EVENT = {
    "type": "object",
    "required": ["at", "kind", "by", "action", "note", "severity", "reason", "entry_id"],
    "properties": {
        "at": {"type": "string", "format": "date-time"},
        "kind": {"type": "string", "enum": list(AlertEventKind.codes())},
        "by": {"type": "string", "description": 'the staff member\'s name, or "system"'},
        "action": {
            "type": ["string", "null"],
            "enum": [*AlertAction.codes(), *ContactOutcome.codes(), None],
            "description": "what was done (acknowledgements), or how a contact attempt went",
        },
        "note": {"type": "string"},
        "severity": {
            "type": ["string", "null"],
            "enum": [*Severity.codes(), None],
            "description": "the alert's severity after this event",
        },
        "reason": {
            "type": ["string", "null"],
            "description": "the finding, in English (opened, updated, escalated)",
        },
        "entry_id": {"type": ["integer", "null"]},
    },
}

ALERT_DETAIL = {
    "allOf": [
        {"$ref": "#/components/schemas/Alert"},
        {
            "type": "object",
            "required": ["history"],
            "properties": {
                "history": {
                    "type": "array",
                    "description": "oldest first",
                    "items": {"$ref": "#/components/schemas/AlertEvent"},
                }
            },
        },
    ]
}

EPISODE_ID = {
    "name": "episode_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
}
DATE_RANGE = [
    {
        "name": name,
        "in": "query",
        "required": True,
        "description": f"{label} day, YYYY-MM-DD in the clinic's time zone (included); "
        f"at most {MAX_RANGE_DAYS} days in all",
        "schema": {"type": "string", "format": "date"},
    }
    for name, label in (("start", "first"), ("end", "last"))
]


def _csv(description: str) -> dict:
    return {
        "description": description,
        "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }


def _staff_get(summary: str, ok: dict, parameters: list, errors: tuple[int, ...]) -> dict:
    return {
        "get": {
            "summary": summary,
            "security": [{"staffToken": []}],
            "parameters": parameters,
            "responses": {"200": ok, **_error_responses(*errors)},
        }
    }


def integration_paths() -> dict:
    """The staff-token endpoints (recovery/api/integration.py); see docs/api.md."""
    return {
        "/alerts": _staff_get(
            "The clinic's alerts: most severe first, then longest open",
            _json("AlertPage", "one page of alerts"),
            [
                {
                    "name": "status",
                    "in": "query",
                    "schema": {
                        "type": "string",
                        "enum": list(ALERT_FILTERS),
                        "default": "open",
                    },
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "description": "next_cursor of the previous page",
                    "schema": {"type": "string"},
                },
            ],
            (400, 401),
        ),
        "/alerts/{alert_id}": _staff_get(
            "One alert of the clinic with its history",
            _json("AlertDetail", "the alert and its history, oldest first"),
            [{"name": "alert_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            (400, 401, 404),
        ),
        "/episodes/{episode_id}/fhir": _staff_get(
            "The episode as a FHIR R4 Bundle (type collection)",
            {
                "description": "Patient, Procedure, Observation per entry, Flag per alert",
                "content": {"application/fhir+json": {"schema": {"type": "object"}}},
            },
            [EPISODE_ID],
            (401, 404),
        ),
        "/episodes/{episode_id}/entries.csv": _staff_get(
            "Every pain entry of the episode as CSV",
            _csv("one row per entry"),
            [EPISODE_ID],
            (401, 404),
        ),
        "/episodes/{episode_id}/alerts.csv": _staff_get(
            "Every alert of the episode as CSV",
            _csv("one row per alert"),
            [EPISODE_ID],
            (401, 404),
        ),
        "/entries.csv": _staff_get(
            "The clinic's entries recorded in a date range, as CSV",
            _csv("one row per entry"),
            DATE_RANGE,
            (400, 401),
        ),
        "/alerts.csv": _staff_get(
            "The clinic's alerts opened in a date range, as CSV",
            _csv("one row per alert"),
            DATE_RANGE,
            (400, 401),
        ),
    }


def _error_responses(*codes: int) -> dict:
    return {
        str(c): {
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for c in codes
    }


def _json(schema_ref: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def openapi_document() -> dict:
    """The whole document, as a dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Recovery API",
            "version": "1",
            "description": "Pain check-ins after vertebroplasty, and exports for integrations.",
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
            "schemas": {
                "Error": ERROR,
                "CheckIn": CHECKIN_BODY,
                "Entry": ENTRY,
                "Curve": CURVE,
                "Alert": ALERT,
                "AlertEvent": ALERT_EVENT,
                "AlertDetail": ALERT_DETAIL,
                "AlertPage": {
                    "type": "object",
                    "properties": {
                        "alerts": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Alert"},
                        },
                        "next_cursor": {"type": ["string", "null"]},
                    },
                },
                "CheckInResult": {
                    "type": "object",
                    "properties": {
                        "entry": {"$ref": "#/components/schemas/Entry"},
                        "result": {
                            "type": "object",
                            "properties": {
                                "status": {
                                    "type": "string",
                                    "enum": [
                                        "emergency",
                                        "call_clinic",
                                        "early_high",
                                        "higher",
                                        "on_track",
                                    ],
                                },
                                "expected": {"type": "number"},
                                "headline": {"type": "string"},
                                "message": {"type": "string"},
                                "actions": {"type": "array", "items": {"type": "string"}},
                                "clinic_phone": {"type": "string"},
                                "emergency_number": {"type": "string"},
                                "next_checkin": {"type": ["string", "null"]},
                            },
                        },
                    },
                },
                "Episode": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "procedure_at": {"type": "string", "format": "date-time"},
                        "levels": {"type": "string"},
                        "indication": {"type": "string", "enum": list(Indication.codes())},
                        "status": {"type": "string"},
                        "baseline_pain": {"type": ["integer", "null"]},
                        "curve_baseline": {"type": "number"},
                        "curve_baseline_assumed": {"type": "boolean"},
                        "entries": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Entry"},
                        },
                        "expected_curve": {"$ref": "#/components/schemas/Curve"},
                    },
                },
            },
        },
        "paths": {
            "/checkins": {
                "post": {
                    "summary": "Record a pain check-in",
                    "security": [{"patientToken": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/CheckIn"}}
                        },
                    },
                    "responses": {
                        "201": _json("CheckInResult", "stored"),
                        "200": _json("CheckInResult", "already stored under this idempotency key"),
                        **_error_responses(400, 401, 409, 413, 415, 422),
                    },
                }
            },
            "/episode": {
                "get": {
                    "summary": "The patient's episode, entries and expected curve",
                    "security": [{"patientToken": []}],
                    "responses": {"200": _json("Episode", "the episode"), **_error_responses(401)},
                }
            },
            **integration_paths(),
        },
    }
