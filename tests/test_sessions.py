"""Staff sessions end on the server: sign-out, sign out everywhere, a password change, turning
an account off, idleness and age all end them for whoever holds the cookies."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask.testing import FlaskClient

from recovery import create_app
from recovery.care.accounts import create_staff
from recovery.care.models import AuditEvent, StaffSession, StaffUser
from recovery.extensions import db
from tests import factories

BACKGROUND = {"X-Recovery-Background": "1"}


def sign_in(client, email="nurse@example.test", remember=False, **kwargs):
    data = {"email": email, "password": factories.PASSWORD}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data, **kwargs)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def copy_of(app, client, names=("session", "remember_token"), *, in_thread=False):
    """A second browser holding the same cookies as `client` (a stolen or kept copy); for a
    thread of its own, a plain client (each request there has its own app context anyway)."""
    other = FlaskClient(app, app.response_class) if in_thread else app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        if cookie is not None:
            other.set_cookie(name, cookie.value)
    return other


def signed_in(client) -> bool:
    response = client.get("/staff/")
    return response.status_code == 200


def test_an_old_session_cookie_opens_nothing_after_sign_out(app, client, nurse):
    sign_in(client)
    kept = copy_of(app, client, names=("session",))
    assert signed_in(kept)
    assert client.post("/logout").status_code == 302
    assert not signed_in(client)
    refused = kept.get("/staff/")
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    assert kept.get("/staff/exports/entries.csv").status_code == 302


def test_an_old_remember_me_cookie_opens_nothing_after_sign_out(app, client, nurse):
    sign_in(client, remember=True)
    kept = copy_of(app, client, names=("remember_token",))  # the browser was closed
    assert signed_in(kept)
    client.post("/logout")
    assert not signed_in(copy_of(app, kept, names=("remember_token",)))


def test_remember_me_lasts_fourteen_days_at_most(app, client, nurse):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        response = sign_in(client, remember=True)
        cookie = next(
            h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")
        )
        expires = datetime.strptime(
            cookie.split("Expires=")[1].split(";")[0], "%a, %d %b %Y %H:%M:%S GMT"
        )
        assert expires.replace(tzinfo=UTC) - datetime.now(UTC) <= timedelta(days=14)
        kept = copy_of(app, client, names=("remember_token",))
        clock.shift(timedelta(days=13, hours=23))
        assert signed_in(kept)  # no idle timeout for a device kept signed in
        clock.shift(timedelta(hours=1, seconds=1))
        assert not signed_in(copy_of(app, client, names=("remember_token",)))


@pytest.mark.parametrize("days", ["15", "0", "a fortnight"])
def test_remember_me_cannot_be_set_longer_than_fourteen_days(monkeypatch, days):
    monkeypatch.setenv("REMEMBER_DAYS", days)
    with pytest.raises(RuntimeError, match="REMEMBER_DAYS"):
        create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_thirty_idle_minutes_end_a_session_and_the_sign_in_page_says_why(client, nurse):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        sign_in(client)
        for _ in range(3):  # used every 29 minutes: still signed in after an hour and a half
            clock.shift(timedelta(minutes=29))
            assert signed_in(client)
        clock.shift(timedelta(minutes=30, seconds=1))
        refused = client.get("/staff/enrol", follow_redirects=True)
        assert b"You were signed out after 30 minutes without activity." in refused.data
        assert b"Staff sign in" in refused.data
        clock.shift(timedelta(seconds=5))
        assert not signed_in(client)


def test_the_live_worklists_own_polling_does_not_keep_a_session_alive(client, nurse):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        sign_in(client)
        for _ in range(9):
            clock.shift(timedelta(minutes=3))
            assert client.get("/staff/changes", headers=BACKGROUND).status_code == 200
        clock.shift(timedelta(minutes=3, seconds=1))
        polled = client.get("/staff/changes", headers=BACKGROUND)
        assert polled.status_code == 401 and polled.json == {"error": "signed_out"}
        page = client.get("/staff/", follow_redirects=True).get_data(as_text=True)
        assert page.count("signed out after 30 minutes without activity") == 1


def test_stay_signed_in_under_the_warning_keeps_the_session(client, nurse):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        sign_in(client)
        page = client.get("/staff/").get_data(as_text=True)
        assert "Stay signed in" in page
        assert 'data-idle-seconds="1740"' in page  # less the minute the record may lag
        clock.shift(timedelta(minutes=29))
        assert client.post("/account/keepalive").status_code == 204
        clock.shift(timedelta(minutes=29))
        assert signed_in(client)


def test_a_page_whose_time_is_up_ends_the_session_unless_another_tab_was_used(app, client, nurse):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        sign_in(client)
        other_tab = copy_of(app, client)
        clock.shift(timedelta(minutes=10))
        early = client.post("/account/idle", headers=BACKGROUND)
        assert early.json == {"ended": False, "remaining": 20 * 60}
        assert other_tab.get("/staff/").status_code == 200  # used in another tab at 10 min
        clock.shift(timedelta(minutes=19, seconds=30))  # this page's time is up; the tab's not
        assert client.post("/account/idle", headers=BACKGROUND).json["remaining"] == 630
        clock.shift(timedelta(minutes=9, seconds=30))  # nothing since: it ends now
        done = client.post("/account/idle", headers=BACKGROUND)
        assert done.json == {"ended": True, "login": "/login"}
        page = client.get("/login").get_data(as_text=True)
        assert page.count("signed out after 30 minutes without activity") == 1
        assert not signed_in(other_tab)
        reason = db.session.scalar(db.select(StaffSession.ended_reason))
        assert reason == "idle"


def test_a_remembered_session_has_no_idle_warning(client, nurse):
    sign_in(client, remember=True)
    assert "data-idle-seconds" not in client.get("/staff/").get_data(as_text=True)


def test_a_session_ends_after_a_shift_however_busy(client, nurse):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        sign_in(client)
        for _ in range(35):  # 11 hours 40 minutes, in use every 20 minutes
            clock.shift(timedelta(minutes=20))
            assert signed_in(client)
        clock.shift(timedelta(minutes=20, seconds=1))
        assert not signed_in(client)


def test_sign_out_everywhere_ends_every_session(app, client, nurse):
    sign_in(client)
    phone = app.test_client()
    sign_in(phone, remember=True)
    assert signed_in(phone)
    assert client.post("/account/sessions/end-all").status_code == 302
    assert not signed_in(client)
    assert not signed_in(phone)
    assert not signed_in(copy_of(app, phone, names=("remember_token",)))
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert actions.count("signed_out_everywhere") == 1


def test_the_account_page_lists_sessions_and_ends_another(app, client, nurse):
    sign_in(client, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0"})
    phone = app.test_client()
    sign_in(
        phone,
        headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/140.0 Mobile"},
        environ_base={"REMOTE_ADDR": "198.51.100.23"},
    )
    page = client.get("/account").get_data(as_text=True)
    assert "Chrome on Linux" in page and "(this browser)" in page
    assert "Chrome on Android" in page and "198.51.100.23" in page
    phone_session = db.session.scalar(
        db.select(StaffSession).where(StaffSession.address == "198.51.100.23")
    )
    assert client.post(f"/account/sessions/{phone_session.id}/end").status_code == 302
    assert not signed_in(phone)
    assert signed_in(client)
    assert "198.51.100.23" not in client.get("/account").get_data(as_text=True)


def test_nobody_ends_a_colleagues_session_from_their_account_page(app, client, clinic, nurse):
    colleague = factories.gen_staff(clinic, email="colleague@example.test")
    other = app.test_client()
    sign_in(other, colleague.email)
    theirs = db.session.scalar(db.select(StaffSession.id))
    sign_in(client)
    assert client.post(f"/account/sessions/{theirs}/end").status_code == 302
    assert client.post(f"/account/sessions/{2**40}/end").status_code == 404
    assert signed_in(other)


def test_turning_an_account_off_and_on_again_does_not_revive_its_sessions(app, client, clinic):
    admin = create_staff(clinic, "lead@example.org", factories.PASSWORD, "admin")
    nurse = factories.gen_staff(clinic, email="nurse@example.test")
    db.session.commit()
    nurse_browser = app.test_client()
    sign_in(nurse_browser, remember=True)
    kept = copy_of(app, nurse_browser)
    sign_in(client, admin.email)
    assert client.post(f"/staff/team/{nurse.id}/deactivate").status_code == 302
    assert client.post(f"/staff/team/{nurse.id}/reactivate").status_code == 302
    assert not signed_in(nurse_browser)
    assert not signed_in(kept)
    sign_in(app.test_client())  # the account itself works again


def test_sessions_are_stored_without_their_keys(app, client, nurse):
    sign_in(client)
    key = client.get_cookie("session").value
    stored = db.session.scalar(db.select(StaffSession))
    assert stored.key_hash not in key and len(stored.key_hash) == 64
    assert stored.ended_dt is None
    client.post("/logout")
    db.session.refresh(stored)
    assert stored.ended_reason == "signed_out"


def test_requests_at_once_on_one_session_all_count_and_sign_out_wins(app, client, nurse):
    """Eight pages at once as the activity time is due to be written, then sign-out racing
    more pages: every page answers, and afterwards the cookie opens nothing."""
    with time_machine.travel(datetime.now(UTC), tick=True) as clock:
        sign_in(client)
        clock.shift(timedelta(minutes=5))
        browsers = [copy_of(app, client, in_thread=True) for _ in range(8)]
        start = threading.Barrier(len(browsers))

        def load(browser):
            start.wait()
            return browser.get("/staff/").status_code

        with ThreadPoolExecutor(len(browsers)) as pool:
            assert list(pool.map(load, browsers)) == [200] * 8

        start = threading.Barrier(len(browsers) + 1)

        leaver = copy_of(app, client, in_thread=True)

        def sign_out():
            start.wait()
            return leaver.post("/logout").status_code

        with ThreadPoolExecutor(len(browsers) + 1) as pool:
            loads = [pool.submit(load, b) for b in browsers]
            out = pool.submit(sign_out)
            assert out.result() == 302
            assert {f.result() for f in loads} <= {200, 302}
    assert not any(signed_in(copy_of(app, b)) for b in browsers)


def test_a_temporary_password_opens_only_the_page_that_replaces_it(app, client, clinic):
    admin = create_staff(clinic, "lead@example.org", factories.PASSWORD, "admin")
    db.session.commit()
    sign_in(client, admin.email)
    client.post("/staff/team", data={"name": "New", "email": "new@example.org", "role": "nurse"})
    new = db.session.scalar(db.select(StaffUser).filter_by(email="new@example.org"))
    assert new.must_change_password
    temporary = "x" * 16  # stands for the one the team page showed once
    new.set_password(temporary)
    db.session.commit()
    browser = app.test_client()
    browser.post("/login", data={"email": "new@example.org", "password": temporary})
    for path in ("/staff/", "/staff/enrol", "/staff/exports", "/account", "/account/2fa"):
        response = browser.get(path)
        assert response.headers["Location"].endswith("/account/password"), path
    page = browser.get("/account/password", follow_redirects=True).get_data(as_text=True)
    assert "Change your password" in page
    same = {"current": temporary, "new": temporary, "confirm": temporary}
    assert browser.post("/account/password", data=same).status_code == 400
    mine = {"current": temporary, "new": "my own password", "confirm": "my own password"}
    assert browser.post("/account/password", data=mine).status_code == 302
    assert browser.get("/staff/").status_code == 200


def median_sign_in_seconds(client, email: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.post("/login", data={"email": email, "password": "not the password"})
        times.append(time.perf_counter() - started)
        assert response.status_code == 400
    return statistics.median(times)


@pytest.mark.parametrize("extra_config", [{"PASSWORD_HASH_METHOD": "scrypt"}])
def test_sign_in_takes_as_long_for_an_unknown_email_as_for_a_known_one(app, client, clinic):
    """The production hash (scrypt): an unknown email, a turned-off account and a known one
    each cost one hash check, so their times are within a factor of two of each other."""
    known = create_staff(clinic, "known@example.org", factories.PASSWORD)
    off = create_staff(clinic, "off@example.org", factories.PASSWORD)
    off.is_active = False
    db.session.commit()
    app.config["LOGIN_FAILURES_PER_ACCOUNT"] = app.config["LOGIN_FAILURES_PER_ADDRESS"] = (
        "1000 per minute"
    )
    median_sign_in_seconds(client, "warm@example.org", 2)  # the dummy hash is made once
    rounds = 7
    unknown = median_sign_in_seconds(client, "nobody@example.org", rounds)
    known_time = median_sign_in_seconds(client, known.email, rounds)
    off_time = median_sign_in_seconds(client, off.email, rounds)
    for other in (known_time, off_time):
        assert 0.5 < unknown / other < 2, (unknown, known_time, off_time)
