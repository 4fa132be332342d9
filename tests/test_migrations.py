"""The migrations build, from an empty database, exactly the schema the models describe; the
alert history migration turns data in the old shape into history rows and back."""

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import CheckConstraint, create_engine, inspect, text

from recovery import create_app
from recovery.care.alerts import notes_text
from recovery.care.models import Alert
from recovery.clinical.vocabulary import EntrySource, Severity
from recovery.extensions import db
from tests.test_running_state import STATE_COLUMNS as RUNNING_STATE_COLUMNS

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
    """Every CHECK built from `recovery.clinical.vocabulary` (the models) says the same after the
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


# --- the alert history migration (7c3a9e1f5b20): data in the old shape -----------------------

BEFORE_HISTORY = "4b7e2c9d1a60"
FLAG_27H = "red flag at 27 h (5/10)"
T0 = datetime(2026, 1, 31, 14, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def aware(value: datetime | None) -> datetime | None:
    """A timestamp read through Core: naive UTC on SQLite, aware on PostgreSQL."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Alert 1: the audit trail accounts for it. A fever, a wound, an acknowledgement (its note on
# two lines), an escalation (chest pain) that re-opens it, a second acknowledgement, and a
# resolution whose note looks like an action ("other: ...") but is the resolution's note.
AUDITED_NOTE = "called_patient: rang her\nno answer\nsent_to_emergency\nother: ambulance came"
AUDIT_ROWS = [
    ("alert_opened", None, 0, "red_flag (urgent): red flag at 26 h (4/10): fever or chills"),
    ("alert_updated", None, 5, "red_flag (urgent): red flag at 26 h (3/10): bleeding"),
    ("alert_acknowledged", 1, 10, "red_flag: called_patient: rang her\nno answer"),
    ("alert_escalated", None, 20, "red_flag (emergency): red flag at 27 h (5/10): chest pain"),
    ("alert_acknowledged", 2, 25, "red_flag: sent_to_emergency"),
    ("alert_resolved", 1, 30, "red_flag: other: ambulance came"),
    # Not about this alert: another rule, and a download.
    ("alert_opened", None, 1, "above_expected (high): 9/10 at 24 h"),
    ("exported_alerts_csv", 1, 40, "2026-01-01..2026-01-31"),
]


def seed_old_shape(conn) -> dict[str, sa.Table]:
    """A clinic, two nurses, an episode and three alerts as the app stored them before the
    history table: notes in `alert.note`, times in the alert's columns and the audit trail."""
    meta = sa.MetaData()
    meta.reflect(conn)
    t = meta.tables
    assert "note" in t["alert"].c and "alert_event" not in t
    conn.execute(
        t["clinic"].insert(),
        {
            "id": 1,
            "slug": "north",
            "name": "North",
            "timezone": "UTC",
            "phone": "",
            "settings": {},
            "created_dt": T0,
        },
    )
    for staff_id in (1, 2):
        conn.execute(
            t["staff_user"].insert(),
            {
                "id": staff_id,
                "clinic_id": 1,
                "email": f"n{staff_id}@example.test",
                "name": f"Nurse {staff_id}",
                "password_hash": "x",
                "role": "nurse",
                "is_active": True,
                "created_dt": T0,
            },
        )
    conn.execute(
        t["patient"].insert(),
        {
            "id": 1,
            "clinic_id": 1,
            "display_name": "P",
            "preferred_language": "en",
            "created_dt": T0,
        },
    )
    conn.execute(
        t["episode"].insert(),
        {
            "id": 1,
            "clinic_id": 1,
            "patient_id": 1,
            "procedure_dt": T0 - timedelta(hours=26),
            "levels": "",
            "indication": "osteoporosis",
            "status": "active",
            "created_dt": T0,
            "updated_dt": T0,
        },
    )
    common = {"episode_id": 1, "reason_message": None, "entry_id": None}
    conn.execute(
        t["alert"].insert(),
        [
            {
                **common,
                "id": 1,
                "rule": "red_flag",
                "severity": "emergency",
                "status": "resolved",
                "opened_dt": at(0),
                "updated_dt": at(30),
                "reason": "red flag at 26 h (4/10): fever or chills | red flag at 26 h (3/10): "
                "bleeding | red flag at 27 h (5/10): chest pain",
                "acknowledged_dt": at(25),
                "acknowledged_by_id": 2,
                "resolved_dt": at(30),
                "resolved_by_id": 1,
                "note": AUDITED_NOTE,
            },
            # No audit trail for these two (their opened rows do not match): the columns.
            {
                **common,
                "id": 2,
                "rule": "persistent",
                "severity": "moderate",
                "status": "resolved",
                "opened_dt": at(2),
                "updated_dt": at(2),
                "reason": "5/10 for 3 d",
                "acknowledged_dt": at(50),
                "acknowledged_by_id": 1,
                "resolved_dt": at(60),
                "resolved_by_id": 2,
                "note": "other: spoke to GP\nsettled",
            },
            {
                **common,
                "id": 3,
                "rule": "rebound",
                "severity": "high",
                "status": "open",
                "opened_dt": at(3),
                "updated_dt": at(70),
                "reason": "up 4 points",
                "acknowledged_dt": at(45),
                "acknowledged_by_id": 2,
                "resolved_dt": None,
                "resolved_by_id": None,
                "note": "called_patient",
            },
        ],
    )
    conn.execute(
        t["audit_event"].insert(),
        [
            {
                "clinic_id": 1,
                "episode_id": 1,
                "staff_id": staff,
                "actor": "x",
                "action": action,
                "detail": detail,
                "created_dt": at(minutes),
            }
            for action, staff, minutes, detail in AUDIT_ROWS
        ],
    )
    return t


