"""Enrolment: the form creates a patient and an episode and shows the link once."""

from datetime import timedelta

from recovery.extensions import db
from recovery.models import Episode, Patient
from recovery.tokens import hash_token


def enrol_data(**overrides):
    data = {
        "display_name": "Maria Rossi",
        "mrn": "H123",
        "email": "maria@example.com",
        "phone": "+44 7700 900123",
        "preferred_language": "en",
        "procedure_date": "2026-11-26",
        "procedure_time": "09:30",
        "levels": "T12, L1",
        "indication": "osteoporosis",
        "baseline_pain": "8",
    }
    data.update(overrides)
    return data


def test_enrol_creates_episode_and_shows_link_once(client, auth, nurse, now):
    auth.login()
    data = enrol_data(procedure_date=(now - timedelta(days=1)).date().isoformat())
    response = client.post("/staff/enrol", data=data)
    assert response.status_code == 302
    episode = db.session.scalar(db.select(Episode))
    assert episode.patient.display_name == "Maria Rossi"
    assert episode.baseline_pain == 8 and episode.levels == "T12, L1"
    assert episode.procedure_dt.utcoffset() == timedelta(0)
    link_page = client.get(response.headers["Location"])
    html = link_page.get_data(as_text=True)
    assert "http://localhost/p/" in html and "data:image/svg+xml" in html
    token = html.split("http://localhost/p/")[1].split('"')[0]
    assert len(token) >= 22  # at least 128 bits, URL-safe base64
    assert episode.token_hash == hash_token(token)
    assert token not in client.get(response.headers["Location"]).get_data(as_text=True)
    assert client.get(f"/p/{token}").status_code == 200


def test_enrol_uses_the_clinic_time_zone(client, auth, nurse, clinic, now):
    clinic.timezone = "America/New_York"
    db.session.commit()
    auth.login()
    day = (now - timedelta(days=2)).date().isoformat()
    client.post("/staff/enrol", data=enrol_data(procedure_date=day, procedure_time="12:00"))
    episode = db.session.scalar(db.select(Episode))
    assert episode.procedure_dt.hour in (16, 17)  # 12:00 in New York, EST or EDT


def test_enrol_rejects_bad_input_and_stores_nothing(client, auth, nurse, now):
    auth.login()
    cases = [
        {"display_name": ""},
        {"baseline_pain": "11"},
        {"baseline_pain": "seven"},
        {"procedure_date": "not a date"},
        {"procedure_date": (now + timedelta(days=400)).date().isoformat()},
        {"email": "not-an-email"},
        {"phone": "call me maybe"},
        {"indication": "bogus"},
        {"display_name": "x" * 201},
        {"display_name": "nul\x00byte"},
    ]
    for overrides in cases:
        data = enrol_data(procedure_date=now.date().isoformat())
        data.update(overrides)
        response = client.post("/staff/enrol", data=data)
        assert response.status_code == 400, overrides
        assert b"Please check the form" in response.data
    assert db.session.scalar(db.select(db.func.count()).select_from(Patient)) == 0


def test_duplicate_mrn_in_the_same_clinic_is_refused(client, auth, nurse, now):
    auth.login()
    data = enrol_data(procedure_date=now.date().isoformat())
    assert client.post("/staff/enrol", data=data).status_code == 302
    again = client.post("/staff/enrol", data=data)
    assert again.status_code == 400
    assert b"already enrolled" in again.data
    assert db.session.scalar(db.select(db.func.count()).select_from(Patient)) == 1


def test_patient_list_shows_enrolled_patients(client, auth, nurse, enrolled):
    from tests.factories import gen_entry

    gen_entry(enrolled.episode, 6, 20)
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    assert enrolled.episode.patient.display_name in html
    assert "6/10" in html
    assert "1 patient" in html
