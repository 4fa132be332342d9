"""Check-ins to one episode at the same moment, as production serves them (gunicorn workers).

A patient and a caregiver, or a phone re-sending its queue, post at once: every check-in must
be stored with 201, none answered 5xx, and each rule must keep one unresolved alert.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial

import pytest

from recovery.care.accounts import issue_api_token
from recovery.care.episodes import episode_entries, refresh_summary
from recovery.care.models import Alert, AuditEvent, Episode, PainEntry, RetiredLink
from recovery.care.tokens import hash_token
from recovery.extensions import db
from tests import factories
from tests.servers import gunicorn

SIMULTANEOUS = 16
ROUNDS = 3
FLAGS = ["leg_weakness", "numbness", "chest_pain", "breathless", "fever", "wound", "new_pain"]


@pytest.fixture
def server(app, tmp_path):
    """The app in four gunicorn workers on this test's database."""
    with gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, workers=4) as url:
        yield url


def post_all_at_once(url: str, token: str, bodies: list[dict]) -> list[int]:
    """POST each body to /api/v1/checkins from its own thread, released together."""
    start = threading.Barrier(len(bodies))

    def post(body: dict) -> int:
        request = urllib.request.Request(
            f"{url}/api/v1/checkins",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as refused:
            return refused.code

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def unresolved_alerts_per_rule(episode_id: int) -> Counter:
    db.session.rollback()  # see what the server processes committed
    rules = db.session.scalars(
        db.select(Alert.rule).where(Alert.episode_id == episode_id, Alert.status != "resolved")
    )
    return Counter(rules)


def test_sixteen_simultaneous_check_ins_to_one_episode_are_all_stored(app, server, clinic, now):
    for round_ in range(ROUNDS):
        enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
        # High scores and a red flag each: every one of them wants to open the same alerts.
        bodies = [
            {"pain": 9, "red_flags": [FLAGS[i % len(FLAGS)]], "idempotency_key": f"r{round_}-{i}"}
            for i in range(SIMULTANEOUS)
        ]
        statuses = post_all_at_once(server, enrolled.token, bodies)
        assert statuses == [201] * SIMULTANEOUS, f"round {round_}: {Counter(statuses)}"
        stored = db.session.scalar(
            db.select(db.func.count())
            .select_from(PainEntry)
            .where(PainEntry.episode_id == enrolled.episode.id)
        )
        assert stored == SIMULTANEOUS
        alerts = unresolved_alerts_per_rule(enrolled.episode.id)
        assert set(alerts.values()) == {1}, alerts
        assert {"red_flag", "above_expected"} <= set(alerts)
        # The one red-flag alert kept every red flag that was reported.
        reason = db.session.scalar(
            db.select(Alert.reason).where(
                Alert.episode_id == enrolled.episode.id, Alert.rule == "red_flag"
            )
        )
        assert reason.count("red flag at") == SIMULTANEOUS


def test_simultaneous_check_ins_leave_the_running_state_a_rebuild_gives(app, server, clinic, now):
    """Each check-in advances the episode's running state from the one before it (or rebuilds
    it, for an entry dated earlier): after sixteen at once, in any order, it is what reading
    every entry gives."""
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(days=30))
    for hours, pain in [(6, 2), (30, 3), (130, 6)]:
        factories.gen_entry(enrolled.episode, pain, hours)
    bodies = [
        {
            "pain": (3, 7, 1, 9)[i % 4],
            # Some dated before others sent at the same moment: both ways through the state.
            "recorded_at": (now - timedelta(hours=(16 - i) * (1 if i % 3 else 40))).isoformat(),
            "idempotency_key": f"state-{i}",
        }
        for i in range(SIMULTANEOUS)
    ]
    assert post_all_at_once(server, enrolled.token, bodies) == [201] * SIMULTANEOUS
    db.session.rollback()
    episode = db.session.get(Episode, enrolled.episode.id)
    columns = [c.key for c in Episode.__table__.columns if c.key != "updated_dt"]
    kept = {name: getattr(episode, name) for name in columns}
    assert kept["state_fingerprint"] is not None
    refresh_summary(episode, episode_entries(episode))
    assert kept == {name: getattr(episode, name) for name in columns}
    assert len(episode_entries(episode)) == 3 + SIMULTANEOUS


