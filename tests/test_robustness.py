"""Hostile and malformed input on every input surface.

The rule: bad input gets a clear error and loses nothing. For each surface these tests send
what a broken client, a tampered form or a curious person might send and check that
(a) the answer is never a 5xx, (b) it is the surface's own refusal (a 4xx, the form again with
its errors, or a redirect with a flashed message) and (c) nothing is stored when it is refused.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recovery.care.accounts import issue_api_token
from recovery.care.episodes import close_episode, revoke_link
from recovery.care.models import (
    Alert,
    AlertEvent,
    AuditEvent,
    Episode,
    PainEntry,
    Patient,
    StaffUser,
)
from recovery.clinical.vocabulary import RedFlag
from recovery.extensions import db
from tests import factories

RED_FLAGS = RedFlag.codes()
MODELS = (Patient, Episode, PainEntry, Alert, AlertEvent, AuditEvent)
FUZZ = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Ids a URL converter accepts but no database column can hold (SQLite INTEGER is 64-bit,
# PostgreSQL's integer 32-bit).
HUGE_IDS = [2**31, 2**63, 10**30]
# Text a form field can carry: any Unicode the test client can encode (no lone surrogates).
form_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


def row_counts() -> dict[str, int]:
    """How many rows each table that a request could write to holds.

    Audit rows of views (`episode_viewed`) are left out: `flashed` opens the episode page,
    which records that view, and a view is not a change (tests/test_audit_page.py checks it).
    """
    return {
        model.__name__: db.session.scalar(
            db.select(db.func.count())
            .select_from(model)
            .where(AuditEvent.action != "episode_viewed" if model is AuditEvent else db.true())
        )
        for model in MODELS
    }


def html(response) -> str:
    return response.get_data(as_text=True)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(raw: bytes | str) -> str:
    """An alert-feed cursor made of `raw` (encoded the way the API encodes its own)."""
    raw = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def is_local_redirect(location: str) -> bool:
    """Whether a browser following `location` stays on this site."""
    if any(c in location for c in "\t\r\n"):
        return False
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        return parts.netloc == "localhost" and parts.scheme in ("http", "https")
    return location.startswith("/") and not location.startswith(("//", "/\\"))


def flashed(client, response) -> str:
    """The page a redirect leads to (where the flashed message is shown)."""
    assert response.status_code == 302, response.status_code
    return html(client.get(response.headers["Location"]))


@pytest.fixture
def staff(client, nurse, auth):
    """The test client, signed in as `nurse`."""
    assert auth.login().status_code == 302
    return client


@pytest.fixture
def api_token(nurse):
    """An integration API token of `nurse`."""
    token = issue_api_token(nurse)
    db.session.commit()
    return token


def gen_red_flag_alert(episode: Episode) -> Alert:
    """An open urgent alert, raised the real way: a chest-pain check-in."""
    factories.gen_entry(episode, 2, 20, red_flags=["chest_pain"])
    return db.session.scalar(db.select(Alert).filter_by(episode_id=episode.id))


@pytest.fixture
def alert(enrolled):
    """An open alert on the enrolled episode."""
    return gen_red_flag_alert(enrolled.episode)


@pytest.fixture
def foreign(app):
    """Another clinic's enrolled episode with an open alert: (Enrolled, Alert)."""
    other = factories.gen_clinic(name="Other Clinic")
    enrolled = factories.gen_episode(other, name="Someone Else")
    return enrolled, gen_red_flag_alert(enrolled.episode)


def local_now(clinic, now, hours_ago: float = 1):
    """(date, "HH:MM") of `hours_ago` before now in the clinic's time zone."""
    local = (now - timedelta(hours=hours_ago)).astimezone(ZoneInfo(clinic.timezone))
    return local.date().isoformat(), local.strftime("%H:%M")


# --- the patient's check-in form: POST /p/<token> ------------------------------------------


def post_checkin(client, token: str, **fields):
    """Post the check-in form; a field given as None is left out."""
    data = {"pain": "3", "idempotency_key": uuid.uuid4().hex, "note": "keep me", **fields}
    return client.post(f"/p/{token}", data={k: v for k, v in data.items() if v is not None})


@pytest.mark.parametrize(
    "pain",
    ["", " ", "-1", "11", "5.5", "abc", "5\x00", "0x5", "1e1", "٥٥", "10" * 5000, "None", "[]"],
)
def test_checkin_bad_pain_is_refused_and_the_form_kept(client, enrolled, pain):
    before = row_counts()
    response = post_checkin(client, enrolled.token, pain=pain)
    assert response.status_code == 400
    page = html(response)
    assert "Please check your answers below." in page
    assert 'id="pain-error"' in page
    assert "keep me" in page  # what the patient typed is shown again
    assert row_counts() == before


def test_checkin_missing_pain_is_refused(client, enrolled):
    before = row_counts()
    response = post_checkin(client, enrolled.token, pain=None)
    assert response.status_code == 400
    assert "Please choose a number from 0 to 10." in html(response)
    assert row_counts() == before


@pytest.mark.parametrize("pain", ["٥", "５", "𝟓"])
def test_checkin_non_ascii_digit_is_read_as_that_number(client, enrolled, pain):
    # The form reads the score with int(), which takes any Unicode decimal digit (the fuzz test
    # below assumes the same): a five in another script is a five, stored once.
    response = post_checkin(client, enrolled.token, pain=pain)
    assert response.status_code == 302
    assert db.session.scalars(db.select(PainEntry.pain)).all() == [5]


