"""Staff CSV downloads: the form, one row per entry or alert, clinic days, safe cells, access."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from recovery.care.models import Alert, AlertEvent, AuditEvent
from recovery.extensions import db
from tests import factories

ENTRY_HEADER = [
    "entry_id",
    "episode_id",
    "patient_name",
    "mrn",
    "procedure_at_utc",
    "procedure_at_local",
    "recorded_at_utc",
    "recorded_at_local",
    "hours_since_procedure",
    "pain",
    "red_flags",
    "analgesic",
    "note",
    "source",
    "recorded_by",
    "received_at_utc",
    "corrects_entry_id",
    "correction_reason",
    "corrected_by_entry_id",
]
ALERT_HEADER = [
    "alert_id",
    "episode_id",
    "patient_name",
    "mrn",
    "rule",
    "severity",
    "status",
    "reason",
    "entry_id",
    "opened_at_utc",
    "opened_at_local",
    "updated_at_utc",
    "updated_at_local",
    "acknowledged_at_utc",
    "acknowledged_at_local",
    "acknowledged_by",
    "resolved_at_utc",
    "resolved_at_local",
    "resolved_by",
    "note",
]


def read_csv(response) -> list[dict[str, str]]:
    """The rows of a CSV response, checking the header is exactly `*_HEADER`."""
    reader = csv.DictReader(io.StringIO(response.get_data(as_text=True), newline=""))
    rows = list(reader)
    assert reader.fieldnames in (ENTRY_HEADER, ALERT_HEADER)
    return rows


def around(now) -> dict[str, str]:
    """A range from a week ago to tomorrow (so clock and zone never matter)."""
    return {
        "start": (now - timedelta(days=7)).date().isoformat(),
        "end": (now + timedelta(days=1)).date().isoformat(),
    }


@pytest.fixture
def course(clinic, now):
    """An episode with four entries (one before the procedure) and the alerts they raised."""
    episode = factories.gen_episode(
        clinic, procedure_dt=now - timedelta(days=3), name="Ann Lee", mrn="M1"
    ).episode
    factories.gen_entry(episode, 8, -2)
    factories.gen_entry(episode, 5, 2, is_analgesic_taken=True)
    factories.gen_entry(episode, 4, 6, red_flags=["fever", "wound"], note="hot; red")
    factories.gen_entry(episode, 9, 30)
    return episode


# --- the form ------------------------------------------------------------------------------


def test_form_page_is_accessible_and_prefilled(client, auth, nurse):
    auth.login()
    response = client.get("/staff/exports")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Export data</h1>" in html
    for name in ("start", "end", "kind"):
        assert f'for="{name}"' in html and f'id="{name}"' in html
    assert 'method="get"' in html and "Europe/London" in html
    assert 'value="entries" selected' in html or 'selected value="entries"' in html


@pytest.mark.parametrize("kind", ["entries", "alerts"])
def test_form_sends_to_the_chosen_csv(client, auth, nurse, kind):
    auth.login()
    query = {"start": "2026-01-01", "end": "2026-01-31", "kind": kind}
    response = client.get("/staff/exports", query_string=query)
    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"/staff/exports/{kind}.csv?start=2026-01-01&end=2026-01-31"
    )


BAD_RANGES = [
    ({}, "Enter the first day."),
    ({"start": "2026-01-01"}, "Enter the last day."),
    ({"start": "yesterday", "end": "2026-01-31"}, "Not a valid date value."),
    ({"start": "2026-02-30", "end": "2026-03-31"}, "Not a valid date value."),
    ({"start": "2026-03-01", "end": "2026-02-01"}, "The last day is before the first day."),
    ({"start": "2025-01-01", "end": "2026-02-05"}, "Export at most 400 days at a time."),
    ({"start": "1999-12-31", "end": "2000-01-02"}, "Use a date from 2000 to 2099."),
    ({"start": "2026-01-01", "end": "9999-12-31"}, "Use a date from 2000 to 2099."),
]


@pytest.mark.parametrize(
    "url", ["/staff/exports", "/staff/exports/entries.csv", "/staff/exports/alerts.csv"]
)
@pytest.mark.parametrize("query,message", BAD_RANGES)
def test_bad_range_shows_the_form_again(client, auth, nurse, url, query, message):
    auth.login()
    if url == "/staff/exports" and not query:
        query = {"kind": "entries"}  # an empty query string is the blank form
    response = client.get(url, query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert message in html and "<h1>Export data</h1>" in html


def test_longest_allowed_range_is_400_days_inclusive(client, auth, nurse):
    auth.login()
    ok = client.get("/staff/exports/entries.csv?start=2025-01-01&end=2026-02-04")
    too_long = client.get("/staff/exports/entries.csv?start=2025-01-01&end=2026-02-05")
    assert (ok.status_code, too_long.status_code) == (200, 400)


def test_unknown_kind_is_refused(client, auth, nurse):
    auth.login()
    response = client.get("/staff/exports?start=2026-01-01&end=2026-01-02&kind=patients")
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)


# --- the files -----------------------------------------------------------------------------


def test_clinic_entries_csv_has_one_row_per_entry(client, auth, nurse, course, now):
    auth.login()
    response = client.get("/staff/exports/entries.csv", query_string=around(now))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="entries-') and disposition.endswith(
        '.csv"'
    )
    rows = read_csv(response)
    assert [r["pain"] for r in rows] == ["8", "5", "4", "9"]
    assert {r["episode_id"] for r in rows} == {str(course.id)}
    flagged = rows[2]
    assert flagged["red_flags"] == "fever;wound"
    assert flagged["note"] == "hot; red"
    assert flagged["hours_since_procedure"] == "6.0"
    assert flagged["patient_name"] == "Ann Lee" and flagged["mrn"] == "M1"
    assert [r["analgesic"] for r in rows] == ["false", "true", "false", "false"]
    assert rows[0]["hours_since_procedure"] == "-2.0"  # a number, not text: no apostrophe
    recorded = datetime.fromisoformat(flagged["recorded_at_utc"])
    assert recorded == course.procedure_dt + timedelta(hours=6)
    assert flagged["recorded_at_utc"].endswith("Z")
    assert datetime.fromisoformat(flagged["recorded_at_local"]) == recorded


def test_clinic_alerts_csv_has_one_row_per_alert_with_its_episode(client, auth, nurse, course, now):
    auth.login()
    response = client.get("/staff/exports/alerts.csv", query_string=around(now))
    assert response.status_code == 200
    rows = read_csv(response)
    stored = db.session.scalars(db.select(Alert).filter_by(episode_id=course.id)).all()
    assert len(rows) == len(stored) >= 2
    assert {r["episode_id"] for r in rows} == {str(course.id)}
    assert {r["rule"] for r in rows} == {a.rule for a in stored}
    red = next(r for r in rows if r["rule"] == "red_flag")
    assert red["severity"] == "urgent" and red["status"] == "open" and red["reason"]
    assert red["resolved_at_utc"] == "" and red["resolved_by"] == ""


def test_days_are_the_clinics_days(client, now):
    zone = ZoneInfo("America/New_York")
    clinic = factories.gen_clinic(timezone="America/New_York")
    factories.gen_staff(clinic, email="ny@example.test")
    day = (now.astimezone(zone) - timedelta(days=10)).date()
    procedure = datetime.combine(day, time(9, 0), tzinfo=zone)
    episode = factories.gen_episode(clinic, procedure_dt=procedure).episode
    factories.gen_entry(episode, 6, 14.5)  # 23:30 New York time, already the next day in UTC
    factories.gen_entry(episode, 5, 15.5)  # 00:30 the next day
    client.post("/login", data={"email": "ny@example.test", "password": factories.PASSWORD})

    def rows_on(d):
        query = {"start": d.isoformat(), "end": d.isoformat()}
        return read_csv(client.get("/staff/exports/entries.csv", query_string=query))

    [late] = rows_on(day)
    assert late["pain"] == "6"
    assert late["recorded_at_local"].startswith(f"{day.isoformat()}T23:30:00")
    assert late["recorded_at_utc"].startswith((day + timedelta(days=1)).isoformat())
    assert [r["pain"] for r in rows_on(day + timedelta(days=1))] == ["5"]


def test_other_clinics_entries_are_not_exported(client, auth, nurse, course, now):
    other = factories.gen_episode(factories.gen_clinic(), name="Elsewhere").episode
    factories.gen_entry(other, 3, 5)
    auth.login()
    rows = read_csv(client.get("/staff/exports/entries.csv", query_string=around(now)))
    assert "Elsewhere" not in {r["patient_name"] for r in rows} and len(rows) == 4


@pytest.mark.parametrize(
    "typed,shown",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("fine = ok", "fine = ok"),
    ],
)
def test_formula_injection_is_neutralised(client, auth, clinic, nurse, now, typed, shown):
    episode = factories.gen_episode(clinic, name=typed, mrn=typed).episode
    factories.gen_entry(episode, 4, 5, note=typed)
    auth.login()
    [row] = read_csv(client.get(f"/staff/episodes/{episode.id}/entries.csv"))
    assert (row["note"], row["patient_name"], row["mrn"]) == (shown, shown, shown)


@pytest.mark.parametrize("typed", ["\tcmd", "\r=1+1"])
def test_tab_and_carriage_return_are_neutralised(client, auth, clinic, nurse, now, typed):
    episode = factories.gen_episode(clinic).episode
    alert = Alert(
        episode_id=episode.id,
        clinic_id=episode.clinic_id,
        rule="red_flag",
        severity="urgent",
        reason="x",
        opened_dt=now,
        updated_dt=now,
    )
    db.session.add(alert)
    db.session.add(AlertEvent(alert=alert, kind="resolved", created_dt=now, note=typed))
    db.session.commit()
    auth.login()
    [row] = read_csv(client.get(f"/staff/episodes/{episode.id}/alerts.csv"))
    assert row["note"] == "'" + typed


def test_episode_csvs(client, auth, nurse, course):
    auth.login()
    entries = client.get(f"/staff/episodes/{course.id}/entries.csv")
    assert entries.headers["Content-Disposition"] == (
        f'attachment; filename="episode-{course.id}-entries.csv"'
    )
    assert [r["pain"] for r in read_csv(entries)] == ["8", "5", "4", "9"]
    alerts = client.get(f"/staff/episodes/{course.id}/alerts.csv")
    assert alerts.status_code == 200
    assert {r["episode_id"] for r in read_csv(alerts)} == {str(course.id)}


def test_downloads_are_audited(client, auth, nurse, course, now):
    auth.login()
    client.get(f"/staff/episodes/{course.id}/entries.csv")
    client.get("/staff/exports/alerts.csv", query_string=around(now))
    events = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action.like("exported_%")).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.episode_id, e.staff_id) for e in events] == [
        ("exported_entries_csv", course.id, nurse.id),
        ("exported_alerts_csv", None, nurse.id),
    ]


def test_a_download_being_read_keeps_no_check_in_waiting(client, auth, nurse, course):
    """A slow client reading a CSV holds no lock a check-in needs: the download's audit row is
    committed before the file streams, and the stream then reads as a reader (on SQLite, no
    write lock; on PostgreSQL, no lock on the episode's row)."""
    auth.login()
    response = client.get(f"/staff/episodes/{course.id}/entries.csv", buffered=False)
    lines = (chunk.decode() for chunk in response.response)
    try:
        assert next(lines).startswith("entry_id,")
        assert next(lines).startswith(str(course.entries[0].id))  # the query is open
        url = db.engine.url
        if url.get_backend_name() == "sqlite":
            other = sqlite3.connect(url.database, timeout=0, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the stream held it
            other.execute("ROLLBACK")
            other.close()
        else:
            engine = create_engine(url)
            with engine.begin() as other:
                other.execute(text("SET LOCAL lock_timeout = '1s'"))
                locked = other.execute(
                    text("SELECT id FROM episode WHERE id = :id FOR UPDATE NOWAIT"),
                    {"id": course.id},
                )
                assert locked.scalar() == course.id
            engine.dispose()
        assert sum(1 for _line in lines) == 3  # the rest of the file still arrives
    finally:
        response.close()


# --- access --------------------------------------------------------------------------------

EXPORT_URLS = [
    "/staff/exports",
    "/staff/exports/entries.csv?start=2026-01-01&end=2026-01-31",
    "/staff/exports/alerts.csv?start=2026-01-01&end=2026-01-31",
    "/staff/episodes/{id}/entries.csv",
    "/staff/episodes/{id}/alerts.csv",
]


@pytest.mark.parametrize("url", EXPORT_URLS)
def test_anonymous_is_sent_to_login(client, enrolled, url):
    response = client.get(url.format(id=enrolled.episode.id))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("url", EXPORT_URLS)
def test_patient_token_does_not_open_exports(client, enrolled, url):
    response = client.get(url.format(id=enrolled.episode.id), headers=enrolled.headers)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("url", [u for u in EXPORT_URLS if "{id}" in u])
def test_other_clinics_staff_get_404(client, auth, enrolled, url):
    factories.gen_staff(factories.gen_clinic(), email="other@example.test")
    auth.login(email="other@example.test")
    response = client.get(url.format(id=enrolled.episode.id))
    assert response.status_code == 404


# --- cost ----------------------------------------------------------------------------------


def test_query_count_does_not_grow_with_entries(client, auth, clinic, nurse, now, count_queries):
    auth.login()
    start, end = (now - timedelta(days=40)).date(), (now + timedelta(days=1)).date()
    counts = {"clinic": [], "episode": []}
    for n in (2, 20):
        episode = factories.gen_episode(clinic, procedure_dt=now - timedelta(days=30)).episode
        for i in range(n):
            factories.gen_entry(episode, 3, 5 + i * 30, note=f"n{i}")
        urls = {
            "clinic": f"/staff/exports/entries.csv?start={start}&end={end}",
            "episode": f"/staff/episodes/{episode.id}/entries.csv",
        }
        for name, url in urls.items():
            with count_queries() as q:
                rows = read_csv(client.get(url))  # the body streams: read it inside the block
            assert len(rows) >= n
            counts[name].append(q.count)
    assert counts["clinic"][0] == counts["clinic"][1]
    assert counts["episode"][0] == counts["episode"][1]
    assert max(counts["clinic"] + counts["episode"]) <= 6


def test_episode_page_and_menu_link_to_the_downloads(client, auth, clinic, nurse, now):
    episode = factories.gen_episode(clinic).episode
    factories.gen_entry(episode, 4, 5)
    factories.gen_entry(episode, 3, 20)
    auth.login()
    page = client.get(f"/staff/episodes/{episode.id}").get_data(as_text=True)
    assert 'href="/staff/exports"' in page
    for kind in ("entries", "alerts"):
        href = f"/staff/episodes/{episode.id}/{kind}.csv"
        assert f'href="{href}"' in page
        assert client.get(href).status_code == 200
    assert len(read_csv(client.get(f"/staff/episodes/{episode.id}/entries.csv"))) == 2
