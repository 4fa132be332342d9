"""`flask recovery demo --patients N`: N simulated active patients written in bulk
(`recovery.care.bulk`), stored exactly as the services would have stored them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from recovery import ROOT
from recovery.care import demo
from recovery.care.clinics import clinic_schedule
from recovery.care.demo import DEMO_EMAIL, DEMO_PASSWORD, DEMO_SLUG
from recovery.care.episodes import (
    enrol_patient,
    episode_entries,
    record_pain_entry,
    refresh_summary,
)
from recovery.care.models import (
    Alert,
    AlertEvent,
    AuditEvent,
    CheckinWindow,
    Clinic,
    Episode,
    PainEntry,
    Patient,
)
from recovery.care.outreach import run_tick
from recovery.clinical.schedule import closed_empty_windows
from recovery.extensions import db
from tests import factories

ADDED = 30
SUMMARY = ("last_pain", "last_entry_dt", "last_expected", "last_amber", "due_label")
SUMMARY += ("due_start_dt", "due_end_dt")
FINDING_KINDS = ("opened", "updated", "escalated")
#: The curated demo patients, fewer than the real demo's 40 to keep these tests quick
#: (tests/test_cli.py seeds the real one).
CURATED = 4


@pytest.fixture(autouse=True)
def few_curated_patients(monkeypatch):
    monkeypatch.setattr(demo, "DEMO_PATIENTS", CURATED)


def count(model, *where) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model).where(*where))


def seed(runner, now, patients=ADDED, *extra):
    result = runner.invoke(
        args=["recovery", "demo", "--patients", str(patients), "--at", now.isoformat(), *extra]
    )
    assert result.exit_code == 0, result.output
    return result


def seeded_episodes() -> list[Episode]:
    """The episodes the bulk seeding added (the curated demo patients have DEMO MRNs)."""
    return list(
        db.session.scalars(
            db.select(Episode).join(Patient).where(Patient.mrn.like("S%")).order_by(Episode.id)
        )
    )


def history(alert: Alert) -> list[tuple]:
    """The alert's findings as its history keeps them: kind, severity, reason, entry time."""
    return [
        (e.kind, e.severity, e.detail, e.entry.recorded_dt if e.entry else None)
        for e in alert.events
        if e.kind in FINDING_KINDS
    ]


def test_demo_patients_adds_n_active_episodes_with_entries_alerts_and_links(runner, now):
    result = seed(runner, now)
    assert "demo clinic seeded" in result.output
    assert f"added {ADDED} simulated patients" in result.output
    assert count(Episode, Episode.status == "active") == CURATED + ADDED
    episodes = seeded_episodes()
    assert len(episodes) == ADDED
    assert {e.clinic.slug for e in episodes} == {DEMO_SLUG}
    assert all(e.token_hash and e.patient.display_name for e in episodes)
    assert len({e.patient.mrn for e in episodes}) == ADDED
    # Every one was enrolled by the demo nurse, and has had entries by now.
    enrolled = db.session.scalars(
        db.select(AuditEvent.episode_id).where(
            AuditEvent.action == "enrolled", AuditEvent.actor.like("staff:%")
        )
    ).all()
    assert {e.id for e in episodes} <= set(enrolled)
    assert count(PainEntry, PainEntry.episode_id.in_([e.id for e in episodes])) > ADDED
    assert all(e.procedure_dt < now and e.last_entry_dt <= now for e in episodes)


def test_seeded_summaries_are_what_refresh_summary_derives_from_the_entries(runner, now):
    seed(runner, now)
    for episode in seeded_episodes():
        stored = [getattr(episode, column) for column in SUMMARY]
        refresh_summary(episode, episode_entries(episode))
        assert [getattr(episode, column) for column in SUMMARY] == stored, episode.id
    db.session.rollback()


def test_seeded_alerts_are_what_the_live_rules_open_on_the_same_entries(runner, now):
    seed(runner, now)
    twin_clinic = factories.gen_clinic()
    episodes = seeded_episodes()
    compared = 0
    for episode in episodes:
        # The same course, checked in through the real service, entry by entry.
        twin = enrol_patient(
            twin_clinic,
            display_name="Twin",
            procedure_dt=episode.procedure_dt,
            baseline_pain=episode.baseline_pain,
        ).episode
        for entry in episode_entries(episode):
            record_pain_entry(
                twin,
                pain=entry.pain,
                recorded_dt=entry.recorded_dt,
                red_flags=entry.red_flags,
                now=entry.received_dt,
            )
        seeded = {a.rule: a for a in episode.alerts if a.rule != "missed_checkin"}
        live = {a.rule: a for a in twin.alerts}
        assert seeded.keys() == live.keys(), episode.id
        for rule, alert in seeded.items():
            assert (alert.severity, alert.reason) == (live[rule].severity, live[rule].reason)
            assert alert.reason_message == live[rule].reason_message
            assert history(alert) == history(live[rule]), (episode.id, rule)
            compared += 1
        # Missed check-ins: what the outreach job reports as each empty window closes.
        entry_hours = [episode.hours_since_procedure(e.recorded_dt) for e in episode.entries]
        empty = closed_empty_windows(
            clinic_schedule(episode.clinic), entry_hours, episode.hours_since_procedure(now)
        )
        rows = db.session.scalars(db.select(CheckinWindow).filter_by(episode_id=episode.id)).all()
        assert sorted(r.label for r in rows if r.missed_dt) == sorted(w.label for w in empty)
        assert any(a.rule == "missed_checkin" for a in episode.alerts) == bool(empty)
    db.session.rollback()
    # Thirty patients are enough for the rules to have something to say.
    assert compared > 0


