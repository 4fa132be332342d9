"""The API's bodies, defined once: pydantic models that validate what comes in, shape what goes
out and are the component schemas of the OpenAPI document (`openapi.py`).

Codes come from `recovery.clinical.vocabulary`, limits from the services that enforce them.
A refused body is one `ApiError` in the API's error shape: pydantic's first error (an unknown
field before any other), its type turned into the API's code (`CODES`, or a field's own
`Refusals`) and `field` the body field at fault.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticCustomError

from ..care.episodes import IDEMPOTENCY_KEY_MAX, NOTE_MAX
from ..care.text import storable_text_problem
from ..clinical.vocabulary import (
    AlertAction,
    AlertEventKind,
    AlertStatus,
    ContactOutcome,
    EntrySource,
    EpisodeStatus,
    Indication,
    PatientStatus,
    RedFlag,
    Rule,
    Severity,
)
from .errors import ApiError

REF_TEMPLATE = "#/components/schemas/{model}"

# --- refusals: pydantic's error types in the API's words -------------------------------------

#: pydantic's error type -> the API's code. A custom error (`PydanticCustomError`) raised by a
#: validator here already has the API's code as its type.
CODES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "int_type": "invalid_type",
    "bool_type": "invalid_type",
    "string_type": "invalid_type",
    "list_type": "invalid_type",
    "string_unicode": "invalid_text",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "string_too_long": "too_long",
    "string_too_short": "invalid_length",
    "enum": "unknown_code",
}
#: The codes a validator here raises itself.
CUSTOM_CODES = frozenset(
    {"invalid_type", "invalid_format", "missing_offset", "invalid_text", "invalid_length"}
)


@dataclass(frozen=True)
class Refusals:
    """A field's own code and message for some of pydantic's error types (`Annotated` metadata).

    A message may name the refused value as `{input!r}`.
    """

    by_type: Mapping[str, tuple[str, str]]


def api_error(model: type[BaseModel], exc: ValidationError) -> ApiError:
    """The first of pydantic's errors (an unknown field first) as a 400 `ApiError`."""
    errors = exc.errors(include_url=False)
    unknown = sorted(
        (e for e in errors if e["type"] == "extra_forbidden"), key=lambda e: str(e["loc"][0])
    )
    error = (unknown or errors)[0]
    name = str(error["loc"][0]) if error["loc"] else None
    kind = error["type"]
    if kind == "missing":
        return ApiError(400, "required", f"{name} is required", name)
    if kind == "extra_forbidden":
        return ApiError(400, "unknown_field", f"unknown field: {name}", name)
    code, message = CODES.get(kind, kind if kind in CUSTOM_CODES else "invalid"), error["msg"]
    if kind == "string_unicode":  # a lone surrogate, which pydantic refuses before our check
        message = storable_text_problem(error["input"]) or message
    info = model.model_fields.get(name or "")
    for refusals in info.metadata if info else ():
        if isinstance(refusals, Refusals) and kind in refusals.by_type:
            code, template = refusals.by_type[kind]
            message = template.format(input=error.get("input"))
    return ApiError(400, code, message, name)


Body = TypeVar("Body", bound=BaseModel)


