"""Reaching people, end to end: `flask recovery tick --at` against a real SMTP server
(aiosmtpd) and a local webhook that receives Apprise's json:// posts (text messages and the
clinic's notification targets). The clock is set with --at and time-machine; nothing sleeps.
"""

from __future__ import annotations

import io
import json
import re
import socket
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event

from recovery.care.accounts import issue_api_token
from recovery.care.clinics import update_clinic_settings
from recovery.care.episodes import close_episode
from recovery.care.models import Alert, AuditEvent, Episode, Notification
from recovery.care.outreach import run_tick
from recovery.care.senders import Senders
from recovery.clinical.vocabulary import AlertEventKind, NotificationStatus, Rule
from recovery.extensions import db
from tests.factories import gen_clinic, gen_episode
from tests.servers import free_port, smtp_server, webhook_server

#: 10:00 in London (summer time): outside the default quiet hours (21:00-08:00).
T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
PHONE = "+447700900123"


@pytest.fixture
def mail():
    with smtp_server() as (mailbox, port):
        yield mailbox, port


@pytest.fixture
def hook():
    with webhook_server() as (webhook, port):
        yield webhook, port


@pytest.fixture
def extra_config(mail, hook):
    return {
        "SMTP_URL": f"smtp://127.0.0.1:{mail[1]}",
        "MAIL_FROM": "clinic@example.test",
        "SMS_URL": f"json://127.0.0.1:{hook[1]}/sms/{{phone}}",
    }


@pytest.fixture
def mailbox(mail):
    return mail[0]


@pytest.fixture
def webhook(hook):
    return hook[0]


@pytest.fixture
def hook_url(hook):
    return f"json://127.0.0.1:{hook[1]}"


@pytest.fixture
def clinic(app):
    return gen_clinic(name="Spine Clinic", phone="+44 20 7946 0000")


def settings(clinic, overrides=None, **targets) -> None:
    """Change and commit the clinic's outreach settings."""
    update_clinic_settings(clinic, overrides, **targets)
    db.session.commit()


def unreachable(clinic):
    """A patient with neither email nor phone: alerts only, no reminders."""
    return enrol(clinic, email=None, phone=None, no_phone_reason="no phone")


def enrol(clinic, *, at=T0, procedure_dt=T0, **kw):
    """A patient enrolled at `at` (the clock set there), with email and phone by default."""
    kw.setdefault("email", "ann@example.test")
    kw.setdefault("phone", PHONE)
    with time_machine.travel(at, tick=False):
        return gen_episode(clinic, procedure_dt=procedure_dt, name="Ann Smith", **kw)


def tick(runner, at: datetime) -> dict:
    """Run `flask recovery tick --at` and return its report."""
    result = runner.invoke(args=["recovery", "tick", "--at", at.isoformat()])
    assert result.exit_code == 0, result.output
    db.session.rollback()  # see what the command committed
    return json.loads(result.output.strip().splitlines()[-1])


def texts(webhook) -> list[tuple[str, dict]]:
    return [(path, body) for path, body in webhook.posts if path.startswith("/sms/")]


def alerts_posted(webhook, path: str) -> list[dict]:
    return [body for posted, body in webhook.posts if posted == path]


def link_in(text: str) -> str:
    return re.search(r"http://localhost(/p/[^\s]+)", text).group(1)


# Reminders


def test_a_reminder_with_a_working_link_when_a_window_opens_and_never_twice(
    runner, client, clinic, mailbox, webhook
):
    enrolled = enrol(clinic)
    assert tick(runner, T0 + timedelta(minutes=59))["reminders"] == 0  # 2 h window: 1-4 h
    report = tick(runner, T0 + timedelta(hours=1))
    assert report["reminders"] == 2 and report["sent"] == 2
    [email] = mailbox.messages
    assert email["To"] == "ann@example.test"
    assert email["Subject"] == "Spine Clinic: time for your 2 h check-in"
    body = email.get_content()
    [(path, sms)] = texts(webhook)
    assert path == f"/sms/{PHONE}"
    assert link_in(sms["message"]) == link_in(body)
    # The link opens the patient's check-in; the opt-out link is in every message.
    page = client.get(link_in(body))
    assert page.status_code == 200 and "How is your pain?" in page.get_data(as_text=True)
    assert f"{link_in(body)}/reminders" in body and "/reminders" in sms["message"]
    assert "Ann" not in body  # the patient's name is not in the message

    again = tick(runner, T0 + timedelta(hours=1, minutes=1))
    assert again["reminders"] == 0 and again["sent"] == 0
    assert len(mailbox.messages) == 1 and len(texts(webhook)) == 1
    timeline = db.session.scalars(
        db.select(AuditEvent.action).filter_by(episode_id=enrolled.episode.id)
    ).all()
    assert timeline.count("reminder_sent") == 2


