"""Caregiver links: a second personal link per episode, independent of the patient's, whose
entries are stored and shown as reported by the caregiver."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from fhir.resources.R4B.bundle import Bundle

from recovery.care.accounts import issue_api_token
from recovery.care.episodes import (
    EntryError,
    close_episode,
    issue_link,
    record_pain_entry,
    reminder_token,
    revoke_link,
)
from recovery.care.models import AuditEvent, PainEntry
from recovery.clinical.vocabulary import EntrySource
from recovery.extensions import db
from tests import factories
from tests.test_translation import (
    CLOSE,
    OPEN,
    PSEUDO,
    locale_words,
    pseudo_catalogue,
    unwrapped_words,
)

CHECKINS = "/api/v1/checkins"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form_key(html: str) -> str:
    return re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', html).group(1)


def submit(client, token: str, pain: int, **extra):
    """Open the check-in page at `token` and send `pain` with the page's key."""
    key = form_key(client.get(f"/p/{token}").get_data(as_text=True))
    return client.post(f"/p/{token}", data={"pain": str(pain), "idempotency_key": key, **extra})


def link_token(html: str) -> str:
    """The token of the link shown once on the link page."""
    return html.split("http://localhost/p/")[1].split('"')[0]


@pytest.fixture
def caregiver_token(enrolled) -> str:
    """A caregiver link for `enrolled`'s episode."""
    token = issue_link(enrolled.episode, holder=EntrySource.CAREGIVER)
    db.session.commit()
    return token


def stored_sources() -> list[str]:
    db.session.rollback()
    return db.session.scalars(db.select(PainEntry.source).order_by(PainEntry.id)).all()


def audit_actions(episode_id: int) -> list[str]:
    """The episode's changes in the audit trail, oldest first (views of its page, which the
    trail records too, are left out: tests/test_audit_page.py)."""
    db.session.rollback()
    return db.session.scalars(
        db.select(AuditEvent.action)
        .filter_by(episode_id=episode_id)
        .where(AuditEvent.action != "episode_viewed")
        .order_by(AuditEvent.id)
    ).all()


# --- the links -------------------------------------------------------------------------------


def test_caregiver_form_stores_caregiver_entries_and_addresses_the_caregiver(
    client, enrolled, caregiver_token
):
    page = client.get(f"/p/{caregiver_token}").get_data(as_text=True)
    assert "You are reporting for the patient as their caregiver." in page
    assert "as their caregiver" not in client.get(f"/p/{enrolled.token}").get_data(as_text=True)
    response = submit(client, caregiver_token, 4)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/p/{caregiver_token}/entries/")
    assert client.get(response.headers["Location"]).status_code == 200
    assert submit(client, enrolled.token, 5).status_code == 302
    assert stored_sources() == ["caregiver", "patient"]
    actors = db.session.scalars(
        db.select(AuditEvent.actor).filter_by(action="entry_recorded").order_by(AuditEvent.id)
    ).all()
    assert actors == ["caregiver", "patient"]


def test_caregiver_api_checkin_is_the_caregivers_and_idempotent(client, enrolled, caregiver_token):
    body = {"pain": 3, "idempotency_key": "cg-1"}
    first = client.post(CHECKINS, json=body, headers=bearer(caregiver_token))
    assert first.status_code == 201
    assert first.get_json()["entry"]["source"] == "caregiver"
    again = client.post(CHECKINS, json=body, headers=bearer(caregiver_token))
    assert again.status_code == 200
    assert again.get_json()["entry"]["id"] == first.get_json()["entry"]["id"]
    episode = client.get("/api/v1/episode", headers=bearer(caregiver_token)).get_json()
    assert [e["source"] for e in episode["entries"]] == ["caregiver"]
    patient = client.post(CHECKINS, json={"pain": 2}, headers=enrolled.headers)
    assert patient.get_json()["entry"]["source"] == "patient"
    assert stored_sources() == ["caregiver", "patient"]


