"""The OpenAPI 3.1 description served at /api/v1/openapi.json."""

from ..episodes import IDEMPOTENCY_KEY_MAX, NOTE_MAX
from ..rules import RED_FLAGS

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
        "red_flags": {"type": "array", "items": {"type": "string", "enum": list(RED_FLAGS)}},
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
        "source": {"type": "string", "enum": ["patient", "staff"]},
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
                        "indication": {"type": "string"},
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
                        **_error_responses(400, 401, 413, 415, 422),
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
        },
    }
