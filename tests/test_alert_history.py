"""Each alert's history as rows: findings, escalations, re-openings, acknowledgements and
resolutions, on the episode page, the timeline, the CSV and GET /api/v1/alerts/<id>."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from jsonschema import Draft202012Validator

from recovery.api.openapi import openapi_document
from recovery.care.accounts import issue_api_token
from recovery.care.alerts import Acknowledged, AlertError, acknowledge_alert, resolve_alert
from recovery.care.episodes import record_pain_entry
from recovery.care.models import Alert, AlertEvent
from recovery.extensions import db
from tests import factories


@pytest.fixture
def episode(clinic, now):
    """An episode whose procedure ended 30 h ago."""
    return factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30)).episode


def report(episode, hours: float, pain: int, flags: list[str], *, minutes_later: int):
    """A check-in `hours` after the procedure, received `minutes_later` after it was felt."""
    recorded = episode.procedure_dt + timedelta(hours=hours)
    record_pain_entry(
        episode,
        pain=pain,
        recorded_dt=recorded,
        red_flags=flags,
        now=recorded + timedelta(minutes=minutes_later),
    )
    db.session.commit()
    return recorded + timedelta(minutes=minutes_later)


@pytest.fixture
def red_flags(episode):
    """A fever, then a bleeding wound, then chest pain (an emergency) while the alert is open:
    the alert and the time each report arrived."""
    times = [
        report(episode, 26, 4, ["fever"], minutes_later=1),
        report(episode, 27, 3, ["wound"], minutes_later=2),
        report(episode, 28, 5, ["chest_pain"], minutes_later=3),
    ]
    alert = db.session.scalar(db.select(Alert).filter_by(episode_id=episode.id, rule="red_flag"))
    return alert, times


def kinds(alert: Alert) -> list[str]:
    db.session.refresh(alert)
    return [event.kind for event in alert.events]


def test_every_red_flag_is_an_event_with_its_time_and_finding(red_flags):
    alert, times = red_flags
    assert kinds(alert) == ["opened", "updated", "escalated"]
    assert [e.created_dt for e in alert.events] == times
    assert [e.severity for e in alert.events] == ["urgent", "urgent", "emergency"]
    details = [e.detail for e in alert.events]
    assert "fever or chills" in details[0] and "26 h" in details[0]
    assert "needle site" in details[1] and "27 h" in details[1]
    assert "chest pain" in details[2] and "28 h" in details[2]
    assert all(e.staff_id is None and e.entry_id for e in alert.events)
    # The one-line reason keeps all three too (the worklist's, the feed's).
    assert alert.reason.count("red flag at") == 3


def test_episode_page_shows_every_red_flag_with_its_time(client, auth, nurse, episode, red_flags):
    auth.login()
    html = client.get(f"/staff/episodes/{episode.id}").get_data(as_text=True)
    card = html.split('id="alert-')[1].split("</article>")[0]
    history = re.findall(r'<li class="alert-history__event[^"]*">(.*?)</li>', card, re.S)
    assert len(history) == 3
    assert "Opened" in history[0] and "fever or chills" in history[0] and "System" in history[0]
    assert "New finding" in history[1] and "needle site" in history[1]
    assert "Escalated" in history[2] and "(Emergency)" in history[2] and "chest pain" in history[2]
    worklist = client.get("/staff/").get_data(as_text=True)
    for words in ("fever or chills", "needle site", "chest pain"):
        assert words in worklist


def test_acknowledgements_are_events_and_an_escalation_reopens_with_a_new_one(
    clinic, nurse, episode, now
):
    report(episode, 26, 4, ["fever"], minutes_later=1)
    alert = db.session.scalar(db.select(Alert).filter_by(episode_id=episode.id))
    at_26h = episode.procedure_dt + timedelta(hours=26, minutes=5)
    first = acknowledge_alert(
        alert, nurse, action="called_patient", note="  rang her  ", now=at_26h
    )
    db.session.commit()
    assert first is Acknowledged.FIRST
    report(episode, 27, 5, ["breathless"], minutes_later=1)  # an emergency: escalates
    db.session.refresh(alert)
    assert (alert.status, alert.severity) == ("open", "emergency")
    assert kinds(alert) == ["opened", "acknowledged", "escalated", "reopened"]
    other = factories.gen_staff(clinic)
    assert acknowledge_alert(alert, other, action="sent_to_emergency") is Acknowledged.FIRST
    db.session.commit()
    assert kinds(alert) == ["opened", "acknowledged", "escalated", "reopened", "acknowledged"]
    acks = [e for e in alert.events if e.kind == "acknowledged"]
    assert [(e.staff_id, e.action, e.note, e.severity) for e in acks] == [
        (nurse.id, "called_patient", "rang her", "urgent"),
        (other.id, "sent_to_emergency", "", "emergency"),
    ]
    # The alert's own columns hold the acknowledgement that took it out of "open" last.
    assert alert.acknowledged_by_id == other.id
    resolve_alert(alert, nurse, note="in hospital")
    db.session.commit()
    assert kinds(alert)[-1] == "resolved"
    with pytest.raises(AlertError, match="already resolved"):
        acknowledge_alert(alert, nurse, action="other")
    with pytest.raises(AlertError, match="unknown action"):
        acknowledge_alert(alert, nurse, action="bogus")


def test_a_second_nurse_adds_to_the_history_and_is_told_who_was_first(
    app, client, clinic, nurse, episode
):
    report(episode, 26, 4, ["fever"], minutes_later=1)
    alert = db.session.scalar(db.select(Alert).filter_by(episode_id=episode.id))
    acknowledge_alert(alert, nurse, action="called_patient", note="no answer")
    db.session.commit()
    second = factories.gen_staff(clinic, email="second@example.test")
    second.name = "Nurse Two"
    nurse.name = "Nurse One"
    db.session.commit()
    assert client.post("/login", data={"email": second.email, "password": factories.PASSWORD})
    url = f"/staff/alerts/{alert.id}/acknowledge"
    page = client.post(
        url, data={"action": "booked_review", "note": "clinic Monday"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Nurse One had already acknowledged this alert" in page
    # The same again (a double click) adds nothing.
    page = client.post(
        url, data={"action": "booked_review", "note": "clinic Monday"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "This acknowledgement was already recorded." in page
    db.session.refresh(alert)
    acks = [(e.staff_id, e.action, e.note) for e in alert.events if e.kind == "acknowledged"]
    assert acks == [
        (nurse.id, "called_patient", "no answer"),
        (second.id, "booked_review", "clinic Monday"),
    ]
    assert alert.acknowledged_by_id == nurse.id
    card = page.split(f'id="alert-{alert.id}"')[1].split("</article>")[0]
    history = re.findall(r'<li class="alert-history__event[^"]*">(.*?)</li>', card, re.S)
    assert "Nurse One: Called the patient" in history[1]
    assert '<span class="note">no answer</span>' in history[1]
    assert "Nurse Two: Booked a review" in history[2]
    assert '<span class="note">clinic Monday</span>' in history[2]
    assert "Add an acknowledgement" in card  # the form stays for a later call
    # The worklist shows the latest acknowledgement in words ...
    worklist = client.get("/staff/").get_data(as_text=True)
    # ... named by its nurse, who is not the one who acknowledged the alert first.
    assert "acknowledged by Nurse One (Nurse Two: Booked a review: clinic Monday)" in worklist


def test_in_progress_names_an_acknowledger_without_a_name_by_email(client, auth, nurse, episode):
    report(episode, 26, 4, ["fever"], minutes_later=1)
    alert = db.session.scalar(db.select(Alert).filter_by(episode_id=episode.id))
    acknowledge_alert(alert, nurse, action="called_patient")
    db.session.commit()
    auth.login()
    worklist = client.get("/staff/").get_data(as_text=True)
    assert "acknowledged by nurse@example.test (Called the patient)" in worklist


def test_the_same_acknowledgement_later_is_a_new_call_not_a_double_click(nurse, episode, now):
    report(episode, 26, 4, ["fever"], minutes_later=1)
    alert = db.session.scalar(db.select(Alert).filter_by(episode_id=episode.id))
    assert acknowledge_alert(alert, nurse, action="called_patient", now=now) is Acknowledged.FIRST
    again = now + timedelta(minutes=2)
    assert acknowledge_alert(alert, nurse, action="called_patient", now=again) == "repeated"
    later = now + timedelta(hours=1)
    assert acknowledge_alert(alert, nurse, action="called_patient", now=later) == "added"
    db.session.commit()
    assert kinds(alert) == ["opened", "acknowledged", "acknowledged"]


def test_timeline_reads_alert_changes_from_the_history_once(client, auth, nurse, episode):
    report(episode, 26, 4, ["fever"], minutes_later=1)
    alert = db.session.scalar(db.select(Alert).filter_by(episode_id=episode.id))
    acknowledge_alert(alert, nurse, action="other", note="see chart")
    db.session.commit()
    auth.login()
    html = client.get(f"/staff/episodes/{episode.id}").get_data(as_text=True)
    timeline = html.split('id="timeline-heading"')[1]
    assert timeline.count("alert opened") == 1
    assert timeline.count("acknowledged an alert") == 1
    assert "Red flag: Other (see note): see chart" in timeline
    assert "Red flag (Urgent): red flag at 26 h" in timeline


# --- CSV and the API ---------------------------------------------------------------------


@pytest.fixture
def handled(clinic, nurse, episode, red_flags):
    """The red-flag alert, acknowledged by two nurses and resolved, and an API token."""
    alert, _times = red_flags
    acknowledge_alert(alert, nurse, action="called_patient", note="rang her")
    other = factories.gen_staff(clinic, email="other@example.test")
    acknowledge_alert(alert, other, action="other", note="=cmd")
    resolve_alert(alert, nurse, note="settled")
    token = issue_api_token(nurse)
    db.session.commit()
    return alert, token


def test_alerts_csv_note_comes_from_the_history(client, auth, episode, handled):
    auth.login()
    body = client.get(f"/staff/episodes/{episode.id}/alerts.csv").get_data(as_text=True)
    [row] = list(csv.DictReader(io.StringIO(body)))
    assert row["note"] == "called_patient: rang her\nother: =cmd\nsettled"
    assert row["acknowledged_by"] == "nurse@example.test"


def get_alert(client, alert_id: int, token: str):
    return client.get(f"/api/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {token}"})


def test_api_alert_lists_its_history(client, nurse, handled):
    alert, token = handled
    response = get_alert(client, alert.id, token)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["status"], body["severity"]) == (alert.id, "resolved", "emergency")
    history = body["history"]
    assert [e["kind"] for e in history] == [
        "opened",
        "updated",
        "escalated",
        "acknowledged",
        "acknowledged",
        "resolved",
    ]
    assert history[0]["by"] == "system" and "fever or chills" in history[0]["reason"]
    assert [(e["by"], e["action"], e["note"]) for e in history[3:]] == [
        ("nurse@example.test", "called_patient", "rang her"),
        ("other@example.test", "other", "=cmd"),
        ("nurse@example.test", None, "settled"),
    ]
    assert all(e["at"].endswith("Z") for e in history)
    assert body["note"] == "called_patient: rang her\nother: =cmd\nsettled"
    document = openapi_document()
    schema = _resolvable(document, "AlertDetail")
    Draft202012Validator(schema).validate(body)


def _resolvable(document: dict, name: str) -> dict:
    """The named schema with the document's components, so its $refs resolve."""
    return {**document["components"]["schemas"][name], "components": document["components"]}


