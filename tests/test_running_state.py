"""A check-in reads none of the earlier entries: the episode's running state
(recovery.care.summary) gives exactly what reading every entry gives.

Each course is sent to two episodes alike: on the first the check-ins advance the running
state; on the second the state is dropped before every check-in, so each one takes the full
re-read (today's reading of every entry). Answers, alerts, their history and the summary must
be the same, and the state kept must be the one rebuilt from the entries.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from recovery.care.clinics import clinic_params, save_clinic_params, update_clinic_settings
from recovery.care.episodes import correct_pain_entry, episode_entries, refresh_summary
from recovery.care.models import Alert, AuditEvent, Episode, PainEntry
from recovery.extensions import db
from tests import factories
from tests.test_caregiver import submit

URL = "/api/v1/checkins"
#: The running state's columns on the episode (migration c5d2e8a4f913).
STATE_COLUMNS = (
    "state_fingerprint",
    "lowest_pain",
    "lowest_hours",
    "high_after_week_pain",
    "high_after_week_hours",
    "pre_procedure_pain",
    "filled_windows",
)
#: The running state and the summary it keeps, as stored on the episode.
STATE = (
    *STATE_COLUMNS,
    "last_pain",
    "last_entry_dt",
    "last_expected",
    "last_amber",
    "due_label",
    "due_start_dt",
    "due_end_dt",
)
FLAGS = ["fever", "wound", "numbness"]


@pytest.fixture
def extra_config() -> dict:
    """Long courses sent at once: the per-episode entry limit is not what is tested here."""
    return {"ENTRIES_PER_EPISODE_PER_HOUR": 0}


def stored(episode_id: int) -> dict:
    db.session.rollback()
    episode = db.session.get(Episode, episode_id)
    return {name: getattr(episode, name) for name in STATE}


def rebuilt(episode_id: int) -> dict:
    """The state and summary read whole from the stored entries (nothing is written)."""
    db.session.rollback()
    episode = db.session.get(Episode, episode_id)
    refresh_summary(episode, episode_entries(episode))
    values = {name: getattr(episode, name) for name in STATE}
    db.session.rollback()
    return values


def drop_state(episode_id: int) -> None:
    """As an episode from before the running state: the next entry reads every entry."""
    db.session.rollback()
    db.session.get(Episode, episode_id).state_fingerprint = None
    db.session.commit()


def alerts_of(episode_id: int) -> list[tuple]:
    db.session.rollback()
    alerts = db.session.scalars(
        db.select(Alert).filter_by(episode_id=episode_id).order_by(Alert.id)
    ).all()
    return [
        (
            a.rule,
            a.severity,
            a.status,
            a.reason,
            [(e.kind, e.severity, e.detail) for e in sorted(a.events, key=lambda e: e.id)],
        )
        for a in alerts
    ]


def audit_of(episode_id: int) -> list[tuple]:
    db.session.rollback()
    rows = db.session.scalars(
        db.select(AuditEvent).filter_by(episode_id=episode_id).order_by(AuditEvent.id)
    ).all()
    # A correction's detail names the entry by its id, which differs between the two.
    return [
        (r.action, r.actor, re.sub(r"^entry \d+:", "entry:", r.detail))
        for r in rows
        if r.action != "enrolled"
    ]


def answer(response) -> dict:
    """A check-in's answer without what differs between two episodes (ids, arrival)."""
    body = response.get_json()
    entry = {k: v for k, v in body["entry"].items() if k not in ("id", "received_at")}
    return {"entry": entry, "result": body["result"], "status": response.status_code}