def test_revoking_the_caregiver_link_leaves_the_patients_working(
    client, auth, nurse, enrolled, caregiver_token
):
    auth.login()
    response = client.post(f"/staff/episodes/{enrolled.episode.id}/caregiver-link/revoke")
    assert response.status_code == 302
    page = client.get(f"/p/{caregiver_token}")
    assert page.status_code == 404
    assert b"This link does not work" in page.data
    assert enrolled.episode.clinic.name.encode() in page.data  # no dead end
    assert (
        client.post(CHECKINS, json={"pain": 3}, headers=bearer(caregiver_token)).status_code == 401
    )
    assert submit(client, enrolled.token, 3).status_code == 302
    assert client.post(CHECKINS, json={"pain": 3}, headers=enrolled.headers).status_code == 201
    assert audit_actions(enrolled.episode.id)[-3:] == [
        "caregiver_link_revoked",
        "entry_recorded",
        "entry_recorded",
    ]
    # A second revocation (a double click) changes nothing.
    client.post(f"/staff/episodes/{enrolled.episode.id}/caregiver-link/revoke")
    assert audit_actions(enrolled.episode.id).count("caregiver_link_revoked") == 1


def test_revoking_or_reissuing_the_patients_link_leaves_the_caregivers_working(
    client, auth, nurse, enrolled, caregiver_token
):
    auth.login()
    client.post(f"/staff/episodes/{enrolled.episode.id}/link/reissue")
    client.post(f"/staff/episodes/{enrolled.episode.id}/link/revoke")
    assert client.get(f"/p/{enrolled.token}").status_code == 404
    assert client.post(CHECKINS, json={"pain": 3}, headers=enrolled.headers).status_code == 401
    assert submit(client, caregiver_token, 6).status_code == 302
    assert (
        client.post(CHECKINS, json={"pain": 5}, headers=bearer(caregiver_token)).status_code == 201
    )
    assert stored_sources() == ["caregiver", "caregiver"]


def test_staff_issue_a_caregiver_link_shown_once_and_a_new_one_replaces_it(
    client, auth, nurse, enrolled
):
    auth.login()
    episode_id = enrolled.episode.id
    page = client.get(f"/staff/episodes/{episode_id}").get_data(as_text=True)
    assert "none issued" in page and "Issue a caregiver link" in page
    response = client.post(f"/staff/episodes/{episode_id}/caregiver-link/issue")
    assert response.headers["Location"].endswith(f"/staff/episodes/{episode_id}/link")
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "This link is for the patient's caregiver" in shown
    first = link_token(shown)
    assert "http://localhost/p/" not in client.get(f"/staff/episodes/{episode_id}/link").get_data(
        as_text=True
    )
    page = client.get(f"/staff/episodes/{episode_id}").get_data(as_text=True)
    assert "Issue a new caregiver link" in page and "Revoke caregiver link" in page
    assert "issued a caregiver link" in page  # the timeline
    second = link_token(
        client.get(
            client.post(f"/staff/episodes/{episode_id}/caregiver-link/issue").headers["Location"]
        ).get_data(as_text=True)
    )
    assert second not in (first, enrolled.token)
    assert client.get(f"/p/{first}").status_code == 404
    assert client.get(f"/p/{second}").status_code == 200
    assert client.get(f"/p/{enrolled.token}").status_code == 200
    assert audit_actions(episode_id) == [
        "enrolled",
        "caregiver_link_issued",
        "caregiver_link_issued",
    ]


def test_a_closed_follow_up_refuses_a_caregiver_link_and_ends_both(
    client, auth, nurse, enrolled, caregiver_token
):
    auth.login()
    client.post(f"/staff/episodes/{enrolled.episode.id}/close")
    assert client.get(f"/p/{caregiver_token}").status_code == 404
    assert client.get(f"/p/{enrolled.token}").status_code == 404
    response = client.post(f"/staff/episodes/{enrolled.episode.id}/caregiver-link/issue")
    assert response.status_code == 302
    assert "a caregiver link cannot be issued" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert audit_actions(enrolled.episode.id) == ["enrolled", "caregiver_link_issued", "closed"]
    with pytest.raises(EntryError) as refused:
        issue_link(enrolled.episode, holder=EntrySource.CAREGIVER)
    assert refused.value.code == "closed"