def test_checkin_repeated_pain_field_stores_the_first_value_once(client, enrolled):
    response = client.post(
        f"/p/{enrolled.token}", data={"pain": ["3", "7"], "idempotency_key": "k-repeat"}
    )
    assert response.status_code == 302
    assert db.session.scalars(db.select(PainEntry.pain)).all() == [3]


@pytest.mark.parametrize(
    "red_flags",
    [
        ["bogus"],
        ["chest_pain\x00"],
        ["CHEST_PAIN"],
        [""],
        ["fever", "bogus"],
        ["x" * 5000],
    ],
)
def test_checkin_unknown_red_flag_is_refused(client, enrolled, red_flags):
    before = row_counts()
    response = post_checkin(client, enrolled.token, red_flags=red_flags)
    assert response.status_code == 400
    assert "Please check your answers below." in html(response)
    assert "field__error" in html(response)
    assert row_counts() == before


def test_checkin_repeated_red_flag_is_stored_once(client, enrolled):
    response = post_checkin(client, enrolled.token, red_flags=["fever", "fever"])
    assert response.status_code == 302
    assert db.session.scalars(db.select(PainEntry.red_flags)).all() == [["fever"]]


@pytest.mark.parametrize(
    "note,stored",
    [
        ("x" * 1001, False),
        ("😀" * 1001, False),
        ("a\x00b", False),
        ("\x00", False),
        ("x" * 1000, True),
        ("😀" * 1000, True),  # 1000 characters, 4000 bytes: still fits the column
        ("\u202e\u200b\ufeff<script>alert(1)</script>", True),
    ],
)
def test_checkin_note_bounds(client, enrolled, note, stored):
    before = row_counts()
    response = post_checkin(client, enrolled.token, note=note)
    if stored:
        assert response.status_code == 302
        assert db.session.scalar(db.select(PainEntry.note)) == note.strip()
        assert "<script>" not in html(client.get(response.headers["Location"]))
    else:
        assert response.status_code == 400
        assert 'id="note-error"' in html(response)
        assert row_counts() == before


@pytest.mark.parametrize(
    "raw_note",
    [b"%ED%A0%80", b"%ED%B0%80x", b"%FF%FE", b"%C0%AF", b"%F4%90%80%80", b"%zz%"],
)
def test_checkin_note_of_invalid_utf8_never_stores_unstorable_text(client, enrolled, raw_note):
    body = b"pain=3&idempotency_key=k-raw&note=" + raw_note
    response = client.post(
        f"/p/{enrolled.token}", data=body, content_type="application/x-www-form-urlencoded"
    )
    # The form parser keeps bytes it cannot decode as their %-escapes: the note is stored as
    # sent, in storable text, and the patient's answer is not lost.
    assert response.status_code == 302
    assert db.session.scalars(db.select(PainEntry.note)).all() == [raw_note.decode()]


@pytest.mark.parametrize("key", ["", "k" * 65, "k\x00", None])
def test_checkin_bad_idempotency_key_is_refused(client, enrolled, key):
    before = row_counts()
    response = post_checkin(client, enrolled.token, idempotency_key=key)
    assert response.status_code == 400
    assert row_counts() == before


def test_checkin_body_over_the_size_limit_is_413(client, enrolled):
    before = row_counts()
    response = post_checkin(client, enrolled.token, note="x" * 70_000)
    assert response.status_code == 413
    assert row_counts() == before


@pytest.mark.parametrize(
    "token",
    ["x" * 201, "x" * 5000, "%00", "%E2%80%AE", "null", "..", "%ED%A0%80", "Bearer%20x"],
)
def test_checkin_with_unknown_token_is_the_invalid_link_page(client, enrolled, token):
    before = row_counts()
    for response in (client.get(f"/p/{token}"), post_checkin(client, token)):
        assert response.status_code == 404
        assert "This link does not work" in html(response)
    assert row_counts() == before


def test_checkin_with_revoked_replaced_or_closed_link_stores_nothing(client, enrolled, nurse):
    before = row_counts()
    old = enrolled.token
    revoke_link(enrolled.episode)
    db.session.commit()
    assert post_checkin(client, old).status_code == 404
    closed = factories.gen_episode(enrolled.episode.clinic)
    close_episode(closed.episode, staff=nurse)
    db.session.commit()
    before = row_counts()
    for token in (old, closed.token):
        response = post_checkin(client, token)
        assert response.status_code == 404
        assert "This link does not work" in html(response)
    assert row_counts() == before


@pytest.mark.parametrize(
    "extra", [{}, {"csrf_token": "garbage"}, {"csrf_token": "\x00"}], ids=["none", "garbage", "nul"]
)
def test_checkin_needs_no_csrf_token_and_a_forged_one_changes_nothing(
    app, client, nurse, enrolled, extra
):
    # The personal link is the credential, not a cookie (see patient.routes.checkin): with CSRF
    # protection on, the form carries no token, and a missing or garbage one is not looked at.
    app.config["WTF_CSRF_ENABLED"] = True
    assert "csrf_token" not in html(client.get(f"/p/{enrolled.token}"))
    before = row_counts()
    assert post_checkin(client, enrolled.token, **extra).status_code == 302
    assert row_counts()["PainEntry"] == before["PainEntry"] + 1
    # CSRF protection really was on: the staff sign-in, sent without its token, is refused.
    credentials = {"email": nurse.email, "password": factories.PASSWORD}
    assert client.post("/login", data=credentials).status_code == 400


