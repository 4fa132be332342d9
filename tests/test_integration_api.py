"""The integration API: staff tokens, the alert feed with its order and paging, CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from recovery.care.accounts import issue_api_token
from recovery.care.models import Alert
from recovery.extensions import db
from tests import factories

ALERTS = "/api/v1/alerts"


def gen_api_staff(clinic, email: str | None = None):
    """A staff member of `clinic` with an integration API token: (user, token)."""
    user = factories.gen_staff(clinic, email=email)
    token = issue_api_token(user)
    db.session.commit()
    return user, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def token(clinic):
    return gen_api_staff(clinic)[1]


def gen_alert(episode, rule: str, severity: str, opened_dt, status: str = "open", **kw) -> Alert:
    """A committed alert, as the rules would have opened it."""
    alert = Alert(
        episode_id=episode.id,
        clinic_id=episode.clinic_id,
        rule=rule,
        severity=severity,
        status=status,
        reason=f"{rule} reason",
        opened_dt=opened_dt,
        updated_dt=opened_dt,
        **kw,
    )
    db.session.add(alert)
    db.session.commit()
    return alert


@pytest.fixture
def mixed_alerts(clinic, now):
    """Alerts of every severity and status over three episodes, opened at different times."""
    episodes = [factories.gen_episode(clinic, name=f"P{i}").episode for i in range(3)]
    t = now - timedelta(hours=10)
    made = [
        gen_alert(episodes[0], "above_expected", "moderate", t),
        gen_alert(episodes[1], "rebound", "high", t + timedelta(hours=2)),
        gen_alert(episodes[2], "red_flag", "urgent", t + timedelta(hours=3)),
        gen_alert(episodes[0], "no_improvement", "high", t + timedelta(hours=1)),
        gen_alert(episodes[1], "persistent", "moderate", t + timedelta(hours=4)),
        gen_alert(episodes[2], "missed_checkin", "moderate", t, status="acknowledged"),
        gen_alert(
            episodes[0],
            "red_flag",
            "urgent",
            t,
            status="resolved",
            resolved_dt=t + timedelta(hours=1),
        ),
    ]
    return made


def test_default_feed_is_open_alerts_most_severe_then_oldest(client, token, mixed_alerts):
    response = client.get(ALERTS, headers=bearer(token))
    assert response.status_code == 200
    body = response.get_json()
    got = [(a["severity"], a["rule"]) for a in body["alerts"]]
    assert got == [
        ("urgent", "red_flag"),
        ("high", "no_improvement"),
        ("high", "rebound"),
        ("moderate", "above_expected"),
        ("moderate", "persistent"),
    ]
    assert body["next_cursor"] is None
    first = body["alerts"][0]
    assert set(first) >= {
        "id",
        "episode_id",
        "patient_name",
        "rule",
        "severity",
        "status",
        "reason",
        "opened_at",
        "updated_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
        "note",
    }
    assert first["patient_name"] == "P2" and first["opened_at"].endswith("Z")


@pytest.mark.parametrize(
    "status,expected",
    [("open", 5), ("acknowledged", 1), ("resolved", 1), ("all", 7)],
)
def test_status_filter(client, token, mixed_alerts, status, expected):
    body = client.get(ALERTS, query_string={"status": status}, headers=bearer(token)).get_json()
    assert len(body["alerts"]) == expected
    if status != "all":
        assert {a["status"] for a in body["alerts"]} == {status}


def test_resolved_alert_names_who_resolved_it(client, clinic, now):
    user, token = gen_api_staff(clinic)
    user.name = "Nurse Jo"
    episode = factories.gen_episode(clinic).episode
    gen_alert(
        episode,
        "red_flag",
        "urgent",
        now,
        status="resolved",
        resolved_dt=now,
        resolved_by_id=user.id,
    )
    body = client.get(ALERTS, query_string={"status": "resolved"}, headers=bearer(token)).get_json()
    [alert] = body["alerts"]
    assert alert["resolved_by"] == "Nurse Jo" and alert["resolved_at"] is not None
    assert alert["acknowledged_by"] is None


def test_pages_cover_every_alert_once_in_order(client, token, mixed_alerts):
    everything = client.get(ALERTS, query_string={"status": "all"}, headers=bearer(token))
    expected = [a["id"] for a in everything.get_json()["alerts"]]
    seen, cursor, pages = [], None, 0
    while True:
        query = {"status": "all", "limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get(ALERTS, query_string=query, headers=bearer(token)).get_json()
        assert len(body["alerts"]) <= 2
        seen += [a["id"] for a in body["alerts"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 4  # 7 alerts, 2 a page


def test_feed_shows_only_own_clinic(client, token, mixed_alerts, now):
    other = factories.gen_clinic()
    gen_alert(factories.gen_episode(other, name="Elsewhere").episode, "red_flag", "urgent", now)
    body = client.get(ALERTS, query_string={"status": "all"}, headers=bearer(token)).get_json()
    assert "Elsewhere" not in {a["patient_name"] for a in body["alerts"]}
    assert len(body["alerts"]) == len(mixed_alerts)


@pytest.mark.parametrize(
    "query,field,code",
    [
        ({"status": "bogus"}, "status", "invalid_choice"),
        ({"status": ""}, "status", "invalid_choice"),
        ({"limit": "0"}, "limit", "out_of_range"),
        ({"limit": "501"}, "limit", "out_of_range"),
        ({"limit": "ten"}, "limit", "invalid_type"),
        ({"limit": "-1"}, "limit", "invalid_type"),
        ({"limit": "٣"}, "limit", "invalid_type"),
        ({"cursor": "not-a-cursor"}, "cursor", "invalid_cursor"),
        ({"cursor": "WzEsIDIsIDNd"}, "cursor", "invalid_cursor"),  # [1, 2, 3]
        ({"stauts": "open"}, "stauts", "unknown_parameter"),
    ],
)
def test_bad_parameters_are_a_clear_400(client, token, query, field, code):
    response = client.get(ALERTS, query_string=query, headers=bearer(token))
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field
    assert response.get_json()["error"]["code"] == code


def test_limit_500_is_accepted(client, token, mixed_alerts):
    response = client.get(ALERTS, query_string={"limit": "500"}, headers=bearer(token))
    assert response.status_code == 200


def test_feed_query_count_is_fixed(client, clinic, token, now, count_queries):
    def add(n):
        for _ in range(n):
            episode = factories.gen_episode(clinic).episode
            gen_alert(episode, "red_flag", "urgent", now)
            gen_alert(episode, "rebound", "high", now, status="resolved", resolved_dt=now)

    counts = []
    for n in (2, 18):
        add(n)
        with count_queries() as q:
            body = client.get(ALERTS, query_string={"status": "all"}, headers=bearer(token))
            assert body.status_code == 200
        counts.append(q.count)
    assert len(body.get_json()["alerts"]) == 40
    assert counts[0] == counts[1] <= 3  # the token's staff, the alerts, their histories


# --- who may ask -------------------------------------------------------------------------

INTEGRATION_URLS = [
    "/api/v1/alerts",
    "/api/v1/episodes/{id}/fhir",
    "/api/v1/episodes/{id}/entries.csv",
    "/api/v1/episodes/{id}/alerts.csv",
    "/api/v1/entries.csv?start=2026-01-01&end=2026-01-31",
    "/api/v1/alerts.csv?start=2026-01-01&end=2026-01-31",
]


@pytest.mark.parametrize("url", INTEGRATION_URLS)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Token abc"}],
    ids=["missing", "bad", "wrong-scheme"],
)
def test_refused_without_a_staff_token(client, enrolled, url, headers):
    response = client.get(url.format(id=enrolled.episode.id), headers=headers)
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] in {"unauthorized", "invalid_token"} and error["message"]


@pytest.mark.parametrize("url", INTEGRATION_URLS)
def test_patient_token_is_refused(client, enrolled, url):
    response = client.get(url.format(id=enrolled.episode.id), headers=enrolled.headers)
    assert response.status_code == 401


@pytest.mark.parametrize("url", INTEGRATION_URLS)
def test_inactive_staff_token_is_refused(client, clinic, enrolled, url):
    user, token = gen_api_staff(clinic)
    user.is_active = False
    db.session.commit()
    response = client.get(url.format(id=enrolled.episode.id), headers=bearer(token))
    assert response.status_code == 401


@pytest.mark.parametrize("url", [u for u in INTEGRATION_URLS if "{id}" in u])
def test_other_clinics_episode_is_404(client, enrolled, url):
    _, other_token = gen_api_staff(factories.gen_clinic())
    response = client.get(url.format(id=enrolled.episode.id), headers=bearer(other_token))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("url", [u for u in INTEGRATION_URLS if "{id}" in u])
def test_own_clinics_episode_is_served(client, enrolled, token, url):
    response = client.get(url.format(id=enrolled.episode.id), headers=bearer(token))
    assert response.status_code == 200


# --- CSV over the API --------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_episode_entries_csv(client, clinic, token, now):
    episode = factories.gen_episode(clinic, procedure_dt=now - timedelta(days=2)).episode
    for pain, hours in ((6, 2), (4, 24), (3, 40)):
        factories.gen_entry(episode, pain, hours)
    response = client.get(f"/api/v1/episodes/{episode.id}/entries.csv", headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="episode-{episode.id}-entries.csv"'
    )
    assert [row["pain"] for row in read_csv(response)] == ["6", "4", "3"]


@pytest.mark.parametrize(
    "query,field,code",
    [
        ({"end": "2026-01-31"}, "start", "required"),
        ({"start": "2026-01-01"}, "end", "required"),
        ({"start": "2026-02-30", "end": "2026-03-01"}, "start", "invalid_format"),
        ({"start": "20260101", "end": "2026-03-01"}, "start", "invalid_format"),
        ({"start": "2026-03-01", "end": "2026-02-01"}, "end", "invalid_range"),
        ({"start": "2025-01-01", "end": "2026-02-05"}, "end", "range_too_long"),
        ({"start": "1999-12-31", "end": "2000-01-02"}, "start", "out_of_range"),
        ({"start": "2026-01-01", "end": "2026-01-02", "kind": "x"}, "kind", "unknown_parameter"),
    ],
)
def test_bad_range_is_a_clear_400(client, token, query, field, code):
    for url in ("/api/v1/entries.csv", "/api/v1/alerts.csv"):
        response = client.get(url, query_string=query, headers=bearer(token))
        assert response.status_code == 400
        assert response.get_json()["error"] | {"message": ""} == {
            "code": code,
            "field": field,
            "message": "",
        }


def test_clinic_alerts_csv_names_the_episode(client, clinic, token, now):
    episode = factories.gen_episode(clinic).episode
    alert = gen_alert(episode, "red_flag", "urgent", now)
    day = now.date()
    query = {
        "start": (day - timedelta(days=1)).isoformat(),
        "end": (day + timedelta(days=1)).isoformat(),
    }
    response = client.get("/api/v1/alerts.csv", query_string=query, headers=bearer(token))
    assert response.status_code == 200
    [row] = read_csv(response)
    assert row["episode_id"] == str(episode.id) and row["alert_id"] == str(alert.id)


def test_openapi_lists_the_integration_endpoints(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/alerts",
        "/episodes/{episode_id}/fhir",
        "/episodes/{episode_id}/entries.csv",
        "/episodes/{episode_id}/alerts.csv",
        "/entries.csv",
        "/alerts.csv",
    ):
        assert document["paths"][path]["get"]["security"] == [{"staffToken": []}]


def test_codes_older_than_the_vocabulary_still_answer(client, clinic, token, now):
    """A row stored before a code was retired (a red flag, a rule) is served as stored, in the
    feed, an alert's detail and the patient's episode: one old row never takes an answer down."""
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    entry = factories.gen_entry(enrolled.episode, 5, 20).entry
    entry.red_flags = ["retired_flag"]
    alert = gen_alert(enrolled.episode, "retired_rule", "moderate", now - timedelta(hours=1))
    db.session.commit()
    feed = client.get(ALERTS, query_string={"status": "all"}, headers=bearer(token))
    assert feed.status_code == 200
    assert [a["rule"] for a in feed.get_json()["alerts"]] == ["retired_rule"]
    detail = client.get(f"{ALERTS}/{alert.id}", headers=bearer(token))
    assert detail.status_code == 200 and detail.get_json()["rule"] == "retired_rule"
    episode = client.get("/api/v1/episode", headers=bearer(enrolled.token))
    assert episode.status_code == 200
    assert episode.get_json()["entries"][0]["red_flags"] == ["retired_flag"]