def read_history(conn) -> dict[int, list[tuple]]:
    rows = conn.execute(
        sa.text(
            "SELECT alert_id, kind, created_dt, staff_id, action, note, severity, detail "
            "FROM alert_event ORDER BY alert_id, created_dt, id"
        ).columns(created_dt=sa.DateTime(timezone=True))
    )
    history: dict[int, list[tuple]] = {}
    for alert_id, kind, when, staff, action, note, severity, detail in rows:
        history.setdefault(alert_id, []).append(
            (kind, aware(when), staff, action, note, severity, detail)
        )
    return history


def test_alert_notes_become_history_rows_and_come_back(empty_database):
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": empty_database}
    )
    with app.app_context():
        upgrade(revision=BEFORE_HISTORY)
        with db.engine.begin() as conn:
            seed_old_shape(conn)
        upgrade()
        with db.engine.connect() as conn:
            assert "note" not in {c["name"] for c in inspect(conn).get_columns("alert")}
            history = read_history(conn)
        assert history[1] == [
            ("opened", at(0), None, None, "", "urgent", "red flag at 26 h (4/10): fever or chills"),
            ("updated", at(5), None, None, "", "urgent", "red flag at 26 h (3/10): bleeding"),
            ("acknowledged", at(10), 1, "called_patient", "rang her\nno answer", "urgent", ""),
            (
                "escalated",
                at(20),
                None,
                None,
                "",
                "emergency",
                "red flag at 27 h (5/10): chest pain",
            ),
            ("reopened", at(20), None, None, "", "emergency", ""),
            ("acknowledged", at(25), 2, "sent_to_emergency", "", "emergency", ""),
            ("resolved", at(30), 1, None, "other: ambulance came", "emergency", ""),
        ]
        assert history[2] == [
            ("opened", at(2), None, None, "", "moderate", "5/10 for 3 d"),
            ("acknowledged", at(50), 1, "other", "spoke to GP", "moderate", ""),
            ("resolved", at(60), 2, None, "settled", "moderate", ""),
        ]
        assert history[3] == [
            ("opened", at(3), None, None, "", "high", "up 4 points"),
            ("acknowledged", at(45), 2, "called_patient", "", "high", ""),
            ("reopened", at(70), None, None, "", "high", ""),
        ]
        # The app reads the migrated rows as its own.
        alert = db.session.get(Alert, 1)
        assert [e.kind for e in alert.events][-1] == "resolved"
        assert notes_text(alert.events) == AUDITED_NOTE
        db.session.remove()

        downgrade(revision=BEFORE_HISTORY)
        with db.engine.connect() as conn:
            notes = dict(conn.execute(sa.text("SELECT id, note FROM alert ORDER BY id")).all())
            assert "alert_event" not in inspect(conn).get_table_names()
        assert notes == {
            1: AUDITED_NOTE,
            2: "other: spoke to GP\nsettled",
            3: "called_patient",
        }
        upgrade()  # and up again, from what the downgrade left
        with db.engine.connect() as conn:
            assert len(read_history(conn)[1]) == 7
        downgrade(revision="base")
        db.engine.dispose()


# --- caregiver links (3f6d2a8c9e41) -----------------------------------------------------------

