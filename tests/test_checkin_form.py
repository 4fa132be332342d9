"""The patient's phone check-in form, driven through the Flask client."""

import json
import re
from datetime import timedelta

import pytest

from recovery.care.models import Alert, PainEntry
from recovery.extensions import db
from tests import factories


def count_entries() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(PainEntry))


def form_key(html: str) -> str:
    return re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', html).group(1)


def test_form_has_eleven_choices_none_selected(client, enrolled):
    html = client.get(f"/p/{enrolled.token}").get_data(as_text=True)
    assert len(re.findall(r'name="pain"[^>]*type="radio"', html)) == 11
    assert "checked" not in html
    assert "0 = no pain" in html and "10 = worst pain imaginable" in html
    assert "New weakness in my legs" in html
    assert 'type="submit"' in html


def test_submit_stores_entry_and_shows_result(client, enrolled):
    html = client.get(f"/p/{enrolled.token}").get_data(as_text=True)
    data = {"pain": "3", "analgesic": "y", "note": "slept well", "idempotency_key": form_key(html)}
    response = client.post(f"/p/{enrolled.token}", data=data)
    assert response.status_code == 302
    entry = db.session.scalar(db.select(PainEntry))
    assert (entry.pain, entry.is_analgesic_taken, entry.note) == (3, True, "slept well")
    assert entry.source == "patient"
    result = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You are on track." in result
    assert "You reported 3 out of 10" in result


def test_double_submit_is_stored_once(client, enrolled):
    key = form_key(client.get(f"/p/{enrolled.token}").get_data(as_text=True))
    first = client.post(f"/p/{enrolled.token}", data={"pain": "4", "idempotency_key": key})
    second = client.post(f"/p/{enrolled.token}", data={"pain": "4", "idempotency_key": key})
    assert first.headers["Location"] == second.headers["Location"]
    assert count_entries() == 1


@pytest.mark.parametrize(
    "pain", [{}, {"pain": "11"}, {"pain": "-1"}, {"pain": "abc"}, {"pain": "5.5"}], ids=repr
)
def test_missing_or_bad_pain_is_a_clear_error(client, enrolled, pain):
    data = {**pain, "idempotency_key": "k1", "note": "keep me"}
    response = client.post(f"/p/{enrolled.token}", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Please check your answers below." in html
    assert "keep me" in html  # what the patient typed is not lost
    assert count_entries() == 0


@pytest.mark.parametrize(
    "data",
    [{"red_flags": "bogus"}, {"note": "x" * 1001}, {"note": "a\x00b"}],
    ids=["unknown red flag", "note too long", "nul in note"],
)
def test_unknown_red_flag_and_long_note_are_refused(client, enrolled, data):
    response = client.post(
        f"/p/{enrolled.token}", data={"pain": "3", "idempotency_key": "k", **data}
    )
    assert response.status_code == 400
    assert count_entries() == 0


def test_chest_pain_tells_the_patient_to_call_emergency_services(client, enrolled):
    response = client.post(
        f"/p/{enrolled.token}",
        data={"pain": "2", "red_flags": ["chest_pain"], "idempotency_key": "k"},
    )
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Call emergency services now." in html
    assert 'href="tel:112">Call emergency services: 112</a>' in html
    alert = db.session.scalar(db.select(Alert))
    assert (alert.rule, alert.severity, alert.status) == ("red_flag", "emergency", "open")


def test_the_clinics_own_emergency_number_is_the_one_to_call(client, runner, clinic, enrolled):
    result = runner.invoke(
        args=["recovery", "settings", "--clinic", clinic.slug, "--emergency-number", "999"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["emergency_number"] == "999"
    response = client.post(
        f"/p/{enrolled.token}",
        data={"pain": "2", "red_flags": ["breathless"], "idempotency_key": "k"},
    )
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'href="tel:999">Call emergency services: 999</a>' in html
    assert "tel:112" not in html


def test_leg_weakness_tells_the_patient_to_call_the_clinic(client, clinic, enrolled):
    clinic.phone = "+44 20 7946 0001"
    db.session.commit()
    response = client.post(
        f"/p/{enrolled.token}",
        data={"pain": "2", "red_flags": ["leg_weakness"], "idempotency_key": "k"},
    )
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Call the clinic now." in html
    assert 'href="tel:+44 20 7946 0001"' in html


def test_high_pain_after_24h_says_clinic_has_been_told(client, enrolled):
    response = client.post(f"/p/{enrolled.token}", data={"pain": "9", "idempotency_key": "k"})
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your pain is higher than expected." in html
    assert "The clinic has been told and will contact you within 24 hours." in html


def test_the_promised_contact_time_is_the_clinics_response_time(client, clinic, enrolled):
    clinic.settings = {**clinic.settings, "response_hours": 4}
    db.session.commit()
    response = client.post(f"/p/{enrolled.token}", data={"pain": "9", "idempotency_key": "k"})
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The clinic has been told and will contact you within 4 hours." in html
    assert "24 hours" not in html
    clinic.settings = {**clinic.settings, "response_hours": 1}
    db.session.commit()
    response = client.post(f"/p/{enrolled.token}", data={"pain": "9", "idempotency_key": "k2"})
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "will contact you within 1 hour." in html


def test_high_pain_in_first_hours_advises_analgesia_without_alert(client, clinic, now):
    early = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=2))
    response = client.post(f"/p/{early.token}", data={"pain": "9", "idempotency_key": "k"})
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Take the pain medicine you were prescribed" in html
    assert db.session.scalar(db.select(db.func.count()).select_from(Alert)) == 0


def test_result_page_of_another_episode_is_404(client, clinic, enrolled):
    other = factories.gen_episode(clinic)
    entry = factories.gen_entry(other.episode, 3, 20).entry
    assert client.get(f"/p/{enrolled.token}/entries/{entry.id}").status_code == 404


def test_closed_episode_link_does_not_work(client, enrolled):
    enrolled.episode.status = "closed"
    db.session.commit()
    assert client.get(f"/p/{enrolled.token}").status_code == 404