def test_checkin_retry_after_an_error_and_after_success_stores_once(client, enrolled):
    key = "k-retry"
    assert post_checkin(client, enrolled.token, pain="12", idempotency_key=key).status_code == 400
    first = post_checkin(client, enrolled.token, pain="4", idempotency_key=key)
    # The same answer sent again (a changed one is a new entry: test_checkin_integrity.py).
    again = post_checkin(client, enrolled.token, pain="4", idempotency_key=key)
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == again.headers["Location"]
    assert db.session.scalars(db.select(PainEntry.pain)).all() == [4]


def pain_is_valid(text: str) -> bool:
    """Whether WTForms' int coercion reads `text` as 0-10."""
    try:
        return 0 <= int(text) <= 10
    except ValueError:
        return False


@FUZZ
@given(
    pain=st.one_of(st.sampled_from(["0", "5", "10", "11", "-1", "", "1_0", " 7 "]), form_text),
    flags=st.lists(st.sampled_from([*RED_FLAGS, "bogus", ""]), max_size=3),
    note=st.one_of(form_text, st.sampled_from(["x" * 1000, "x" * 1001, "a\x00", " padded "])),
)
def test_checkin_form_fuzz(client, enrolled, pain, flags, note):
    before = row_counts()
    data = {"pain": pain, "red_flags": flags, "note": note, "idempotency_key": uuid.uuid4().hex}
    response = client.post(f"/p/{enrolled.token}", data=data)
    valid = (
        pain_is_valid(pain)
        and all(f in RED_FLAGS for f in flags)
        and len(note) <= 1000
        and "\x00" not in note
    )
    assert response.status_code == (302 if valid else 400)
    after = row_counts()
    if not valid:
        assert after == before
        return
    assert after["PainEntry"] == before["PainEntry"] + 1
    entry = db.session.scalar(db.select(PainEntry).order_by(PainEntry.id.desc()).limit(1))
    assert (entry.pain, entry.note) == (int(pain), note.strip())
    assert client.post(f"/p/{enrolled.token}", data=data).status_code == 302  # a retry
    assert row_counts() == after


@pytest.mark.parametrize("entry_id", HUGE_IDS)
def test_patient_result_page_with_huge_entry_id_is_404(client, enrolled, entry_id):
    response = client.get(f"/p/{enrolled.token}/entries/{entry_id}")
    assert response.status_code == 404


def test_patient_result_page_of_another_episodes_entry_is_404(client, enrolled, foreign):
    entry_id = db.session.scalar(
        db.select(PainEntry.id).filter_by(episode_id=foreign[0].episode.id)
    )
    assert client.get(f"/p/{enrolled.token}/entries/{entry_id}").status_code == 404


# --- the patient JSON API: POST /api/v1/checkins, GET /api/v1/episode -----------------------

CHECKINS = "/api/v1/checkins"


def assert_api_error(response, status: int, field: str | None = None) -> dict:
    """The API's one error shape, with `status` (and `field` when given)."""
    assert response.status_code == status, (response.status_code, response.get_data())
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    if field is not None:
        assert error["field"] == field
    return error


@pytest.mark.parametrize(
    "body",
    [
        deep_json(5000),
        '{"pain": 3, "note": ' + deep_json(5000) + "}",
        '{"pain": ' + "1" * 5000 + "}",
        '{"pain": 3, "pain": 4, "pain": 11}',
        '{"pain": 1e400}',
        '{"pain": -0.0}',
        '{"pain": 3}\x00',
        '{"pain": 3, "red_flags": {"chest_pain": true}}',
        '{"pain": 3, "idempotency_key": "k\\u0000"}',
        '{"pain": 3, "idempotency_key": "\\udfff"}',
        '{"pain": 3, "recorded_at": "0001-01-01T00:00:00+14:00"}',
        '{"pain": 3, "recorded_at": "9999-12-31T23:59:59-14:00"}',
        '{"pain": 3, "recorded_at": "2026-01-01T00:00:00\\u0000Z"}',
        '{"pain": 3, "recorded_at": "\\u0662\\u0660\\u0662\\u0666-01-01T00:00:00Z"}',
    ],
)
def test_checkin_api_hostile_bodies_are_4xx_and_store_nothing(client, enrolled, body):
    before = row_counts()
    response = client.post(
        CHECKINS, data=body, content_type="application/json", headers=bearer(enrolled.token)
    )
    assert 400 <= response.status_code < 500, response.status_code
    assert response.get_json()["error"]["code"]
    assert row_counts() == before


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
checkin_bodies = st.fixed_dictionaries(
    {},
    optional={
        "pain": st.one_of(st.integers(-2, 12), json_values),
        "red_flags": st.one_of(st.lists(st.sampled_from([*RED_FLAGS, "bogus"])), json_values),
        "analgesic": st.one_of(st.booleans(), json_values),
        "note": st.one_of(st.text(max_size=30), json_values),
        "idempotency_key": st.one_of(st.text(min_size=1, max_size=70), json_values),
        "recorded_at": st.one_of(
            st.sampled_from(["2026-01-01T00:00:00Z", "yesterday", "0001-01-01T00:00:00+14:00"]),
            json_values,
        ),
        "extra": json_values,
    },
)


@FUZZ
@given(body=st.one_of(checkin_bodies, json_values))
def test_checkin_api_fuzz(client, enrolled, body):
    before = row_counts()
    response = client.post(CHECKINS, json=body, headers=bearer(enrolled.token))
    assert response.status_code in (200, 201, 400, 415, 422), response.get_data()
    after = row_counts()
    if response.status_code != 201:
        assert after["PainEntry"] == before["PainEntry"]
        assert response.status_code == 200 or response.get_json()["error"]["code"]
        return
    assert after["PainEntry"] == before["PainEntry"] + 1
    if body.get("idempotency_key"):
        retry = client.post(CHECKINS, json=body, headers=bearer(enrolled.token))
        assert retry.status_code == 200
        assert retry.get_json()["entry"] == response.get_json()["entry"]
        assert row_counts() == after


