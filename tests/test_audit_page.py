"""The audit page (/staff/audit): administrators of a clinic read who did what and who viewed
which patient's record, filtered, paged and as CSV; views of an episode are audited."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from recovery.care.accounts import issue_api_token
from recovery.care.models import MAX_ID, AuditEvent
from recovery.extensions import db
from recovery.interop.audit_export import AUDIT_COLUMNS
from tests import factories
from tests.test_concurrency import signed_in_client


@pytest.fixture
def admin(clinic):
    """An administrator of `clinic`."""
    return factories.gen_staff(clinic, email="admin@example.test", role="admin")


@pytest.fixture
def nurse_b(clinic):
    """A second nurse of `clinic`."""
    return factories.gen_staff(clinic, email="nurse.b@example.test")


@pytest.fixture
def patients(clinic, now):
    """Two patients of `clinic`: X (MRN X-1) and Y (MRN Y-2)."""
    x = factories.gen_episode(
        clinic, name="Xavier Xu", mrn="X-1", procedure_dt=now - timedelta(hours=30)
    )
    y = factories.gen_episode(
        clinic, name="Yolanda Ye", mrn="Y-2", procedure_dt=now - timedelta(hours=30)
    )
    return x.episode, y.episode


def audit_rows(html: str) -> list[dict[str, str]]:
    """The audit table's rows: data-action and the cells' text by their label."""
    rows = []
    for match in re.finditer(
        r'<tr data-event-id="\d+" data-action="([a-z_]+)">(.*?)</tr>', html, re.S
    ):
        cells = dict(re.findall(r'<td data-label="([^"]+)">(.*?)</td>', match.group(2), re.S))
        text = {k: re.sub(r"<[^>]+>", "", v).strip() for k, v in cells.items()}
        rows.append({"action": match.group(1), **text})
    return rows


def views_of(episode_id: int) -> list[AuditEvent]:
    db.session.rollback()
    return db.session.scalars(
        db.select(AuditEvent).filter_by(episode_id=episode_id, action="episode_viewed")
    ).all()


def test_the_audit_page_shows_that_a_nurse_viewed_a_patients_record(
    app, client, clinic, admin, nurse_b, patients
):
    x, y = patients
    nurse_client = signed_in_client(app, nurse_b.email)
    assert nurse_client.get(f"/staff/episodes/{x.id}").status_code == 200
    assert nurse_client.get(f"/staff/episodes/{y.id}").status_code == 200
    [view] = views_of(x.id)
    assert (view.staff_id, view.detail) == (nurse_b.id, "episode page")

    admin_client = signed_in_client(app, admin.email)
    page = admin_client.get("/staff/audit", query_string={"patient": "Xavier"})
    assert page.status_code == 200
    rows = audit_rows(page.get_data(as_text=True))
    viewed = [r for r in rows if r["action"] == "episode_viewed"]
    assert len(viewed) == 1
    assert viewed[0]["Who"] == nurse_b.email and viewed[0]["What"] == "viewed the record"
    assert viewed[0]["Patient"].startswith("Xavier Xu")
    # Only patient X's events: the enrolment and the view, not Y's.
    assert all(r["Patient"].startswith("Xavier Xu") for r in rows)
    assert {r["action"] for r in rows} == {"enrolled", "episode_viewed"}
    # The view is not on the episode's timeline: it shows changes.
    timeline = admin_client.get(f"/staff/episodes/{x.id}").get_data(as_text=True)
    assert "viewed the record" not in timeline.split('id="timeline-heading"')[1]


def test_each_filter_narrows_the_events(app, client, clinic, admin, nurse, nurse_b, patients):
    x, y = patients
    first = signed_in_client(app, nurse.email)
    second = signed_in_client(app, nurse_b.email)
    first.get(f"/staff/episodes/{x.id}")
    second.get(f"/staff/episodes/{y.id}")
    second.get(f"/staff/episodes/{x.id}")
    admin_client = signed_in_client(app, admin.email)

    def actions(**filters) -> list[tuple[str, str, str]]:
        response = admin_client.get("/staff/audit", query_string=filters)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [
            (r["action"], r["Who"], r["Patient"].split(" (")[0])
            for r in audit_rows(response.get_data(as_text=True))
        ]

    everything = actions()
    assert ("episode_viewed", nurse.email, "Xavier Xu") in everything
    assert ("signed_in", admin.email, "—") in everything
    assert actions(episode=str(y.id), action="episode_viewed") == [
        ("episode_viewed", nurse_b.email, "Yolanda Ye")
    ]
    assert actions(patient="x-1", action="episode_viewed") == [  # the MRN, any case
        ("episode_viewed", nurse_b.email, "Xavier Xu"),
        ("episode_viewed", nurse.email, "Xavier Xu"),
    ]
    assert actions(staff=str(nurse.id)) == [
        ("episode_viewed", nurse.email, "Xavier Xu"),
        ("signed_in", nurse.email, "—"),
    ]
    assert {a for a, _who, _patient in actions(action="signed_in")} == {"signed_in"}
    assert len(actions(action="signed_in")) == 3
    # Days in the clinic's time zone: today holds them all, yesterday none.
    today = datetime.now(UTC).date()
    assert len(actions(start=today.isoformat(), end=today.isoformat())) == len(everything)
    yesterday = (today - timedelta(days=1)).isoformat()
    assert actions(start=yesterday, end=yesterday) == []
    # A wildcard in the search is a plain character.
    assert actions(patient="%") == []


def test_dates_are_the_clinics_days(app, client, admin, patients):
    clinic = admin.clinic
    clinic.timezone = "Australia/Sydney"  # UTC+11 in December
    db.session.commit()
    x, _y = patients
    nurse = factories.gen_staff(clinic, email="late@example.test")
    # 20:00 UTC on 1 December is 07:00 on 2 December in Sydney.
    with time_machine.travel(datetime(2026, 12, 1, 20, 0, tzinfo=UTC), tick=False):
        signed_in_client(app, nurse.email).get(f"/staff/episodes/{x.id}")
    admin_client = signed_in_client(app, admin.email)
    query = {"action": "episode_viewed"}
    first = admin_client.get("/staff/audit", query_string={**query, "start": "2026-12-02"})
    assert len(audit_rows(first.get_data(as_text=True))) == 1
    before = admin_client.get("/staff/audit", query_string={**query, "end": "2026-12-01"})
    assert audit_rows(before.get_data(as_text=True)) == []


def test_another_clinics_events_never_appear(app, client, clinic, admin, patients):
    other = factories.gen_clinic(name="Other")
    other_nurse = factories.gen_staff(other, email="other@example.test")
    other_episode = factories.gen_episode(other, name="Olga Other").episode
    signed_in_client(app, other_nurse.email).get(f"/staff/episodes/{other_episode.id}")
    admin_client = signed_in_client(app, admin.email)
    html = admin_client.get("/staff/audit").get_data(as_text=True)
    assert "Olga Other" not in html and other_nurse.email not in html
    # Filtering by the other clinic's episode or staff member finds nothing, or is refused.
    by_episode = admin_client.get("/staff/audit", query_string={"episode": other_episode.id})
    assert audit_rows(by_episode.get_data(as_text=True)) == []
    assert (
        admin_client.get("/staff/audit", query_string={"staff": other_nurse.id}).status_code == 400
    )
    body = admin_client.get("/staff/audit.csv").get_data(as_text=True)
    assert "Olga Other" not in body and other_nurse.email not in body


def test_nurses_are_refused_and_anonymous_visitors_sent_to_sign_in(client, auth, nurse):
    for url in ("/staff/audit", "/staff/audit.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    auth.login()
    assert client.get("/staff/audit").status_code == 403
    assert client.get("/staff/audit.csv").status_code == 403
    assert "/staff/audit" not in client.get("/staff/").get_data(as_text=True)
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="audit_exported")) is None


def test_administrators_reach_it_from_the_navigation(client, auth, admin):
    auth.login(admin.email)
    assert 'href="/staff/audit"' in client.get("/staff/").get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        {"episode": "abc"},
        {"episode": "0"},
        {"episode": str(MAX_ID + 1)},
        {"episode": "9" * 40},
        {"staff": "abc"},
        {"staff": "999999"},
        {"action": "dropped_tables"},
        {"start": "2026-13-01"},
        {"start": "1999-12-31"},
        {"start": "2026-12-02", "end": "2026-12-01"},
        {"patient": "a\x00b"},
        {"patient": "p" * 201},
    ],
)
def test_bad_filters_are_a_clear_400(client, auth, admin, query):
    auth.login(admin.email)
    for url in ("/staff/audit", "/staff/audit.csv"):
        response = client.get(url, query_string=query)
        assert response.status_code == 400
        assert "Please check the form" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="audit_exported")) is None


def test_the_page_is_paged_newest_first(app, client, auth, admin, patients):
    x, _y = patients
    auth.login(admin.email)
    for _ in range(55):
        client.get(f"/staff/episodes/{x.id}")
    first = client.get("/staff/audit", query_string={"action": "episode_viewed"})
    html = first.get_data(as_text=True)
    assert "55 events" in html and "Page 1 of 2" in html
    ids = [int(i) for i in re.findall(r'<tr data-event-id="(\d+)"', html)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    second = client.get(
        "/staff/audit", query_string={"action": "episode_viewed", "page": "2"}
    ).get_data(as_text=True)
    rest = [int(i) for i in re.findall(r'<tr data-event-id="(\d+)"', second)]
    assert len(rest) == 5 and max(rest) < min(ids)


def test_the_page_costs_the_same_statements_for_any_number_of_events(
    app, client, auth, admin, patients, count_queries
):
    x, _y = patients
    auth.login(admin.email)
    with count_queries() as few:
        assert client.get("/staff/audit").status_code == 200
    for _ in range(20):
        client.get(f"/staff/episodes/{x.id}")
    with count_queries() as many:
        assert client.get("/staff/audit").status_code == 200
    assert many.count == few.count, many.statements


def test_csv_export_holds_the_filtered_events_guarded_and_is_audited(
    app, client, clinic, admin, nurse_b, now
):
    formula = factories.gen_episode(clinic, name="=HYPERLINK(1)", mrn="@SUM(A1)").episode
    signed_in_client(app, nurse_b.email).get(f"/staff/episodes/{formula.id}")
    admin_client = signed_in_client(app, admin.email)
    response = admin_client.get(
        "/staff/audit.csv", query_string={"action": "episode_viewed", "staff": str(nurse_b.id)}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment;" in response.headers["Content-Disposition"]
    reader = csv.DictReader(io.StringIO(response.get_data(as_text=True), newline=""))
    rows = list(reader)
    assert tuple(reader.fieldnames) == AUDIT_COLUMNS
    assert len(rows) == 1
    [row] = rows
    assert row["action"] == "episode_viewed" and row["staff_name"] == nurse_b.email
    assert (row["patient_name"], row["mrn"]) == ("'=HYPERLINK(1)", "'@SUM(A1)")
    assert row["episode_id"] == str(formula.id) and row["detail"] == "episode page"
    assert row["at_utc"].endswith("Z")
    db.session.rollback()
    [exported] = db.session.scalars(db.select(AuditEvent).filter_by(action="audit_exported"))
    assert exported.staff_id == admin.id
    assert (
        f"staff_id={nurse_b.id}" in exported.detail and "action=episode_viewed" in exported.detail
    )
    # The export is on the page itself, in the administrator's name.
    rows = audit_rows(admin_client.get("/staff/audit").get_data(as_text=True))
    assert rows[0]["action"] == "audit_exported" and rows[0]["Who"] == admin.email


def test_every_staff_view_of_an_episode_is_audited_once(app, client, auth, nurse, patients):
    x, _y = patients
    token = issue_api_token(nurse)
    factories.gen_entry(x, 3, 29, red_flags=["fever"])
    db.session.commit()
    auth.login()
    headers = {"Authorization": f"Bearer {token}"}
    alert_id = x.alerts[0].id
    client.get(f"/staff/episodes/{x.id}")
    client.get(f"/staff/episodes/{x.id}/entries.csv")
    client.get(f"/api/v1/episodes/{x.id}/fhir", headers=headers)
    client.get(f"/api/v1/episodes/{x.id}/alerts.csv", headers=headers)
    client.get(f"/api/v1/alerts/{alert_id}", headers=headers)
    db.session.rollback()
    events = db.session.scalars(
        db.select(AuditEvent).filter_by(episode_id=x.id, staff_id=nurse.id).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.detail) for e in events] == [
        ("episode_viewed", "episode page"),
        ("exported_entries_csv", ""),
        ("exported_fhir", ""),
        ("exported_alerts_csv", ""),
        ("episode_viewed", f"API: alert {alert_id}"),
    ]
    # Another clinic's episode is a 404 and leaves no trace.
    other = factories.gen_episode(factories.gen_clinic(), name="Elsewhere").episode
    assert client.get(f"/staff/episodes/{other.id}").status_code == 404
    assert views_of(other.id) == []


def test_spanish_audit_page(client, auth, admin, patients):
    auth.login(admin.email)
    html = client.get("/staff/audit", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Registro de auditoría" in html and "Cualquier acción" in html


def test_changes_from_the_command_line_are_audited_too(runner, clinic):
    """Accounts, tokens and settings changed from the command line are in the audit trail,
    as the team and settings pages' changes are, by the system."""
    result = runner.invoke(
        args=[
            "recovery",
            "create-staff",
            "--clinic",
            clinic.slug,
            "--email",
            "cli@example.test",
            "--password-stdin",
            "--api-token",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=["recovery", "settings", "--clinic", clinic.slug, "--emergency-number", "999"]
    )
    assert result.exit_code == 0, result.output
    runner.invoke(args=["recovery", "settings", "--clinic", clinic.slug])  # only shows them
    db.session.rollback()
    events = db.session.scalars(
        db.select(AuditEvent).filter_by(clinic_id=clinic.id).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.actor, e.detail) for e in events] == [
        ("staff_added", "system", "cli@example.test (command line)"),
        ("api_token_issued", "system", "cli@example.test (command line)"),
        ("settings_changed", "system", "command line"),
    ]
