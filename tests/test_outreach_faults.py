"""The outreach job where things go wrong: encryption of email, a run slower than its claims,
retries in the quiet hours, a channel that is not configured, alerts reopened or long
forgotten, an --at given in another offset."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from recovery.care.alerts import acknowledge_alert
from recovery.care.clinics import update_clinic_settings
from recovery.care.episodes import record_pain_entry
from recovery.care.models import Alert, AlertEvent, Notification
from recovery.care.outreach import LEASE
from recovery.clinical.vocabulary import AlertEventKind, NotificationStatus
from recovery.extensions import db
from tests.factories import gen_clinic, gen_episode
from tests.servers import free_port, self_signed_certificate, smtp_server, webhook_server

#: 10:00 in London (summer time).
T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clinic(app):
    return gen_clinic(name="Spine Clinic")


def enrol(clinic, *, at=T0, **kw):
    kw.setdefault("email", "ann@example.test")
    with time_machine.travel(at, tick=False):
        return gen_episode(clinic, procedure_dt=at, name="Ann Smith", phone=None, **kw)


def tick(runner, at: datetime | str) -> dict:
    at = at if isinstance(at, str) else at.isoformat()
    result = runner.invoke(args=["recovery", "tick", "--at", at])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    return json.loads(result.output.strip().splitlines()[-1])


def only_notification() -> Notification:
    [notification] = db.session.scalars(db.select(Notification)).all()
    return notification


# Email is encrypted on the way


def test_starttls_is_used_and_the_certificate_checked(runner, app, clinic, tmp_path):
    certificate = self_signed_certificate(tmp_path)
    enrol(clinic)
    with smtp_server(certificate=certificate) as (mailbox, port):
        app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        report = tick(runner, T0 + timedelta(hours=1))
        assert report["failed"] == 1  # the certificate is not one the system trusts
        assert "CERTIFICATE_VERIFY_FAILED" in only_notification().last_error
        assert mailbox.messages == []
        app.config["SMTP_CA_FILE"] = str(certificate[0])
        assert tick(runner, T0 + timedelta(hours=1, minutes=1))["sent"] == 1
    assert mailbox.encrypted == [True]


def test_a_remote_server_without_starttls_gets_no_mail_unless_marked_insecure(runner, app, clinic):
    name = socket.gethostname()  # a host name, not the loopback address itself
    with smtp_server(host=socket.gethostbyname(name)) as (mailbox, port):
        enrol(clinic)
        app.config["SMTP_URL"] = f"smtp://user:secret@{name}:{port}"
        assert tick(runner, T0 + timedelta(hours=1))["failed"] == 1
        assert "does not offer STARTTLS" in only_notification().last_error
        assert mailbox.messages == []
        app.config["SMTP_URL"] = f"smtp://{name}:{port}?insecure=1"
        assert tick(runner, T0 + timedelta(hours=1, minutes=1))["sent"] == 1
    assert mailbox.encrypted == [False]


# A slow run never lets another send the same message


def test_a_run_stops_claiming_before_its_claims_could_run_out(runner, app, clinic):
    for name in ("a", "b"):
        enrol(clinic, email=f"{name}@example.test")
    with (
        time_machine.travel(datetime.now(UTC), tick=True) as clock,
        smtp_server() as (mailbox, port),
    ):
        # Each message takes the server three minutes: more than half a claim.
        mailbox.on_message = lambda _message: clock.shift(LEASE / 2 + timedelta(seconds=30))
        app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        first = tick(runner, T0 + timedelta(hours=1))
        assert (first["reminders"], first["sent"]) == (2, 1)
        waiting = db.session.scalars(
            db.select(Notification).filter_by(status=NotificationStatus.PENDING)
        ).all()
        assert len(waiting) == 1 and waiting[0].lease_until_dt is None
        assert tick(runner, T0 + timedelta(hours=1, minutes=1))["sent"] == 1
    assert sorted(m["To"] for m in mailbox.messages) == ["a@example.test", "b@example.test"]


# Retries wait for the end of the quiet hours


def test_a_retry_that_falls_in_the_quiet_hours_waits_for_them_to_end(runner, app, clinic):
    evening = datetime(2026, 6, 10, 18, 50, tzinfo=UTC)  # 19:50 in London; quiet from 21:00
    enrol(clinic, at=evening - timedelta(hours=130))  # the 1 wk window (5-9 days) is open
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    assert tick(runner, evening)["failed"] == 1
    with smtp_server() as (mailbox, port):
        app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        report = tick(runner, evening + timedelta(hours=2, minutes=20))  # 22:10 in London
        assert (report["sent"], report["failed"]) == (0, 0)
        waiting = only_notification()
        assert waiting.next_attempt_dt == datetime(2026, 6, 11, 7, 0, tzinfo=UTC)  # 08:00
        assert tick(runner, datetime(2026, 6, 11, 7, 0, tzinfo=UTC))["sent"] == 1
    assert len(mailbox.messages) == 1


# A channel that is not configured does not use up the reminder


def test_a_window_is_reminded_once_a_channel_can_carry_it(runner, app, clinic):
    enrol(clinic)
    assert tick(runner, T0 + timedelta(hours=1))["reminders"] == 0  # no SMTP_URL
    assert db.session.scalars(db.select(Notification)).all() == []
    with smtp_server() as (mailbox, port):
        app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        # The job looks again at the window's next event (its second reminder, 2.5 h).
        assert tick(runner, T0 + timedelta(hours=2, minutes=30))["sent"] == 1
    assert mailbox.messages[0]["Subject"] == "Spine Clinic: time for your 2 h check-in"


# Escalation waits from when the alert last became open and urgent, and not forever


@pytest.fixture
def escalation(clinic):
    with webhook_server() as (webhook, port):
        update_clinic_settings(clinic, escalate=[f"json://127.0.0.1:{port}/lead"])
        db.session.commit()
        yield webhook


def report_at(episode, at, flags):
    with time_machine.travel(at, tick=False):
        record_pain_entry(episode, pain=5, red_flags=flags)
        db.session.commit()
    return db.session.scalar(db.select(Alert).filter_by(episode_id=episode.id))


def test_a_reopened_alert_gets_its_full_wait_before_it_escalates(runner, clinic, nurse, escalation):
    episode = enrol(clinic, email=None, no_phone_reason="x").episode
    alert = report_at(episode, T0 + timedelta(hours=2), ["leg_weakness"])
    acknowledge_alert(alert, nurse, action="called_patient", now=T0 + timedelta(hours=2, minutes=5))
    db.session.commit()
    reopened = T0 + timedelta(days=2)
    alert = report_at(episode, reopened, ["chest_pain"])  # emergency: reopens the alert
    assert (alert.status, alert.severity) == ("open", "emergency")
    assert tick(runner, reopened + timedelta(minutes=14))["escalations"] == 0
    assert tick(runner, reopened + timedelta(minutes=15))["escalations"] == 1
    assert [path for path, _ in escalation.posts] == ["/lead"]


def test_an_alert_forgotten_for_days_is_not_escalated_when_a_target_is_added(
    runner, clinic, escalation
):
    episode = enrol(clinic, email=None, no_phone_reason="x").episode
    report_at(episode, T0 + timedelta(hours=2), ["leg_weakness"])
    assert tick(runner, T0 + timedelta(days=30))["escalations"] == 0
    assert escalation.posts == []


# --at in any offset means the same instant


def test_an_at_with_an_offset_is_the_same_instant(runner, app, clinic):
    enrol(clinic)
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    assert tick(runner, "2026-06-10T12:00:00+02:00")["failed"] == 1  # 10:00 UTC
    waiting = only_notification()
    assert waiting.next_attempt_dt == datetime(2026, 6, 10, 10, 1, tzinfo=UTC)
    assert waiting.created_dt == datetime(2026, 6, 10, 10, 0, tzinfo=UTC)


def test_a_failed_alert_says_when_it_is_tried_again_in_utc(runner, clinic):
    with webhook_server() as (webhook, port):
        webhook.status = 500
        update_clinic_settings(clinic, notify=[f"json://127.0.0.1:{port}/x"])
        db.session.commit()
        episode = enrol(clinic, email=None, no_phone_reason="x").episode
        report_at(episode, T0 + timedelta(minutes=30), ["leg_weakness"])
        assert tick(runner, "2026-06-10T12:00:00+02:00")["failed"] == 1
    [failure] = db.session.scalars(
        db.select(AlertEvent).filter_by(kind=AlertEventKind.NOTIFY_FAILED)
    ).all()
    assert "next at 2026-06-10 10:01 UTC" in failure.detail