REFUSED_AUTHORIZATIONS = [
    "",
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "Token {t}",
    "{t}",
    "Bearer\t{t}",
    "Basic {t}",
    "Bearer {t}x",
    "Bearer {t} {t}",
    "Bearer\x00{t}",
    "Bearer " + "x" * 10_000,
    "Bearer ü",
    "Bearer " + "日本".encode().decode("latin-1"),
    "Bearer {t}\x00",
]


@pytest.mark.parametrize("header", REFUSED_AUTHORIZATIONS)
def test_patient_api_refuses_malformed_authorization(client, enrolled, header):
    headers = {"Authorization": header.format(t=enrolled.token)} if header else {}
    before = row_counts()
    assert_api_error(client.post(CHECKINS, json={"pain": 3}, headers=headers), 401)
    assert_api_error(client.get("/api/v1/episode", headers=headers), 401)
    assert row_counts() == before


@pytest.mark.parametrize("header", ["Bearer  {t}", "bearer {t}", "BEARER {t} ", "Bearer {t}\t"])
def test_patient_api_tolerates_case_and_spacing_of_bearer(client, enrolled, header):
    headers = {"Authorization": header.format(t=enrolled.token)}
    response = client.post(CHECKINS, json={"pain": 3, "idempotency_key": "k"}, headers=headers)
    assert response.status_code == 201
    assert row_counts()["PainEntry"] == 1


@pytest.mark.parametrize("header", REFUSED_AUTHORIZATIONS)
def test_staff_api_refuses_malformed_authorization(client, api_token, enrolled, header):
    headers = {"Authorization": header.format(t=api_token)} if header else {}
    before = row_counts()
    for url in (
        "/api/v1/alerts",
        f"/api/v1/episodes/{enrolled.episode.id}/fhir",
        "/api/v1/entries.csv?start=2026-01-01&end=2026-01-02",
    ):
        assert_api_error(client.get(url, headers=headers), 401)
    assert row_counts() == before


def test_patient_and_staff_tokens_do_not_cross(client, enrolled, api_token):
    before = row_counts()
    assert_api_error(client.post(CHECKINS, json={"pain": 3}, headers=bearer(api_token)), 401)
    assert_api_error(client.get("/api/v1/episode", headers=bearer(api_token)), 401)
    for url in ("/api/v1/alerts", f"/api/v1/episodes/{enrolled.episode.id}/fhir"):
        assert_api_error(client.get(url, headers=bearer(enrolled.token)), 401)
    assert client.get("/staff/", headers=bearer(api_token)).status_code == 302  # to sign-in
    assert row_counts() == before


def test_closed_episode_token_is_refused_by_the_api(client, enrolled, nurse):
    close_episode(enrolled.episode, staff=nurse)
    db.session.commit()
    before = row_counts()
    assert_api_error(client.post(CHECKINS, json={"pain": 3}, headers=enrolled.headers), 401)
    assert row_counts() == before


# --- the integration API: alert feed, FHIR, CSV ----------------------------------------------

BAD_FEED_PARAMS = [
    ({"limit": "0"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"limit": "99999999999999999999"}, "limit"),
    ({"limit": "١٠"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"limit": ""}, "limit"),
    ({"limit": " 5"}, "limit"),
    ({"status": "xyz"}, "status"),
    ({"status": ""}, "status"),
    ({"status": "open\x00"}, "status"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": ""}, "cursor"),
    ({"cursor": "%%%"}, "cursor"),
    ({"cursor": "\x00"}, "cursor"),
    ({"cursor": b64("[1, 2]")}, "cursor"),
    ({"cursor": b64('{"a": 1, "b": 2, "c": 3}')}, "cursor"),
    ({"cursor": b64('[1, "2026-01-01T00:00:00", 1]')}, "cursor"),
    ({"cursor": b64('[true, "2026-01-01T00:00:00+00:00", 1]')}, "cursor"),
    ({"cursor": b64('[1, "2026-01-01T00:00:00+00:00", 1.5]')}, "cursor"),
    ({"cursor": b64(b"\xff\xfe\x00")}, "cursor"),
    ({"cursor": b64(json.dumps([10**20, "2026-01-01T00:00:00+00:00", 1]))}, "cursor"),
    ({"cursor": b64(json.dumps([1, "2026-01-01T00:00:00+00:00", 10**20]))}, "cursor"),
    ({"cursor": b64(json.dumps([1, "0001-01-01T00:00:00+14:00", 1]))}, "cursor"),
    ({"cursor": b64(json.dumps([1, "9999-12-31T23:59:59-14:00", 1]))}, "cursor"),
    ({"cursor": b64(deep_json(3000))}, "cursor"),
    ({"surprise": "1"}, "surprise"),
]


@pytest.mark.parametrize("params,field", BAD_FEED_PARAMS)
def test_alert_feed_bad_params_are_400(client, api_token, alert, params, field):
    before = row_counts()
    response = client.get("/api/v1/alerts", query_string=params, headers=bearer(api_token))
    assert_api_error(response, 400, field)
    assert row_counts() == before


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        ("status=open&status=bogus", None),
        ("limit=1&limit=999999", None),
        ("cursor=x&cursor=y", "cursor"),
        ("limit=1&limit=1&status=all&status=all", None),
    ],
)
def test_alert_feed_repeated_params_are_never_a_5xx(client, api_token, alert, query, refused):
    response = client.get(f"/api/v1/alerts?{query}", headers=bearer(api_token))
    # The first value of a repeated parameter counts, as everywhere in Flask.
    if refused:
        assert_api_error(response, 400, refused)
    else:
        assert response.status_code == 200
        assert len(response.get_json()["alerts"]) == 1


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["status", "limit", "cursor", "x"]),
        st.one_of(form_text, st.sampled_from(["open", "all", "1", "500"])),
        max_size=3,
    )
)
def test_alert_feed_fuzz(client, api_token, params):
    response = client.get("/api/v1/alerts", query_string=params, headers=bearer(api_token))
    assert response.status_code in (200, 400)


