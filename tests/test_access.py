"""Every staff URL refuses anonymous users, patients, and other clinics' staff."""

import pytest

from tests import factories

STAFF_URLS = [
    ("get", "/staff/"),
    ("get", "/staff/enrol"),
    ("get", "/staff/episodes/{id}/link"),
    ("post", "/staff/episodes/{id}/link/revoke"),
    ("post", "/staff/episodes/{id}/link/reissue"),
    ("post", "/staff/episodes/{id}/caregiver-link/issue"),
    ("post", "/staff/episodes/{id}/caregiver-link/revoke"),
    ("get", "/staff/episodes/{id}"),
    ("post", "/staff/episodes/{id}/entries"),
    ("post", "/staff/episodes/{id}/close"),
    ("get", "/staff/changes"),
    ("get", "/staff/cohort"),
    ("get", "/staff/exports"),
    ("get", "/staff/exports/entries.csv"),
    ("get", "/staff/episodes/{id}/entries.csv"),
    ("get", "/staff/team"),
    ("post", "/staff/team"),
    ("post", "/staff/team/1/deactivate"),
    ("post", "/staff/team/1/api-token"),
    ("get", "/account/password"),
    ("post", "/account/password"),
]
ALERT_URLS = [
    ("post", "/staff/alerts/{id}/acknowledge"),
    ("post", "/staff/alerts/{id}/contact"),
    ("post", "/staff/alerts/{id}/resolve"),
]
EPISODE_URLS = [u for u in STAFF_URLS if "{id}" in u[1]]


@pytest.mark.parametrize("method,url", STAFF_URLS)
def test_anonymous_is_sent_to_login(client, enrolled, method, url):
    response = getattr(client, method)(url.format(id=enrolled.episode.id))
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("method,url", STAFF_URLS)
def test_patient_token_does_not_open_staff_pages(client, enrolled, method, url):
    response = getattr(client, method)(url.format(id=enrolled.episode.id), headers=enrolled.headers)
    assert response.status_code == 302


@pytest.mark.parametrize("method,url", EPISODE_URLS)
def test_other_clinics_staff_get_404(client, auth, enrolled, method, url):
    other = factories.gen_clinic()
    factories.gen_staff(other, email="other@example.test")
    auth.login(email="other@example.test")
    response = getattr(client, method)(url.format(id=enrolled.episode.id))
    assert response.status_code == 404
    assert client.get(f"/p/{enrolled.token}").status_code == 200  # the link still works


def test_patient_list_shows_only_own_clinic(client, auth, clinic, nurse):
    factories.gen_episode(clinic, name="Own Patient")
    other = factories.gen_clinic()
    factories.gen_episode(other, name="Other Patient")
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    assert "Own Patient" in html and "Other Patient" not in html


@pytest.mark.parametrize("method,url", ALERT_URLS)
def test_alert_actions_refuse_other_clinics_and_anonymous(client, auth, clinic, now, method, url):
    from datetime import timedelta

    from recovery.care.models import Alert
    from recovery.extensions import db

    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    factories.gen_entry(enrolled.episode, 10, 24)
    alert = db.session.scalar(db.select(Alert))
    assert getattr(client, method)(url.format(id=alert.id)).status_code == 302  # to login
    other = factories.gen_clinic()
    factories.gen_staff(other, email="other@example.test")
    auth.login(email="other@example.test")
    data = {"action": "called_patient", "outcome": "reached", "note": "x"}
    assert getattr(client, method)(url.format(id=alert.id), data=data).status_code == 404
    db.session.refresh(alert)
    assert alert.status == "open"
    assert [e.kind for e in alert.events] == ["opened"]
