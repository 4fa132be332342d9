"""The JSON API: check-ins with idempotency, the episode, and a 4xx for every bad input."""

from datetime import timedelta

import pytest

from recovery.care.models import PainEntry
from recovery.extensions import db

URL = "/api/v1/checkins"


def count_entries() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(PainEntry))


def test_checkin_created_then_idempotent(client, enrolled):
    body = {"pain": 4, "red_flags": [], "analgesic": True, "note": "ok", "idempotency_key": "a1"}
    first = client.post(URL, json=body, headers=enrolled.headers)
    assert first.status_code == 201
    entry = first.get_json()["entry"]
    assert {k: entry[k] for k in body} == body
    assert first.get_json()["result"]["status"] == "on_track"
    again = client.post(URL, json=body, headers=enrolled.headers)
    assert again.status_code == 200
    assert again.get_json()["entry"]["id"] == entry["id"]
    assert count_entries() == 1


def test_null_optional_fields_count_as_not_sent(client, enrolled):
    body = {"pain": 2, "recorded_at": None, "red_flags": None, "note": None}
    response = client.post(URL, json=body | {"idempotency_key": None}, headers=enrolled.headers)
    assert response.status_code == 201
    entry = response.get_json()["entry"]
    assert (entry["red_flags"], entry["note"], entry["idempotency_key"]) == ([], "", None)


@pytest.mark.parametrize(
    "body,message",
    [
        ({"pain": 5.5}, "must be a whole number from 0 to 10"),
        ({"pain": "5"}, "must be an integer from 0 to 10"),
        ({"pain": 11}, "must be from 0 to 10"),
        ({}, "pain is required"),
        ({"pain": 3, "surprise": 1}, "unknown field: surprise"),
        ({"pain": 3, "idempotency_key": ""}, "must be 1 to 64 characters"),
        ({"pain": 3, "note": "x" * 1001}, "must be at most 1000 characters"),
        (
            {"pain": 3, "recorded_at": "2026-11-27T10:00:00"},
            "must include a UTC offset, e.g. +01:00 or Z",
        ),
    ],
)
def test_refusals_say_what_is_wrong(client, enrolled, body, message):
    response = client.post(URL, json=body, headers=enrolled.headers)
    assert response.get_json()["error"]["message"] == message


def test_recorded_at_is_kept_with_its_instant(client, enrolled, now):
    when = (now - timedelta(hours=3)).replace(microsecond=0)
    body = {"pain": 5, "recorded_at": when.astimezone().isoformat()}
    response = client.post(URL, json=body, headers=enrolled.headers)
    assert response.status_code == 201
    stored = db.session.scalar(db.select(PainEntry))
    assert stored.recorded_dt == when


def test_get_episode_lists_entries_and_curve(client, enrolled):
    client.post(URL, json={"pain": 3, "idempotency_key": "x"}, headers=enrolled.headers)
    body = client.get("/api/v1/episode", headers=enrolled.headers).get_json()
    assert body["id"] == enrolled.episode.id
    assert [e["pain"] for e in body["entries"]] == [3]
    assert set(body["entries"][0]) >= {
        "id",
        "pain",
        "recorded_at",
        "red_flags",
        "analgesic",
        "note",
        "idempotency_key",
    }
    curve = body["expected_curve"]
    assert len(curve["hours"]) == len(curve["expected"]) == len(curve["amber"]) > 5


