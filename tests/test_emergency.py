"""The emergency severity (chest pain, breathlessness) everywhere severities appear.

Driven like users drive the app: patients check in through their link, nurses read the
worklist and the episode page, integrations read the API, the CSV and FHIR.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from recovery.care.accounts import issue_api_token
from recovery.care.models import Alert
from recovery.extensions import db
from tests import factories


def check_in(client, token: str, pain: int, flags: list[str], key: str):
    response = client.post(
        f"/p/{token}", data={"pain": str(pain), "red_flags": flags, "idempotency_key": key}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def red_flag_alert(episode) -> Alert:
    db.session.rollback()
    return db.session.scalar(db.select(Alert).filter_by(episode_id=episode.id, rule="red_flag"))


def test_chest_pain_opens_an_emergency_and_a_later_fever_keeps_it(client, clinic, now):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    check_in(client, enrolled.token, 3, ["chest_pain"], "a")
    assert red_flag_alert(enrolled.episode).severity == "emergency"
    check_in(client, enrolled.token, 3, ["fever"], "b")
    alert = red_flag_alert(enrolled.episode)
    # The severity is the highest reached; the earlier red flag is not forgotten.
    assert alert.severity == "emergency"
    assert "chest pain" in alert.reason and "fever or chills" in alert.reason


def test_breathlessness_escalates_an_urgent_red_flag_to_emergency(client, clinic, now):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    check_in(client, enrolled.token, 3, ["leg_weakness"], "a")
    assert red_flag_alert(enrolled.episode).severity == "urgent"
    check_in(client, enrolled.token, 3, ["breathless"], "b")
    alert = red_flag_alert(enrolled.episode)
    assert (alert.severity, alert.status) == ("emergency", "open")


def make_urgent_then_emergency(client, clinic, now):
    """An urgent red flag raised first, an emergency one after it (so oldest-first alone
    would list the urgent one first)."""
    urgent = factories.gen_episode(
        clinic, name="Ursula Urgent", procedure_dt=now - timedelta(hours=30)
    )
    check_in(client, urgent.token, 4, ["wound"], "u")
    emergency = factories.gen_episode(
        clinic, name="Emma Emergency", procedure_dt=now - timedelta(hours=30)
    )
    check_in(client, emergency.token, 4, ["breathless"], "e")
    return urgent, emergency


def test_worklist_lists_an_emergency_above_an_older_urgent_alert(client, auth, clinic, nurse, now):
    make_urgent_then_emergency(client, clinic, now)
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    assert html.index("Emma Emergency") < html.index("Ursula Urgent")
    assert 'class="badge badge--emergency">Emergency</span>' in html
    assert "alert-row--emergency" in html


def test_api_feed_csv_and_fhir_carry_emergency(client, clinic, nurse, now):
    _urgent, emergency = make_urgent_then_emergency(client, clinic, now)
    headers = {"Authorization": f"Bearer {issue_api_token(nurse)}"}
    db.session.commit()

    feed = client.get("/api/v1/alerts", headers=headers).get_json()
    assert [a["severity"] for a in feed["alerts"]] == ["emergency", "urgent"]

    episode_id = emergency.episode.id
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(f"/api/v1/episodes/{episode_id}/alerts.csv", headers=headers).get_data(
                    as_text=True
                )
            )
        )
    )
    assert [row["severity"] for row in rows] == ["emergency"]

    bundle = client.get(f"/api/v1/episodes/{episode_id}/fhir", headers=headers).get_json()
    [flag] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Flag"]
    codings = flag["extension"][0]["valueCodeableConcept"]["coding"]
    assert {"system": "http://hl7.org/fhir/flag-priority-code", "code": "PH"}.items() <= codings[
        0
    ].items()
    assert codings[1] == {"system": "urn:recovery:alert-severity", "code": "emergency"}


def test_openapi_enumerates_every_severity(client):
    document = client.get("/api/v1/openapi.json").get_json()
    text = str(document)
    assert "'emergency', 'urgent', 'high', 'moderate'" in text


def test_episode_page_and_cohort_view_name_the_emergency(client, auth, clinic, nurse, now):
    _urgent, emergency = make_urgent_then_emergency(client, clinic, now)
    auth.login()
    page = client.get(f"/staff/episodes/{emergency.episode.id}").get_data(as_text=True)
    assert 'class="badge badge--emergency">Emergency</span>' in page
    cohort = client.get("/staff/cohort").get_data(as_text=True)
    assert "Emergency" in cohort


def test_staff_see_the_clinicians_words_and_patients_their_own(client, auth, clinic, nurse, now):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    patient_page = client.get(f"/p/{enrolled.token}").get_data(as_text=True)
    assert "New weakness in my legs" in patient_page
    assert "new weakness in the legs" not in patient_page
    check_in(client, enrolled.token, 3, ["leg_weakness"], "a")
    auth.login()
    staff_page = client.get(f"/staff/episodes/{enrolled.episode.id}").get_data(as_text=True)
    assert "new weakness in the legs" in staff_page
    assert "in my legs" not in staff_page
