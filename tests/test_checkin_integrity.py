"""A check-in is stored whole or not at all, once per answer, and red flags are never lost."""

from __future__ import annotations

import re
import sqlite3
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import has_request_context
from sqlalchemy import event

from recovery.care import episodes
from recovery.care.episodes import close_episode, issue_link, revoke_link
from recovery.care.models import Alert, AuditEvent, Episode, PainEntry
from recovery.clinical.vocabulary import RedFlag
from recovery.extensions import db
from tests import factories

URL = "/api/v1/checkins"


def counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(db.select(db.func.count()).select_from(model))
        for model in (PainEntry, Alert, AuditEvent)
    }


def page(response) -> str:
    return response.get_data(as_text=True)


# --- all or nothing ---------------------------------------------------------------------


def test_a_failure_after_the_insert_leaves_nothing_stored_and_a_retry_is_judged(
    client, enrolled, monkeypatch
):
    """The entry, its alerts, the summary and the audit event commit together or not at all."""
    before = counts()
    body = {"pain": 9, "red_flags": ["leg_weakness"], "idempotency_key": "k-fail"}

    def broken(*args, **kwargs):
        raise RuntimeError("injected after the entry's INSERT")

    with monkeypatch.context() as patched:
        patched.setattr(episodes, "save_state", broken)
        with pytest.raises(RuntimeError, match="injected"):
            client.post(URL, json=body, headers=enrolled.headers)
    assert counts() == before

    retry = client.post(URL, json=body, headers=enrolled.headers)
    assert retry.status_code == 201  # nothing was stored, so the retry is the first
    alerts = db.session.scalars(db.select(Alert.rule)).all()
    assert "red_flag" in alerts
    episode = db.session.get(Episode, enrolled.episode.id)
    assert episode.last_pain == 9


# --- idempotency ------------------------------------------------------------------------


def test_a_reused_key_with_a_different_answer_is_a_conflict(client, enrolled):
    first = {"pain": 2, "idempotency_key": "K"}
    assert client.post(URL, json=first, headers=enrolled.headers).status_code == 201
    stored = counts()
    changed = {"pain": 9, "red_flags": ["chest_pain"], "idempotency_key": "K"}
    response = client.post(URL, json=changed, headers=enrolled.headers)
    assert response.status_code == 409
    assert response.get_json()["error"] == {
        "code": "idempotency_conflict",
        "message": "this idempotency key was already used for a different check-in",
        "field": "idempotency_key",
    }
    assert counts() == stored  # no entry, no alert, no audit event
    # The same key with the same answer still replays the first entry.
    again = client.post(URL, json=first, headers=enrolled.headers)
    assert again.status_code == 200
    assert again.get_json()["result"]["status"] == "on_track"


@pytest.mark.parametrize(
    "change",
    [{"pain": 3}, {"red_flags": ["fever"]}, {"analgesic": True}, {"note": "worse"}],
)
def test_any_changed_field_under_the_same_key_is_a_conflict(client, enrolled, change):
    first = {"pain": 2, "red_flags": [], "analgesic": False, "note": "", "idempotency_key": "K"}
    assert client.post(URL, json=first, headers=enrolled.headers).status_code == 201
    response = client.post(URL, json={**first, **change}, headers=enrolled.headers)
    assert response.status_code == 409


def test_a_replay_may_list_red_flags_in_another_order(client, enrolled):
    body = {"pain": 2, "red_flags": ["fever", "wound"], "idempotency_key": "K"}
    assert client.post(URL, json=body, headers=enrolled.headers).status_code == 201
    body["red_flags"] = ["wound", "fever"]
    assert client.post(URL, json=body, headers=enrolled.headers).status_code == 200