def test_a_second_reminder_near_the_end_only_while_the_window_is_empty(runner, clinic, mailbox):
    settings(clinic, {"quiet_hours": "none"})  # 18 h is 04:00 in London
    enrol(clinic, phone=None, no_phone_reason="no phone")
    assert tick(runner, T0 + timedelta(hours=18))["reminders"] == 1  # 24 h window: 18-30 h
    assert tick(runner, T0 + timedelta(hours=26, minutes=59))["reminders"] == 0
    assert tick(runner, T0 + timedelta(hours=27))["reminders"] == 1  # 3 h before the end
    assert [m["Subject"] for m in mailbox.messages][-1] == (
        "Spine Clinic: your 24 h check-in closes soon"
    )
    assert tick(runner, T0 + timedelta(hours=28))["reminders"] == 0


def test_an_answered_window_gets_no_reminder_and_a_queued_one_is_cancelled(
    runner, app, client, clinic, mailbox, mail
):
    enrolled = enrol(clinic, phone=None, no_phone_reason="no phone")
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        client.post(f"/p/{enrolled.token}", data={"pain": 3, "idempotency_key": "k"})
    assert tick(runner, T0 + timedelta(hours=2, minutes=1))["reminders"] == 0
    # The 6 h window's reminder is queued, but the server is down; the patient answers
    # before the retry, which is then cancelled.
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    assert tick(runner, T0 + timedelta(hours=4))["failed"] == 1
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{mail[1]}"
    with time_machine.travel(T0 + timedelta(hours=4, minutes=1), tick=False):
        client.post(f"/p/{enrolled.token}", data={"pain": 2, "idempotency_key": "k2"})
    assert tick(runner, T0 + timedelta(hours=4, minutes=2))["cancelled"] == 1
    [queued] = db.session.scalars(db.select(Notification)).all()
    assert (queued.status, queued.last_error) == ("cancelled", "the patient has checked in")
    assert mailbox.messages == []


def test_a_window_open_at_enrolment_is_reminded_unless_under_an_hour_is_left(runner, clinic):
    enrol(clinic, at=T0 + timedelta(hours=2), procedure_dt=T0)
    assert tick(runner, T0 + timedelta(hours=2))["reminders"] == 2  # 2 h left of 1-4 h
    late = enrol(clinic, at=T0 + timedelta(hours=3, minutes=1), procedure_dt=T0)
    tick(runner, T0 + timedelta(hours=3, minutes=1))
    rows = db.session.scalars(db.select(Notification).filter_by(episode_id=late.episode.id))
    assert list(rows) == []  # 59 minutes left: too late to be of use


def test_no_reminder_in_quiet_hours_then_one_when_they_end(runner, clinic, mailbox):
    # The 2 h window is 11:00-14:00 in London; this clinic is quiet from 11:00 to 12:30.
    settings(clinic, {"quiet_hours": "11:00-12:30"})
    enrol(clinic, phone=None, no_phone_reason="no phone")
    assert tick(runner, T0 + timedelta(hours=1))["reminders"] == 0
    assert tick(runner, T0 + timedelta(hours=2, minutes=29))["reminders"] == 0
    assert mailbox.messages == []
    assert tick(runner, T0 + timedelta(hours=2, minutes=30))["reminders"] == 1
    assert len(mailbox.messages) == 1


def test_the_default_quiet_hours_are_the_clinics_night(runner, clinic, mailbox):
    night = datetime(2026, 6, 10, 19, 30, tzinfo=UTC)  # 20:30 in London; 1-4 h is 21:30-00:30
    enrol(clinic, at=night, procedure_dt=night, phone=None, no_phone_reason="no phone")
    assert tick(runner, night + timedelta(hours=1))["reminders"] == 0
    assert tick(runner, night + timedelta(hours=3, minutes=30))["reminders"] == 0
    assert mailbox.messages == []