def test_a_pair_with_different_red_flags_opens_one_alert_with_both(app, server, clinic, now):
    for attempt in range(6):
        enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
        bodies = [
            {"pain": 3, "red_flags": ["chest_pain"], "idempotency_key": f"a{attempt}"},
            {"pain": 3, "red_flags": ["fever"], "idempotency_key": f"b{attempt}"},
        ]
        assert post_all_at_once(server, enrolled.token, bodies) == [201, 201]
        assert unresolved_alerts_per_rule(enrolled.episode.id) == Counter({"red_flag": 1})
        reason = db.session.scalar(
            db.select(Alert.reason).where(Alert.episode_id == enrolled.episode.id)
        )
        assert "chest pain" in reason and "fever or chills" in reason


def test_the_same_check_in_sent_at_once_is_stored_once(app, server, clinic, now):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    body = {"pain": 4, "idempotency_key": "resent-queue"}
    statuses = post_all_at_once(server, enrolled.token, [body] * 8)
    assert sorted(statuses) == [200] * 7 + [201]
    db.session.rollback()
    assert db.session.scalars(db.select(PainEntry.pain)).all() == [4]


def at_once(app, *actions):
    """Run each action in its own thread (and app context), released together; their results."""
    start = threading.Barrier(len(actions))

    def run(action):
        with app.app_context():
            start.wait()
            return action()

    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(run, actions))


def signed_in_client(app, email: str):
    staff_client = app.test_client()
    response = staff_client.post("/login", data={"email": email, "password": factories.PASSWORD})
    assert response.status_code == 302
    return staff_client


def two_signed_in_nurses(app, clinic):
    """Two nurses of `clinic`, the first with an API token: (first, second, token, their
    signed-in clients)."""
    first = factories.gen_staff(clinic, email="first@example.test")
    second = factories.gen_staff(clinic, email="second@example.test")
    api_token = issue_api_token(first)
    db.session.commit()
    clients = [signed_in_client(app, first.email), signed_in_client(app, second.email)]
    return first, second, api_token, clients


def fever_alert(clinic, now):
    """A new patient whose fever at 29 h opened an alert: (enrolled, the alert's id)."""
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    factories.gen_entry(enrolled.episode, 3, 29, red_flags=["fever"])
    alert_id = db.session.scalar(db.select(Alert.id).where(Alert.episode_id == enrolled.episode.id))
    return enrolled, alert_id


def test_two_nurses_acknowledging_one_alert_at_once_both_keep_their_notes(app, client, clinic, now):
    """Two sessions acknowledge one alert at the same moment: both are stored, one after the
    other (the episode's lock), the first stays the alert's acknowledgement, and the API's
    history of the alert lists both, each with its nurse and note."""
    first, second, api_token, nurses = two_signed_in_nurses(app, clinic)
    for attempt in range(4):
        enrolled, alert_id = fever_alert(clinic, now)
        url = f"/staff/alerts/{alert_id}/acknowledge"
        statuses = at_once(
            app,
            *(
                partial(c.post, url, data={"action": "called_patient", "note": f"n{i}"})
                for i, c in enumerate(nurses)
            ),
        )
        assert [r.status_code for r in statuses] == [302, 302], attempt
        db.session.rollback()
        alert = db.session.get(Alert, alert_id)
        assert alert.status == "acknowledged"
        assert alert.acknowledged_by_id in {first.id, second.id}
        audited = db.session.scalar(
            db.select(db.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.episode_id == enrolled.episode.id)
            .where(AuditEvent.action == "alert_acknowledged")
        )
        assert audited == 2
        response = client.get(
            f"/api/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {api_token}"}
        )
        assert response.status_code == 200
        history = response.get_json()["history"]
        acknowledged = [e for e in history if e["kind"] == "acknowledged"]
        assert sorted((e["by"], e["action"], e["note"]) for e in acknowledged) == [
            (first.email, "called_patient", "n0"),
            (second.email, "called_patient", "n1"),
        ], attempt
        # The one who came first is the alert's acknowledgement; the other's was added.
        assert acknowledged[0]["by"] == alert.acknowledged_by.email
        assert response.get_json()["note"] == "\n".join(
            f"called_patient: {e['note']}" for e in acknowledged
        )


