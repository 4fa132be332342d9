"""Production safety: RECOVERY_ENV=production refuses unsafe settings; a failed statement is
logged without its values; error pages are plain."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from sqlalchemy.exc import IntegrityError

from recovery import ROOT, create_app
from recovery.care.models import PainEntry, utcnow
from recovery.extensions import db
from tests import factories
from tests.test_caregiver import submit

PG = "postgresql+psycopg://recovery@db.example/recovery"
SAFE = {
    "RECOVERY_ENV": "production",
    "SECRET_KEY": "a-long-random-production-secret",
    "SESSION_COOKIE_SECURE": "1",
    "DATABASE_URL": PG,
    "RATELIMIT_STORAGE_URL": "redis://redis.example:6379/0",
}
SETTINGS = [
    "RECOVERY_ENV",
    "SECRET_KEY",
    "SESSION_COOKIE_SECURE",
    "DATABASE_URL",
    "FLASK_DEBUG",
    "ALLOW_SQLITE_IN_PRODUCTION",
    "ENTRIES_PER_EPISODE_PER_HOUR",
    "RATELIMIT_STORAGE_URL",
    "ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION",
    "DATABASE_POOL_SIZE",
    "DATABASE_MAX_OVERFLOW",
    "DATABASE_POOL_TIMEOUT",
    "DATABASE_POOL_RECYCLE",
    "DATABASE_POOL_PRE_PING",
    "DATABASE_PREPARE_THRESHOLD",
]


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """`set(**env)`: exactly these settings in the environment (none of the others)."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)

    def set_env(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return set_env


def build():
    """The app as `wsgi.py` builds it (no test configuration)."""
    return create_app()


def test_a_safe_production_configuration_starts(environment):
    environment(**SAFE)
    app = build()
    assert app.config["RECOVERY_ENV"] == "production"
    assert app.config["SECRET_KEY"] == SAFE["SECRET_KEY"]
    assert app.config["SESSION_COOKIE_SECURE"] and not app.debug


def test_development_is_the_default_and_is_not_checked(environment, tmp_path):
    environment(DATABASE_URL=f"sqlite:///{tmp_path / 'dev.sqlite3'}", SECRET_KEY="dev")
    app = build()
    assert app.config["RECOVERY_ENV"] == "development"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"FLASK_DEBUG": "1"}, "debug"),
        ({"SESSION_COOKIE_SECURE": None}, "SESSION_COOKIE_SECURE=1"),
        ({"SESSION_COOKIE_SECURE": "0"}, "SESSION_COOKIE_SECURE=1"),
        ({"DATABASE_URL": None}, "ALLOW_SQLITE_IN_PRODUCTION=1"),
        ({"DATABASE_URL": "sqlite:////srv/recovery.sqlite3"}, "ALLOW_SQLITE_IN_PRODUCTION=1"),
        ({"RATELIMIT_STORAGE_URL": None}, "ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION=1"),
        ({"RATELIMIT_STORAGE_URL": "memory://"}, "RATELIMIT_STORAGE_URL to a Redis server"),
    ],
    ids=[
        "no-secret",
        "empty-secret",
        "debug",
        "cookie",
        "cookie-0",
        "sqlite",
        "sqlite-url",
        "throttle-default",
        "throttle-memory",
    ],
)
def test_production_refuses_an_unsafe_setting_naming_it(environment, change, named):
    env = {**SAFE, **change}
    environment(**{k: v for k, v in env.items() if v is not None})
    with pytest.raises(RuntimeError) as refused:
        build()
    message = str(refused.value)
    assert message.startswith("RECOVERY_ENV=production refuses to start")
    assert named in message
    assert message.count(";") == 0  # only what is wrong is named


def test_production_never_falls_back_to_the_instance_secret_key(environment, monkeypatch):
    """The development fallback writes instance/secret_key; production refuses first."""
    written = []
    monkeypatch.setattr("recovery.config.development_secret_key", written.append)
    environment(**{k: v for k, v in SAFE.items() if k != "SECRET_KEY"})
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        build()
    assert written == []


def test_sqlite_in_production_when_explicitly_allowed(environment, tmp_path):
    environment(
        **{**SAFE, "DATABASE_URL": f"sqlite:///{tmp_path / 'small.sqlite3'}"},
        ALLOW_SQLITE_IN_PRODUCTION="1",
    )
    app = build()
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def test_counting_sign_ins_in_memory_in_production_when_explicitly_allowed(environment):
    """One server process (one worker) counts every failure itself: memory:// is then safe."""
    environment(
        **{**SAFE, "RATELIMIT_STORAGE_URL": "memory://"}, ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION="1"
    )
    assert build().config["RATELIMIT_STORAGE_URL"] == "memory://"


def test_an_unknown_environment_is_refused(environment):
    environment(RECOVERY_ENV="staging", SECRET_KEY="x")
    with pytest.raises(RuntimeError, match="RECOVERY_ENV must be one of"):
        build()


