"""The nurse's worklist: alerts by urgency, every active episode with a status, live cursor."""

from datetime import timedelta

import pytest

from recovery.extensions import db
from recovery.models import Alert
from tests import factories


@pytest.fixture
def ward(clinic, nurse, now):
    """Four patients: red flag (urgent), high pain (high), overdue, and on track."""
    urgent = factories.gen_episode(
        clinic, name="Una Urgent", procedure_dt=now - timedelta(hours=30)
    )
    factories.gen_entry(urgent.episode, 3, 25, red_flags=["leg_weakness"])
    high = factories.gen_episode(clinic, name="Hal High", procedure_dt=now - timedelta(hours=30))
    factories.gen_entry(high.episode, 9, 24)
    overdue = factories.gen_episode(
        clinic, name="Otto Overdue", procedure_dt=now - timedelta(hours=80)
    )
    fine = factories.gen_episode(
        clinic, name="Fay Fine", procedure_dt=now - timedelta(hours=30), mrn="MRN-42"
    )
    for hours, pain in [(2, 6), (6, 4), (24, 3)]:
        factories.gen_entry(fine.episode, pain, hours)
    return {"urgent": urgent, "high": high, "overdue": overdue, "fine": fine}


def test_open_alerts_are_sorted_by_severity(client, auth, ward):
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    alerts = html.split('id="open-alerts"')[1].split("</table>")[0]
    assert alerts.index("Una Urgent") < alerts.index("Hal High")
    assert "9/10 (expected 3.3)" in alerts
    urgent_row = alerts.split("Una Urgent")[1].split("</tr>")[0]
    why = "<strong>Red flag</strong>: red flag at 25 h (3/10): new weakness in the legs"
    assert why in urgent_row
    assert "Fay Fine" not in alerts


def test_episode_statuses(client, auth, ward):
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    table = html.split('id="episodes"')[1]
    rows = {
        name: table.split(name)[1].split("</tr>")[0]
        for name in ["Una Urgent", "Hal High", "Otto Overdue", "Fay Fine"]
    }
    assert "status--alert" in rows["Una Urgent"] and "status--alert" in rows["Hal High"]
    assert "status--overdue" in rows["Otto Overdue"]
    assert "status--on_track" in rows["Fay Fine"]
    assert "−5" in rows["Fay Fine"]  # 3 now, 8 at baseline
    assert table.index("Una Urgent") < table.index("Otto Overdue") < table.index("Fay Fine")


@pytest.mark.parametrize(
    "query,shown,hidden",
    [
        ("status=overdue", ["Otto Overdue"], ["Fay Fine", "Hal High"]),
        ("status=on_track", ["Fay Fine"], ["Otto Overdue"]),
        ("q=fay", ["Fay Fine"], ["Otto Overdue"]),
        ("q=MRN-4", ["Fay Fine"], ["Hal High"]),
        ("q=%25", [], ["Fay Fine"]),
        ("indication=tumour", [], ["Fay Fine"]),
        ("status=bogus", ["Fay Fine", "Otto Overdue"], []),
        ("page=999999999999", [], ["Fay Fine"]),
    ],
)
def test_filters_and_search(client, auth, ward, query, shown, hidden):
    auth.login()
    response = client.get(f"/staff/?{query}")
    assert response.status_code == 200
    table = response.get_data(as_text=True).split('id="episodes-heading"')[1]
    for name in shown:
        assert name in table
    for name in hidden:
        assert name not in table


def test_pagination(client, auth, clinic, nurse):
    for i in range(55):
        factories.gen_episode(clinic, name=f"Person {i:02d}")
    auth.login()
    first = client.get("/staff/").get_data(as_text=True)
    assert "Page 1 of 2" in first and "55 patients" in first
    second = client.get("/staff/?page=2").get_data(as_text=True)
    assert second.count('href="/staff/episodes/') == 5


def test_changes_cursor_moves_on_new_entry(client, auth, ward):
    auth.login()
    cursor = client.get("/staff/changes").get_json()["cursor"]
    assert client.get(f"/staff/changes?cursor={cursor}").get_json()["changed"] is False
    factories.gen_entry(ward["fine"].episode, 2, 29)
    assert client.get(f"/staff/changes?cursor={cursor}").get_json()["changed"] is True


def test_worklist_query_count_does_not_grow(client, auth, clinic, nurse, now, count_queries):
    auth.login()

    def seed(n):
        for i in range(n):
            enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
            factories.gen_entry(enrolled.episode, 9 if i % 2 else 3, 24)

    seed(2)
    with count_queries() as few:
        assert client.get("/staff/").status_code == 200
    seed(25)
    with count_queries() as many:
        assert client.get("/staff/").status_code == 200
    assert few.count == many.count
    assert many.count <= 9  # user, clinic, 2 x alerts (count, rows), episodes (count, rows), cursor


def test_other_clinics_alerts_are_not_listed(client, auth, clinic, nurse, now):
    other = factories.gen_clinic()
    theirs = factories.gen_episode(other, name="Not Ours", procedure_dt=now - timedelta(hours=30))
    factories.gen_entry(theirs.episode, 10, 24, red_flags=["chest_pain"])
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    assert "Not Ours" not in html
    assert db.session.scalar(db.select(db.func.count()).select_from(Alert)) >= 1