BAD_RANGES = [
    {},
    {"start": "2026-01-01"},
    {"end": "2026-01-01"},
    {"start": "0001-01-01", "end": "0001-01-02"},
    {"start": "9999-12-30", "end": "9999-12-31"},
    {"start": "2026-02-30", "end": "2026-03-01"},
    {"start": "2026-1-1", "end": "2026-01-02"},
    {"start": "٢٠٢٦-٠١-٠١", "end": "2026-01-02"},
    {"start": "2026-01-01T00:00", "end": "2026-01-02"},
    {"start": "", "end": ""},
    {"start": "2026-01-01\x00", "end": "2026-01-02"},
    {"start": "2026-01-02", "end": "2026-01-01"},
    {"start": "2020-01-01", "end": "2026-01-01"},
    {"start": "2026-01-01", "end": "2026-01-02", "limit": "5"},
]


@pytest.mark.parametrize("kind", ["entries", "alerts"])
@pytest.mark.parametrize("params", BAD_RANGES)
def test_clinic_csv_bad_ranges_are_400_and_not_audited(client, api_token, kind, params):
    before = row_counts()
    response = client.get(f"/api/v1/{kind}.csv", query_string=params, headers=bearer(api_token))
    assert_api_error(response, 400)
    assert row_counts() == before


def test_clinic_csv_repeated_range_params_are_never_a_5xx(client, api_token):
    query = "start=2026-01-01&start=0001-01-01&end=2026-01-02&end=bogus"
    response = client.get(f"/api/v1/entries.csv?{query}", headers=bearer(api_token))
    assert response.status_code == 200  # the first start and the first end count
    assert response.mimetype == "text/csv"


@pytest.mark.parametrize("episode_id", HUGE_IDS)
@pytest.mark.parametrize("suffix", ["fhir", "entries.csv", "alerts.csv"])
def test_integration_api_huge_episode_id_is_404(client, api_token, episode_id, suffix):
    before = row_counts()
    response = client.get(f"/api/v1/episodes/{episode_id}/{suffix}", headers=bearer(api_token))
    assert_api_error(response, 404)
    assert row_counts() == before


@pytest.mark.parametrize("suffix", ["fhir", "entries.csv", "alerts.csv"])
def test_integration_api_other_clinics_episode_is_404_and_not_audited(
    client, api_token, foreign, suffix
):
    before = row_counts()
    response = client.get(
        f"/api/v1/episodes/{foreign[0].episode.id}/{suffix}", headers=bearer(api_token)
    )
    assert_api_error(response, 404)
    assert row_counts() == before


# --- staff sign-in ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email,password",
    [
        ("nürse@exämple.test", factories.PASSWORD),
        ("nurse@example.test", "x" * 10_000),
        ("nurse@example.test", factories.PASSWORD + "\x00"),
        ("nurse@example.test\x00", factories.PASSWORD),
        ("x" * 300 + "@example.test", factories.PASSWORD),
        ("", factories.PASSWORD),
        ("nurse@example.test", ""),
        ("' OR 1=1 --", "' OR 1=1 --"),
        ("%", "%"),
    ],
)
def test_login_refuses_hostile_credentials(client, nurse, email, password):
    before = row_counts()
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 400
    assert "Please check the form" in html(response)
    assert row_counts() == before  # no "signed_in" event
    assert client.get("/staff/").status_code == 302  # still signed out


def test_login_with_repeated_fields_is_never_a_5xx(client, nurse):
    response = client.post(
        "/login",
        data={"email": ["nurse@example.test", "x"], "password": ["wrong", factories.PASSWORD]},
    )
    assert response.status_code == 400  # the first password counts, and it is wrong
    assert client.get("/staff/").status_code == 302  # still signed out


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/%2F%2Fevil.example",
        "///evil.example",
    ],
)
def test_login_next_never_leaves_the_site(client, nurse, target):
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "nurse@example.test", "password": factories.PASSWORD},
    )
    assert response.status_code == 302
    assert is_local_redirect(response.headers["Location"]), response.headers["Location"]


# --- staff: enrolment -------------------------------------------------------------------------


def enrol_data(clinic, now, **overrides):
    day, time = local_now(clinic, now, hours_ago=2)
    data = {
        "display_name": "Ann Example",
        "mrn": "",
        "email": "",
        "phone": "",
        "no_phone_reason": "no phone",
        "preferred_language": "en",
        "procedure_date": day,
        "procedure_time": time,
        "levels": "L1",
        "indication": "osteoporosis",
        "baseline_pain": "8",
        **overrides,
    }
    return {k: v for k, v in data.items() if v is not None}