def test_every_problem_is_named_at_once(environment):
    environment(RECOVERY_ENV="production", FLASK_DEBUG="1")
    with pytest.raises(RuntimeError) as refused:
        build()
    for named in (
        "SECRET_KEY",
        "debug",
        "SESSION_COOKIE_SECURE=1",
        "DATABASE_URL",
        "RATELIMIT_STORAGE_URL",
    ):
        assert named in str(refused.value)


def test_the_flask_command_refuses_to_start_with_the_reason_on_stderr(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(RECOVERY_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path / 'p.sqlite3'}")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "recovery", "--help"]
    done = subprocess.run(flask, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "RECOVERY_ENV=production refuses to start" in done.stderr
    assert "set SECRET_KEY in the environment" in done.stderr
    assert "ALLOW_SQLITE_IN_PRODUCTION=1" in done.stderr
    assert not (tmp_path / "p.sqlite3").exists()


# --- SQL errors in the log -----------------------------------------------------------------


def test_both_engines_hide_statement_parameters(app):
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["hide_parameters"] is True
    assert db.engine.hide_parameters is True


def test_a_failed_statement_is_logged_without_the_patients_answer(
    app, client, enrolled, monkeypatch, caplog
):
    """A statement fails in the middle of a check-in (here: the summary writes a score the
    database refuses). The log says what failed and where, never the pain or the note, which
    PostgreSQL would otherwise quote ("Failing row contains ...")."""
    from recovery.care import episodes

    real_save = episodes.save_state

    def failing_save(episode, state, rules):
        real_save(episode, state, rules)
        db.session.flush()
        entry = db.session.scalars(db.select(PainEntry).filter_by(episode_id=episode.id)).one()
        entry.pain = 77  # CHECK pain BETWEEN 0 AND 10
        db.session.flush()

    monkeypatch.setattr(episodes, "save_state", failing_save)
    caplog.set_level(logging.DEBUG)
    note = "confidential-note-zebra"
    response = submit(client, enrolled.token, 6, note=note, red_flags="fever")
    assert response.status_code == 503
    logged = caplog.text + "".join(
        str(r.exc_info[1]) for r in caplog.records if r.exc_info and r.exc_info[1]
    )
    assert "database error on POST /p/<token>" in logged
    assert "IntegrityError" in logged and "UPDATE pain_entry" in logged
    assert note not in logged and "fever" not in logged
    assert "[parameters:" not in logged and "Failing row" not in logged
    assert enrolled.token not in logged
    page = response.get_data(as_text=True)
    assert note not in page.split("<textarea")[0] and "UPDATE" not in page
    db.session.rollback()
    assert episodes.episode_entries(enrolled.episode) == []  # nothing stored


def test_the_worker_logs_a_failed_statement_without_the_patients_answer(
    app, enrolled, monkeypatch, caplog
):
    """The same for the worker: a stage whose statement fails is logged by its kind and
    statement, never the row the database quotes."""
    from sqlalchemy import text

    from recovery.care import outreach

    note = "confidential-note-otter"

    def failing_stage(now, senders, report):
        db.session.execute(text("UPDATE pain_entry SET pain = 99, note = :note"), {"note": note})

    factories.gen_entry(enrolled.episode, 4, 10, note=note)
    monkeypatch.setattr(outreach, "check_windows", failing_stage)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(IntegrityError):
        outreach.run_tick(utcnow())
    logged = caplog.text
    assert "outreach: failing_stage failed" in logged
    assert "statement: UPDATE pain_entry" in logged
    assert note not in logged and "Failing row" not in logged and "[parameters:" not in logged


# --- plain error pages ---------------------------------------------------------------------


@pytest.fixture
def extra_config():
    return {"PROPAGATE_EXCEPTIONS": False, "DEBUG": False}


LEAKS = ("Traceback", "werkzeug", "Werkzeug", "sqlalchemy", "SELECT", 'File "', "boom-")


def test_an_unexpected_error_is_a_plain_page_and_logged_without_the_form(app, client, caplog):
    def explode():
        raise RuntimeError("boom-internal-detail")

    app.add_url_rule("/staff/explode", "explode", explode, methods=["POST"])
    app.add_url_rule("/api/v1/explode", "api_explode", explode, methods=["POST"])
    assert not app.debug
    caplog.set_level(logging.DEBUG)
    response = client.post("/staff/explode", data={"note": "form-value-walrus"})
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "<h1>Something went wrong</h1>" in page
    assert not any(leak in page for leak in LEAKS)
    assert "boom-internal-detail" in caplog.text  # the error is logged, for the operator
    assert "form-value-walrus" not in caplog.text
    api = client.post("/api/v1/explode", json={"note": "json-value-walrus"})
    assert api.status_code == 500
    assert api.get_json()["error"]["code"] == "internal_server_error"
    assert not any(leak in api.get_data(as_text=True) for leak in LEAKS)
    assert "json-value-walrus" not in caplog.text


@pytest.mark.parametrize(("path", "status"), [("/nowhere", 404), ("/staff/team", 403)])
def test_error_pages_show_no_stack_version_or_sql(client, auth, nurse, path, status):
    auth.login()
    response = client.get(path)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert not any(leak in page for leak in LEAKS)
    assert "Server" not in response.headers
