"""Flask extensions, created unbound and attached to the app in `create_app`."""

import sqlite3
import traceback

from flask import current_app, g, has_app_context, has_request_context, request
from flask_babel import Babel
from flask_compress import Compress
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic migrations name the same thing on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model, with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
# Pages, CSS and JS compressed by the app itself (zstd, brotli or gzip, as the browser
# accepts): `make run` and small clinics have no proxy in front to do it.
compress = Compress()


#: Requests that may write: on SQLite their transactions take the write lock when they begin.
WRITING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """Turn on foreign keys and write-ahead logging for SQLite connections.

    pysqlite's own transaction handling is switched off (`isolation_level = None`): it emits
    BEGIN only before INSERT/UPDATE/DELETE, so a SAVEPOINT or a SELECT ran outside any
    transaction and an entry could be committed without the alerts written after it.
    `_sqlite_begin` emits BEGIN itself, as SQLAlchemy's pysqlite recipe does.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL lets the dashboard read while a check-in writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """Begin every SQLite transaction explicitly; a writing request's as the writer.

    A request that reads first and writes later (look up the link, then store the entry) would
    otherwise hold a read snapshot that SQLite cannot turn into a write once another process
    has written: it fails at once ("database is locked") instead of waiting its turn. BEGIN
    IMMEDIATE takes the write lock up front, so writers queue (busy_timeout) and each sees what
    the one before it committed. PostgreSQL needs none of this: services lock the rows they
    serialise on (`recovery.care.episodes.lock_episode`).
    """
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE" if request_writes() else "BEGIN")


def request_writes() -> bool:
    """Whether the current request may write: its method says so, or its view is marked.

    Outside a request, a job that writes (recovery.care.outreach) marks its app context with
    `g.database_writer`, so it queues for the write lock as a writing request does.
    """
    if not has_request_context():
        return has_app_context() and bool(g.get("database_writer"))
    if g.get("database_writes_done"):
        return False
    if request.method in WRITING_METHODS:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "writes_database", False)


def writes_done() -> None:
    """This request has committed what it writes; what it still runs only reads (a CSV that
    streams after its audit row). On SQLite that read then begins as a reader (WAL), so a slow
    download holds no write lock while check-ins wait."""
    g.database_writes_done = True


def writes_database(view):
    """Mark a view that writes although its method is GET (a download that is audited)."""
    view.writes_database = True
    return view


def describe_failure(exc: BaseException) -> str:
    """A failure as the logs may keep it: for a database error its kind, SQLSTATE and
    statement (placeholders only, never values) and the stack, but not its message, which
    can quote a row (PostgreSQL's "Failing row contains (...)" holds a patient's pain and
    note); for any other, its kind and message and the stack."""
    stack = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
    if not isinstance(exc, SQLAlchemyError):
        return f"{type(exc).__name__}: {exc}\n{stack}"
    orig = getattr(exc, "orig", None)
    kind = type(exc).__name__
    if orig is not None:
        kind += f" ({type(orig).__name__}"
        kind += f", SQLSTATE {orig.sqlstate})" if getattr(orig, "sqlstate", None) else ")"
    statement = getattr(exc, "statement", None) or "(none)"
    return f"{kind}\nstatement: {statement}\n{stack}"
