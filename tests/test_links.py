"""Personal links: revoke and re-issue; a dead link gets a helpful page, not data."""

import pytest

from recovery.extensions import db


def test_revoked_link_stops_working(client, auth, nurse, enrolled):
    assert client.get(f"/p/{enrolled.token}").status_code == 200
    auth.login()
    response = client.post(f"/staff/episodes/{enrolled.episode.id}/link/revoke")
    assert response.status_code == 302
    page = client.get(f"/p/{enrolled.token}")
    assert page.status_code == 404
    assert b"This link does not work" in page.data
    api = client.get("/api/v1/episode", headers=enrolled.headers)
    assert api.status_code == 401


def test_reissued_link_replaces_the_old_one(client, auth, nurse, enrolled):
    auth.login()
    response = client.post(f"/staff/episodes/{enrolled.episode.id}/link/reissue")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    new_token = html.split("http://localhost/p/")[1].split('"')[0]
    assert new_token != enrolled.token
    assert client.get(f"/p/{enrolled.token}").status_code == 404
    assert client.get(f"/p/{new_token}").status_code == 200


@pytest.mark.parametrize(
    "token", ["nope", "x" * 5000, "%00", "..%2F"], ids=["nope", "long", "nul", "dots"]
)
def test_unknown_and_absurd_tokens_are_404(client, app, token):
    assert client.get(f"/p/{token}").status_code == 404


def test_link_actions_are_audited(client, auth, nurse, enrolled):
    from recovery.care.models import AuditEvent

    auth.login()
    client.post(f"/staff/episodes/{enrolled.episode.id}/link/revoke")
    actions = db.session.scalars(
        db.select(AuditEvent.action).filter_by(episode_id=enrolled.episode.id)
    ).all()
    assert actions == ["enrolled", "link_revoked"]