def parse_body(model: type[Body], body: Any) -> Body:
    """`body` (parsed JSON) validated by `model`, or the API's 400."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise api_error(model, exc) from None


# --- request bodies --------------------------------------------------------------------------


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp with a UTC offset (`datetime.fromisoformat`)."""
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_type", "must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError(
            "invalid_format", "must be ISO 8601, e.g. 2026-01-31T14:05:00+01:00"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PydanticCustomError("missing_offset", "must include a UTC offset, e.g. +01:00 or Z")
    return parsed


def storable(value: str) -> str:
    """`value`, unless the database cannot keep it as typed (`storable_text_problem`)."""
    if problem := storable_text_problem(value):
        raise PydanticCustomError("invalid_text", problem)
    return value


def no_fraction(value: Any) -> Any:
    """A finite float (7.0 too) is not a pain score; said apart from other wrong types."""
    if isinstance(value, float) and math.isfinite(value):
        raise PydanticCustomError("invalid_type", "must be a whole number from 0 to 10")
    return value


def list_of_strings(value: Any) -> Any:
    """A list of strings, or null; the codes are checked after."""
    if value is not None and (
        not isinstance(value, list) or not all(isinstance(v, str) for v in value)
    ):
        raise PydanticCustomError("invalid_type", "must be a list of red-flag codes")
    return value


Timestamp = Annotated[
    datetime,
    PlainValidator(parse_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Note = Annotated[StrictStr, Field(max_length=NOTE_MAX), AfterValidator(storable)]
IdempotencyKey = Annotated[
    StrictStr, Field(min_length=1, max_length=IDEMPOTENCY_KEY_MAX), AfterValidator(storable)
]
KEY_LENGTH = ("invalid_length", f"must be 1 to {IDEMPOTENCY_KEY_MAX} characters")


class CheckIn(BaseModel):
    """A pain check-in (`POST /checkins`). Unknown fields are refused; null means "not sent"."""

    model_config = ConfigDict(extra="forbid", strict=True)

    pain: Annotated[
        StrictInt,
        Field(ge=0, le=10, description="0 = no pain, 10 = worst pain imaginable (LOINC 72514-3)"),
        BeforeValidator(no_fraction),
        Refusals(
            {
                "int_type": ("invalid_type", "must be an integer from 0 to 10"),
                "greater_than_equal": ("out_of_range", "must be from 0 to 10"),
                "less_than_equal": ("out_of_range", "must be from 0 to 10"),
            }
        ),
    ]
    recorded_at: Annotated[
        Timestamp | None,
        Field(
            description="ISO 8601 with a UTC offset; default now. Not in the future, not more "
            "than 7 days before the procedure (else 422 `in_future`, `too_early`)."
        ),
    ] = None
    red_flags: Annotated[
        list[Annotated[RedFlag, Strict(False)]] | None,
        BeforeValidator(list_of_strings),
        Field(description="red-flag codes; null is none"),
        Refusals(
            {
                "enum": (
                    "unknown_code",
                    "unknown red-flag code {input!r}; known: " + ", ".join(RedFlag.codes()),
                )
            }
        ),
    ] = None
    analgesic: Annotated[
        StrictBool,
        Field(description="took pain medicine since the last check-in"),
        Refusals({"bool_type": ("invalid_type", "must be true or false")}),
    ] = False
    note: Annotated[
        Note | None,
        Field(description="the patient's words; null is empty"),
        Refusals(
            {
                "string_type": ("invalid_type", "must be a string"),
                "string_too_long": ("too_long", f"must be at most {NOTE_MAX} characters"),
            }
        ),
    ] = None
    idempotency_key: Annotated[
        IdempotencyKey | None,
        Field(description="the same key again returns the first entry (200)"),
        Refusals(
            {
                "string_type": ("invalid_type", "must be a string"),
                "string_too_short": KEY_LENGTH,
                "string_too_long": KEY_LENGTH,
            }
        ),
    ] = None

    def entry_values(self) -> dict[str, Any]:
        """Keyword arguments for `episodes.record_pain_entry`."""
        values: dict[str, Any] = {
            "pain": self.pain,
            "red_flags": [flag.value for flag in self.red_flags or ()],
            "is_analgesic_taken": self.analgesic,
            "note": self.note or "",
        }
        if self.recorded_at is not None:
            values["recorded_dt"] = self.recorded_at
        if self.idempotency_key is not None:
            values["idempotency_key"] = self.idempotency_key
        return values


# --- response bodies -------------------------------------------------------------------------


def to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


#: A time as the API writes it: ISO 8601 in UTC with a Z suffix.
UtcTime = Annotated[datetime, AfterValidator(to_utc)]


#: `Severity` (an IntEnum) by its codes, as it is stored and sent.
def stored_code(vocabulary: Any) -> Any:
    """A code read back from the database, in an answer: any string, so a row older than the
    vocabulary (a code since retired) still answers instead of failing; the document lists
    the vocabulary's codes, as every new row has one of them."""
    return Annotated[
        str,
        WithJsonSchema(
            {
                "type": "string",
                "enum": list(vocabulary.codes()),
                "description": "a code of the vocabulary (rows older than it keep theirs)",
            }
        ),
    ]


StoredRedFlag = stored_code(RedFlag)
StoredRule = stored_code(Rule)

SeverityCode = StrEnum("Severity", [(c.upper(), c) for c in Severity.codes()])
SeverityCode.__doc__ = "How soon a nurse should act, most urgent first."


class Answer(BaseModel):
    """A response body: every field is always there (nullable ones as null)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class ErrorDetail(Answer):
    code: str = Field(examples=["out_of_range"], description="machine-readable, see docs/api.md")
    message: str = Field(description="for people, in English")
    field: str | None = Field(description="the body field or query parameter at fault, or null")


class Error(Answer):
    """Every refusal (4xx, 503): `{"error": {"code", "message", "field"}}`."""

    error: ErrorDetail


class Entry(Answer):
    """One pain entry: the check-in's fields plus its id, source and times."""

    id: int
    pain: int = Field(ge=0, le=10)
    recorded_at: UtcTime
    red_flags: list[StoredRedFlag]
    analgesic: bool
    note: str
    idempotency_key: str | None = Field(description="null when the check-in sent none")
    source: EntrySource = Field(
        description="who reported it: the patient, their caregiver (through the caregiver's "
        "own link) or staff"
    )
    received_at: UtcTime
    hours_since_procedure: float = Field(description="2 decimals; negative before it")
    corrects: int | None = Field(
        default=None,
        description="a correction by staff: the id of the entry it replaces (null otherwise)",
    )
    corrected_by: int | None = Field(
        default=None,
        description="the id of the entry that corrected this one, which is then no longer "
        "counted (null while it is in force)",
    )


class Result(Answer):
    """What the patient is told after a check-in (no staff-facing alert reasons)."""

    status: PatientStatus = Field(description="`recovery.clinical.rules.assess`")
    expected: float = Field(description="the expected score now, 1 decimal")
    headline: str
    message: str
    actions: list[str]
    clinic_phone: str
    emergency_number: str
    next_checkin: str | None


class CheckInResult(Answer):
    """A stored check-in (201), or the first one stored under its idempotency key (200)."""

    entry: Entry
    result: Result


class Curve(Answer):
    """The expected curve and its lines at `hours` after the procedure."""

    hours: list[float]
    expected: list[float]
    amber: list[float]
    red: list[float]


class Episode(Answer):
    """The patient's episode, a page of its entries in time order and the expected curve."""

    id: int
    procedure_at: UtcTime
    levels: str
    indication: Indication
    status: EpisodeStatus
    baseline_pain: int | None
    curve_baseline: float
    curve_baseline_assumed: bool
    entries: list[Entry] = Field(
        description="the newest `limit` entries (before `cursor`, when given), in time order"
    )
    next_cursor: str | None = Field(
        description="pass it as `cursor` for the page of older entries; null when there are none"
    )
    expected_curve: Curve


class Alert(Answer):
    """One alert for integrators: what, how bad, its state and who acted on it."""

    id: int
    episode_id: int
    patient_name: str
    rule: StoredRule
    severity: SeverityCode
    status: AlertStatus
    reason: str = Field(description="the one-line reason, in English")
    entry_id: int | None
    opened_at: UtcTime
    updated_at: UtcTime
    acknowledged_at: UtcTime | None
    acknowledged_by: str | None
    resolved_at: UtcTime | None
    resolved_by: str | None
    note: str = Field(
        description="every acknowledgement, contact attempt and resolution that says "
        "something, oldest first, one line each: the action's or outcome's code, then the note"
    )


class AlertEvent(Answer):
    """One line of an alert's history."""

    at: UtcTime
    kind: AlertEventKind
    by: str = Field(description='the staff member\'s name, or "system"')
    action: AlertAction | ContactOutcome | None = Field(
        description="what was done (acknowledgements), or how a contact attempt went"
    )
    note: str
    severity: SeverityCode | None = Field(description="the alert's severity after this event")
    reason: str | None = Field(description="the finding, in English (opened, updated, escalated)")
    entry_id: int | None


class AlertDetail(Alert):
    """An alert as in the feed, with its history oldest first."""

    history: list[AlertEvent]


class AlertPage(Answer):
    """One page of the alert feed."""

    alerts: list[Alert]
    next_cursor: str | None = Field(description="pass it as `cursor` for the next page")


REQUESTS: tuple[type[BaseModel], ...] = (CheckIn,)
RESPONSES: tuple[type[BaseModel], ...] = (Error, CheckInResult, Episode, AlertPage, AlertDetail)


def component_schemas() -> dict[str, Any]:
    """Every model's JSON Schema (and the enums they use) by name, for `components/schemas`."""
    _, schema = models_json_schema(
        [(m, "validation") for m in REQUESTS] + [(m, "serialization") for m in RESPONSES],
        ref_template=REF_TEMPLATE,
    )
    return schema["$defs"]