BEFORE_CAREGIVERS = "55a93bd09843"


def seed_episode(conn, token_hash: str = "a" * 64) -> dict[str, sa.Table]:
    """A clinic, a patient and an active episode whose live link has `token_hash`, all with
    id 1 (columns every schema from the caregiver migration's on has); the tables."""
    meta = sa.MetaData()
    meta.reflect(conn)
    t = meta.tables
    conn.execute(
        t["clinic"].insert(),
        {"id": 1, "slug": "north", "name": "North", "timezone": "UTC", "phone": "", "settings": {}}
        | {"created_dt": T0},
    )
    conn.execute(
        t["patient"].insert(),
        {"id": 1, "clinic_id": 1, "display_name": "Ann", "preferred_language": "en"}
        | {"created_dt": T0},
    )
    conn.execute(
        t["episode"].insert(),
        {
            "id": 1,
            "clinic_id": 1,
            "patient_id": 1,
            "procedure_dt": T0 - timedelta(hours=26),
            "levels": "",
            "indication": "osteoporosis",
            "status": "active",
            "token_hash": token_hash,
            "created_dt": T0,
            "updated_dt": T0,
        },
    )
    return t


def seed_entries_before_caregivers(conn) -> dict[str, sa.Table]:
    """`seed_episode`, and an entry an alert points at."""
    t = seed_episode(conn)
    entry = {
        "episode_id": 1,
        "recorded_dt": T0,
        "received_dt": T0,
        "red_flags": [],
        "is_analgesic_taken": False,
        "note": "",
    }
    conn.execute(t["pain_entry"].insert(), {**entry, "id": 1, "pain": 9, "source": "patient"})
    conn.execute(
        t["alert"].insert(),
        {
            "id": 1,
            "episode_id": 1,
            "rule": "above_expected",
            "severity": "high",
            "status": "open",
            "reason": "9/10 at 26 h",
            "entry_id": 1,
            "opened_dt": T0,
            "updated_dt": T0,
        },
    )
    return t


def test_caregiver_links_migrate_up_and_down_with_data(empty_database):
    """Up: the episode gains a caregiver link and entries may come from a caregiver, the rows
    (and the alert pointing at an entry) intact. Down: a caregiver's entry is the patient's,
    the caregiver link is gone, and nothing else changes."""
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": empty_database}
    )
    with app.app_context():
        upgrade(revision=BEFORE_CAREGIVERS)
        with db.engine.begin() as conn:
            assert "caregiver_token_hash" not in seed_entries_before_caregivers(conn)["episode"].c
        upgrade()
        meta = sa.MetaData()
        with db.engine.begin() as conn:
            meta.reflect(conn)
            t = meta.tables
            conn.execute(
                t["episode"]
                .update()
                .values(caregiver_token_hash="b" * 64, caregiver_token_issued_dt=T0)
            )
            conn.execute(
                t["pain_entry"].insert(),
                {
                    "id": 2,
                    "episode_id": 1,
                    "pain": 4,
                    "recorded_dt": at(60),
                    "received_dt": at(60),
                    "red_flags": [],
                    "is_analgesic_taken": False,
                    "note": "",
                    "source": "caregiver",
                },
            )
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(
                t["pain_entry"].update().where(t["pain_entry"].c.id == 2).values(source="friend")
            )
        with db.engine.connect() as conn:
            assert conn.execute(sa.select(t["alert"].c.entry_id)).scalar_one() == 1
        downgrade(revision=BEFORE_CAREGIVERS)
        with db.engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("episode")}
            sources = conn.execute(text("SELECT id, source FROM pain_entry ORDER BY id")).all()
            alert_entry = conn.execute(text("SELECT entry_id FROM alert")).scalar_one()
            token_hash = conn.execute(text("SELECT token_hash FROM episode")).scalar_one()
        assert "caregiver_token_hash" not in columns
        assert [tuple(row) for row in sources] == [(1, "patient"), (2, "patient")]
        assert alert_entry == 1
        assert token_hash == "a" * 64
        upgrade()  # and up again, from what the downgrade left
        downgrade(revision="base")
        db.engine.dispose()


BEFORE_ALERT_CLINIC = "a4c1e7d35b92"


