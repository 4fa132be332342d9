"""Staff sign-in and sign-out through the real forms."""

import pytest
from werkzeug.security import generate_password_hash

from recovery import create_app
from recovery.care.models import AuditEvent, StaffUser
from recovery.extensions import db
from tests import factories


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


def test_the_app_hashes_passwords_with_scrypt_unless_configured_otherwise():
    production = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert production.config["PASSWORD_HASH_METHOD"] == "scrypt"
    with production.app_context():
        user = StaffUser(email="someone@example.test")
        user.set_password(factories.PASSWORD)
        assert user.password_hash.startswith("scrypt:")
        assert user.check_password(factories.PASSWORD)
        assert not user.check_password("wrong password")


def test_test_apps_hash_cheaply_and_still_sign_in(client, auth, nurse):
    assert nurse.password_hash.startswith(factories.PASSWORD_HASH_METHOD + "$")
    assert auth.login().status_code == 302
    auth.logout()
    assert auth.login(password="wrong password").status_code == 400


def test_a_password_hashed_with_scrypt_signs_in_whatever_the_setting(client, auth, nurse):
    nurse.password_hash = generate_password_hash(factories.PASSWORD, method="scrypt")
    db.session.commit()
    assert auth.login().status_code == 302


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


def change(client, current=factories.PASSWORD, new="a new passphrase 7", confirm=None):
    return client.post(
        "/account/password",
        data={"current": current, "new": new, "confirm": new if confirm is None else confirm},
    )


def test_staff_change_their_password(client, auth, nurse):
    auth.login()
    assert b"Change your password" in client.get("/account/password").data
    response = change(client)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/")
    auth.logout()
    assert auth.login().status_code == 400  # the old password no longer works
    assert auth.login(password="a new passphrase 7").status_code == 302
    events = db.session.scalars(db.select(AuditEvent.action)).all()
    assert "password_changed" in events


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"current": "wrong password!"}, b"That is not your current password."),
        ({"new": "short", "confirm": "short"}, b"Use 10 to 200 characters."),
        ({"confirm": "something else entirely"}, b"The two new passwords differ."),
        ({"new": "a\x00" * 6, "confirm": "a\x00" * 6}, b"characters that cannot be stored"),
    ],
)
def test_a_refused_password_change_keeps_the_old_password(client, auth, nurse, data, message):
    auth.login()
    response = change(client, **data)
    assert response.status_code == 400
    assert message in response.data
    auth.logout()
    assert auth.login().status_code == 302


def test_password_page_needs_a_signed_in_staff_member(client, nurse):
    response = client.get("/account/password")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert change(client).status_code == 302
    assert (
        client.post(
            "/login", data={"email": nurse.email, "password": "a new passphrase 7"}
        ).status_code
        == 400
    )


def test_guessing_the_current_password_is_throttled(client, auth, nurse):
    auth.login()
    for _ in range(5):
        assert change(client, current="not it at all").status_code == 400
    assert change(client).status_code == 429


def test_a_new_password_signs_out_every_other_session(app, client, auth, nurse):
    other_device = app.test_client()
    other_device.post("/login", data={"email": nurse.email, "password": factories.PASSWORD})
    assert other_device.get("/staff/").status_code == 200
    auth.login()
    assert change(client).status_code == 302
    assert client.get("/staff/").status_code == 200  # the session that changed it stays
    assert other_device.get("/staff/").status_code == 302  # the other is signed out


def test_deactivating_an_account_ends_its_sessions(client, auth, nurse):
    auth.login()
    nurse.is_active = False
    db.session.commit()
    assert client.get("/staff/").status_code == 302