def test_enrol_valid_form_enrols_one_patient(staff, clinic, now):
    before = row_counts()
    response = staff.post("/staff/enrol", data=enrol_data(clinic, now))
    assert response.status_code == 302
    assert row_counts()["Patient"] == before["Patient"] + 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"procedure_date": "0001-01-01"},
        {"procedure_date": "9999-12-31", "procedure_time": "23:59"},
        {"procedure_date": "2026-02-30"},
        {"procedure_date": "10000-01-01"},
        {"procedure_date": ""},
        {"procedure_date": None},
        {"procedure_date": "٢٠٢٦-٠١-٠١"},
        {"procedure_time": "24:00"},
        {"procedure_time": "9:99"},
        {"procedure_time": ""},
        {"procedure_time": "09:00\x00"},
        {"baseline_pain": "-1"},
        {"baseline_pain": "11"},
        {"baseline_pain": "abc"},
        {"baseline_pain": "5.5"},
        {"baseline_pain": "9" * 30},
        {"baseline_pain": "1e1"},
        {"display_name": ""},
        {"display_name": "   "},
        {"display_name": "Ann\x00"},
        {"display_name": "x" * 300},
        {"display_name": "x" * 201},
        {"mrn": "M\x00"},
        {"mrn": "m" * 65},
        {"email": "not-an-email"},
        {"email": "a@b"},
        {"email": "x" * 250 + "@e.test"},
        {"email": "ann\x00@example.test"},
        {"phone": "call me"},
        {"phone": "1" * 33},
        {"phone": "+44\x00"},
        {"no_phone_reason": ""},
        {"no_phone_reason": "   "},
        {"no_phone_reason": None},
        {"no_phone_reason": "r" * 201},
        {"no_phone_reason": "no\x00phone"},
        {"levels": "L" * 101},
        {"levels": "L1\x00"},
        {"indication": "xyz"},
        {"indication": ""},
        {"preferred_language": "xx"},
        {"preferred_language": "en\x00"},
    ],
)
def test_enrol_refuses_extreme_values_and_stores_nothing(staff, clinic, now, overrides):
    before = row_counts()
    response = staff.post("/staff/enrol", data=enrol_data(clinic, now, **overrides))
    assert response.status_code == 400
    assert "Please check the form" in html(response)
    assert row_counts() == before


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize("day,time", [("0001-01-01", "00:00"), ("9999-12-31", "23:59")])
def test_enrol_at_the_ends_of_the_calendar_in_far_time_zones(client, auth, now, zone, day, time):
    far = factories.gen_clinic(timezone=zone)
    factories.gen_staff(far, email="far@example.test")
    assert auth.login(email="far@example.test").status_code == 302
    before = row_counts()
    data = enrol_data(far, now, procedure_date=day, procedure_time=time)
    response = client.post("/staff/enrol", data=data)
    assert response.status_code == 400
    assert "within 90 days" in html(response)
    assert row_counts() == before


def test_enrol_duplicate_mrn_is_a_form_error(staff, clinic, now):
    assert staff.post("/staff/enrol", data=enrol_data(clinic, now, mrn="M1")).status_code == 302
    before = row_counts()
    response = staff.post("/staff/enrol", data=enrol_data(clinic, now, mrn="  M1 "))
    assert response.status_code == 400
    assert "already enrolled" in html(response)
    assert row_counts() == before


# --- staff: an entry recorded on the patient's behalf -----------------------------------------


def staff_entry_data(clinic, now, **overrides):
    day, time = local_now(clinic, now)
    data = {
        "pain": "4",
        "recorded_date": day,
        "recorded_time": time,
        "note": "keep me",
        "idempotency_key": uuid.uuid4().hex,
        **overrides,
    }
    return {k: v for k, v in data.items() if v is not None}


def test_staff_entry_valid_is_stored_once_even_when_sent_twice(staff, clinic, enrolled, now):
    url = f"/staff/episodes/{enrolled.episode.id}/entries"
    data = staff_entry_data(clinic, now)
    assert staff.post(url, data=data).status_code == 302
    assert staff.post(url, data=data).status_code == 302
    entries = db.session.scalars(db.select(PainEntry)).all()
    assert [(e.pain, e.source) for e in entries] == [(4, "staff")]


@pytest.mark.parametrize(
    "overrides",
    [
        {"pain": ""},
        {"pain": None},
        {"pain": "11"},
        {"pain": "-1"},
        {"pain": "x"},
        {"pain": "4\x00"},
        {"recorded_date": "0001-01-01", "recorded_time": "00:00"},
        {"recorded_date": "9999-12-31", "recorded_time": "23:59"},
        {"recorded_date": "2026-02-30"},
        {"recorded_date": ""},
        {"recorded_time": "25:00"},
        {"recorded_time": ""},
        {"red_flags": ["bogus"]},
        {"note": "x" * 1001},
        {"note": "a\x00b"},
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 65},
    ],
)
def test_staff_entry_refuses_bad_values_and_keeps_the_form(staff, clinic, enrolled, now, overrides):
    before = row_counts()
    data = staff_entry_data(clinic, now, **overrides)
    response = staff.post(f"/staff/episodes/{enrolled.episode.id}/entries", data=data)
    assert response.status_code == 400
    page = html(response)
    assert "Please check the form" in page
    if "note" not in overrides:
        assert "keep me" in page
    assert row_counts() == before


def test_staff_entry_in_the_future_or_long_before_the_procedure_is_refused(
    staff, clinic, enrolled, now
):
    before = row_counts()
    url = f"/staff/episodes/{enrolled.episode.id}/entries"
    for hours_ago in (-48, 24 * 30):
        day, time = local_now(clinic, now, hours_ago=hours_ago)
        data = staff_entry_data(clinic, now, recorded_date=day, recorded_time=time)
        response = staff.post(url, data=data)
        assert response.status_code == 400
        assert "Please check the form" in html(response)
    assert row_counts() == before