def test_reminders_stay_with_the_patient(client, enrolled, caregiver_token):
    page = client.get(f"/p/{caregiver_token}/reminders")
    assert page.status_code == 403
    assert "can stop or restart them." in page.get_data(as_text=True)
    refused = client.post(f"/p/{caregiver_token}/reminders", data={"wanted": "off"})
    assert refused.status_code == 403
    assert 'name="wanted"' not in refused.get_data(as_text=True)
    db.session.refresh(enrolled.episode.patient)
    assert enrolled.episode.patient.reminders_stopped_dt is None
    assert client.get(f"/p/{enrolled.token}/reminders").status_code == 200
    # A reminder's link is the patient's: it opens as the patient's, not the caregiver's.
    reminder = reminder_token(enrolled.episode)
    assert "as their caregiver" not in client.get(f"/p/{reminder}").get_data(as_text=True)
    revoke_link(enrolled.episode, holder=EntrySource.CAREGIVER)
    db.session.commit()
    assert client.get(f"/p/{reminder}").status_code == 200


# --- what staff and other systems see --------------------------------------------------------


@pytest.fixture
def reported(enrolled, caregiver_token, nurse, now):
    """An entry from the patient, one from the caregiver, one typed in by the nurse."""
    episode = enrolled.episode
    factories.gen_entry(episode, 6, 2)
    factories.gen_entry(episode, 5, 6, source=EntrySource.CAREGIVER, note="from Tom")
    factories.gen_entry(episode, 4, 10, source=EntrySource.STAFF, staff=nurse)
    return episode


def test_episode_page_shows_the_caregivers_entries_as_theirs(client, auth, reported):
    auth.login()
    page = client.get(f"/staff/episodes/{reported.id}").get_data(as_text=True)
    rows = re.findall(r"<tr><td data-label=\"When\">.*?</tr>", page, re.S)
    sources = [re.search(r'data-label="Entered by">([^<]*)<', row).group(1) for row in rows]
    assert sources == ["staff (nurse@example.test)", "reported by caregiver", "Patient"]
    figure = json.loads(
        re.search(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S).group(1)
    )
    observed = next(t for t in figure["data"] if t.get("uid") == "observed")
    hovers = [detail for _when, detail in observed["customdata"]]
    assert sum("(reported by caregiver)" in h for h in hovers) == 1
    timeline = page.split('id="timeline-heading"')[1]
    assert "Caregiver</strong> recorded an entry" in timeline