BAD_BODIES = [
    ({"pain": "5"}, 400, "invalid_type", "pain"),
    ({"pain": 5.5}, 400, "invalid_type", "pain"),
    ({"pain": True}, 400, "invalid_type", "pain"),
    ({"pain": None}, 400, "invalid_type", "pain"),
    ({"pain": 11}, 400, "out_of_range", "pain"),
    ({"pain": -1}, 400, "out_of_range", "pain"),
    ({"pain": 10**30}, 400, "out_of_range", "pain"),
    ({}, 400, "required", "pain"),
    ({"pain": 3, "red_flags": ["bogus"]}, 400, "unknown_code", "red_flags"),
    ({"pain": 3, "red_flags": "chest_pain"}, 400, "invalid_type", "red_flags"),
    ({"pain": 3, "red_flags": [1]}, 400, "invalid_type", "red_flags"),
    ({"pain": 3, "analgesic": "yes"}, 400, "invalid_type", "analgesic"),
    ({"pain": 3, "note": 5}, 400, "invalid_type", "note"),
    ({"pain": 3, "note": "x" * 1001}, 400, "too_long", "note"),
    ({"pain": 3, "note": "a\u0000b"}, 400, "invalid_text", "note"),
    ({"pain": 3, "idempotency_key": "k" * 65}, 400, "invalid_length", "idempotency_key"),
    ({"pain": 3, "idempotency_key": ""}, 400, "invalid_length", "idempotency_key"),
    ({"pain": 3, "idempotency_key": 7}, 400, "invalid_type", "idempotency_key"),
    ({"pain": 3, "recorded_at": "yesterday"}, 400, "invalid_format", "recorded_at"),
    ({"pain": 3, "recorded_at": "2026-11-27T10:00:00"}, 400, "missing_offset", "recorded_at"),
    ({"pain": 3, "recorded_at": 1700000000}, 400, "invalid_type", "recorded_at"),
    ({"pain": 3, "recorded_at": "2999-01-01T00:00:00Z"}, 422, "in_future", "recorded_at"),
    ({"pain": 3, "recorded_at": "2001-01-01T00:00:00Z"}, 422, "too_early", "recorded_at"),
    ({"pain": 3, "surprise": 1}, 400, "unknown_field", "surprise"),
    # The first refusal wins: an unknown field before anything else, then the fields in order.
    ({"surprise": 1, "another": 2}, 400, "unknown_field", "another"),
    ({"pain": 7.0}, 400, "invalid_type", "pain"),
    ({"pain": 3, "red_flags": ["bogus", 1]}, 400, "invalid_type", "red_flags"),
    ({"pain": 3, "analgesic": None}, 400, "invalid_type", "analgesic"),
    ({"pain": 12, "note": 5}, 400, "out_of_range", "pain"),
]


@pytest.mark.parametrize("body,status,code,field", BAD_BODIES)
def test_bad_bodies_get_a_4xx_and_store_nothing(client, enrolled, body, status, code, field):
    response = client.post(URL, json=body, headers=enrolled.headers)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]
    assert count_entries() == 0


@pytest.mark.parametrize(
    "data,content_type,status",
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"pain"', "application/json", 400),
        ("pain=3", "application/x-www-form-urlencoded", 415),
        ('{"pain": 3, "note": "' + "x" * 70_000 + '"}', "application/json", 413),
        (b'{"pain": 3, "note": "\xff\xfe"}', "application/json", 400),
        ('{"pain": 3, "note": "\\ud800"}', "application/json", 400),
        ('{"pain": NaN}', "application/json", 400),
    ],
)
def test_malformed_and_oversized_bodies(client, enrolled, data, content_type, status):
    response = client.post(URL, data=data, content_type=content_type, headers=enrolled.headers)
    assert response.status_code == status
    assert response.get_json()["error"]["code"]
    assert count_entries() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
def test_missing_or_bad_token_is_401(client, enrolled, headers):
    for method, url in [("post", URL), ("get", "/api/v1/episode")]:
        response = getattr(client, method)(url, json={"pain": 3}, headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] in {"unauthorized", "invalid_token"}
    assert count_entries() == 0


def test_revoked_token_is_401(client, enrolled):
    from recovery.care.episodes import revoke_link

    revoke_link(enrolled.episode)
    db.session.commit()
    response = client.post(URL, json={"pain": 3}, headers=enrolled.headers)
    assert response.status_code == 401
    assert count_entries() == 0


def test_unknown_api_path_and_method_are_json(client):
    assert client.get("/api/v1/nothing").get_json()["error"]["code"] == "not_found"
    response = client.delete(URL)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_openapi_document_is_valid(client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert "/checkins" in document["paths"] and "/episode" in document["paths"]