def test_staff_entry_on_a_closed_episode_is_refused(staff, clinic, enrolled, nurse, now):
    close_episode(enrolled.episode, staff=nurse)
    db.session.commit()
    before = row_counts()
    url = f"/staff/episodes/{enrolled.episode.id}/entries"
    response = staff.post(url, data=staff_entry_data(clinic, now))
    assert response.status_code == 400
    assert "closed" in html(response)
    assert row_counts() == before


def test_staff_entry_on_another_clinics_episode_is_404(staff, clinic, foreign, now):
    before = row_counts()
    url = f"/staff/episodes/{foreign[0].episode.id}/entries"
    assert staff.post(url, data=staff_entry_data(clinic, now)).status_code == 404
    assert row_counts() == before


# --- staff: alerts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"action": ""},
        {"action": "xyz"},
        {"action": "other\x00"},
        {"action": "OTHER"},
        {"action": "other", "note": "n" * 5000},
        {"action": "other", "note": "a\x00b"},
    ],
)
def test_acknowledge_with_bad_input_changes_nothing(staff, alert, data):
    before = row_counts()
    response = staff.post(f"/staff/alerts/{alert.id}/acknowledge", data=data)
    assert "The alert was not changed" in flashed(staff, response)
    assert db.session.get(Alert, alert.id).status == "open"
    assert row_counts() == before


@pytest.mark.parametrize("note", ["n" * 5000, "a\x00b"])
def test_resolve_with_bad_note_changes_nothing(staff, alert, note):
    before = row_counts()
    response = staff.post(f"/staff/alerts/{alert.id}/resolve", data={"note": note})
    assert "The alert was not changed" in flashed(staff, response)
    assert db.session.get(Alert, alert.id).status == "open"
    assert row_counts() == before


def test_acting_on_a_resolved_alert_is_a_clear_no_op(staff, alert):
    assert staff.post(f"/staff/alerts/{alert.id}/resolve", data={"note": "done"}).status_code == 302
    before = row_counts()
    events = len(db.session.get(Alert, alert.id).events)
    page = flashed(staff, staff.post(f"/staff/alerts/{alert.id}/resolve", data={"note": "again"}))
    assert "already resolved" in page
    page = flashed(
        staff, staff.post(f"/staff/alerts/{alert.id}/acknowledge", data={"action": "other"})
    )
    assert "already resolved" in page
    refreshed = db.session.get(Alert, alert.id)
    assert (refreshed.status, len(refreshed.events)) == ("resolved", events)
    assert row_counts() == before


def test_acknowledging_twice_records_it_once(staff, alert):
    url = f"/staff/alerts/{alert.id}/acknowledge"
    assert staff.post(url, data={"action": "called_patient"}).status_code == 302
    before = row_counts()
    page = flashed(staff, staff.post(url, data={"action": "called_patient"}))
    assert "already recorded" in page
    assert row_counts() == before


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_another_clinics_alert_is_404(staff, foreign, action):
    _, other_alert = foreign
    before = row_counts()
    response = staff.post(f"/staff/alerts/{other_alert.id}/{action}", data={"action": "other"})
    assert response.status_code == 404
    assert db.session.get(Alert, other_alert.id).status == "open"
    assert row_counts() == before


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_acknowledge_next_never_leaves_the_site(staff, alert, target):
    response = staff.post(
        f"/staff/alerts/{alert.id}/acknowledge", data={"action": "other", "next": target}
    )
    assert response.status_code == 302
    assert is_local_redirect(response.headers["Location"]), response.headers["Location"]


# --- staff: close, link re-issue and revoke -----------------------------------------------------


@pytest.mark.parametrize("action", ["close", "link/revoke", "link/reissue"])
def test_another_clinics_episode_cannot_be_changed(staff, client, foreign, action):
    enrolled, _ = foreign
    before = row_counts()
    response = staff.post(f"/staff/episodes/{enrolled.episode.id}/{action}")
    assert response.status_code == 404
    assert row_counts() == before
    episode = db.session.get(Episode, enrolled.episode.id)
    assert episode.status == "active"
    assert client.get(f"/p/{enrolled.token}").status_code == 200  # the link still works


def test_closing_twice_records_it_once(staff, enrolled):
    url = f"/staff/episodes/{enrolled.episode.id}/close"
    assert staff.post(url).status_code == 302
    before = row_counts()
    assert staff.post(url).status_code == 302
    assert row_counts() == before


def test_reissuing_a_closed_episodes_link_is_refused(staff, enrolled, nurse):
    close_episode(enrolled.episode, staff=nurse)
    db.session.commit()
    before = row_counts()
    response = staff.post(f"/staff/episodes/{enrolled.episode.id}/link/reissue")
    assert "cannot be re-issued" in flashed(staff, response)
    assert db.session.get(Episode, enrolled.episode.id).token_hash is None
    assert row_counts() == before


def test_revoking_twice_records_it_once(staff, enrolled):
    url = f"/staff/episodes/{enrolled.episode.id}/link/revoke"
    assert staff.post(url).status_code == 302
    before = row_counts()
    assert staff.post(url).status_code == 302
    assert row_counts() == before  # the second click revoked nothing


