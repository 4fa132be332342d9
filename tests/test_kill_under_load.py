"""A server killed in the middle of a load of check-ins loses nothing it answered.

The app runs in gunicorn on this test's database (SQLite file, then PostgreSQL). Eight phones
each send a stream of check-ins to their own episode through the API, every one with its
idempotency key, some with a red flag. Mid-load the server's whole process group gets SIGKILL
(nothing is finished, flushed or rolled back by the server), and is started again. A phone
whose request got no answer sends it again, with the same key, until it is answered, as the
offline outbox does (docs/offline.md). Then:

- every check-in answered 2xx is stored, exactly once; no key is stored twice;
- every stored red-flag entry has its alert (the entry and its alerts are one transaction:
  docs/architecture.md, "How a check-in flows");
- the restarted server answers /healthz.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from recovery.care.models import Alert, AlertEvent, PainEntry
from recovery.extensions import db
from tests import factories
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow  # 15 to 30 s per engine: two server starts and the load

PHONES = 8
CHECK_INS = 20  # per phone
#: The server is killed once this many check-ins have been answered (of PHONES * CHECK_INS).
KILL_AFTER = 40
#: How long a phone keeps re-sending one check-in before the test gives up on the server.
PATIENCE = 30.0


@dataclass
class Phone:
    """One patient's phone: its token, what it sent and what it was told."""

    number: int
    token: str
    answers: dict[str, int] = field(default_factory=dict)  # idempotency key -> status
    unanswered: int = 0  # attempts that got no answer (the server died under them)

    def body(self, n: int) -> dict:
        """The n-th check-in: pain from 2 to 9, a red flag every third."""
        body = {"pain": 2 + (self.number + n) % 8, "idempotency_key": f"phone{self.number}-{n}"}
        if n % 3 == 0:
            body["red_flags"] = ["fever"]
        return body


def send(url: str, token: str, body: dict) -> int | None:
    """POST one check-in; its status, or None if the connection died without an answer."""
    request = urllib.request.Request(
        f"{url}/api/v1/checkins",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as refused:  # an answer, if not a happy one
        return refused.code
    except (OSError, http.client.HTTPException):  # refused, reset, closed mid-answer
        return None


def run_phone(url: str, phone: Phone, answered: threading.Semaphore) -> None:
    """Send the phone's check-ins one after the other, each until it is answered."""
    for n in range(CHECK_INS):
        body = phone.body(n)
        give_up = time.monotonic() + PATIENCE
        while (status := send(url, phone.token, body)) is None:
            phone.unanswered += 1
            assert time.monotonic() < give_up, f"no answer for {body} in {PATIENCE} s"
            time.sleep(0.05)
        phone.answers[body["idempotency_key"]] = status
        answered.release()


def test_a_server_killed_during_check_ins_loses_none_it_answered(app, clinic, now, tmp_path):
    phones = [
        Phone(i, factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30)).token)
        for i in range(PHONES)
    ]
    server = Gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, workers=2)
    url = server.start()
    answered = threading.Semaphore(0)
    try:
        with ThreadPoolExecutor(PHONES) as pool:
            running = [pool.submit(run_phone, url, phone, answered) for phone in phones]
            for _ in range(KILL_AFTER):
                assert answered.acquire(timeout=PATIENCE), "the load did not get going"
            server.kill()
            server.start()
            for phone_run in running:
                phone_run.result()
        assert server.healthy()
    finally:
        server.stop()

    # The kill landed among requests: some phones were left without an answer and re-sent.
    assert sum(phone.unanswered for phone in phones), "no request was cut off"
    statuses = Counter(status for phone in phones for status in phone.answers.values())
    assert set(statuses) <= {200, 201}, statuses  # 200: stored before the kill, answer lost
    assert statuses[201] >= 1

    db.session.rollback()  # see what the server processes committed
    stored = Counter(db.session.scalars(db.select(PainEntry.idempotency_key)))
    sent = {key for phone in phones for key in phone.answers}
    assert set(stored) == sent  # every answered check-in is stored, nothing else
    assert set(stored.values()) == {1}, [key for key, n in stored.items() if n > 1]

    red_flag_entries = [e for e in db.session.scalars(db.select(PainEntry)) if e.red_flags]
    assert len(red_flag_entries) == PHONES * len(range(0, CHECK_INS, 3))
    found = set(
        db.session.scalars(
            db.select(AlertEvent.entry_id)
            .join(Alert, AlertEvent.alert_id == Alert.id)
            .where(Alert.rule == "red_flag")
        )
    )
    missing = [entry.idempotency_key for entry in red_flag_entries if entry.id not in found]
    assert not missing, f"red-flag entries without their alert: {missing}"