def test_api_alert_costs_a_fixed_number_of_queries(client, handled, count_queries):
    alert, token = handled
    with count_queries() as q:
        response = get_alert(client, alert.id, token)
    assert response.status_code == 200
    # The token's staff, the alert with its patient, history, its staff; and the INSERT of the
    # view's audit row (`episode_viewed`).
    assert q.count <= 5


@pytest.mark.parametrize(
    ("suffix", "status", "code"),
    [
        ("?x=1", 400, "unknown_parameter"),
        ("0", 404, "not_found"),  # /api/v1/alerts/<id>0: no such alert
        ("/", 404, "not_found"),
    ],
)
def test_api_alert_refusals_are_json(client, handled, suffix, status, code):
    alert, token = handled
    response = client.get(
        f"/api/v1/alerts/{alert.id}{suffix}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize("alert_id", ["abc", "-1", "1.5", "%00"])
def test_api_alert_ids_that_are_not_numbers_are_json_404(client, handled, alert_id):
    _alert, token = handled
    response = client.get(
        f"/api/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("alert_id", [2**31, 2**63, 10**30])
def test_api_alert_ids_beyond_any_row_are_404(client, handled, alert_id):
    _alert, token = handled
    response = get_alert(client, alert_id, token)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_api_alert_of_another_clinic_is_404(client, handled):
    alert, _token = handled
    stranger = factories.gen_staff(factories.gen_clinic())
    token = issue_api_token(stranger)
    db.session.commit()
    response = get_alert(client, alert.id, token)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Token abc"}],
    ids=["missing", "bad", "wrong-scheme"],
)
def test_api_alert_needs_a_staff_token(client, handled, headers):
    alert, _token = handled
    response = client.get(f"/api/v1/alerts/{alert.id}", headers=headers)
    assert response.status_code == 401


def test_api_alert_refuses_a_patient_token(client, clinic, handled):
    alert, _token = handled
    enrolled = factories.gen_episode(clinic)
    response = client.get(f"/api/v1/alerts/{alert.id}", headers=enrolled.headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "bad",
    [{"kind": "deleted"}, {"kind": "acknowledged", "action": "shrugged"}],
    ids=["kind", "action"],
)
def test_history_rows_obey_the_vocabulary(episode, red_flags, bad):
    """The database refuses a kind, action or severity that is not in the vocabulary."""
    alert, _times = red_flags
    db.session.add(AlertEvent(alert_id=alert.id, created_dt=alert.opened_dt, **bad))
    with pytest.raises(Exception, match="(?i)check"):
        db.session.flush()
    db.session.rollback()
