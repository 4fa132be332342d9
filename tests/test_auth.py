"""Staff sign-in and sign-out through the real forms."""

import pytest

from recovery.extensions import db
from recovery.models import AuditEvent


def test_login_page_renders(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert b"Staff sign in" in page.data
    assert b'<html lang="en">' in page.data


def test_login_then_logout(client, auth, nurse):
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/")
    assert client.get("/staff/").status_code == 200
    assert auth.logout().status_code == 302
    assert client.get("/staff/").status_code == 302
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert actions == ["signed_in", "signed_out"]


@pytest.mark.parametrize(
    "email,password",
    [("nurse@example.test", "wrong password"), ("nobody@example.test", "correct horse battery")],
)
def test_wrong_credentials_are_refused_with_one_message(client, nurse, email, password):
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 400
    assert b"Wrong email or password." in response.data
    assert client.get("/staff/").status_code == 302


def test_inactive_staff_cannot_sign_in(client, auth, nurse):
    nurse.is_active = False
    db.session.commit()
    assert auth.login().status_code == 400


def test_email_is_case_insensitive(client, auth, nurse):
    assert auth.login(email="Nurse@Example.TEST").status_code == 302


def test_next_only_redirects_within_the_site(client, nurse):
    data = {"email": "nurse@example.test", "password": "correct horse battery"}
    response = client.post("/login?next=//evil.example/x", data=data)
    assert response.headers["Location"].endswith("/staff/")
    client.post("/logout")
    response = client.post("/login?next=/staff/enrol", data=data)
    assert response.headers["Location"].endswith("/staff/enrol")


def test_garbage_login_input_is_a_clear_error(client, nurse):
    response = client.post("/login", data={"email": "x\x00@y.z", "password": "a" * 5000})
    assert response.status_code == 400


def test_logout_needs_post(client, auth, nurse):
    auth.login()
    assert client.get("/logout").status_code == 405