def test_no_reminders_after_the_patient_stops_them_or_the_episode_closes(
    runner, client, clinic, nurse, mailbox, webhook
):
    enrolled = enrol(clinic)
    tick(runner, T0 + timedelta(hours=1))
    stop_link = link_in(mailbox.messages[0].get_content()) + "/reminders"
    page = client.get(stop_link)
    assert page.status_code == 200 and "Stop reminders" in page.get_data(as_text=True)
    assert "Send me reminders again" in client.post(stop_link, data={"wanted": "off"}).get_data(
        as_text=True
    )
    assert tick(runner, T0 + timedelta(hours=4))["reminders"] == 0  # 6 h window opens
    assert len(mailbox.messages) == 1 and len(texts(webhook)) == 1
    assert client.post(stop_link, data={"wanted": "maybe"}).status_code == 400
    client.post(stop_link, data={"wanted": "on"})
    assert tick(runner, T0 + timedelta(hours=5))["reminders"] == 2
    assert enrolled.episode.patient.reminders_stopped_dt is None
    sent = len(mailbox.messages)
    close_episode(enrolled.episode, staff=nurse)
    db.session.commit()
    for hours in (9, 18, 30, 40):  # 6 h's second reminder, 24 h opens and closes, 48 h
        report = tick(runner, T0 + timedelta(hours=hours))
        assert (report["reminders"], report["missed"]) == (0, 0)
    assert len(mailbox.messages) == sent


# Missed check-ins


def test_a_window_that_closes_empty_opens_one_missed_checkin_alert(runner, clinic):
    enrolled = unreachable(clinic)
    assert tick(runner, T0 + timedelta(hours=3, minutes=59))["missed"] == 0
    assert tick(runner, T0 + timedelta(hours=4))["missed"] == 1
    assert tick(runner, T0 + timedelta(hours=4, minutes=1))["missed"] == 0
    [alert] = db.session.scalars(db.select(Alert).filter_by(episode_id=enrolled.episode.id))
    assert (alert.rule, alert.severity) == (Rule.MISSED_CHECKIN, "moderate")
    assert alert.reason == "no check-in in the 2 h window (1-4 h)"
    # The 6 h window closing empty too is a new finding on the same open alert.
    assert tick(runner, T0 + timedelta(hours=12))["missed"] == 1
    kinds = [e.kind for e in db.session.get(Alert, alert.id).events]
    assert kinds == [AlertEventKind.OPENED, AlertEventKind.UPDATED]


def late_check_in(client, enrolled, *, recorded: datetime, sent: datetime, key: str):
    """A check-in from the phone app, sent after the time it was taken (it was offline)."""
    with time_machine.travel(sent, tick=False):
        response = client.post(
            "/api/v1/checkins",
            json={"pain": 3, "recorded_at": recorded.isoformat(), "idempotency_key": key},
            headers=enrolled.headers,
        )
    assert response.status_code == 201, response.get_json()


def test_a_missed_check_in_answered_late_resolves_its_alert(runner, client, clinic):
    enrolled = unreachable(clinic)
    assert tick(runner, T0 + timedelta(hours=4, minutes=1))["missed"] == 1
    late_check_in(
        client,
        enrolled,
        recorded=T0 + timedelta(hours=3, minutes=55),
        sent=T0 + timedelta(hours=4, minutes=20),
        key="late",
    )
    [alert] = db.session.scalars(db.select(Alert).filter_by(episode_id=enrolled.episode.id))
    assert (alert.status, alert.resolved_by_id) == ("resolved", None)
    last = alert.events[-1]
    assert (last.kind, last.staff_id) == (AlertEventKind.RESOLVED, None)
    assert last.detail == "every check-in this alert reported missed has since been answered"


def test_a_missed_check_in_alert_stays_while_another_window_it_reported_is_empty(
    runner, client, clinic
):
    enrolled = unreachable(clinic)
    tick(runner, T0 + timedelta(hours=4, minutes=1))
    tick(runner, T0 + timedelta(hours=12, minutes=1))  # the 6 h window too
    late_check_in(
        client,
        enrolled,
        recorded=T0 + timedelta(hours=3),
        sent=T0 + timedelta(hours=12, minutes=5),
        key="late",
    )
    [alert] = db.session.scalars(db.select(Alert).filter_by(episode_id=enrolled.episode.id))
    assert alert.status == "open"


