"""Every answer of the API matches its own OpenAPI document (openapi-core).

One scripted session through the test client: a patient checks in (created, replayed, without a
key, refused in every documented way), reads the episode; a nurse acts on the alert it raised;
an integration reads the feed, the alert with its history, the FHIR Bundle and the CSVs. Each
answer is validated against the document the app serves, with the operation found by its path
and method. Answers that no operation describes (an unknown path, a method a path does not
take) are checked against the `Error` schema and the `MethodNotAllowed` response.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from jsonschema import Draft202012Validator
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.validation.response.exceptions import InvalidData
from openapi_spec_validator import validate as validate_spec

from recovery.care.accounts import issue_api_token
from recovery.care.alerts import acknowledge_alert
from recovery.care.models import MAX_ID, Alert
from recovery.clinical.vocabulary import AlertEventKind, RedFlag
from recovery.extensions import db

CHECKINS = "/api/v1/checkins"


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate_spec(document)
    return document


class SentRequest(WerkzeugOpenAPIRequest):
    """The request a test-client answer came from. Its body was read by the app, and response
    validation needs only its method and path."""

    @property
    def body(self) -> bytes | None:
        return None


class Checker:
    """Validates test-client answers against the served document; counts what it checked."""

    def __init__(self, document: dict):
        self.document = document
        # openapi-core reads application/json itself; the FHIR Bundle is JSON too, and a CSV
        # file is UTF-8 text (a string in the document).
        readers = {"application/fhir+json": json.loads, "text/csv": bytes.decode}
        config = Config(extra_media_type_deserializers=readers)
        self.openapi = OpenAPI.from_dict(document, config=config)
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, response, status: int):
        """`response` has `status` and is what the document says that operation answers."""
        assert response.status_code == status, (response.status_code, response.get_data())
        request = SentRequest(response.request)
        self.openapi.validate_response(request, WerkzeugOpenAPIResponse(response))
        self.seen.append((request.method, request.path, status))
        return response

    def error(self, response, status: int, code: str) -> dict:
        """A documented refusal with this status and code; its `error` object."""
        error = self(response, status).get_json()["error"]
        assert error["code"] == code, error
        return error

    def schema(self, name: str) -> Draft202012Validator:
        """A validator for one component schema, its references resolved in the document."""
        return Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": self.document["components"]}
        )


def test_every_answer_matches_the_document(client, document, enrolled, nurse, now):
    check = Checker(document)
    patient = enrolled.headers

    # --- the patient: check-ins and the episode ------------------------------------------
    body = {"pain": 4, "red_flags": ["fever"], "analgesic": True, "idempotency_key": "phone-1"}
    created = check(client.post(CHECKINS, json=body, headers=patient), 201).get_json()
    assert created["entry"]["idempotency_key"] == "phone-1"
    replayed = check(client.post(CHECKINS, json=body, headers=patient), 200).get_json()
    assert replayed["entry"]["id"] == created["entry"]["id"]
    keyless = {"pain": 3, "recorded_at": (now - timedelta(hours=1)).isoformat(), "note": None}
    entry = check(client.post(CHECKINS, json=keyless, headers=patient), 201).get_json()["entry"]
    assert entry["idempotency_key"] is None and entry["red_flags"] == []

    changed = {**body, "pain": 8}
    check.error(client.post(CHECKINS, json=changed, headers=patient), 409, "idempotency_conflict")
    error = check.error(
        client.post(CHECKINS, json={"pain": 7.0}, headers=patient), 400, "invalid_type"
    )
    assert error["field"] == "pain"
    error = check.error(
        client.post(CHECKINS, json={"pain": 3, "surprise": 1}, headers=patient),
        400,
        "unknown_field",
    )
    assert error["field"] == "surprise"
    check.error(
        client.post(CHECKINS, data="{not json", content_type="application/json", headers=patient),
        400,
        "malformed_json",
    )
    future = {"pain": 3, "recorded_at": "2999-01-01T00:00:00Z"}
    check.error(client.post(CHECKINS, json=future, headers=patient), 422, "in_future")
    bad_token = {"Authorization": "Bearer not-a-real-token"}
    check.error(client.post(CHECKINS, json={"pain": 3}, headers=bad_token), 401, "invalid_token")
    check.error(client.post(CHECKINS, json={"pain": 3}), 401, "unauthorized")
    form = client.post(CHECKINS, data={"pain": "3"}, headers=patient)
    check.error(form, 415, "unsupported_media_type")
    too_big = {"pain": 3, "note": "x" * 70_000}
    check.error(
        client.post(CHECKINS, json=too_big, headers=patient), 413, "request_entity_too_large"
    )

    episode = check(client.get("/api/v1/episode", headers=patient), 200).get_json()
    assert [e["pain"] for e in episode["entries"]] == [3, 4]
    assert {e["idempotency_key"] for e in episode["entries"]} == {None, "phone-1"}
    check.error(client.get("/api/v1/episode", headers=bad_token), 401, "invalid_token")

    # --- a nurse acts on the alert; an integration reads it -------------------------------
    alert = db.session.scalar(db.select(Alert).filter_by(episode_id=enrolled.episode.id))
    acknowledge_alert(alert, nurse, action="called_patient", note="advised paracetamol")
    staff = {"Authorization": f"Bearer {issue_api_token(nurse)}"}
    db.session.commit()

    page = check(client.get("/api/v1/alerts", headers=staff), 200).get_json()
    assert page["alerts"] == [] and page["next_cursor"] is None  # it is acknowledged
    query = {"status": "all", "limit": 1}
    page = check(client.get("/api/v1/alerts", query_string=query, headers=staff), 200).get_json()
    [listed] = page["alerts"]
    assert listed["acknowledged_by"] and listed["resolved_at"] is None
    detail = check(client.get(f"/api/v1/alerts/{alert.id}", headers=staff), 200).get_json()
    assert [e["kind"] for e in detail["history"]] == [
        AlertEventKind.OPENED,
        AlertEventKind.ACKNOWLEDGED,
    ]
    assert detail["history"][0]["action"] is None and detail["history"][1]["reason"] is None
    check.error(
        client.get("/api/v1/alerts", query_string={"cursor": "garbage"}, headers=staff),
        400,
        "invalid_cursor",
    )
    check.error(client.get(f"/api/v1/alerts/{MAX_ID}", headers=staff), 404, "not_found")
    check.error(client.get("/api/v1/alerts", headers=patient), 401, "invalid_token")

    episode_url = f"/api/v1/episodes/{enrolled.episode.id}"
    bundle = check(client.get(f"{episode_url}/fhir", headers=staff), 200)
    assert bundle.mimetype == "application/fhir+json"
    assert bundle.get_json()["type"] == "collection"
    entries_csv = check(client.get(f"{episode_url}/entries.csv", headers=staff), 200)
    assert entries_csv.mimetype == "text/csv"
    assert entries_csv.get_data(as_text=True).startswith("entry_id,")
    check.error(client.get("/api/v1/episodes/999999/fhir", headers=staff), 404, "not_found")
    day = now.date()
    days = {"start": (day - timedelta(days=1)).isoformat(), "end": day.isoformat()}
    check(client.get("/api/v1/alerts.csv", query_string=days, headers=staff), 200)
    backwards = {"start": days["end"], "end": days["start"]}
    check.error(
        client.get("/api/v1/entries.csv", query_string=backwards, headers=staff),
        400,
        "invalid_range",
    )

    # --- what no operation describes: an unknown path, a method a path does not take -----
    missing = client.get("/api/v1/nothing", headers=staff)
    assert missing.status_code == 404
    assert not list(check.schema("Error").iter_errors(missing.get_json()))
    assert missing.get_json()["error"]["code"] == "not_found"

    refused = client.delete(CHECKINS, headers=patient)
    assert refused.status_code == 405
    assert set(refused.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    assert not list(check.schema("Error").iter_errors(refused.get_json()))
    assert refused.get_json()["error"]["code"] == "method_not_allowed"
    assert "Allow" in document["components"]["responses"]["MethodNotAllowed"]["headers"]

    assert {status for _, _, status in check.seen} == {200, 201, 400, 401, 404, 409, 413, 415, 422}
    assert {path for _, path, _ in check.seen} >= {
        CHECKINS,
        "/api/v1/episode",
        "/api/v1/alerts",
        f"/api/v1/alerts/{alert.id}",
        f"{episode_url}/fhir",
        f"{episode_url}/entries.csv",
        "/api/v1/alerts.csv",
        "/api/v1/entries.csv",
    }


def test_an_answer_the_document_does_not_allow_is_caught(client, document, enrolled):
    """The check has teeth: with `idempotency_key` declared a plain string (the bug this
    document once had), the answer to a check-in sent without one fails validation."""
    document["components"]["schemas"]["Entry"]["properties"]["idempotency_key"] = {"type": "string"}
    check = Checker(document)
    response = client.post(CHECKINS, json={"pain": 3}, headers=enrolled.headers)
    with pytest.raises(InvalidData):
        check(response, 201)


def test_the_document_reads_its_enums_and_limits_from_the_code(document):
    from recovery.api.integration import DEFAULT_LIMIT, MAX_LIMIT
    from recovery.interop.csv_export import (
        EARLIEST_EXPORT_DATE,
        LATEST_EXPORT_DATE,
        MAX_RANGE_DAYS,
    )

    schemas = document["components"]["schemas"]
    assert schemas["RedFlag"]["enum"] == list(RedFlag.codes())
    checkin = schemas["CheckIn"]
    assert checkin["additionalProperties"] is False and checkin["required"] == ["pain"]
    assert (checkin["properties"]["pain"]["minimum"], checkin["properties"]["pain"]["maximum"]) == (
        0,
        10,
    )
    entry = schemas["Entry"]["properties"]["idempotency_key"]
    assert {"type": "null"} in entry["anyOf"]
    for name in ("Entry", "Alert", "AlertEvent", "AlertDetail", "AlertPage", "Episode", "Error"):
        schema = schemas[name]
        assert set(schema["required"]) == set(schema["properties"]), name
    paths = document["paths"]
    [limit] = [p for p in paths["/alerts"]["get"]["parameters"] if p["name"] == "limit"]
    assert limit["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_LIMIT,
        "default": DEFAULT_LIMIT,
    }
    for path in ("/entries.csv", "/alerts.csv"):
        for parameter in paths[path]["get"]["parameters"]:
            text = parameter["description"]
            assert str(EARLIEST_EXPORT_DATE) in text and str(LATEST_EXPORT_DATE) in text
            assert f"at most {MAX_RANGE_DAYS} days" in text
    fhir = paths["/episodes/{episode_id}/fhir"]["get"]
    assert fhir["parameters"][0]["schema"]["maximum"] == MAX_ID
    assert set(paths["/checkins"]["post"]["responses"]) == {
        "200",
        "201",
        "400",
        "401",
        "409",
        "413",
        "415",
        "422",
        "429",
        "503",
    }
