"""Several app servers behind a load balancer, as docs/deployment.md deploys them.

Two gunicorn servers (A and B, two workers each, started with gunicorn.conf.py) on different
ports share one database and one Redis (database 4), in production mode behind a load balancer
that terminates TLS: every request carries the public `Host`, `X-Forwarded-Proto: https` and
the client's address in `X-Forwarded-For` (TRUSTED_PROXIES=1). The browser here keeps its
cookies by name and sends them to whichever server the balancer picks, as a real one would
(both are one site to it). What must hold with no sticky sessions:

(a) a nurse signed in on A is signed in on B, and signing out on B ends the session on A;
(b) failed sign-ins spread over A and B reach the account's limit together (counted in Redis);
(c) a check-in sent to A and its retry (same idempotency key) sent to B at the same moment is
    stored once, and a check-in through A shows on B's worklist;
(d) check-ins to one episode through both servers at once are all stored, one alert per rule.

On SQLite (two servers on one file, WAL and the write lock taking turns) and on PostgreSQL
(TEST_DATABASE_URL). The servers' access log never holds a patient's link.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import runpy
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import pytest
import redis

from recovery import ROOT, create_app
from recovery.care.models import Alert, PainEntry
from recovery.extensions import db
from tests import factories
from tests.conftest import PG_URL
from tests.servers import Gunicorn, free_port

REDIS_URL = "redis://127.0.0.1:6379/4"
#: The address patients and staff use; the balancer passes it to both servers.
PUBLIC_HOST = "recovery.example.test"
SIMULTANEOUS = 8


# --- the engine's pool, from the environment (no server needed) ----------------------------


POOL = {
    "DATABASE_POOL_SIZE": "7",
    "DATABASE_MAX_OVERFLOW": "3",
    "DATABASE_POOL_TIMEOUT": "4",
    "DATABASE_POOL_RECYCLE": "600",
    "DATABASE_POOL_PRE_PING": "0",
    "DATABASE_PREPARE_THRESHOLD": "off",
}


def test_the_pool_settings_reach_the_postgresql_engine(monkeypatch):
    for name, value in POOL.items():
        monkeypatch.setenv(name, value)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@db.example/recovery"})
    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool.timeout()) == (7, 3, 4)
        assert (pool._recycle, pool._pre_ping) == (600, False)
        assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {
            "prepare_threshold": None
        }
        assert db.engine.hide_parameters is True
        db.engine.dispose()


def test_the_pool_defaults(monkeypatch):
    for name in POOL:
        monkeypatch.delenv(name, raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@db.example/recovery"})
    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool.timeout()) == (5, 5, 10)
        assert (pool._recycle, pool._pre_ping) == (1800, True)
        db.engine.dispose()


def test_sqlite_keeps_its_own_options_whatever_the_pool_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", "off")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'one.sqlite3'}"})
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert "pool_size" not in options and "prepare_threshold" not in options["connect_args"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("DATABASE_POOL_SIZE", "many"),
        ("DATABASE_POOL_SIZE", "0"),
        ("DATABASE_POOL_SIZE", "1000"),
        ("DATABASE_PREPARE_THRESHOLD", "never"),
    ],
)
def test_a_malformed_pool_setting_stops_the_app_naming_it(monkeypatch, setting, value):
    monkeypatch.setenv(setting, value)
    with pytest.raises(RuntimeError, match=f"{setting} must be a whole number"):
        create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@db.example/recovery"})


@pytest.mark.parametrize(("value", "threshold"), [("off", None), ("0", 0), ("", 5)])
def test_psycopg_prepares_statements_as_told_for_pgbouncer(monkeypatch, value, threshold):
    """PgBouncer before 1.21, in transaction mode, cannot follow statements prepared on the
    server: DATABASE_PREPARE_THRESHOLD=off stops psycopg preparing them."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set: no PostgreSQL connection to look at")
    monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", value)
    app = create_app({"SQLALCHEMY_DATABASE_URI": PG_URL})
    with app.app_context(), db.engine.connect() as connection:
        assert connection.connection.driver_connection.prepare_threshold == threshold
    with app.app_context():
        db.engine.dispose()


