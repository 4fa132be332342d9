"""Enrolment: the form creates a patient and an episode and shows the link once."""

from datetime import timedelta

import pytest

from recovery.care.models import Episode, Patient
from recovery.care.tokens import hash_token
from recovery.extensions import db


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


@pytest.mark.parametrize(
    "overrides",
    [
        {"display_name": ""},
        {"baseline_pain": "11"},
        {"baseline_pain": "seven"},
        {"procedure_date": "not a date"},
        {"procedure_date": timedelta(days=400)},  # from now: over a year ahead
        {"email": "not-an-email"},
        {"phone": "call me maybe"},
        {"indication": "bogus"},
        {"display_name": "x" * 201},
        {"display_name": "nul\x00byte"},
    ],
    ids=lambda overrides: repr(overrides)[:40],
)
def test_enrol_rejects_bad_input_and_stores_nothing(client, auth, nurse, now, overrides):
    auth.login()
    data = enrol_data(procedure_date=now.date().isoformat())
    data.update(
        {
            name: (now + value).date().isoformat() if isinstance(value, timedelta) else value
            for name, value in overrides.items()
        }
    )
    response = client.post("/staff/enrol", data=data)
    assert response.status_code == 400
    assert b"Please check the form" in response.data
    assert db.session.scalar(db.select(db.func.count()).select_from(Patient)) == 0


def test_enrol_asks_for_a_phone_and_says_why(client, auth, nurse):
    auth.login()
    html = client.get("/staff/enrol").get_data(as_text=True)
    assert '<label class="field__label" for="phone">Mobile phone</label>' in html
    assert "So a nurse can call the patient back about an alert, and for text reminders." in html
    assert '<label class="field__label" for="no_phone_reason">' in html
    assert 'aria-describedby="phone-hint"' in html


def test_enrol_without_a_phone_or_a_reason_is_refused_keeping_what_was_typed(
    client, auth, nurse, now
):
    auth.login()
    data = enrol_data(procedure_date=now.date().isoformat(), phone="  ", no_phone_reason="")
    response = client.post("/staff/enrol", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Please check the form" in html
    assert "Enter a phone number, or say why there is none" in html
    assert 'id="phone-error"' in html and 'aria-invalid="true"' in html
    for typed in ("Maria Rossi", "H123", "maria@example.com", "T12, L1"):
        assert f'value="{typed}"' in html
    assert db.session.scalar(db.select(db.func.count()).select_from(Patient)) == 0


def test_enrol_with_a_reason_for_no_phone(client, auth, nurse, now):
    auth.login()
    data = enrol_data(
        procedure_date=now.date().isoformat(), phone="", no_phone_reason=" lives in care home "
    )
    assert client.post("/staff/enrol", data=data).status_code == 302
    patient = db.session.scalar(db.select(Patient))
    assert (patient.phone, patient.no_phone_reason) == (None, "lives in care home")


def test_enrol_with_a_phone_keeps_no_reason(client, auth, nurse, now):
    auth.login()
    data = enrol_data(procedure_date=now.date().isoformat(), no_phone_reason="declined")
    assert client.post("/staff/enrol", data=data).status_code == 302
    patient = db.session.scalar(db.select(Patient))
    assert (patient.phone, patient.no_phone_reason) == ("+44 7700 900123", None)


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