class Twins:
    """Two episodes alike, one kept by its running state, one re-read whole every time."""

    def __init__(self, client, clinic, procedure_dt: datetime, baseline_pain: int | None = 8):
        self.client = client
        self.kept, self.reread = (
            factories.gen_episode(clinic, procedure_dt=procedure_dt, baseline_pain=baseline_pain)
            for _ in range(2)
        )
        self.procedure_dt = procedure_dt

    def check_in(self, hours: float, pain: int, red_flags=()) -> None:
        body = {
            "pain": pain,
            "red_flags": list(red_flags),
            "recorded_at": (self.procedure_dt + timedelta(hours=hours)).isoformat(),
        }
        kept = self.client.post(URL, json=body, headers=self.kept.headers)
        drop_state(self.reread.episode.id)
        reread = self.client.post(URL, json=body, headers=self.reread.headers)
        assert kept.status_code == 201, kept.get_json()
        assert answer(kept) == answer(reread)

    def assert_same(self) -> None:
        kept, reread = self.kept.episode.id, self.reread.episode.id
        assert alerts_of(kept) == alerts_of(reread)
        assert audit_of(kept) == audit_of(reread)
        assert stored(kept) == stored(reread)
        assert stored(kept) == rebuilt(kept)
        assert stored(kept)["state_fingerprint"] is not None


def course(rng: random.Random, procedure_dt: datetime, now: datetime, n: int) -> list[tuple]:
    """`n` readings in recorded order from before the procedure to `now`: (hours, pain,
    red flags), with repeated times and scores, lows, rebounds and red flags."""
    last_h = (now - procedure_dt).total_seconds() / 3600 - 1
    hours = sorted(rng.uniform(-30, last_h) for _ in range(n))
    hours[n // 2] = hours[n // 2 - 1]  # two entries at the same time
    readings = []
    for h in hours:
        pain = rng.choice([0, 1, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10])
        flags = [rng.choice(FLAGS)] if rng.random() < 0.08 else []
        readings.append((h, pain, flags))
    return readings


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("baseline", [8, None])
def test_live_check_ins_match_a_full_reread(client, clinic, now, seed, baseline):
    procedure_dt = now - timedelta(days=40)
    twins = Twins(client, clinic, procedure_dt, baseline)
    for hours, pain, flags in course(random.Random(seed), procedure_dt, now, 40):
        twins.check_in(hours, pain, flags)
    twins.assert_same()


def test_late_entries_match_a_full_reread(client, clinic, now):
    """Entries dated before the latest (typed in afterwards, a phone that was offline) are
    judged against the entries before them, and the state is rebuilt."""
    procedure_dt = now - timedelta(days=35)
    twins = Twins(client, clinic, procedure_dt)
    for hours, pain in [(30, 3), (200, 2), (600, 6), (100, 7), (5, 1), (150, 6), (700, 7)]:
        twins.check_in(hours, pain)
    twins.check_in(-2, 9)  # a pre-procedure score, typed in late
    twins.check_in(800, 8)
    twins.assert_same()


def test_a_correction_then_check_ins_match_a_full_reread(client, clinic, nurse, now):
    procedure_dt = now - timedelta(days=30)
    twins = Twins(client, clinic, procedure_dt, baseline_pain=None)
    for hours, pain in [(-3, 8), (6, 2), (30, 1), (130, 6), (400, 3)]:
        twins.check_in(hours, pain)
    for enrolled in (twins.kept, twins.reread):
        db.session.rollback()
        lowest = db.session.scalar(
            db.select(PainEntry).filter_by(episode_id=enrolled.episode.id, pain=1)
        )
        pre = db.session.scalar(
            db.select(PainEntry).filter_by(episode_id=enrolled.episode.id, pain=8)
        )
        correct_pain_entry(lowest, pain=5, reason="misheard", staff=nurse)
        correct_pain_entry(pre, pain=6, reason="misheard", staff=nurse)
        db.session.commit()
    assert stored(twins.kept.episode.id)["lowest_pain"] == 2
    assert stored(twins.kept.episode.id)["pre_procedure_pain"] == 6
    for hours, pain in [(500, 7), (600, 6)]:
        twins.check_in(hours, pain)
    twins.assert_same()


def test_a_clinic_settings_change_between_check_ins_rebuilds_the_state(client, clinic, now):
    procedure_dt = now - timedelta(days=30)
    twins = Twins(client, clinic, procedure_dt)
    for hours, pain in [(3, 2), (5, 9), (20, 4), (100, 5), (140, 6)]:
        twins.check_in(hours, pain)
    before = stored(twins.kept.episode.id)
    db.session.rollback()
    # Longer quiet hours (the 5 h reading no longer counts as the lowest) and a 1-week window
    # that opens later (the 140 h reading no longer counts for `persistent`).
    schedule = [
        {"label": "24 h", "target_h": 24, "start_h": 18, "end_h": 30},
        {"label": "1 wk", "target_h": 168, "start_h": 150, "end_h": 216},
        {"label": "1 mo", "target_h": 720, "start_h": 552, "end_h": 888},
    ]
    settings_of = db.session.get(type(clinic), clinic.id)
    update_clinic_settings(settings_of, schedule_items=schedule)
    save_clinic_params(settings_of, replace(clinic_params(settings_of), quiet_hours=6.0))
    db.session.commit()
    for hours, pain in [(600, 7), (650, 8)]:
        twins.check_in(hours, pain)
    twins.assert_same()
    after = stored(twins.kept.episode.id)
    assert after["state_fingerprint"] != before["state_fingerprint"]
    assert after["filled_windows"] == ["24 h", "1 mo"]


def test_an_episode_without_state_gets_it_at_its_next_check_in(client, clinic, now):
    """As the migration leaves an episode from before the running state: no state at all."""
    procedure_dt = now - timedelta(days=20)
    twins = Twins(client, clinic, procedure_dt)
    for hours, pain in [(4, 1), (30, 3), (130, 6)]:
        twins.check_in(hours, pain)
    db.session.rollback()
    episode = db.session.get(Episode, twins.kept.episode.id)
    for name in STATE[:7]:
        setattr(episode, name, None)
    db.session.commit()
    twins.check_in(300, 7)
    twins.assert_same()


def test_the_patient_form_keeps_the_state(client, clinic, now):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=50))
    for pain in (3, 6, 2, 7):
        assert submit(client, enrolled.token, pain).status_code == 302
    state = stored(enrolled.episode.id)
    assert state == rebuilt(enrolled.episode.id)
    assert (state["last_pain"], state["lowest_pain"], state["filled_windows"]) == (7, 2, ["48 h"])