def test_windows_closed_before_enrolment_are_not_missed(runner, clinic):
    enrol(clinic, at=T0 + timedelta(hours=13), email=None, phone=None, no_phone_reason="x")
    assert tick(runner, T0 + timedelta(hours=13))["missed"] == 0
    assert db.session.scalar(db.select(db.func.count(Alert.id))) == 0


# On-call notifications and escalation


def urgent_check_in(client, enrolled, at: datetime) -> Alert:
    with time_machine.travel(at, tick=False):
        client.post(
            f"/p/{enrolled.token}",
            data={"pain": 5, "red_flags": ["leg_weakness"], "idempotency_key": "k"},
        )
    return db.session.scalar(db.select(Alert).filter_by(episode_id=enrolled.episode.id))


def test_an_urgent_alert_notifies_the_on_call_targets_once(
    runner, client, auth, clinic, nurse, webhook, hook_url
):
    settings(clinic, notify=[f"{hook_url}/on-call"])
    enrolled = unreachable(clinic)
    alert = urgent_check_in(client, enrolled, T0 + timedelta(hours=2))
    assert alert.severity == "urgent"
    assert webhook.posts == []  # the check-in itself sends nothing
    report = tick(runner, T0 + timedelta(hours=2, minutes=1))
    assert report["on_call"] == 1 and report["sent"] == 1
    [posted] = alerts_posted(webhook, "/on-call")
    assert posted["title"] == "[Urgent] Red flag: patient A.S., Spine Clinic"
    assert "new weakness in the legs" in posted["message"]
    assert f"http://localhost/staff/episodes/{enrolled.episode.id}" in posted["message"]
    assert "Ann" not in posted["message"] + posted["title"]
    tick(runner, T0 + timedelta(hours=2, minutes=2))
    assert len(alerts_posted(webhook, "/on-call")) == 1
    # The attempt is in the alert's history, on the API and on the episode page.
    token = issue_api_token(nurse)
    db.session.commit()
    history = client.get(
        f"/api/v1/alerts/{alert.id}", headers={"Authorization": f"Bearer {token}"}
    ).get_json()["history"]
    assert [e["kind"] for e in history] == ["opened", "notified"]
    shown = f"{hook_url}/on…"  # a path may be a secret: masked like a password
    assert history[1]["reason"] == shown
    auth.login()
    page = client.get(f"/staff/episodes/{enrolled.episode.id}").get_data(as_text=True)
    assert "On-call notified" in page and shown in page


def test_an_unacknowledged_urgent_alert_escalates_once_after_the_delay(
    runner, client, clinic, webhook, hook_url
):
    settings(clinic, {"escalate_after_minutes": "20"}, escalate=[f"{hook_url}/escalate"])
    enrolled = unreachable(clinic)
    opened = T0 + timedelta(hours=2)
    alert = urgent_check_in(client, enrolled, opened)
    assert tick(runner, opened + timedelta(minutes=19, seconds=59))["escalations"] == 0
    assert alerts_posted(webhook, "/escalate") == []
    assert tick(runner, opened + timedelta(minutes=20))["escalations"] == 1
    assert tick(runner, opened + timedelta(minutes=21))["escalations"] == 0
    [posted] = alerts_posted(webhook, "/escalate")
    assert posted["title"].startswith("Not acknowledged: [Urgent] Red flag")
    assert posted["message"].startswith("Not acknowledged within 20 minutes.")
    kinds = [e.kind for e in db.session.get(Alert, alert.id).events]
    assert kinds == [AlertEventKind.OPENED, AlertEventKind.ESCALATION_SENT]


def test_an_acknowledged_alert_does_not_escalate(
    runner, client, auth, clinic, nurse, webhook, hook_url
):
    settings(clinic, escalate=[f"{hook_url}/escalate"])
    enrolled = unreachable(clinic)
    alert = urgent_check_in(client, enrolled, T0 + timedelta(hours=2))
    auth.login()
    client.post(f"/staff/alerts/{alert.id}/acknowledge", data={"action": "called_patient"})
    assert db.session.get(Alert, alert.id).status == "acknowledged"
    assert tick(runner, T0 + timedelta(hours=3))["escalations"] == 0
    assert webhook.posts == []