def test_on_the_form_a_resent_answer_is_stored_once_and_a_changed_one_is_new(client, enrolled):
    key = uuid.uuid4().hex  # one page, one key
    url = f"/p/{enrolled.token}"
    first = client.post(url, data={"pain": "4", "idempotency_key": key})
    double_tap = client.post(url, data={"pain": "4", "idempotency_key": key})
    assert first.status_code == double_tap.status_code == 302
    assert first.headers["Location"] == double_tap.headers["Location"]
    # Back, a different answer, submit: the patient's new answer counts.
    changed = client.post(
        url, data={"pain": "2", "red_flags": ["chest_pain"], "idempotency_key": key}
    )
    assert changed.status_code == 302
    assert changed.headers["Location"] != first.headers["Location"]
    assert db.session.scalars(db.select(PainEntry.pain).order_by(PainEntry.id)).all() == [4, 2]
    assert db.session.scalars(db.select(Alert.rule)).all() == ["red_flag"]


# --- red flags accumulate -----------------------------------------------------------------


def test_a_later_red_flag_keeps_the_earlier_ones_with_their_times(client, auth, nurse, clinic, now):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30), name="Ada")
    factories.gen_entry(enrolled.episode, 3, 6, red_flags=["chest_pain", "breathless"])
    factories.gen_entry(enrolled.episode, 2, 24, red_flags=["fever"])
    [alert] = db.session.scalars(db.select(Alert)).all()
    assert (alert.rule, alert.status) == ("red_flag", "open")
    assert alert.reason == (
        "red flag at 6 h (3/10): chest pain; shortness of breath | "
        "red flag at 24 h (2/10): fever or chills"
    )

    auth.login()
    worklist = page(client.get("/staff/"))
    for words in ("chest pain", "shortness of breath", "fever or chills", "at 6 h", "at 24 h"):
        assert words in worklist
    episode_page = page(client.get(f"/staff/episodes/{enrolled.episode.id}"))
    assert "chest pain; shortness of breath" in episode_page
    assert "fever or chills" in episode_page


def test_a_long_run_of_red_flags_is_kept_whole(clinic, now):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(days=20))
    flags = list(RedFlag.codes())
    for i in range(12):
        factories.gen_entry(enrolled.episode, 2, 24 + 24 * i, red_flags=[flags[i % len(flags)]])
    [alert] = db.session.scalars(db.select(Alert)).all()
    assert len(alert.reason) > 300
    assert alert.reason.count("red flag at") == 12
    # One flat list of twelve reports, not a join nested twelve deep.
    assert len(alert.reason_message["v"]) == 12
    for words in (flag.label for flag in RedFlag):
        assert words in alert.reason


# --- the patient's link is the key, and a dead link still leads somewhere ------------------


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True


def test_a_check_in_needs_no_cookie(app, csrf_on, enrolled):
    """A browser that dropped its cookies (private mode, cleared) keeps the patient's answer."""
    fresh = app.test_client()
    form = page(fresh.get(f"/p/{enrolled.token}"))
    assert "csrf_token" not in form
    assert fresh.get_cookie("session") is None  # the page sets no cookie to lose
    key = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', form).group(1)
    cookieless = app.test_client(use_cookies=False)
    response = cookieless.post(f"/p/{enrolled.token}", data={"pain": "5", "idempotency_key": key})
    assert response.status_code == 302
    assert "/entries/" in response.headers["Location"]
    db.session.rollback()
    assert db.session.scalars(db.select(PainEntry.pain)).all() == [5]


def test_staff_forms_still_need_their_csrf_token(app, csrf_on, client, nurse):
    response = client.post("/login", data={"email": nurse.email, "password": factories.PASSWORD})
    assert response.status_code == 400


@pytest.mark.parametrize("how", ["closed", "revoked", "replaced"])
def test_a_link_that_stopped_working_names_the_clinic_and_its_phone(client, nurse, how):
    clinic = factories.gen_clinic(name="Riverside IR", phone="+44 20 7946 0002")
    enrolled = factories.gen_episode(clinic)
    if how == "closed":
        close_episode(enrolled.episode, staff=nurse)
    elif how == "revoked":
        revoke_link(enrolled.episode, staff=nurse)
    else:
        issue_link(enrolled.episode, staff=nurse)
    db.session.commit()
    for method in (client.get, client.post):
        response = method(f"/p/{enrolled.token}", data={"pain": "3", "idempotency_key": "k"})
        text = page(response)
        assert response.status_code == 404
        assert "This link does not work" in text
        assert "Riverside IR" in text
        assert 'href="tel:+44 20 7946 0002"' in text
        assert 'href="tel:112"' in text
        assert "/login" not in text  # no path into the staff side
    assert db.session.scalar(db.select(db.func.count()).select_from(PainEntry)) == 0