def test_csv_and_api_say_caregiver(client, auth, reported):
    auth.login()
    response = client.get(f"/staff/episodes/{reported.id}/entries.csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert [r["source"] for r in rows] == ["patient", "caregiver", "staff"]
    assert rows[1]["note"] == "from Tom" and rows[1]["recorded_by"] == ""


def test_fhir_names_the_caregiver_as_performer(client, clinic, reported):
    user = factories.gen_staff(clinic)
    token = issue_api_token(user)
    db.session.commit()
    response = client.get(f"/api/v1/episodes/{reported.id}/fhir", headers=bearer(token))
    assert response.status_code == 200
    body = response.get_json(force=True)
    Bundle.model_validate(body)
    full_urls = {e["fullUrl"]: e["resource"] for e in body["entry"]}
    related = [r for r in full_urls.values() if r["resourceType"] == "RelatedPerson"]
    assert len(related) == 1
    assert related[0]["relationship"] == [{"text": "caregiver"}]
    assert related[0]["active"] is True
    assert full_urls[related[0]["patient"]["reference"]]["resourceType"] == "Patient"
    performers = {
        o["valueInteger"]: o["performer"][0]
        for o in full_urls.values()
        if o["resourceType"] == "Observation" and "effectiveDateTime" in o
    }
    assert performers[5]["display"] == "caregiver"
    assert full_urls[performers[5]["reference"]]["resourceType"] == "RelatedPerson"
    for pain in (6, 4):
        assert full_urls[performers[pain]["reference"]]["resourceType"] == "Patient"


def test_fhir_has_no_caregiver_without_their_entries(client, clinic, enrolled, caregiver_token):
    factories.gen_entry(enrolled.episode, 6, 2)
    token = issue_api_token(factories.gen_staff(clinic))
    db.session.commit()
    body = client.get(
        f"/api/v1/episodes/{enrolled.episode.id}/fhir", headers=bearer(token)
    ).get_json(force=True)
    assert "RelatedPerson" not in {e["resource"]["resourceType"] for e in body["entry"]}


def test_caregiver_entries_count_for_the_rules_as_the_patients(enrolled, caregiver_token, now):
    """A caregiver's report of a red flag raises the same alert as the patient's would."""
    result = record_pain_entry(
        enrolled.episode, pain=5, red_flags=["chest_pain"], source=EntrySource.CAREGIVER
    )
    db.session.commit()
    assert result.assessment.status == "emergency"
    assert [a.rule for a in enrolled.episode.alerts] == ["red_flag"]
    assert enrolled.episode.last_pain == 5


# --- the command line ------------------------------------------------------------------------


def test_issue_link_command_prints_json_for_either_holder(runner, client, enrolled):
    result = runner.invoke(
        args=["recovery", "issue-link", "--episode", str(enrolled.episode.id), "--caregiver"]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["holder"] == "caregiver"
    assert printed["episode_id"] == enrolled.episode.id
    assert printed["patient_url"] == f"http://localhost/p/{printed['token']}"
    assert submit(client, printed["token"], 4).status_code == 302
    assert client.get(f"/p/{enrolled.token}").status_code == 200
    again = runner.invoke(args=["recovery", "issue-link", "--episode", str(enrolled.episode.id)])
    assert again.exit_code == 0, again.output
    patient = json.loads(again.output)
    assert patient["holder"] == "patient"
    assert client.get(f"/p/{enrolled.token}").status_code == 404
    assert client.get(f"/p/{patient['token']}").status_code == 200
    assert client.get(f"/p/{printed['token']}").status_code == 200
    assert stored_sources() == ["caregiver"]


def test_issue_link_command_refuses_closed_and_unknown_episodes(runner, nurse, enrolled):
    close_episode(enrolled.episode, staff=nurse)
    db.session.commit()
    closed = runner.invoke(
        args=["recovery", "issue-link", "--episode", str(enrolled.episode.id), "--caregiver"]
    )
    assert closed.exit_code == 1
    assert "closed" in closed.output
    unknown = runner.invoke(args=["recovery", "issue-link", "--episode", "99999"])
    assert unknown.exit_code == 1
    assert "no episode" in unknown.output
    db.session.rollback()
    assert enrolled.episode.caregiver_token_hash is None


# --- every word for translation --------------------------------------------------------------


class TestCaregiverWordsAreWrapped:
    """The caregiver's pages and the staff's words about caregivers, in the pseudo-language
    of tests/test_translation.py: any visible word outside its brackets was not wrapped."""

    @pytest.fixture
    def extra_config(self, tmp_path) -> dict:
        pseudo_catalogue(tmp_path)
        return {"LANGUAGES": ["en", PSEUDO], "BABEL_TRANSLATION_DIRECTORIES": str(tmp_path)}

    def test_caregiver_pages_and_staff_words(self, client, auth, nurse, enrolled, caregiver_token):
        enrolled.episode.patient.preferred_language = PSEUDO
        db.session.commit()
        factories.gen_entry(enrolled.episode, 5, 6, source=EntrySource.CAREGIVER)
        headers = {"Accept-Language": PSEUDO}
        data = {enrolled.episode.patient.display_name, enrolled.episode.clinic.name, nurse.email}
        pages = {f"/p/{caregiver_token}": client.get(f"/p/{caregiver_token}", headers=headers)}
        auth.login()
        episode_url = f"/staff/episodes/{enrolled.episode.id}"
        issued = client.post(f"{episode_url}/caregiver-link/issue", headers=headers)
        pages["link"] = client.get(issued.headers["Location"], headers=headers)
        pages["episode"] = client.get(episode_url, headers=headers)
        client.post(f"{episode_url}/caregiver-link/revoke", headers=headers)
        pages["revoked"] = client.get(episode_url, headers=headers)
        texts = {name: page.get_data(as_text=True) for name, page in pages.items()}
        assert f"{OPEN}You are reporting for the patient" in texts[f"/p/{caregiver_token}"]
        data.add(f"http://localhost/p/{link_token(texts['link'])}")  # the link itself
        assert f"{OPEN}reported by caregiver{CLOSE}" in texts["episode"]
        assert f"{OPEN}Revoke caregiver link{CLOSE}" in texts["episode"]
        problems = {
            name: unwrapped_words(text, data, locale_words()) for name, text in texts.items()
        }
        assert {name: words for name, words in problems.items() if words} == {}