# --- gunicorn.conf.py ---------------------------------------------------------------------


@pytest.fixture
def gunicorn_conf(monkeypatch) -> dict:
    """gunicorn.conf.py's settings as gunicorn reads them, with no GUNICORN_* set."""
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


@pytest.mark.parametrize(
    ("logged", "shown"),
    [
        ("/p/AbC-12_x", "/p/<token>"),
        ("GET /p/AbC-12_x/entries/5?lang=es HTTP/1.1", "GET /p/<token>/entries/5?lang=es HTTP/1.1"),
        ("https://recovery.example.test/p/AbC-12_x/handout", "https://recovery.example.test/p/<token>/handout"),
        ("POST /P/AbC-12_x/language HTTP/1.1", "POST /P/<token>/language HTTP/1.1"),
        ("/p/", "/p/"),
        ("/p/sw.js", "/p/sw.js"),
        ("GET /p/manifest.webmanifest HTTP/1.1", "GET /p/manifest.webmanifest HTTP/1.1"),
        ("/staff/episodes/4", "/staff/episodes/4"),
    ],
)  # fmt: skip
def test_the_access_log_hides_the_token_of_a_patients_link(gunicorn_conf, logged, shown):
    assert gunicorn_conf["redact"](logged) == shown


def test_the_access_log_holds_no_credential_whatever_its_format_asks(gunicorn_conf):
    """Every value a format could name (request line, path, headers, WSGI variables)."""
    from gunicorn.config import Config

    logger = gunicorn_conf["RedactingLogger"](Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/p/secret-link/handout?lang=es",
        "PATH_INFO": "/p/secret-link/handout",
        "QUERY_STRING": "lang=es",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        "HTTP_AUTHORIZATION": "Bearer secret-api-token",
        "HTTP_COOKIE": "session=secret-session",
        "HTTP_REFERER": "https://recovery.example.test/p/secret-link",
    }
    request = SimpleNamespace(
        headers=[("AUTHORIZATION", "Bearer secret-api-token"), ("COOKIE", "session=secret")]
    )
    response = SimpleNamespace(status="200 OK", sent=10, headers=[("Set-Cookie", "s=secret")])
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=5))
    assert "secret" not in repr(atoms)
    assert atoms["r"] == "GET /p/<token>/handout?lang=es HTTP/1.1"


def test_the_defaults_suit_a_server_behind_a_load_balancer(gunicorn_conf):
    assert gunicorn_conf["worker_class"] == "gthread" and gunicorn_conf["threads"] == 4
    assert [gunicorn_conf["default_workers"](n) for n in (1, 2, 4, 16)] == [2, 2, 4, 8]
    assert gunicorn_conf["keepalive"] > 60  # the balancers' idle timeout: they close first
    assert gunicorn_conf["preload_app"] is True
    assert gunicorn_conf["secure_scheme_headers"] == {}  # TRUSTED_PROXIES decides, in the app
    assert "%(f)s" not in gunicorn_conf["access_log_format"]  # no Referer