def test_two_nurses_recording_a_call_at_once_are_both_kept(app, client, clinic, now):
    """Two nurses call the patient about one alert and record it at the same moment: both
    attempts are in its history (and in the API's), one after the other (the episode's lock),
    and the one who reached the patient first is the alert's acknowledgement."""
    first, second, api_token, nurses = two_signed_in_nurses(app, clinic)
    for attempt in range(4):
        enrolled, alert_id = fever_alert(clinic, now)
        url = f"/staff/alerts/{alert_id}/contact"
        outcomes = ["reached", "no_answer"] if attempt % 2 else ["reached", "reached"]
        statuses = at_once(
            app,
            *(
                partial(c.post, url, data={"outcome": outcomes[i], "note": f"n{i}"})
                for i, c in enumerate(nurses)
            ),
        )
        assert [r.status_code for r in statuses] == [302, 302], attempt
        db.session.rollback()
        alert = db.session.get(Alert, alert_id)
        assert alert.status == "acknowledged"
        history = client.get(
            f"/api/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {api_token}"}
        ).get_json()["history"]
        contacts = [e for e in history if e["kind"] == "contact"]
        assert sorted((e["by"], e["action"], e["note"]) for e in contacts) == [
            (first.email, outcomes[0], "n0"),
            (second.email, outcomes[1], "n1"),
        ], attempt
        # Only the first to reach the patient acknowledged the open alert.
        acknowledged = [e for e in history if e["kind"] == "acknowledged"]
        assert [(e["by"], e["action"]) for e in acknowledged] == [
            (alert.acknowledged_by.email, "called_patient")
        ], attempt


def test_a_check_in_while_a_nurse_resolves_its_alert_is_stored(app, client, clinic, nurse, now):
    """The check-in and the nurse take the episode in the same order: neither fails."""
    nurse_client = signed_in_client(app, nurse.email)
    patient_client = app.test_client()
    for attempt in range(4):
        enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
        factories.gen_entry(enrolled.episode, 3, 29, red_flags=["fever"])
        alert_id = db.session.scalar(
            db.select(Alert.id).where(Alert.episode_id == enrolled.episode.id)
        )
        resolved, checked_in = at_once(
            app,
            partial(nurse_client.post, f"/staff/alerts/{alert_id}/resolve", data={"note": "ok"}),
            partial(
                patient_client.post,
                "/api/v1/checkins",
                json={"pain": 2, "red_flags": ["wound"], "idempotency_key": f"k{attempt}"},
                headers=enrolled.headers,
            ),
        )
        assert (resolved.status_code, checked_in.status_code) == (302, 201), attempt
        db.session.rollback()
        rules = db.session.scalars(
            db.select(Alert.status).where(Alert.episode_id == enrolled.episode.id)
        ).all()
        # Either the new red flag joined the alert before it was resolved, or it opened a new
        # one after: never lost, never two unresolved.
        assert rules.count("resolved") == 1
        assert rules.count("open") <= 1


LINK_ACTIONS = {"revoke": "link/revoke", "reissue": "link/reissue", "close": "close"}


@pytest.mark.parametrize(
    "pair", [("revoke", "revoke"), ("revoke", "close"), ("revoke", "reissue"), ("close", "close")]
)
def test_two_nurses_changing_one_link_at_once_are_taken_one_after_the_other(
    app, client, clinic, now, pair
):
    """A double click, or two nurses at once, on one patient's link: each is taken whole under
    the episode's lock; no error, the old link retired once, the episode closed once."""
    *_people, nurses = two_signed_in_nurses(app, clinic)
    for attempt in range(3):
        enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
        episode_id = enrolled.episode.id
        answers = at_once(
            app,
            *(
                partial(nurse.post, f"/staff/episodes/{episode_id}/{LINK_ACTIONS[action]}")
                for nurse, action in zip(nurses, pair, strict=True)
            ),
        )
        assert [r.status_code for r in answers] == [302, 302], attempt
        db.session.rollback()
        retired = db.session.scalars(
            db.select(RetiredLink.token_hash).where(RetiredLink.episode_id == episode_id)
        ).all()
        assert hash_token(enrolled.token) in retired and len(retired) == len(set(retired))
        closings = db.session.scalars(
            db.select(AuditEvent).filter_by(episode_id=episode_id, action="closed")
        ).all()
        assert len(closings) == min(1, pair.count("close")), attempt
        assert client.get(f"/p/{enrolled.token}").status_code == 404, attempt