@pytest.mark.parametrize(
    "url",
    [
        "/staff/enrol",
        "/staff/episodes/{episode}/entries",
        "/staff/episodes/{episode}/close",
        "/staff/episodes/{episode}/link/revoke",
        "/staff/episodes/{episode}/link/reissue",
        "/staff/alerts/{alert}/acknowledge",
        "/staff/alerts/{alert}/resolve",
        "/logout",
    ],
)
@pytest.mark.parametrize("csrf_token", [None, "garbage", ""])
def test_staff_posts_without_a_valid_csrf_token_change_nothing(
    app, staff, clinic, enrolled, alert, now, url, csrf_token
):
    app.config["WTF_CSRF_ENABLED"] = True
    before = row_counts()
    data = {
        **enrol_data(clinic, now),
        **staff_entry_data(clinic, now),
        "action": "other",
        **({} if csrf_token is None else {"csrf_token": csrf_token}),
    }
    response = staff.post(url.format(episode=enrolled.episode.id, alert=alert.id), data=data)
    assert response.status_code == 400
    assert "Please try again" in html(response)
    assert row_counts() == before
    assert db.session.get(Alert, alert.id).status == "open"
    assert db.session.get(Episode, enrolled.episode.id).status == "active"


# --- staff: ids no row can have -----------------------------------------------------------------

STAFF_ID_ROUTES = [
    ("get", "/staff/episodes/{id}"),
    ("get", "/staff/episodes/{id}/link"),
    ("get", "/staff/episodes/{id}/entries.csv"),
    ("get", "/staff/episodes/{id}/alerts.csv"),
    ("post", "/staff/episodes/{id}/entries"),
    ("post", "/staff/episodes/{id}/close"),
    ("post", "/staff/episodes/{id}/link/revoke"),
    ("post", "/staff/episodes/{id}/link/reissue"),
    ("post", "/staff/alerts/{id}/acknowledge"),
    ("post", "/staff/alerts/{id}/resolve"),
]


@pytest.mark.parametrize("huge_id", HUGE_IDS)
@pytest.mark.parametrize("method,url", STAFF_ID_ROUTES)
def test_staff_routes_with_huge_ids_are_404(staff, method, url, huge_id):
    before = row_counts()
    response = getattr(staff, method)(url.format(id=huge_id), data={"action": "other"})
    assert response.status_code == 404
    assert row_counts() == before


# --- staff: the worklist, the change poll and exports -------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "page=-1",
        "page=0",
        "page=99999999999999999999",
        "page=abc",
        "page=%D9%A1",
        "page=1e3",
        "status=xyz",
        "status=%00",
        "status=alert&status=xyz",
        "indication=%00",
        "q=%00",
        "q=%25",
        "q=_",
        "q=%5C",
        "q=" + "x" * 5000,
        "q=%ED%A0%80",
        "q=%FF",
        "page=2&_anchor=x",
        "page=2&_external=1",
        "page=2&_scheme=javascript",
        "page=2&endpoint=x",
        "page=2&_method=x",
        "page=2&values=x",
    ],
)
def test_worklist_odd_query_params_still_show_the_worklist(staff, enrolled, query):
    before = row_counts()
    response = staff.get(f"/staff/?{query}")
    assert response.status_code == 200, response.status_code
    assert "open alert" in html(response)
    assert row_counts() == before


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["page", "status", "indication", "q", "endpoint", "_anchor", "_method"]),
        st.one_of(form_text, st.sampled_from(["2", "alert", "tumour", "-1"])),
        max_size=4,
    )
)
def test_worklist_fuzz(staff, params):
    assert staff.get("/staff/", query_string=params).status_code == 200


@pytest.mark.parametrize("cursor", ["garbage", "%00", "-1--1", "x" * 5000, ""])
def test_change_poll_with_any_cursor_answers_changed(staff, cursor):
    response = staff.get(f"/staff/changes?cursor={cursor}")
    assert response.status_code == 200
    assert response.get_json()["changed"] is True


BAD_EXPORT_PARAMS = [
    {"start": "0001-01-01", "end": "0001-01-02"},
    {"start": "9999-12-30", "end": "9999-12-31"},
    {"start": "2026-02-30", "end": "2026-03-01"},
    {"start": "٢٠٢٦-٠١-٠١", "end": "2026-01-02"},
    {"start": "", "end": ""},
    {"start": "2026-01-01\x00", "end": "2026-01-02"},
    {"start": "2026-01-02", "end": "2026-01-01"},
    {"start": "2020-01-01", "end": "2026-01-01"},
    {"start": "2026-01-01"},
    {"start": ["2026-01-01", "2026-01-02"], "end": "2026-01-03"},
]


@pytest.mark.parametrize("params", [*BAD_EXPORT_PARAMS, {"start": "2026-01-01", "kind": "xyz"}])
def test_export_form_bad_params_show_the_form_again(staff, params):
    before = row_counts()
    response = staff.get("/staff/exports", query_string=params)
    assert response.status_code == 400
    assert "Please check the form" in html(response)
    assert row_counts() == before


@pytest.mark.parametrize("kind", ["entries", "alerts"])
@pytest.mark.parametrize("params", BAD_EXPORT_PARAMS)
def test_export_csv_bad_params_are_400_and_not_audited(staff, kind, params):
    before = row_counts()
    response = staff.get(f"/staff/exports/{kind}.csv", query_string=params)
    assert response.status_code == 400
    assert "Please check the form" in html(response)
    assert row_counts() == before


def test_inactive_staff_api_token_is_refused(client, nurse, api_token):
    db.session.get(StaffUser, nurse.id).is_active = False
    db.session.commit()
    assert_api_error(client.get("/api/v1/alerts", headers=bearer(api_token)), 401)
