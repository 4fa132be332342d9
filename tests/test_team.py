"""Administrators manage their clinic's team: add, turn off and on, API tokens."""

from __future__ import annotations

import re

import pytest

from recovery.care.accounts import create_staff
from recovery.care.models import AuditEvent, StaffUser
from recovery.care.tokens import hash_token
from recovery.extensions import db
from tests import factories


@pytest.fixture
def admin(clinic):
    user = create_staff(clinic, "lead@example.org", factories.PASSWORD, "admin", "Lead Nurse")
    db.session.commit()
    return user


def sign_in(client, email):
    response = client.post("/login", data={"email": email, "password": factories.PASSWORD})
    assert response.status_code == 302


def shown_secret(html: str) -> str:
    return re.search(r'<code id="new-secret">([^<]+)</code>', html).group(1)


def test_an_admin_adds_a_nurse_who_signs_in_with_the_temporary_password(app, client, admin):
    sign_in(client, admin.email)
    assert b"Add a member of staff" in client.get("/staff/team").data
    response = client.post(
        "/staff/team", data={"name": "Nia Nurse", "email": "Nia@Example.org", "role": "nurse"}
    )
    assert response.status_code == 302
    page = client.get("/staff/team").get_data(as_text=True)
    password = shown_secret(page)
    assert len(password) >= 10
    assert "nia@example.org" in page and "Nia Nurse" in page
    assert password not in client.get("/staff/team").get_data(as_text=True)  # shown once

    member = db.session.scalar(db.select(StaffUser).filter_by(email="nia@example.org"))
    assert (member.role, member.clinic_id, member.is_active) == ("nurse", admin.clinic_id, True)
    other = app.test_client()
    login = other.post("/login", data={"email": "nia@example.org", "password": password})
    assert login.status_code == 302
    # A temporary password opens only the page that replaces it.
    forced = other.get("/staff/team")
    assert forced.headers["Location"].endswith("/account/password")
    new = {"current": password, "new": "a password of her own", "confirm": "a password of her own"}
    assert other.post("/account/password", data=new).status_code == 302
    assert other.get("/staff/team").status_code == 403  # nurses do not manage the team
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert "staff_added" in actions


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not an email"}, b"Invalid email address."),
        ({"email": "Nurse@example.org"}, b"already an account"),
        ({"email": "x@example.org", "role": "owner"}, b"Not a valid choice"),
        ({"email": "x@example.org", "name": "a\x00b"}, b"cannot be stored"),
    ],
)
def test_a_refused_addition_stores_nothing(client, admin, clinic, data, message):
    factories.gen_staff(clinic, email="nurse@example.org")
    sign_in(client, admin.email)
    before = db.session.scalar(db.select(db.func.count()).select_from(StaffUser))
    response = client.post("/staff/team", data={"role": "nurse", **data})
    assert response.status_code == 400
    assert message in response.data
    assert db.session.scalar(db.select(db.func.count()).select_from(StaffUser)) == before


def test_turning_an_account_off_signs_it_out_and_on_again(app, client, admin, nurse):
    nurse_client = app.test_client()
    sign_in(nurse_client, nurse.email)
    assert nurse_client.get("/staff/").status_code == 200
    sign_in(client, admin.email)
    assert client.post(f"/staff/team/{nurse.id}/deactivate").status_code == 302
    assert nurse_client.get("/staff/").status_code == 302
    assert (
        nurse_client.post(
            "/login", data={"email": nurse.email, "password": factories.PASSWORD}
        ).status_code
        == 400
    )
    assert client.post(f"/staff/team/{nurse.id}/reactivate").status_code == 302
    sign_in(nurse_client, nurse.email)


def test_an_admin_cannot_turn_off_their_own_account(client, admin):
    sign_in(client, admin.email)
    response = client.post(f"/staff/team/{admin.id}/deactivate", follow_redirects=True)
    assert b"You cannot turn off your own account." in response.data
    db.session.refresh(admin)
    assert admin.is_active


def test_api_token_issued_once_then_revoked(client, admin, nurse, enrolled):
    sign_in(client, admin.email)
    client.post(f"/staff/team/{nurse.id}/api-token")
    token = shown_secret(client.get("/staff/team").get_data(as_text=True))
    db.session.refresh(nurse)
    assert nurse.api_token_hash == hash_token(token)
    feed = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
    assert feed.status_code == 200
    client.post(f"/staff/team/{nurse.id}/api-token/revoke")
    feed = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
    assert feed.status_code == 401


@pytest.mark.parametrize(
    "path", ["deactivate", "reactivate", "password", "api-token", "api-token/revoke"]
)
def test_another_clinics_staff_are_out_of_reach(client, admin, path):
    stranger = factories.gen_staff(factories.gen_clinic(), email="far@example.org")
    sign_in(client, admin.email)
    assert client.post(f"/staff/team/{stranger.id}/{path}").status_code == 404
    db.session.refresh(stranger)
    assert stranger.is_active and stranger.api_token_hash is None


def test_nurses_cannot_change_the_team(client, auth, nurse, clinic):
    colleague = factories.gen_staff(clinic, email="colleague@example.org")
    auth.login()
    assert b"/staff/team" not in client.get("/staff/").data  # no menu entry
    assert client.post("/staff/team", data={"email": "x@example.org"}).status_code == 403
    assert client.post(f"/staff/team/{colleague.id}/deactivate").status_code == 403
    db.session.refresh(colleague)
    assert colleague.is_active


def test_a_forgotten_password_is_replaced_by_a_temporary_one(app, client, admin, nurse):
    nurse_client = app.test_client()
    sign_in(nurse_client, nurse.email)
    sign_in(client, admin.email)
    assert client.post(f"/staff/team/{nurse.id}/password").status_code == 302
    password = shown_secret(client.get("/staff/team").get_data(as_text=True))
    assert nurse_client.get("/staff/").status_code == 302  # the old session ended
    login = nurse_client.post("/login", data={"email": nurse.email, "password": password})
    assert login.status_code == 302
    own = client.post(f"/staff/team/{admin.id}/password", follow_redirects=True)
    assert b"Change your own password from your Account page." in own.data