def test_a_check_in_runs_as_many_statements_after_5_entries_as_after_200(
    client, clinic, now, count_queries
):
    counts = []
    for earlier in (5, 200):
        procedure_dt = now - timedelta(days=60)
        enrolled = factories.gen_episode(clinic, procedure_dt=procedure_dt)
        for i in range(earlier):
            factories.gen_entry(enrolled.episode, 2 + i % 2, 10 + i * 7)
        body = {"pain": 3, "recorded_at": (now - timedelta(minutes=1)).isoformat()}
        with count_queries() as queries:
            response = client.post(URL, json=body, headers=enrolled.headers)
        assert response.status_code == 201
        reads = [s for s in queries.statements if s.startswith("SELECT pain_entry.id")]
        assert reads == []  # no earlier entry is read
        counts.append(queries.count)
    assert counts[0] == counts[1]
    # The link, the lock, the windows reported missed, the entry, its audit row, the episode.
    assert counts[0] == 6


def test_many_readings_at_one_time_and_the_baseline_typed_last(client, clinic):
    """Entries at the very same time are taken in the order they arrive (their ids)."""
    now = datetime.now(UTC)
    twins = Twins(client, clinic, now - timedelta(days=10), baseline_pain=None)
    for pain in (5, 3, 3, 7):
        twins.check_in(48, pain)
    twins.check_in(0, 6)  # at the procedure's end: before it, for the baseline
    twins.check_in(48, 9)
    twins.assert_same()