def test_an_unknown_link_names_no_clinic(client, clinic):
    factories.gen_clinic(name="Riverside IR", phone="+44 20 7946 0002")
    response = client.get("/p/not-a-real-token")
    assert response.status_code == 404
    assert "This link does not work" in page(response)
    assert "tel:" not in page(response)


def test_an_old_link_from_before_a_reissue_opens_nothing(client, nurse, clinic):
    enrolled = factories.gen_episode(clinic)
    new_token = issue_link(enrolled.episode, staff=nurse)
    db.session.commit()
    assert client.get(f"/p/{enrolled.token}").status_code == 404
    assert client.get(f"/p/{new_token}").status_code == 200


# --- a GET that writes takes its turn as a writer on SQLite -------------------------------


def test_an_audited_download_is_not_refused_when_a_check_in_commits_meanwhile(
    app, client, auth, nurse, enrolled
):
    """On SQLite a transaction that read first cannot write once another process has written.

    Audited downloads (GET) are marked as writers, so they hold the write lock from the start
    and a check-in committed meanwhile waits its turn instead of failing the download.
    """
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("PostgreSQL writes after reads without a snapshot conflict")
    auth.login()
    path = db.engine.url.database
    writes: list[str] = []

    def another_process_writes(conn, cursor, statement, *args):
        if has_request_context() and statement.startswith("SELECT") and not writes:
            other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
            try:
                other.execute(
                    "INSERT INTO audit_event (actor, action, detail, created_dt)"
                    " VALUES ('patient', 'meanwhile', '', '2026-01-01 00:00:00')"
                )
                writes.append("committed")
            except sqlite3.OperationalError as exc:
                writes.append(str(exc))
            finally:
                other.close()

    event.listen(db.engine, "after_cursor_execute", another_process_writes)
    try:
        response = client.get(f"/staff/episodes/{enrolled.episode.id}/entries.csv")
    finally:
        event.remove(db.engine, "after_cursor_execute", another_process_writes)
    assert response.status_code == 200
    assert writes == ["database is locked"]  # the other writer waited for the download
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert "exported_entries_csv" in actions


def test_a_patient_error_page_leads_back_to_the_check_in_not_to_staff(app, client, enrolled):
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post(f"/p/{enrolled.token}", data={"pain": "3", "note": too_big})
    text = page(response)
    assert response.status_code == 413
    assert f'href="/p/{enrolled.token}"' in text
    assert "/login" not in text and 'href="/"' not in text
    assert response.headers.get("Set-Cookie") is None


def test_a_staff_error_page_still_leads_to_the_start(client):
    text = page(client.get("/staff/no-such-page"))
    assert 'href="/"' in text


def test_a_nurse_who_goes_back_and_changes_the_score_records_the_new_one(
    client, auth, nurse, clinic, now
):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    auth.login()
    local = now.astimezone(ZoneInfo(clinic.timezone))
    url = f"/staff/episodes/{enrolled.episode.id}/entries"
    data = {
        "pain": "4",
        "recorded_date": local.date().isoformat(),
        "recorded_time": local.strftime("%H:%M"),
        "idempotency_key": "one-page",
    }
    assert client.post(url, data=data).status_code == 302
    assert client.post(url, data=data).status_code == 302  # a double click: stored once
    changed = client.post(url, data={**data, "pain": "6"})  # back, a new score, submit
    assert changed.status_code == 302
    assert db.session.scalars(db.select(PainEntry.pain).order_by(PainEntry.id)).all() == [4, 6]