def test_gunicorn_stops_at_once_with_the_reason_when_production_refuses(tmp_path):
    """With the app loaded before the fork, a refused configuration stops the master itself,
    naming what to fix, instead of workers failing to boot one after another."""
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "WEB_CONCURRENCY")},
        "RECOVERY_ENV": "production",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'refused.sqlite3'}",
    }
    command = [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py"]
    command += ["--bind", f"127.0.0.1:{free_port()}", "--worker-tmp-dir", str(tmp_path), "wsgi:app"]
    done = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "RECOVERY_ENV=production refuses to start" in done.stderr
    assert "set SECRET_KEY" in done.stderr and "RATELIMIT_STORAGE_URL" in done.stderr
    assert "Booting worker" not in done.stderr


# --- two servers, one database, one Redis -------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """As conftest's, but the PostgreSQL run says why it is skipped when it is."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set: two servers on PostgreSQL not tried")
    request.getfixturevalue("reset_postgres")()
    return PG_URL


@pytest.fixture
def shared_redis():
    """Redis database 4, emptied before and after; the test is skipped without Redis."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.flushdb()
    except redis.RedisError:
        pytest.skip("Redis is not running at 127.0.0.1:6379 (.ci/run starts it)")
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def servers(app, shared_redis, tmp_path):
    """Servers A and B on the test's database and Redis, in production mode; their URLs."""
    environment = {
        "RECOVERY_ENV": "production",
        "SESSION_COOKIE_SECURE": "1",
        "TRUSTED_PROXIES": "1",
        "RATELIMIT_STORAGE_URL": REDIS_URL,
        "ALLOW_SQLITE_IN_PRODUCTION": "1",
        "PUBLIC_BASE_URL": f"https://{PUBLIC_HOST}",
    }
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    started = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        server = Gunicorn(url, tmp_path / name, workers=2, env=environment)
        server.start()
        started.append(server)
    try:
        yield [server.url for server in started]
    finally:
        for server in started:
            server.stop()


class Browser:
    """A browser reaching the servers through the load balancer, which adds its headers."""

    def __init__(self, address: str = "203.0.113.10"):
        self.address = address
        self.cookies: dict[str, str] = {}

    def request(self, server: str, method: str, path: str, *, form=None, address=None, **api):
        """Send one request to `server`; (status, body text, Location). Redirects are not
        followed; cookies set or deleted are kept."""
        parts = urlsplit(server)
        headers = {
            "Host": PUBLIC_HOST,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": address or self.address,
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"https://{PUBLIC_HOST}{path}"
        if api:  # json_body= and token=: a call to the patient API
            body = json.dumps(api["json_body"])
            headers["Content-Type"] = "application/json"
            headers["Authorization"] = f"Bearer {api['token']}"
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response.status, text, response.headers.get("Location", "")

    def csrf(self, server: str, path: str) -> str:
        """The CSRF token of the form on `path`."""
        status, page, _ = self.request(server, "GET", path)
        assert status == 200, (path, status)
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)

    def sign_in(self, server: str, email: str, password: str = factories.PASSWORD, **kw):
        form = {"email": email, "password": password, "csrf_token": self.csrf(server, "/login")}
        return self.request(server, "POST", "/login", form=form, **kw)


@pytest.mark.slow  # two servers started per engine
def test_a_session_opened_on_one_server_works_on_the_other_and_ends_on_both(servers, nurse):
    a, b = servers
    browser = Browser()
    status, _page, location = browser.sign_in(a, nurse.email)
    assert status == 302 and location.endswith("/staff/"), status
    assert browser.request(b, "GET", "/staff/")[0] == 200
    assert browser.request(a, "GET", "/staff/")[0] == 200
    copied = Browser()
    copied.cookies = dict(browser.cookies)  # the same cookies, kept elsewhere

    token = browser.csrf(b, "/staff/")
    status, _page, location = browser.request(b, "POST", "/logout", form={"csrf_token": token})
    assert status == 302 and "/login" in location
    for server in (a, b):
        status, _page, location = copied.request(server, "GET", "/staff/")
        assert status == 302 and "/login" in location, server


@pytest.mark.slow  # two servers started per engine
def test_failed_sign_ins_on_both_servers_reach_the_accounts_limit_together(
    servers, nurse, shared_redis
):
    """Five failures a minute per account (LOGIN_FAILURES_PER_ACCOUNT), each from another
    address so that only the account's count can reach a limit, three on A and two on B."""
    a, b = servers
    browser = Browser()
    statuses = [
        browser.sign_in(server, nurse.email, "wrong password", address=f"198.51.100.{n}")[0]
        for n, server in enumerate([a, b, a, b, a])
    ]
    assert statuses == [400] * 5
    for n, server in enumerate([a, b]):
        assert browser.sign_in(server, nurse.email, address=f"192.0.2.{n}")[0] == 429
    assert list(shared_redis.scan_iter("*login_failures_per_account*"))


def post_at_once(browser: Browser, calls: list[tuple[str, str, dict]]) -> list[int]:
    """POST each (server, token, check-in) to /api/v1/checkins from its own thread, released
    together; their statuses."""
    start = threading.Barrier(len(calls))

    def post(call):
        server, token, checkin = call
        start.wait()
        return browser.request(server, "POST", "/api/v1/checkins", json_body=checkin, token=token)[
            0
        ]

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(post, calls))