def test_a_target_answering_500_is_recorded_and_retried_with_backoff(
    runner, client, clinic, webhook, hook_url
):
    settings(clinic, notify=[f"{hook_url}/on-call"])
    enrolled = unreachable(clinic)
    alert = urgent_check_in(client, enrolled, T0 + timedelta(hours=2))
    webhook.status = 500
    first = T0 + timedelta(hours=2, minutes=1)
    assert tick(runner, first)["failed"] == 1
    [failure] = [e for e in db.session.get(Alert, alert.id).events if e.kind == "notify_failed"]
    assert "500" in failure.detail and "attempt 1" in failure.detail
    webhook.status = 200
    assert tick(runner, first + timedelta(seconds=59))["sent"] == 0  # waits a minute
    assert tick(runner, first + timedelta(minutes=1))["sent"] == 1
    assert tick(runner, first + timedelta(minutes=5))["sent"] == 0
    assert len(alerts_posted(webhook, "/on-call")) == 1


def test_a_smtp_server_that_is_down_is_retried_and_then_delivers_once(runner, app, clinic):
    port = free_port()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    enrolled = enrol(clinic, phone=None, no_phone_reason="no phone")
    first = T0 + timedelta(hours=1)
    report = tick(runner, first)
    assert (report["reminders"], report["sent"], report["failed"]) == (1, 0, 1)
    [waiting] = db.session.scalars(db.select(Notification)).all()
    assert waiting.status == NotificationStatus.PENDING and waiting.attempts == 1
    assert f"127.0.0.1:{port}" in waiting.last_error
    assert waiting.next_attempt_dt == first + timedelta(minutes=1)
    with smtp_server(port) as (mailbox, _):
        assert tick(runner, first + timedelta(seconds=30))["sent"] == 0
        assert tick(runner, first + timedelta(minutes=1))["sent"] == 1
        assert tick(runner, first + timedelta(minutes=2))["sent"] == 0
        assert len(mailbox.messages) == 1
    db.session.refresh(waiting)
    assert (waiting.status, waiting.attempts) == (NotificationStatus.SENT, 2)
    timeline = db.session.scalars(
        db.select(AuditEvent.action).filter_by(episode_id=enrolled.episode.id)
    ).all()
    assert timeline.count("reminder_sent") == 1


