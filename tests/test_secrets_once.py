"""Secrets shown once (new links, temporary passwords, API tokens) wait server-side for the
staff member who made them, never in the session cookie; they are shown once, to that staff
member only, and not after they expire. An API token does not come back with its account."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial

import pytest

from recovery.care.accounts import create_staff
from recovery.care.models import OneTimeSecret, utcnow
from recovery.care.secrets_once import LIFETIME, keep_secret, purge_expired, take_secret
from recovery.extensions import db
from recovery.web.shown_once import SESSION_KEY
from tests import factories
from tests.conftest import FreshContextClient
from tests.test_concurrency import at_once
from tests.test_enrol import enrol_data


@pytest.fixture
def admin(clinic):
    user = create_staff(clinic, "lead@example.org", factories.PASSWORD, "admin", "Lead Nurse")
    db.session.commit()
    return user


def signed_in(app, email: str):
    """A client signed in as `email`, each of its requests in its own app context."""
    app.test_client_class = FreshContextClient
    staff_client = app.test_client()
    response = staff_client.post("/login", data={"email": email, "password": factories.PASSWORD})
    assert response.status_code == 302
    return staff_client


def session_cookie(app, staff_client) -> tuple[str, dict]:
    """The raw session cookie and what it says (decoded as the app does)."""
    cookie = staff_client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    serializer = app.session_interface.get_signing_serializer(app)
    return cookie.value, dict(serializer.loads(cookie.value))


def assert_not_in_cookie(app, staff_client, secret: str) -> None:
    raw, decoded = session_cookie(app, staff_client)
    assert secret not in raw
    assert secret not in repr(decoded)
    # What the cookie carries is the record's key, which is not the secret.
    assert decoded.get(SESSION_KEY) and decoded[SESSION_KEY] != secret


def shown_secret(html: str) -> str | None:
    found = re.search(r'<code id="new-secret">([^<]+)</code>', html)
    return found.group(1) if found else None


def shown_link(html: str) -> str | None:
    found = re.search(r"http://localhost/p/([A-Za-z0-9_-]+)", html)
    return found.group(1) if found else None


def waiting() -> int:
    db.session.rollback()
    return db.session.scalar(db.select(db.func.count()).select_from(OneTimeSecret))


@pytest.mark.parametrize("action", ["password", "api-token"])
def test_a_password_or_token_is_never_in_the_cookie_and_shown_once(app, admin, nurse, action):
    staff_client = signed_in(app, admin.email)
    assert staff_client.post(f"/staff/team/{nurse.id}/{action}").status_code == 302
    row = db.session.scalar(db.select(OneTimeSecret))
    assert (row.staff_id, row.subject_id) == (admin.id, nurse.id)
    expected = row.secret
    assert_not_in_cookie(app, staff_client, expected)
    secret = shown_secret(staff_client.get("/staff/team").get_data(as_text=True))
    assert secret == expected
    assert waiting() == 0  # deleted as it was shown
    assert shown_secret(staff_client.get("/staff/team").get_data(as_text=True)) is None
    _raw, decoded = session_cookie(app, staff_client)
    assert SESSION_KEY not in decoded


def test_a_new_accounts_password_is_never_in_the_cookie(app, admin):
    staff_client = signed_in(app, admin.email)
    data = {"name": "Nia", "email": "nia@example.org", "role": "nurse"}
    assert staff_client.post("/staff/team", data=data).status_code == 302
    secret = db.session.scalar(db.select(OneTimeSecret.secret))
    assert_not_in_cookie(app, staff_client, secret)
    assert shown_secret(staff_client.get("/staff/team").get_data(as_text=True)) == secret


@pytest.mark.parametrize("holder", ["patient", "caregiver"])
def test_a_new_link_is_never_in_the_cookie_and_shown_once(app, nurse, enrolled, holder):
    staff_client = signed_in(app, nurse.email)
    episode_id = enrolled.episode.id
    path = "link/reissue" if holder == "patient" else "caregiver-link/issue"
    response = staff_client.post(f"/staff/episodes/{episode_id}/{path}")
    assert response.headers["Location"].endswith(f"/staff/episodes/{episode_id}/link")
    token = db.session.scalar(db.select(OneTimeSecret.secret))
    assert_not_in_cookie(app, staff_client, token)
    page = staff_client.get(f"/staff/episodes/{episode_id}/link").get_data(as_text=True)
    assert shown_link(page) == token
    assert (holder == "caregiver") == ("This link is for the patient's caregiver" in page)
    again = staff_client.get(f"/staff/episodes/{episode_id}/link").get_data(as_text=True)
    assert shown_link(again) is None
    assert waiting() == 0


def test_an_enrolled_patients_link_is_never_in_the_cookie(app, nurse, now):
    staff_client = signed_in(app, nurse.email)
    data = enrol_data(procedure_date=(now - timedelta(days=1)).date().isoformat())
    response = staff_client.post("/staff/enrol", data=data)
    assert response.status_code == 302
    token = db.session.scalar(db.select(OneTimeSecret.secret))
    assert_not_in_cookie(app, staff_client, token)
    assert shown_link(staff_client.get(response.headers["Location"]).get_data(as_text=True))


def test_another_staff_member_cannot_read_it_even_with_the_key(app, clinic, nurse, enrolled):
    """A colleague of the same clinic who somehow holds the key (a copied cookie value) is
    shown nothing, and the secret still waits for the one who made it."""
    colleague = factories.gen_staff(clinic, email="colleague@example.test")
    staff_client = signed_in(app, nurse.email)
    episode_id = enrolled.episode.id
    staff_client.post(f"/staff/episodes/{episode_id}/link/reissue")
    _raw, decoded = session_cookie(app, staff_client)
    key = decoded[SESSION_KEY]

    other = signed_in(app, colleague.email)
    with other.session_transaction() as session:
        session[SESSION_KEY] = key
    page = other.get(f"/staff/episodes/{episode_id}/link").get_data(as_text=True)
    assert shown_link(page) is None
    assert waiting() == 1
    assert take_secret(key, colleague, now=utcnow()) is None
    assert waiting() == 1
    assert shown_link(staff_client.get(f"/staff/episodes/{episode_id}/link").get_data(as_text=True))


def test_a_secret_for_another_episode_is_not_shown_on_this_one(app, clinic, nurse, enrolled, now):
    other = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=5))
    staff_client = signed_in(app, nurse.email)
    staff_client.post(f"/staff/episodes/{enrolled.episode.id}/link/reissue")
    page = staff_client.get(f"/staff/episodes/{other.episode.id}/link").get_data(as_text=True)
    assert shown_link(page) is None


def test_an_expired_secret_is_never_shown_and_is_purged(app, nurse, now):
    old_key = keep_secret(nurse, "password", nurse.id, "old-secret", now=now - LIFETIME)
    fresh_key = keep_secret(nurse, "password", nurse.id, "fresh-secret", now=now)
    db.session.commit()
    assert take_secret(old_key, nurse, now=now) is None
    fresh = take_secret(fresh_key, nurse, now=now + LIFETIME - timedelta(seconds=1))
    assert fresh is not None and fresh.secret == "fresh-secret"
    late = keep_secret(nurse, "password", nurse.id, "late-secret", now=now)
    assert take_secret(late, nurse, now=now + LIFETIME) is None  # at its expiry: gone
    keep_secret(nurse, "api_token", nurse.id, "a", now=now - 2 * LIFETIME)
    assert purge_expired(now) == 1  # "a" (a read deletes even an expired one)
    assert db.session.scalars(db.select(OneTimeSecret.secret)).all() == []


def test_keeping_a_secret_purges_the_expired_ones(app, nurse, now):
    keep_secret(nurse, "password", nurse.id, "stale", now=now - 2 * LIFETIME)
    keep_secret(nurse, "password", nurse.id, "new", now=now)
    assert db.session.scalars(db.select(OneTimeSecret.secret)).all() == ["new"]


def test_two_reads_at_once_show_it_once(app, admin, nurse):
    """The same session (two tabs, a double load) reads the page twice at the same moment:
    exactly one of them shows the secret."""
    for attempt in range(4):
        first = signed_in(app, admin.email)
        assert first.post(f"/staff/team/{nurse.id}/password").status_code == 302
        second = FreshContextClient(app, app.response_class)
        name = app.config["SESSION_COOKIE_NAME"]
        second.set_cookie(name, first.get_cookie(name).value)
        pages = at_once(app, partial(first.get, "/staff/team"), partial(second.get, "/staff/team"))
        assert [p.status_code for p in pages] == [200, 200], attempt
        shown = [shown_secret(p.get_data(as_text=True)) for p in pages]
        assert sum(s is not None for s in shown) == 1, (attempt, shown)
        assert waiting() == 0


def test_an_api_token_stays_revoked_after_the_account_is_turned_back_on(app, client, admin, nurse):
    staff_client = signed_in(app, admin.email)
    staff_client.post(f"/staff/team/{nurse.id}/api-token")
    token = shown_secret(staff_client.get("/staff/team").get_data(as_text=True))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/alerts", headers=headers).status_code == 200
    assert staff_client.post(f"/staff/team/{nurse.id}/deactivate").status_code == 302
    assert client.get("/api/v1/alerts", headers=headers).status_code == 401
    assert staff_client.post(f"/staff/team/{nurse.id}/reactivate").status_code == 302
    db.session.refresh(nurse)
    assert nurse.is_active and nurse.api_token_hash is None
    assert client.get("/api/v1/alerts", headers=headers).status_code == 401
    page = staff_client.get("/staff/team").get_data(as_text=True)
    row = re.search(rf'<tr data-staff-id="{nurse.id}">(.*?)</tr>', page, re.S).group(1)
    assert "Revoke API token" not in row and "New API token" in row