def test_alerts_gain_their_clinic_and_episodes_their_alert_counts(empty_database):
    """Up: each alert carries its episode's clinic and each episode counts its open and
    acknowledged alerts, from the rows already there. Down: both are gone, the rows intact."""
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": empty_database}
    )
    with app.app_context():
        upgrade(revision=BEFORE_ALERT_CLINIC)
        with db.engine.begin() as conn:
            t = seed_entries_before_caregivers(conn)
            alert = {"episode_id": 1, "severity": "moderate", "reason": "r", "opened_dt": T0}
            alert["updated_dt"] = T0
            conn.execute(
                t["alert"].insert(),
                [
                    alert | {"id": 2, "rule": "rebound", "status": "acknowledged"},
                    alert | {"id": 3, "rule": "persistent", "status": "resolved"},
                    alert | {"id": 4, "rule": "persistent", "status": "acknowledged"},
                ],
            )
        upgrade()
        with db.engine.connect() as conn:
            clinics = conn.execute(text("SELECT DISTINCT clinic_id FROM alert")).scalars().all()
            counts = conn.execute(
                text("SELECT open_alerts, acknowledged_alerts FROM episode")
            ).one()
        assert clinics == [1]
        assert tuple(counts) == (1, 2)
        downgrade(revision=BEFORE_ALERT_CLINIC)
        with db.engine.connect() as conn:
            alert_columns = {c["name"] for c in inspect(conn).get_columns("alert")}
            episode_columns = {c["name"] for c in inspect(conn).get_columns("episode")}
            statuses = conn.execute(text("SELECT status FROM alert ORDER BY id")).scalars().all()
        assert "clinic_id" not in alert_columns
        assert not {"open_alerts", "acknowledged_alerts"} & episode_columns
        assert statuses == ["open", "acknowledged", "resolved", "acknowledged"]
        upgrade()
        downgrade(revision="base")
        db.engine.dispose()


# --- the episode's running state (c5d2e8a4f913) -----------------------------------------------

BEFORE_RUNNING_STATE = "c5d2e8a41f07"
STATE_COLUMNS = set(RUNNING_STATE_COLUMNS)


def test_running_state_migrates_up_and_down_and_is_built_at_the_next_check_in(empty_database):
    """Up: the episode gains the running state, empty; its next check-in builds it from the
    entries, as reading every entry would. Down: the columns go, the rows stay."""
    from recovery.care.episodes import episode_entries, refresh_summary
    from recovery.care.models import Episode
    from recovery.care.tokens import hash_token

    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": empty_database}
    )
    with app.app_context():
        upgrade(revision=BEFORE_RUNNING_STATE)
        with db.engine.begin() as conn:
            t = seed_episode(conn, hash_token("old-link"))
            assert not STATE_COLUMNS & set(t["episode"].c.keys())
            # No ids given: PostgreSQL's sequences then know them, for the check-in's entry.
            for pain, minutes in [(9, 0), (2, 30), (5, 60)]:
                conn.execute(
                    t["pain_entry"].insert(),
                    {
                        "episode_id": 1,
                        "pain": pain,
                        "recorded_dt": at(minutes),
                        "received_dt": at(minutes),
                        "red_flags": [],
                        "is_analgesic_taken": False,
                        "note": "",
                        "source": "patient",
                    },
                )
        upgrade()
        with db.engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("episode")}
            assert columns >= STATE_COLUMNS
            names = ", ".join(sorted(STATE_COLUMNS))
            assert set(conn.execute(text(f"SELECT {names} FROM episode")).one()) == {None}
        client = app.test_client()
        response = client.post(
            "/api/v1/checkins",
            json={"pain": 4, "recorded_at": at(90).isoformat()},
            headers={"Authorization": "Bearer old-link"},
        )
        assert response.status_code == 201, response.get_json()
        db.session.rollback()
        episode = db.session.get(Episode, 1)
        kept = {name: getattr(episode, name) for name in STATE_COLUMNS}
        assert kept["state_fingerprint"] is not None
        assert (kept["lowest_pain"], episode.last_pain) == (2, 4)
        refresh_summary(episode, episode_entries(episode))
        assert kept == {name: getattr(episode, name) for name in STATE_COLUMNS}
        db.session.rollback()
        db.session.remove()
        downgrade(revision=BEFORE_RUNNING_STATE)
        with db.engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("episode")}
            pains = conn.execute(text("SELECT pain FROM pain_entry ORDER BY id")).scalars().all()
            last_pain = conn.execute(text("SELECT last_pain FROM episode")).scalar_one()
        assert not STATE_COLUMNS & columns
        assert (pains, last_pain) == ([9, 2, 5, 4], 4)
        upgrade()  # and up again, from what the downgrade left
        downgrade(revision="base")
        db.engine.dispose()
