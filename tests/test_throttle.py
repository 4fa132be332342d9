"""Failed sign-ins are throttled per account and per address, across processes with Redis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine

from recovery import create_app
from recovery.care.models import AuditEvent
from recovery.extensions import db
from tests import factories

REDIS_URL = "redis://127.0.0.1:6379/15"
WRONG = "not the password"


def sign_in(client, email="nurse@example.test", password=factories.PASSWORD, **kwargs):
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


def fail(client, times: int, email="nurse@example.test", **kwargs) -> list[int]:
    return [sign_in(client, email, WRONG, **kwargs).status_code for _ in range(times)]


def test_waits_grow_with_the_failures_and_end(client, nurse):
    """5 per minute, 10 per 15 minutes, 20 per hour: each wait ends, and waits grow."""
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        assert fail(client, 5) == [400] * 5
        refused = sign_in(client)  # even the right password
        assert refused.status_code == 429
        assert b"Too many wrong tries. Wait 1 minute and try again" in refused.data
        assert client.get("/staff/").status_code == 302  # not signed in

        clock.shift(timedelta(seconds=61))
        assert fail(client, 5) == [400] * 5
        refused = sign_in(client)
        assert b"Too many wrong tries. Wait 14 minutes" in refused.data
        assert 13 * 60 < int(refused.headers["Retry-After"]) <= 14 * 60

        for _ in range(2):
            clock.shift(timedelta(minutes=15, seconds=1))
            assert fail(client, 5) == [400] * 5
        refused = sign_in(client)
        assert 28 * 60 < int(refused.headers["Retry-After"]) <= 30 * 60  # the hour's limit

        clock.shift(timedelta(hours=1, seconds=1))
        assert sign_in(client).status_code == 302


def test_a_throttled_account_does_not_throttle_a_colleague(client, clinic, nurse):
    factories.gen_staff(clinic, email="colleague@example.test")
    fail(client, 6)
    assert sign_in(client).status_code == 429
    assert sign_in(client, "colleague@example.test").status_code == 302


def test_failures_elsewhere_do_not_keep_a_nurse_out_of_her_own_device(app, client, nurse):
    app.config["LOGIN_FAILURES_PER_ACCOUNT"] = "3 per hour"
    assert sign_in(client).status_code == 302  # her ward computer, signed in before
    client.post("/logout")
    assert client.get_cookie("recovery_device") is not None

    attacker = app.test_client()
    assert fail(attacker, 3, environ_base={"REMOTE_ADDR": "198.51.100.9"}) == [400] * 3
    assert sign_in(attacker, environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 429
    new_device = app.test_client()
    assert sign_in(new_device).status_code == 429  # a device she never used waits

    assert sign_in(client).status_code == 302  # hers does not


def test_a_known_device_is_throttled_on_its_own(app, client, nurse):
    app.config["LOGIN_FAILURES_PER_DEVICE"] = "3 per hour"
    assert sign_in(client).status_code == 302
    client.post("/logout")
    assert fail(client, 3) == [400] * 3
    assert sign_in(client).status_code == 429
    assert sign_in(app.test_client()).status_code == 302  # the account itself is not held


def test_a_forged_device_cookie_is_an_unknown_device(app, client, nurse):
    app.config["LOGIN_FAILURES_PER_ACCOUNT"] = "3 per hour"
    client.set_cookie("recovery_device", "eyJkIjoieCIsInMiOlsxXX0.forged.signature")
    assert fail(client, 3) == [400] * 3
    assert sign_in(client).status_code == 429


def test_signing_in_clears_the_accounts_failures(client, nurse):
    assert fail(client, 4) == [400] * 4
    assert sign_in(client).status_code == 302
    client.post("/logout")
    assert fail(client, 4) == [400] * 4
    assert sign_in(client).status_code == 302


def test_one_address_trying_many_accounts_is_stopped(app, client, nurse):
    app.config["LOGIN_FAILURES_PER_ADDRESS"] = "3 per 15 minutes"
    for n in range(3):
        assert fail(client, 1, email=f"guess{n}@example.test") == [400]
    assert sign_in(client).status_code == 429
    other_address = {"REMOTE_ADDR": "192.0.2.7"}
    assert sign_in(client, environ_base=other_address).status_code == 302


def test_failed_sign_ins_of_an_account_are_audited(client, nurse):
    fail(client, 2)
    fail(client, 1, email="nobody@example.test")
    actions = db.session.scalars(
        db.select(AuditEvent.action).where(AuditEvent.staff_id == nurse.id)
    ).all()
    assert actions == ["sign_in_failed", "sign_in_failed"]


def redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not running at 127.0.0.1:6379 (.ci/run starts it)")


@pytest.fixture
def app_on():
    """Another server process on the same database: `app_on(url, storage)`; closed after."""
    made = []

    def make(database_url: str, storage: str):
        other = create_app(factories.app_config(database_url, RATELIMIT_STORAGE_URL=storage))
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


def test_two_server_processes_share_the_count_through_redis(app, app_on, clinic):
    redis_or_skip()
    email = f"nurse-{uuid.uuid4().hex[:12]}@example.test"
    factories.gen_staff(clinic, email=email)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    first = app_on(url, REDIS_URL).test_client()
    second = app_on(url, REDIS_URL).test_client()
    assert fail(first, 3, email) + fail(second, 2, email) == [400] * 5
    assert sign_in(first, email).status_code == 429
    assert sign_in(second, email).status_code == 429


def test_sign_in_works_when_the_counter_store_is_down(app, app_on, nurse):
    down = app_on(app.config["SQLALCHEMY_DATABASE_URI"], "redis://127.0.0.1:1/0").test_client()
    assert fail(down, 6) == [400] * 6
    assert sign_in(down).status_code == 302


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("LOGIN_FAILURES_PER_ACCOUNT", "often", "LOGIN_FAILURES_PER_ACCOUNT"),
        ("TRUSTED_PROXIES", "many", "TRUSTED_PROXIES"),
    ],
)
def test_a_malformed_setting_stops_the_app_with_its_name(monkeypatch, setting, value, message):
    config = {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    if setting == "TRUSTED_PROXIES":
        monkeypatch.setenv(setting, value)
    else:
        config[setting] = value
    with pytest.raises(RuntimeError, match=message):
        create_app(config)


def test_behind_a_trusted_proxy_the_clients_address_is_used(
    monkeypatch, app_on, database_url, nurse
):
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    behind = app_on(database_url, "memory://").test_client()
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    assert sign_in(behind, headers=forwarded).status_code == 302
    [address] = db.session.scalars(
        db.select(AuditEvent.address).where(AuditEvent.action == "signed_in")
    ).all()
    assert address == "203.0.113.9"


def test_failures_from_anyone_do_not_block_a_signed_in_nurse_changing_her_password(
    app, client, nurse
):
    """Sign-in failures anyone can cause for her email count apart from wrong passwords
    given while signed in, so a forced change of a temporary password cannot be blocked."""
    assert sign_in(client).status_code == 302
    attacker = app.test_client()
    assert fail(attacker, 6, environ_base={"REMOTE_ADDR": "198.51.100.9"})[-1] == 429
    new = {
        "current": factories.PASSWORD,
        "new": "another passphrase",
        "confirm": "another passphrase",
    }
    assert client.post("/account/password", data=new).status_code == 302


def test_production_refuses_counts_kept_in_each_process_unless_allowed(monkeypatch):
    monkeypatch.setenv("RECOVERY_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a production secret")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    monkeypatch.setenv("ALLOW_SQLITE_IN_PRODUCTION", "1")
    monkeypatch.delenv("ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION", raising=False)
    with pytest.raises(RuntimeError, match="RATELIMIT_STORAGE_URL to a Redis server"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    shared = create_app(
        {"SQLALCHEMY_DATABASE_URI": "sqlite://", "RATELIMIT_STORAGE_URL": REDIS_URL}
    )
    assert shared.config["RATELIMIT_STORAGE_URL"] == REDIS_URL
    monkeypatch.setenv("ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION", "1")
    alone = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert alone.config["RATELIMIT_STORAGE_URL"] == "memory://"
