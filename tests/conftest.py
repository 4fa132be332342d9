"""Fixtures: an app and a fresh database per test, on SQLite and (when configured) PostgreSQL.

Set TEST_DATABASE_URL=postgresql+psycopg://... to run every database test on PostgreSQL too.

The schema is built once per run on each engine, not per test: SQLite copies a template file
built at the start of the run; PostgreSQL empties what the previous test wrote (deleting rows
is far cheaper than TRUNCATE on tables this small) and restarts the sequences it used.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text

from recovery import create_app
from recovery.extensions import db
from tests import factories

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
ENGINES = ["sqlite"] + (["postgresql"] if PG_URL else [])


class PostgresReset:
    """Builds the schema on first use, then empties the database before each test."""

    def __init__(self, url: str):
        self.engine = create_engine(url)
        self.schema_ready = False
        tables = db.metadata.sorted_tables
        quoted = {t.name: f'"{t.name}"' for t in tables}
        # One query names the tables holding rows.
        self.find_rows = text(
            " UNION ALL ".join(
                f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM {q})" for name, q in quoted.items()
            )
        )
        # Children before their parents, so no foreign key is left pointing at a deleted row.
        self.delete_order = [t.name for t in reversed(tables)]
        self.quoted = quoted

    def __call__(self) -> None:
        """Every table empty, every sequence at its start, as a new schema has them."""
        with self.engine.begin() as conn:
            if not self.schema_ready:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
                db.metadata.create_all(conn)
                self.schema_ready = True
                return
            holding = set(conn.scalars(self.find_rows))
            for name in self.delete_order:
                if name in holding:
                    conn.execute(text(f"DELETE FROM {self.quoted[name]}"))
            # A sequence a test drew from (even for an insert it rolled back) starts again.
            used = conn.execute(
                text(
                    "SELECT schemaname, sequencename FROM pg_sequences "
                    "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                )
            ).all()
            for schema, sequence in used:
                conn.execute(text(f'ALTER SEQUENCE "{schema}"."{sequence}" RESTART'))

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="session")
def reset_postgres():
    """`reset_postgres()` empties the PostgreSQL test database (building its schema once)."""
    reset = PostgresReset(PG_URL)
    yield reset
    reset.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """An SQLite file holding the schema and no rows, built once per run for `app` to copy."""
    path = tmp_path_factory.mktemp("schema") / "template.sqlite3"
    template = create_app(factories.app_config(f"sqlite:///{path}"))
    with template.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    # One self-contained file: the write-ahead log folded in and turned off, so a plain copy
    # is the whole database (the app's connections turn WAL back on, as on a new file).
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    assert not any(path.with_name(path.name + end).exists() for end in ("-wal", "-shm"))
    return path


@pytest.fixture(params=ENGINES)
def database_url(request, tmp_path) -> str:
    """A URL for an empty database of each engine under test.

    On SQLite, a file that does not exist yet (`app` fills it with the schema); on PostgreSQL,
    the schema with every table empty and its sequences restarted.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    request.getfixturevalue("reset_postgres")()
    return PG_URL


@pytest.fixture
def extra_config() -> dict:
    """More configuration for `app`; a test module overrides this fixture to change it."""
    return {}


@pytest.fixture
def app(request, database_url, extra_config):
    """The application on a fresh database, tables created."""
    copied = False
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        if not path.exists():
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
            copied = True
    app = create_app(factories.app_config(database_url, **extra_config))
    with app.app_context():
        if database_url.startswith("sqlite") and not copied:
            db.create_all()
        yield app
        db.session.remove()
        # Whatever the test did, every episode's alert counts are what its alerts say.
        assert factories.miscounted_episodes() == []
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
        return super().open(*args, **kwargs)

    def run_wsgi_app(self, environ, buffered=False):
        # One app context per request, redirects followed included: a request's transaction
        # ends with it, as in production, before the next one begins.
        with self.application.app_context():
            response = super().run_wsgi_app(environ, buffered=buffered)
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
