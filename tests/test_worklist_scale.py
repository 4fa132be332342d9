"""The worklist at scale: alert sections paged, a page's cost fixed whatever the clinic's size,
and on PostgreSQL every dashboard query served by an index."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from recovery.care.alerts import acknowledge_alert
from recovery.extensions import db
from recovery.staff.services import ALERT_PATIENTS_PER_PAGE
from tests import factories


def alerted(clinic, now, count: int, *, start: int = 0) -> list:
    """`count` patients with one open alert each (high pain at 24 h), named "Alerted NN"."""
    made = []
    for i in range(start, start + count):
        enrolled = factories.gen_episode(
            clinic, name=f"Alerted {i:02d}", procedure_dt=now - timedelta(hours=30)
        )
        factories.gen_entry(enrolled.episode, 9, 24)
        made.append(enrolled)
    return made


def section(html: str, element_id: str) -> str:
    """The HTML of the worklist section holding the element `element_id`, up to the next one."""
    return html.split(f'id="{element_id}"')[1].split("</section>")[0]


def patients_in(part: str) -> list[str]:
    return re.findall(r"Alerted \d\d", part)


def test_alert_sections_are_paged_most_pressing_first(client, auth, clinic, nurse, now):
    waiting_longer = alerted(clinic, now, ALERT_PATIENTS_PER_PAGE, start=10)
    alerted(clinic, now, 2, start=0)  # as severe, opened later: listed last
    auth.login()
    html = client.get("/staff/?q=Alerted").get_data(as_text=True)
    first = section(html, "open-alerts")
    assert len(set(patients_in(first))) == ALERT_PATIENTS_PER_PAGE
    assert "Alerted 00" not in first and "Alerted 01" not in first
    assert "Page 1 of 2" in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    # The link keeps the filter and the patients' page, and moves this section only.
    assert "q=Alerted" in next_url and "open_page=2" in next_url
    second = section(client.get(next_url).get_data(as_text=True), "open-alerts")
    assert sorted(set(patients_in(second))) == ["Alerted 00", "Alerted 01"]
    assert "Page 2 of 2" in second and 'rel="prev"' in second
    # A page past the end shows the last one, never an empty section.
    beyond = section(client.get("/staff/?open_page=99").get_data(as_text=True), "open-alerts")
    assert sorted(set(patients_in(beyond))) == ["Alerted 00", "Alerted 01"]
    # In progress is paged the same way, on its own argument.
    for enrolled in waiting_longer:
        for alert in enrolled.episode.alerts:
            acknowledge_alert(alert, nurse, action="called_patient")
    db.session.commit()
    html = client.get("/staff/?open_page=2").get_data(as_text=True)
    in_progress = section(html, "in-progress-alerts")
    assert len(set(patients_in(in_progress))) == ALERT_PATIENTS_PER_PAGE
    assert "Page" not in in_progress  # one page: no pager
    assert sorted(set(patients_in(section(html, "open-alerts")))) == [
        "Alerted 00",
        "Alerted 01",
    ]


def test_a_worklist_page_weighs_the_same_with_twice_the_patients_alerted(
    client, auth, clinic, nurse, now, count_queries
):
    auth.login()
    alerted(clinic, now, ALERT_PATIENTS_PER_PAGE + 1)
    with count_queries() as before:
        smaller = client.get("/staff/").get_data()
    alerted(clinic, now, ALERT_PATIENTS_PER_PAGE + 1, start=ALERT_PATIENTS_PER_PAGE + 1)
    with count_queries() as after:
        larger = client.get("/staff/").get_data()
    assert before.count == after.count
    sections = [section(page.decode(), "open-alerts") for page in (smaller, larger)]
    assert [len(set(patients_in(part))) for part in sections] == [ALERT_PATIENTS_PER_PAGE] * 2
    # As many rows, as long: only the pager's page count differs.
    assert abs(len(sections[1]) - len(sections[0])) < 0.01 * len(sections[0])


def test_an_other_clinics_alerts_count_nowhere_on_the_worklist(client, auth, clinic, nurse, now):
    other = factories.gen_clinic()
    alerted(other, now, 3)
    mine = alerted(clinic, now, 1, start=50)[0]
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    heading = re.search(r'"alerts-heading">(\d+) open alerts? <span class="muted">\((\d+) ', html)
    assert heading.groups() == (str(len(mine.episode.alerts)), "1")
    assert set(patients_in(section(html, "open-alerts"))) == {"Alerted 50"}
    assert mine.episode.open_alerts == len(mine.episode.alerts) > 0


@pytest.fixture
def admin(clinic):
    return factories.gen_staff(clinic, "admin@example.test", role="admin")


def test_every_dashboard_query_is_served_by_an_index_on_postgresql(
    app, client, auth, clinic, nurse, admin, now
):
    """With sequential scans priced out (enable_seqscan off), PostgreSQL still plans every
    statement of the dashboard's pages without one: an index serves each, so their cost
    follows what they return, not the size of the tables."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("query plans are PostgreSQL's (set TEST_DATABASE_URL)")
    other = factories.gen_clinic()
    alerted(other, now, 2)
    episodes = alerted(clinic, now, 3)
    acknowledge_alert(episodes[0].episode.alerts[0], nurse, action="called_patient")
    db.session.commit()
    episode_id = episodes[1].episode.id
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    urls = [
        "/staff/",
        "/staff/?status=overdue&indication=osteoporosis",
        "/staff/?q=Alerted&page=2&open_page=2&progress_page=2",
        "/staff/changes?cursor=x",
        f"/staff/episodes/{episode_id}",
        "/staff/cohort",
    ]
    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        auth.login()
        for url in urls:
            assert client.get(url).status_code == 200, url
        auth.logout()
        auth.login(admin.email)
        assert client.get("/staff/audit").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    assert len(statements) > 20
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET enable_seqscan = off")
        scans = {}
        for statement, parameters in statements:
            cursor.execute("EXPLAIN " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            if "Seq Scan" in plan:
                scans[" ".join(statement.split())[:200]] = plan
        raw.rollback()
    finally:
        raw.close()
    assert scans == {}
