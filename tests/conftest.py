"""Fixtures: an app and a fresh database per test, on SQLite and (when configured) PostgreSQL.

Set TEST_DATABASE_URL=postgresql+psycopg://... to run every database test on PostgreSQL too.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text

from recovery import create_app
from recovery.extensions import db
from tests import factories

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
ENGINES = ["sqlite"] + (["postgresql"] if PG_URL else [])
_pg_schema_ready = False


def reset_postgres(url: str) -> None:
    """Build the schema once per run, then empty every table before each test."""
    global _pg_schema_ready
    engine = create_engine(url)
    with engine.begin() as conn:
        if not _pg_schema_ready:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
            db.metadata.create_all(conn)
            _pg_schema_ready = True
        else:
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=ENGINES)
def database_url(request, tmp_path) -> str:
    """A URL for an empty database of each engine under test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def extra_config() -> dict:
    """More configuration for `app`; a test module overrides this fixture to change it."""
    return {}


@pytest.fixture
def app(database_url, extra_config):
    """The application on a fresh database, tables created."""
    app = create_app(factories.app_config(database_url, **extra_config))
    with app.app_context():
        if database_url.startswith("sqlite"):
            db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


class FreshContextClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    The test itself holds an app context (for factories and assertions); without this, requests
    would share its `g` (the signed-in user) and its database session.
    """

    def open(self, *args, **kwargs):
        # Read streamed answers (CSV downloads) to the end and close them inside the request,
        # as a server does, so no request context outlives its request.
        kwargs.setdefault("buffered", True)
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        # End the test's own transaction: on SQLite it holds a snapshot from before the request.
        db.session.rollback()  # the test then sees what the request committed
        return response


@pytest.fixture
def client(app):
    """A test client."""
    app.test_client_class = FreshContextClient
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


@pytest.fixture
def clinic(app):
    """A clinic with one nurse."""
    return factories.gen_clinic()


@pytest.fixture
def nurse(clinic):
    """A nurse of `clinic`."""
    return factories.gen_staff(clinic, email="nurse@example.test")


class Auth:
    """Sign in and out through the real login form."""

    def __init__(self, client):
        self.client = client

    def login(self, email="nurse@example.test", password=factories.PASSWORD):
        return self.client.post("/login", data={"email": email, "password": password})

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    """The login helper."""
    return Auth(client)


@pytest.fixture
def enrolled(clinic, now):
    """An episode whose procedure ended 24 h ago, baseline 8, and its patient token."""
    return factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=24), baseline_pain=8)


class QueryCounter:
    """Counts SQL statements run on the app's engine inside a `with` block."""

    def __init__(self, engine):
        self.engine = engine
        self.statements: list[str] = []

    def _count(self, conn, cursor, statement, *args):
        # SQLite's explicit BEGIN (recovery.extensions) is implicit in PostgreSQL's driver:
        # count queries alike on both, not transaction control.
        if not statement.startswith("BEGIN"):
            self.statements.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    """`with count_queries() as q: ...; q.count`."""
    return lambda: QueryCounter(db.engine)