def test_the_worker_runs_ticks_in_a_loop_and_sends_once(runner, clinic, mailbox):
    settings(clinic, {"quiet_hours": "none"})  # it runs on the real clock
    procedure = datetime.now(UTC) - timedelta(hours=1, minutes=30)
    enrol(clinic, at=procedure, procedure_dt=procedure, phone=None, no_phone_reason="x")
    result = runner.invoke(args=["recovery", "worker", "--interval", "0", "--ticks", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "worker: running every 0 s (Ctrl-C stops)"
    [report] = [json.loads(line) for line in lines[1:]]  # quiet runs print nothing
    assert report["sent"] == 1
    assert len(mailbox.messages) == 1


def statements_of_a_tick(app, at: datetime) -> int:
    count = 0

    def counted(*_args):
        nonlocal count
        count += 1

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", counted)
        try:
            run_tick(at, Senders(console=True, out=io.StringIO()))
        finally:
            event.remove(db.engine, "before_cursor_execute", counted)
    return count


@pytest.mark.parametrize("patients", [3, 9])
def test_a_run_with_nothing_due_costs_the_same_few_statements_for_any_number_of_episodes(
    app, clinic, patients
):
    for _ in range(patients):
        enrol(clinic)
    statements_of_a_tick(app, T0 + timedelta(hours=1))  # reminders go out
    # Between windows every episode waits for its next look: no statement per episode.
    count = statements_of_a_tick(app, T0 + timedelta(hours=1, minutes=30))
    assert count <= 6


def missed_alerts() -> dict[int, int]:
    """Open missed check-in alerts by episode."""
    rows = db.session.execute(
        db.select(Alert.episode_id, db.func.count())
        .filter_by(rule=Rule.MISSED_CHECKIN, status="open")
        .group_by(Alert.episode_id)
    )
    return dict(rows.all())


def test_episodes_due_at_once_are_looked_at_in_batches_of_a_few_statements(app, clinic):
    """A run that finds many episodes due (the first after an upgrade, or after the job was
    stopped) locks and reads each batch's episodes, windows and entries at once: looking at
    9 episodes costs the statements of looking at 3, and each gets its next look."""
    counts = []
    for patients in (3, 9):
        episodes = [unreachable(clinic).episode.id for _ in range(patients)]
        # The 2 h window is open: nothing to send (no channel), nothing missed yet.
        counts.append(statements_of_a_tick(app, T0 + timedelta(hours=1)))
        db.session.rollback()
        looks = db.session.scalars(
            db.select(Episode.outreach_due_dt).where(Episode.id.in_(episodes))
        ).all()
        assert len(set(looks)) == 1 and looks[0] > T0 + timedelta(hours=1)
    assert counts[0] == counts[1]


def test_a_window_another_run_records_first_holds_up_only_its_own_episode(app, runner, clinic):
    """A run that loses the race for one episode's window (another run recorded it first)
    still does the other episodes of its batch, and counts each once."""
    taken = unreachable(clinic).episode.id
    others = [unreachable(clinic).episode.id for _ in range(3)]

    def another_run_first(conn, cursor, statement, parameters, context, executemany):
        # Record the episode's window just before this run does, in its own transaction's
        # place: the run's insert then finds it taken, as if another run had committed it.
        if statement.startswith("INSERT INTO checkin_window") and taken in _values(parameters):
            cursor.execute(statement, parameters)

    event.listen(db.engine, "before_cursor_execute", another_run_first)
    try:
        report = tick(runner, T0 + timedelta(hours=4))
    finally:
        event.remove(db.engine, "before_cursor_execute", another_run_first)
    assert report["missed"] == 3
    assert missed_alerts() == {episode_id: 1 for episode_id in others}


def test_an_episode_that_fails_holds_up_neither_its_batch_nor_the_next_ones(app, clinic):
    """One episode whose window cannot be written (a fault, not a race) is skipped and
    reported; the rest of its batch and the batches after it are done."""
    episodes = [unreachable(clinic).episode.id for _ in range(25)]
    broken = episodes[3]

    def fault(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO checkin_window") and broken in _values(parameters):
            raise RuntimeError("disk fault")

    event.listen(db.engine, "before_cursor_execute", fault)
    try:
        with pytest.raises(RuntimeError, match="disk fault"):
            run_tick(T0 + timedelta(hours=4), Senders(console=True, out=io.StringIO()))
    finally:
        event.remove(db.engine, "before_cursor_execute", fault)
    db.session.rollback()
    assert missed_alerts() == {episode_id: 1 for episode_id in episodes if episode_id != broken}


def _values(parameters) -> list:
    return list(parameters.values()) if isinstance(parameters, dict) else list(parameters)


def test_a_smtp_server_that_never_answers_times_out_and_holds_nothing_up(
    runner, app, clinic, hook_url, webhook, client
):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections (the kernel's backlog) and never says a word
    try:
        app.config.update(SMTP_URL=f"smtp://127.0.0.1:{silent.getsockname()[1]}", SMTP_TIMEOUT=0.3)
        settings(clinic, notify=[f"{hook_url}/on-call"])
        enrolled = enrol(clinic)  # email (to the silent server) and phone (to the webhook)
        urgent_check_in(client, enrolled, T0 + timedelta(minutes=30))  # before the 2 h window
        report = tick(runner, T0 + timedelta(hours=1))
    finally:
        silent.close()
    # The email failed on its timeout; the text message and the on-call alert still went.
    assert (report["reminders"], report["on_call"]) == (2, 1)
    assert (report["failed"], report["sent"]) == (1, 2)
    [email] = db.session.scalars(db.select(Notification).filter_by(channel="email")).all()
    assert email.status == NotificationStatus.PENDING and "timed out" in email.last_error
    assert len(alerts_posted(webhook, "/on-call")) == 1


def test_an_address_no_server_would_take_is_a_recorded_failure_not_a_crash(runner, clinic):
    enrolled = enrol(clinic, phone=None)
    # Enrolment refuses such an address now; a row stored before, or by hand, may hold one.
    enrolled.episode.patient.email = "ann@example.test\nBcc: everyone@example.test"
    db.session.commit()
    report = tick(runner, T0 + timedelta(hours=1))
    assert (report["sent"], report["failed"]) == (0, 1)
    [waiting] = db.session.scalars(db.select(Notification)).all()
    assert waiting.status == NotificationStatus.PENDING and waiting.last_error