def test_seeded_alerts_carry_the_nurses_actions_in_their_history(runner, now):
    seed(runner, now, 60)
    acted = db.session.scalars(db.select(Alert).where(Alert.status != "open")).all()
    assert acted
    for alert in acted:
        kinds = [e.kind for e in alert.events]
        assert kinds[0] == "opened"
        assert "acknowledged" in kinds
        assert (alert.status == "resolved") == (kinds[-1] == "resolved")
        assert alert.acknowledged_dt <= now and alert.acknowledged_by_id is not None
    actions = {e.action for e in db.session.scalars(db.select(AuditEvent))}
    assert {"enrolled", "entry_recorded", "alert_opened", "alert_acknowledged"} <= actions


def test_the_demo_nurse_sees_the_seeded_patients_on_the_worklist(runner, client, now):
    seed(runner, now)
    episode = seeded_episodes()[0]
    client.post("/login", data={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    page = client.get("/staff/")
    assert page.status_code == 200
    found = client.get("/staff/", query_string={"q": episode.patient.mrn})
    assert found.status_code == 200
    assert episode.patient.display_name in found.get_data(as_text=True)
    assert client.get(f"/staff/episodes/{episode.id}").status_code == 200


@pytest.mark.parametrize("bad", ["0", "-3", "100001", "many", "1e9"])
def test_a_bad_number_of_patients_is_refused_and_nothing_is_stored(runner, bad):
    result = runner.invoke(args=["recovery", "demo", "--patients", bad])
    assert result.exit_code == 2
    assert "Invalid value for '--patients'" in result.output
    assert "Traceback" not in result.output
    assert count(Clinic) == 0


def test_a_bad_instant_is_refused_and_nothing_is_stored(runner):
    result = runner.invoke(args=["recovery", "demo", "--patients", "5", "--at", "yesterday"])
    assert result.exit_code == 2
    assert "ISO 8601" in result.output
    assert count(Clinic) == 0


def test_each_run_adds_n_more_and_if_empty_adds_none_once_a_clinic_exists(runner, now):
    seed(runner, now)
    again = seed(runner, now, 20)
    assert "already present" in again.output
    assert len(seeded_episodes()) == ADDED + 20
    # Different patients: the second run's courses are not the first's again.
    assert len({e.procedure_dt for e in seeded_episodes()}) == ADDED + 20
    quiet = seed(runner, now, 20, "--if-empty")
    assert "added" not in quiet.output
    assert len(seeded_episodes()) == ADDED + 20


def test_if_empty_with_patients_seeds_both_on_an_empty_database(runner, now):
    seed(runner, now, 10, "--if-empty")
    assert count(Episode) == CURATED + 10


def test_the_app_enrols_and_records_after_a_seeding_without_id_collisions(runner, now):
    seed(runner, now)
    largest = {m: db.session.scalar(db.select(db.func.max(m.id))) for m in (Episode, PainEntry)}
    clinic = db.session.scalar(db.select(Clinic).filter_by(slug=DEMO_SLUG))
    enrolled = enrol_patient(
        clinic, display_name="New Patient", procedure_dt=now - timedelta(hours=30)
    )
    entry = record_pain_entry(enrolled.episode, pain=9, now=now).entry
    db.session.commit()
    assert enrolled.episode.id > largest[Episode] and entry.id > largest[PainEntry]
    assert enrolled.episode.alerts  # a 9 at 30 hours: the rules ran and wrote their alert


def test_two_seedings_at_once_both_add_their_patients(runner, database_url, now):
    seed(runner, now, 5)
    db.session.rollback()  # hold no snapshot while the two processes write
    environment = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test-secret"}
    flask = str(Path(sys.executable).parent / "flask")
    command = [flask, "--app", "wsgi", "recovery", "demo", "--patients", "25"]
    runs = [
        subprocess.Popen(
            [*command, "--at", now.isoformat()],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (_out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err.decode()
    db.session.rollback()
    assert len(seeded_episodes()) == 5 + 2 * 25
    assert count(Episode, Episode.status == "active") == CURATED + 55
    assert count(AlertEvent) >= count(Alert)


def test_the_outreach_job_looks_at_a_seeded_episode_when_the_seeding_said(runner, now):
    seed(runner, now)
    episodes = seeded_episodes()
    ids = [e.id for e in episodes]
    seeded = {e.id: e.outreach_due_dt for e in episodes}
    waiting = [i for i, due in seeded.items() if due is not None and due > now]
    assert waiting  # most episodes have nothing due until their next window event
    reported = (CheckinWindow.episode_id.in_(ids), CheckinWindow.missed_dt.isnot(None))
    missed = count(CheckinWindow, *reported)
    # As if the job had never looked at them: it looks at every one, and decides the same.
    for episode in episodes:
        episode.outreach_due_dt = episode.procedure_dt
    db.session.commit()
    run_tick(now)
    db.session.rollback()
    assert {i: db.session.get(Episode, i).outreach_due_dt for i in waiting} == {
        i: seeded[i] for i in waiting
    }
    # The seeding reported every missed check-in the job would report.
    assert count(CheckinWindow, *reported) == missed