def stored(episode_id: int) -> Counter:
    """The episode's stored idempotency keys, each with how many times it is stored."""
    db.session.rollback()  # see what the servers committed
    return Counter(
        db.session.scalars(db.select(PainEntry.idempotency_key).filter_by(episode_id=episode_id))
    )


@pytest.mark.slow  # two servers started per engine
def test_check_ins_through_both_servers_are_stored_once_and_seen_by_both(
    servers, clinic, nurse, now, tmp_path
):
    a, b = servers
    patient = Browser(address="203.0.113.50")
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    token, episode_id = enrolled.token, enrolled.episode.id
    assert patient.request(a, "GET", f"/p/{token}")[0] == 200
    nurse_browser = Browser()
    assert nurse_browser.sign_in(b, nurse.email)[0] == 302
    assert (
        f'alert-row--emergency" data-episode-id="{episode_id}"'
        not in (nurse_browser.request(b, "GET", "/staff/")[1])
    )

    # (c) a check-in and its retry, the same key, at the same moment through A and B.
    for n in range(3):
        checkin = {"pain": 4, "idempotency_key": f"retry-{n}"}
        statuses = post_at_once(patient, [(a, token, checkin), (b, token, checkin)])
        assert sorted(statuses) == [200, 201], statuses
    assert stored(episode_id) == Counter({f"retry-{n}": 1 for n in range(3)})
    # ... and what comes through A is on B's worklist.
    body = {"pain": 9, "red_flags": ["chest_pain"], "idempotency_key": "through-a"}
    assert patient.request(a, "POST", "/api/v1/checkins", json_body=body, token=token)[0] == 201
    assert (
        f'alert-row--emergency" data-episode-id="{episode_id}"'
        in (nurse_browser.request(b, "GET", "/staff/")[1])
    )

    # (d) one episode's check-ins through both servers at once: all stored, one alert per rule.
    db.session.rollback()  # on SQLite, a reader's snapshot from before the servers wrote
    other = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    flags = ["leg_weakness", "numbness", "fever", "wound"]
    checkins = [
        {"pain": 9, "red_flags": [flags[n % 4]], "idempotency_key": f"at-once-{n}"}
        for n in range(SIMULTANEOUS)
    ]
    calls = [((a, b)[n % 2], other.token, checkin) for n, checkin in enumerate(checkins)]
    assert post_at_once(patient, calls) == [201] * SIMULTANEOUS
    assert stored(other.episode.id) == Counter({f"at-once-{n}": 1 for n in range(SIMULTANEOUS)})
    unresolved = Counter(
        db.session.scalars(
            db.select(Alert.rule).where(
                Alert.episode_id == other.episode.id, Alert.status != "resolved"
            )
        )
    )
    assert unresolved and set(unresolved.values()) == {1}, unresolved

    # The access log has every request, and no patient's link.
    log = (tmp_path / "a" / "gunicorn.log").read_text()
    assert '"GET /p/<token> HTTP/1.1" 200' in log
    assert token not in log and other.token not in log
