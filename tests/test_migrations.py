"""The migrations build, from an empty database, exactly the schema the models describe."""

import os
import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import CheckConstraint, create_engine, inspect, text

from recovery import create_app
from recovery.extensions import db
from recovery.vocabulary import EntrySource, Severity

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
SCHEMA = "migration_check"


@pytest.fixture(params=["sqlite"] + (["postgresql"] if PG_URL else []))
def empty_database(request, tmp_path):
    """An empty database: a new SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
        return
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{SCHEMA}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def test_upgrade_from_empty_matches_models_and_downgrades(empty_database):
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": empty_database}
    )
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
            tables = set(inspect(conn).get_table_names())
        assert differences == []
        assert {"clinic", "staff_user", "patient", "episode", "pain_entry", "alert"} <= tables
        downgrade(revision="base")
        with db.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def _codes(sql: str) -> set[str]:
    return set(re.findall(r"'([^']*)'", sql))


def test_migrated_check_constraints_hold_exactly_the_vocabulary(empty_database):
    """Every CHECK built from `recovery.vocabulary` (the models) says the same after the
    migrations, on each engine: a new code in the vocabulary needs its migration."""
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": empty_database}
    )
    with app.app_context():
        upgrade()
        expected = {}
        for table in db.metadata.tables.values():
            for constraint in table.constraints:
                if isinstance(constraint, CheckConstraint) and " IN (" in str(constraint.sqltext):
                    expected[(table.name, constraint.name)] = _codes(str(constraint.sqltext))
        with db.engine.connect() as conn:
            inspector = inspect(conn)
            migrated = {
                (table, check["name"]): _codes(check["sqltext"])
                for table in inspector.get_table_names()
                for check in inspector.get_check_constraints(table)
                if (table, check["name"]) in expected
            }
        downgrade(revision="base")
        db.engine.dispose()
    assert expected[("alert", "ck_alert_severity")] == set(Severity.codes())
    assert expected[("pain_entry", "ck_pain_entry_source")] == set(EntrySource.codes())
    assert migrated == expected
