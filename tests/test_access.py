"""Every staff URL refuses anonymous users, patients, and other clinics' staff."""

import pytest

from tests import factories

STAFF_URLS = [
    ("get", "/staff/"),
    ("get", "/staff/enrol"),
    ("get", "/staff/episodes/{id}/link"),
    ("post", "/staff/episodes/{id}/link/revoke"),
    ("post", "/staff/episodes/{id}/link/reissue"),
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
