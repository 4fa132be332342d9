"""Two-step sign-in: set up with a QR code, then the password alone opens nothing."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from flask.testing import FlaskClient

from recovery import create_app
from recovery.care.accounts import create_staff
from recovery.care.models import AuditEvent, StaffUser
from recovery.extensions import db
from tests import factories


def password_step(client, email="nurse@example.test", **kwargs):
    data = {"email": email, "password": factories.PASSWORD, **kwargs}
    return client.post("/login", data=data)


def code_now(secret: str, when: datetime | None = None) -> str:
    return pyotp.TOTP(secret).at(when or datetime.now(UTC))


def set_up(client) -> tuple[str, list[str]]:
    """Set up two-step sign-in through the pages, as a staff member does: the secret, codes."""
    assert client.post("/account/2fa/start").status_code == 302
    page = client.get("/account/2fa").get_data(as_text=True)
    assert '<img class="qr" src="data:image/svg+xml' in page
    secret = re.search(r'id="totp-secret" class="secret-key">([A-Z2-7]+)<', page).group(1)
    assert client.post("/account/2fa/confirm", data={"code": "000000"}).status_code == 400
    done = client.post("/account/2fa/confirm", data={"code": code_now(secret)})
    assert done.status_code == 200
    codes = re.findall(
        r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.get_data(as_text=True)
    )
    assert len(codes) == 10
    return secret, codes


@pytest.fixture
def enrolled_nurse(app, client, nurse):
    """The nurse with two-step sign-in set up, signed out; her secret and recovery codes."""
    with time_machine.travel(datetime.now(UTC) - timedelta(minutes=2), tick=False):
        assert password_step(client).status_code == 302
        secret, codes = set_up(client)
        client.post("/logout")
    return secret, codes


def test_with_a_second_factor_the_password_alone_opens_nothing(app, client, enrolled_nurse):
    secret, _codes = enrolled_nurse
    response = password_step(client)
    assert response.headers["Location"].endswith("/login/code")
    for path in ("/staff/", "/account", "/staff/exports/entries.csv", "/account/password"):
        assert client.get(path).status_code == 302, path
    assert client.post("/login/code", data={"code": "123456"}).status_code == 400
    assert client.get("/staff/").status_code == 302
    signed = client.post("/login/code", data={"code": code_now(secret)})
    assert signed.headers["Location"].endswith("/staff/")
    assert client.get("/staff/").status_code == 200
    details = db.session.scalars(
        db.select(AuditEvent.detail).where(AuditEvent.action == "signed_in")
    ).all()
    assert details[-1] == "password and code"


def test_a_code_works_once(app, client, enrolled_nurse):
    secret, _codes = enrolled_nurse
    code = code_now(secret)
    password_step(client)
    assert client.post("/login/code", data={"code": code}).status_code == 302
    other = app.test_client()
    password_step(other)
    reused = other.post("/login/code", data={"code": code})
    assert reused.status_code == 400
    assert b"That code is not right, or was used already." in reused.data


def test_a_recovery_code_stands_in_for_the_phone_once(app, client, enrolled_nurse):
    _secret, codes = enrolled_nurse
    password_step(client)
    assert client.post("/login/code", data={"code": codes[3].upper()}).status_code == 302
    other = app.test_client()
    password_step(other)
    assert other.post("/login/code", data={"code": codes[3]}).status_code == 400
    page = client.get("/account/2fa").get_data(as_text=True)
    assert "You have 9 unused recovery codes." in page
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert "recovery_code_used" in actions


def test_the_code_must_follow_the_password_within_five_minutes(client, enrolled_nurse):
    secret, _codes = enrolled_nurse
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        password_step(client)
        clock.shift(timedelta(minutes=5, seconds=1))
        late = client.post("/login/code", data={"code": code_now(secret)}, follow_redirects=True)
        assert b"Sign in again" in late.data
        assert client.get("/staff/").status_code == 302


def test_wrong_codes_are_throttled(app, client, enrolled_nurse):
    secret, _codes = enrolled_nurse
    password_step(client)
    for _ in range(5):
        assert client.post("/login/code", data={"code": "000000"}).status_code == 400
    assert client.post("/login/code", data={"code": code_now(secret)}).status_code == 429
    failed = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "second_factor_failed")
    ).all()
    assert len(failed) == 5


@pytest.mark.parametrize("code", ["", "12", "x" * 500, "１２３４５６", "' OR 1=1 --"])
def test_odd_codes_are_a_clear_error(client, enrolled_nurse, code):
    password_step(client)
    response = client.post("/login/code", data={"code": code})
    assert response.status_code == 400
    assert client.get("/staff/").status_code == 302


def test_two_sign_ins_racing_with_one_code_let_in_one(app, enrolled_nurse):
    secret, _codes = enrolled_nurse
    code = code_now(secret)
    ready = threading.Barrier(4)

    def sign_in():
        browser = FlaskClient(app, app.response_class)  # each thread: its own app context
        assert password_step(browser).status_code == 302
        ready.wait()
        return browser.post("/login/code", data={"code": code}).status_code

    with ThreadPoolExecutor(4) as pool:
        answers = [f.result() for f in [pool.submit(sign_in) for _ in range(4)]]
    assert sorted(answers) == [302, 400, 400, 400]


def test_new_recovery_codes_replace_the_old(client, enrolled_nurse):
    secret, codes = enrolled_nurse
    password_step(client)
    client.post("/login/code", data={"code": codes[0]})
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=1), tick=False):
        page = client.post("/account/2fa/recovery-codes", data={"code": code_now(secret)})
    fresh = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", page.get_data(as_text=True))
    assert len(fresh) == 10 and not set(fresh) & set(codes)


def test_a_nurse_turns_it_off_with_password_and_code(client, enrolled_nurse, nurse):
    secret, _codes = enrolled_nurse
    password_step(client)
    client.post("/login/code", data={"code": code_now(secret)})
    wrong = {"password": "not the password", "code": "000000"}
    assert client.post("/account/2fa/off", data=wrong).status_code == 400
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=1), tick=False):
        right = {"password": factories.PASSWORD, "code": code_now(secret)}
        assert client.post("/account/2fa/off", data=right).status_code == 302
    client.post("/logout")
    assert password_step(client).headers["Location"].endswith("/staff/")


@pytest.fixture
def admin(clinic):
    user = create_staff(clinic, "lead@example.org", factories.PASSWORD, "admin", "Lead")
    db.session.commit()
    return user


def test_administrators_must_set_it_up_when_required(app, client, admin, nurse):
    app.config["REQUIRE_ADMIN_2FA"] = True
    assert password_step(client, admin.email).status_code == 302
    for path in ("/staff/", "/staff/team", "/staff/settings", "/account"):
        assert client.get(path).headers["Location"].endswith("/account/2fa"), path
    page = client.get("/account/2fa").get_data(as_text=True)
    assert "Your clinic requires it for administrators." in page
    secret, _codes = set_up(client)
    assert client.get("/staff/team").status_code == 200
    refused = client.post(
        "/account/2fa/off", data={"password": factories.PASSWORD, "code": code_now(secret)}
    )
    assert refused.status_code == 403
    nurse_browser = app.test_client()
    assert password_step(nurse_browser).status_code == 302
    assert nurse_browser.get("/staff/").status_code == 200  # nurses are not required


def test_an_administrator_turns_off_a_colleagues_lost_second_factor(
    app, client, admin, enrolled_nurse, nurse
):
    nurse_browser = app.test_client()
    password_step(nurse_browser)
    nurse_browser.post("/login/code", data={"code": enrolled_nurse[1][0]})
    assert password_step(client, admin.email).status_code == 302
    team = client.get("/staff/team").get_data(as_text=True)
    assert f"/staff/team/{nurse.id}/two-step/reset" in team
    assert client.post(f"/staff/team/{nurse.id}/two-step/reset").status_code == 302
    assert nurse_browser.get("/staff/").status_code == 302  # her sessions ended
    db.session.refresh(nurse)
    assert nurse.totp_secret is None
    assert client.post(f"/staff/team/{admin.id}/two-step/reset").status_code == 302
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert actions.count("second_factor_reset") == 1


def test_create_staff_with_totp_prints_the_uri_and_the_code_signs_in(app, client, runner, clinic):
    result = runner.invoke(
        args=[
            "recovery",
            "create-staff",
            "--clinic",
            clinic.slug,
            "--email",
            "it@example.org",
            "--role",
            "admin",
            "--password-stdin",
            "--totp",
        ],
        input=factories.PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    [uri] = [line for line in result.output.splitlines() if line.startswith("otpauth://")]
    assert uri.startswith("otpauth://totp/Recovery:it%40example.org?secret=")
    secret = pyotp.parse_uri(uri).secret
    assert password_step(client, "it@example.org").headers["Location"].endswith("/login/code")
    assert client.post("/login/code", data={"code": code_now(secret)}).status_code == 302
    assert client.get("/staff/").status_code == 200


def test_the_secret_is_never_in_a_cookie(app, client, nurse):
    password_step(client)
    client.post("/account/2fa/start")
    secret = db.session.scalar(db.select(StaffUser.totp_pending_secret))
    assert secret
    page = client.get("/account/2fa")
    assert secret in page.get_data(as_text=True)
    for cookie in ("session", "remember_token", "recovery_device"):
        value = client.get_cookie(cookie)
        assert value is None or secret not in value.value


def test_production_requires_it_of_administrators_by_default(monkeypatch):
    monkeypatch.setenv("RECOVERY_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a production secret")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    monkeypatch.setenv("ALLOW_SQLITE_IN_PRODUCTION", "1")
    monkeypatch.setenv("ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION", "1")
    production = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert production.config["REQUIRE_ADMIN_2FA"] is True
    monkeypatch.setenv("REQUIRE_ADMIN_2FA", "0")
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["REQUIRE_ADMIN_2FA"] is False
    monkeypatch.delenv("RECOVERY_ENV")
    monkeypatch.delenv("REQUIRE_ADMIN_2FA")
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["REQUIRE_ADMIN_2FA"] is False


def test_setting_it_up_ends_the_sessions_opened_with_the_password_alone(app, client, nurse):
    kept = app.test_client()  # a browser signed in with the password alone, kept signed in
    kept.post(
        "/login", data={"email": nurse.email, "password": factories.PASSWORD, "remember": "y"}
    )
    assert kept.get("/staff/").status_code == 200
    password_step(client)
    set_up(client)
    assert kept.get("/staff/").status_code == 302
    assert client.get("/staff/").status_code == 200  # the session that set it up stays


def test_a_session_held_at_the_set_up_page_opens_nothing_once_the_admin_sets_it_up(
    app, client, admin
):
    app.config["REQUIRE_ADMIN_2FA"] = True
    intruder = app.test_client()  # knows the password, waits at /account/2fa
    assert password_step(intruder, admin.email).status_code == 302
    assert intruder.get("/staff/team").headers["Location"].endswith("/account/2fa")
    password_step(client, admin.email)
    set_up(client)
    refused = intruder.get("/staff/team")
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]


@pytest.mark.parametrize("value", ["Production", " production "])
def test_production_is_production_however_it_is_written(monkeypatch, value):
    monkeypatch.setenv("RECOVERY_ENV", value)
    monkeypatch.setenv("SECRET_KEY", "a production secret")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    monkeypatch.setenv("ALLOW_SQLITE_IN_PRODUCTION", "1")
    monkeypatch.setenv("ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION", "1")
    production = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert production.config["REQUIRE_ADMIN_2FA"] is True


def test_the_recovery_codes_page_can_print(client, nurse):
    password_step(client)
    client.post("/account/2fa/start")
    secret = db.session.scalar(db.select(StaffUser.totp_pending_secret))
    page = client.post("/account/2fa/confirm", data={"code": code_now(secret)})
    html = page.get_data(as_text=True)
    assert 'data-action="print"' in html and "/static/js/app.js" in html
