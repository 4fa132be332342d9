"""Two `flask recovery tick` processes at once (two cron jobs that overlap, a timer and a
worker) on the same database, SQLite and PostgreSQL: each message is decided and sent once.

The SMTP server is slow (a fifth of a second per message), so the two processes are sending
at the same time while the other is still deciding or claiming.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from recovery import ROOT
from recovery.care.clinics import update_clinic_settings
from recovery.care.models import Alert, Notification
from recovery.clinical.vocabulary import NotificationStatus
from recovery.extensions import db
from tests.factories import gen_clinic, gen_episode
from tests.servers import smtp_server, webhook_server

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
PATIENTS = 12


@pytest.fixture
def mail():
    with smtp_server(delay=0.2) as (mailbox, port):
        yield mailbox, port


@pytest.fixture
def hook():
    with webhook_server() as (webhook, port):
        yield webhook, port


def test_two_ticks_at_once_send_each_message_exactly_once(database_url, app, client, mail, hook):
    mailbox, smtp_port = mail
    webhook, hook_port = hook
    clinic = gen_clinic(name="Spine Clinic")
    update_clinic_settings(clinic, notify=[f"json://127.0.0.1:{hook_port}/on-call"])
    db.session.commit()
    with time_machine.travel(T0, tick=False):
        enrolled = [
            gen_episode(clinic, procedure_dt=T0, email=f"p{n}@example.test", phone=None)
            for n in range(PATIENTS)
        ]
    with time_machine.travel(T0 + timedelta(minutes=70), tick=False):
        client.post(
            f"/p/{enrolled[0].token}",
            data={"pain": 6, "red_flags": ["leg_weakness"], "idempotency_key": "k"},
        )
    assert db.session.scalar(db.select(Alert.severity)) == "urgent"
    db.session.rollback()  # hold no snapshot while the jobs write
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "PUBLIC_BASE_URL": "http://localhost",
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "MAIL_FROM": "clinic@example.test",
    }
    at = (T0 + timedelta(minutes=75)).isoformat()
    flask = str(Path(sys.executable).parent / "flask")
    command = [flask, "--app", "wsgi", "recovery", "tick", "--at", at]
    runs = [
        subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (_out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err.decode()
    reports = [json.loads(out.decode().strip().splitlines()[-1]) for out, _err in outputs]

    # Decided once: one reminder per patient (the first has checked in) and one on-call.
    assert sum(r["reminders"] for r in reports) == PATIENTS - 1
    assert sum(r["on_call"] for r in reports) == 1
    # Sent once: every message arrived, none twice.
    recipients = sorted(message["To"] for message in mailbox.messages)
    assert recipients == sorted(f"p{n}@example.test" for n in range(1, PATIENTS))
    assert [path for path, _ in webhook.posts] == ["/on-call"]
    assert sum(r["sent"] for r in reports) == PATIENTS
    db.session.rollback()
    statuses = db.session.scalars(db.select(Notification.status)).all()
    assert statuses == [NotificationStatus.SENT] * PATIENTS
