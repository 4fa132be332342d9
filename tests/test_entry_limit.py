"""The per-episode entry limit (ENTRIES_PER_EPISODE_PER_HOUR, 20 unless set): counted from the
database where every entry is recorded, so the check-in page, the patient API and staff
entries all obey it; over it, 429 with Retry-After and nothing lost."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial

import pytest

from recovery.care.episodes import EntryLimitError, record_pain_entry
from recovery.care.models import Alert, PainEntry, utcnow
from recovery.extensions import db
from tests import factories
from tests.conftest import FreshContextClient
from tests.test_caregiver import form_key
from tests.test_concurrency import at_once
from tests.test_openapi import Checker

LIMIT = 20
CHECKINS = "/api/v1/checkins"


def stored(episode_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(
        db.select(db.func.count()).select_from(PainEntry).where(PainEntry.episode_id == episode_id)
    )


def fill(episode, count: int, *, now=None, start: int = 0) -> None:
    """`count` entries received at `now` (default: now), committed."""
    now = now or utcnow()
    for i in range(start, start + count):
        record_pain_entry(episode, pain=3, idempotency_key=f"fill-{i}", now=now)
    db.session.commit()


def test_the_limit_is_a_setting_of_20_by_default(app):
    assert app.config["ENTRIES_PER_EPISODE_PER_HOUR"] == LIMIT


def test_the_twentieth_is_taken_the_twenty_first_refused_until_the_hour_has_passed(app, enrolled):
    episode = enrolled.episode
    t0 = utcnow() - timedelta(hours=3)
    for i in range(LIMIT):
        result = record_pain_entry(
            episode, pain=4, idempotency_key=f"k{i}", now=t0 + timedelta(seconds=i)
        )
        assert result.created, i
    db.session.commit()
    at = t0 + timedelta(minutes=10)
    with pytest.raises(EntryLimitError) as refused:
        record_pain_entry(episode, pain=4, idempotency_key="k-over", now=at)
    assert refused.value.code == "too_many_entries"
    assert refused.value.retry_after == 3600 - 600  # when the first leaves the hour
    db.session.rollback()
    assert stored(episode.id) == LIMIT
    # A retry of an entry already stored is answered with it, not refused.
    again = record_pain_entry(episode, pain=4, idempotency_key="k3", now=at)
    assert not again.created and again.entry.idempotency_key == "k3"
    # One second before the first entry is an hour old: still refused; at the hour, taken.
    with pytest.raises(EntryLimitError) as refused:
        record_pain_entry(
            episode, pain=4, idempotency_key="k-over", now=t0 + timedelta(hours=1, seconds=-1)
        )
    assert refused.value.retry_after == 1
    db.session.rollback()
    taken = record_pain_entry(
        episode, pain=4, idempotency_key="k-over", now=t0 + timedelta(hours=1)
    )
    assert taken.created
    db.session.commit()
    # ... and only one: the second entry is still in the hour.
    with pytest.raises(EntryLimitError):
        record_pain_entry(episode, pain=4, idempotency_key="k-next", now=t0 + timedelta(hours=1))
    db.session.rollback()
    assert stored(episode.id) == LIMIT + 1


def test_the_limit_is_per_episode(app, clinic, enrolled):
    other = factories.gen_episode(clinic)
    fill(enrolled.episode, LIMIT)
    assert record_pain_entry(other.episode, pain=2, idempotency_key="x").created


@pytest.mark.parametrize("extra_config", [{"ENTRIES_PER_EPISODE_PER_HOUR": 0}])
def test_zero_is_no_limit(app, enrolled, extra_config):
    fill(enrolled.episode, LIMIT + 5)
    assert stored(enrolled.episode.id) == LIMIT + 5


@pytest.mark.parametrize("extra_config", [{"ENTRIES_PER_EPISODE_PER_HOUR": 2}])
def test_the_setting_changes_the_limit(app, enrolled, extra_config):
    fill(enrolled.episode, 2)
    with pytest.raises(EntryLimitError):
        record_pain_entry(enrolled.episode, pain=2, idempotency_key="third")


def test_the_environment_sets_the_limit(monkeypatch, tmp_path):
    from recovery import create_app

    monkeypatch.setenv("ENTRIES_PER_EPISODE_PER_HOUR", "5")
    app = create_app(factories.app_config(f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    assert app.config["ENTRIES_PER_EPISODE_PER_HOUR"] == 5
    monkeypatch.setenv("ENTRIES_PER_EPISODE_PER_HOUR", "many")
    with pytest.raises(RuntimeError, match="ENTRIES_PER_EPISODE_PER_HOUR"):
        create_app(factories.app_config(f"sqlite:///{tmp_path / 'x.sqlite3'}"))


def test_the_check_in_page_says_so_and_keeps_the_answer(client, enrolled):
    fill(enrolled.episode, LIMIT)
    key = form_key(client.get(f"/p/{enrolled.token}").get_data(as_text=True))
    data = {
        "pain": "7",
        "analgesic": "y",
        "note": "my back hurts tonight",
        "idempotency_key": key,
    }
    response = client.post(f"/p/{enrolled.token}", data=data)
    assert response.status_code == 429
    retry = int(response.headers["Retry-After"])
    assert 3500 < retry <= 3600
    page = response.get_data(as_text=True)
    assert "Too many check-ins were sent for this follow-up in the last hour" in page
    assert "please send it again in 60 minutes" in page
    # What they typed is all still there, with the same key, to send again.
    assert re.search(r'<input[^>]*checked[^>]*value="7"|<input[^>]*value="7"[^>]*checked', page)
    assert re.search(r'name="analgesic"[^>]*checked|checked[^>]*name="analgesic"', page)
    assert "my back hurts tonight" in page
    assert form_key(page) == key
    assert stored(enrolled.episode.id) == LIMIT


def test_the_check_in_page_says_so_in_the_patients_language(client, clinic, now):
    enrolled = factories.gen_episode(clinic, preferred_language="es")
    fill(enrolled.episode, LIMIT)
    key = form_key(client.get(f"/p/{enrolled.token}").get_data(as_text=True))
    response = client.post(f"/p/{enrolled.token}", data={"pain": "5", "idempotency_key": key})
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Too many check-ins" not in page
    assert "60 minutos" in page


def test_the_api_answers_429_with_retry_after_as_documented(client, enrolled):
    document = client.get("/api/v1/openapi.json").get_json()
    check = Checker(document)
    fill(enrolled.episode, LIMIT - 1)
    body = {"pain": 4, "idempotency_key": "twentieth"}
    check(client.post(CHECKINS, json=body, headers=enrolled.headers), 201)
    over = client.post(
        CHECKINS, json={"pain": 5, "idempotency_key": "21st"}, headers=enrolled.headers
    )
    error = check.error(over, 429, "too_many_entries")
    assert error["field"] is None and "20 entries in the last hour" in error["message"]
    assert 3500 < int(over.headers["Retry-After"]) <= 3600
    # The twentieth sent again (a phone that missed the answer) is still answered with it.
    check(client.post(CHECKINS, json=body, headers=enrolled.headers), 200)
    assert stored(enrolled.episode.id) == LIMIT


def test_staff_entries_and_red_flags_always_get_through(client, auth, nurse, enrolled):
    """A flood through a leaked link must not silence a red flag, nor stop a nurse recording
    what a patient said on the phone."""
    fill(enrolled.episode, LIMIT)
    headers = {"Authorization": f"Bearer {enrolled.token}"}
    calm = client.post(CHECKINS, json={"pain": 3, "idempotency_key": "calm"}, headers=headers)
    assert calm.status_code == 429
    flagged = client.post(
        CHECKINS,
        json={"pain": 6, "red_flags": ["leg_weakness"], "idempotency_key": "flag"},
        headers=headers,
    )
    assert flagged.status_code == 201
    db.session.rollback()
    assert db.session.scalar(
        db.select(db.func.count())
        .select_from(Alert)
        .where(Alert.episode_id == enrolled.episode.id, Alert.rule == "red_flag")
    )
    auth.login()
    page = client.get(f"/staff/episodes/{enrolled.episode.id}").get_data(as_text=True)
    data = {
        "pain": "6",
        "recorded_date": re.search(r'name="recorded_date"[^>]*value="([^"]+)"', page).group(1),
        "recorded_time": re.search(r'name="recorded_time"[^>]*value="([^"]+)"', page).group(1),
        "idempotency_key": "staff-1",
        "note": "phoned in",
    }
    response = client.post(f"/staff/episodes/{enrolled.episode.id}/entries", data=data)
    assert response.status_code == 302
    assert stored(enrolled.episode.id) == LIMIT + 2


def test_two_at_once_at_the_twentieth_exactly_one_is_taken(app, clinic):
    for attempt in range(4):
        enrolled = factories.gen_episode(clinic)
        fill(enrolled.episode, LIMIT - 1)
        clients = [FreshContextClient(app, app.response_class) for _ in range(2)]
        answers = at_once(
            app,
            *(
                partial(
                    c.post,
                    CHECKINS,
                    json={"pain": 6, "idempotency_key": f"race-{attempt}-{i}"},
                    headers=enrolled.headers,
                )
                for i, c in enumerate(clients)
            ),
        )
        assert sorted(a.status_code for a in answers) == [201, 429], attempt
        assert stored(enrolled.episode.id) == LIMIT
