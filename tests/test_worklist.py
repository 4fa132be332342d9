"""The nurse's worklist: alerts by urgency, every active episode with a status, live cursor."""

import re
from datetime import timedelta

import pytest

from recovery.care.alerts import acknowledge_alert
from recovery.care.models import Alert
from recovery.extensions import db
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
        ("page=999999999999", ["Fay Fine"], []),  # past the end: the last page
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
            enrolled = factories.gen_episode(
                clinic, procedure_dt=now - timedelta(hours=30), phone="+44 20 7946 0000"
            )
            factories.gen_entry(enrolled.episode, 9 if i % 2 else 3, 24)
            if i % 3 == 0:  # some patients in progress, some with one alert of two acknowledged
                for alert in enrolled.episode.alerts[: 1 + i % 2]:
                    acknowledge_alert(alert, nurse, action="called_patient", note=f"call {i}")
                db.session.commit()

    seed(2)
    with count_queries() as few:
        assert client.get("/staff/").status_code == 200
    seed(25)
    with count_queries() as many:
        assert client.get("/staff/").status_code == 200
    assert few.count == many.count
    # user, clinic, 2 x patients with alerts (count, rows), episodes (count, rows), cursor
    assert many.count <= 9
    assert 'id="in-progress-alerts"' in client.get("/staff/").get_data(as_text=True)


def test_other_clinics_alerts_are_not_listed(client, auth, clinic, nurse, now):
    other = factories.gen_clinic()
    theirs = factories.gen_episode(other, name="Not Ours", procedure_dt=now - timedelta(hours=30))
    factories.gen_entry(theirs.episode, 10, 24, red_flags=["chest_pain"])
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    assert "Not Ours" not in html
    assert db.session.scalar(db.select(db.func.count()).select_from(Alert)) >= 1


# --- one row per patient, and how to reach them --------------------------------------------


def alert_ids(episode, status=None) -> dict[str, int]:
    """The episode's unresolved alerts by rule: {rule: id}."""
    query = db.select(Alert.rule, Alert.id).where(
        Alert.episode_id == episode.id, Alert.status != "resolved"
    )
    return dict(db.session.execute(query).all())


def patient_rows(html: str) -> dict[int, str]:
    """The open-alert table's rows by episode id, in page order."""
    table = html.split('id="open-alerts"')[1].split("</table>")[0]
    rows = re.findall(r'<tr class="alert-row[^"]*" data-episode-id="(\d+)">(.*?)</tr>', table, re.S)
    return {int(episode_id): row for episode_id, row in rows}


def test_a_patients_alerts_share_one_row_most_severe_first(client, auth, ward):
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    rows = patient_rows(html)
    high = ward["high"].episode
    ids = alert_ids(high)
    assert set(ids) == {"above_expected", "no_improvement"}
    row = rows[high.id]
    items = re.findall(r'data-alert-id="(\d+)">\s*<span class="badge badge--(\w+)">', row)
    assert items == [(str(ids["above_expected"]), "high"), (str(ids["no_improvement"]), "moderate")]
    assert html.count(f'data-episode-id="{high.id}"') == 1  # one row, in one section
    assert "<strong>Above expected</strong>" in row and "<strong>No improvement</strong>" in row
    assert '<span class="badge badge--high">High</span>' in row
    # Each alert keeps its own link to acknowledge it on the patient's page.
    for alert_id in ids.values():
        assert f'href="/staff/episodes/{high.id}#alert-{alert_id}"' in row
    assert list(rows) == [ward["urgent"].episode.id, high.id]
    assert "2 open alerts" not in html and "3 open alerts" in html and "(2 patients)" in html


def test_patients_are_ordered_by_their_most_pressing_open_alert(client, auth, clinic, nurse, now):
    def flagged(name, pain, **flags):
        enrolled = factories.gen_episode(clinic, name=name, procedure_dt=now - timedelta(hours=30))
        factories.gen_entry(enrolled.episode, pain, 24, **flags)
        return enrolled.episode

    first_urgent = flagged("Una Urgent", 3, red_flags=["leg_weakness"])
    handled_high = flagged("Mo Moderate", 9)  # high and moderate; the high one acknowledged
    high = flagged("Hal High", 9)
    second_urgent = flagged("Ulla Urgent", 3, red_flags=["numbness"])
    all_handled = flagged("Ack Annie", 9)
    acknowledge_alert(
        db.session.get(Alert, alert_ids(handled_high)["above_expected"]), nurse, action="other"
    )
    for alert_id in alert_ids(all_handled).values():
        acknowledge_alert(db.session.get(Alert, alert_id), nurse, action="called_patient")
    db.session.commit()

    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    rows = patient_rows(html)
    # Most severe open alert first, then the longest waiting; an acknowledged alert does not
    # place a row (someone is on it), but it is shown in the patient's row.
    assert list(rows) == [first_urgent.id, second_urgent.id, high.id, handled_high.id]
    assert (
        'class="alert-row alert-row--moderate"'
        in html.split(f'data-episode-id="{handled_high.id}"')[0].rsplit("<tr", 1)[1]
    )
    mo = rows[handled_high.id]
    assert mo.index("row-alert--acknowledged") < mo.index("row-alert--open")  # high first
    assert "acknowledged by nurse@example.test (Other (see note))" in mo
    # A patient whose alerts are all acknowledged is in progress, once.
    live = html.split('id="live-alerts"')[1].split('id="episodes-heading"')[0]
    for episode in (first_urgent, handled_high, high, second_urgent, all_handled):
        assert live.count(f'data-episode-id="{episode.id}"') == 1
    progress = html.split('id="in-progress-alerts"')[1].split("</section>")[0]
    assert "Ack Annie" in progress and "Mo Moderate" not in progress
    assert "2 alerts in progress" in html and "(1 patient)" in html


def test_the_phone_is_a_tap_to_call_link(client, auth, clinic, nurse, now):
    enrolled = factories.gen_episode(
        clinic, name="Ann Smith", procedure_dt=now - timedelta(hours=30), phone="+44 7700 900123"
    )
    factories.gen_entry(enrolled.episode, 3, 24, red_flags=["fever"])
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    link = (
        '<a class="call-link" href="tel:+447700900123" aria-label="Call Ann Smith on '
        '+44 7700 900123">+44 7700 900123</a>'
    )
    assert link in patient_rows(html)[enrolled.episode.id]
    assert link in html.split('id="episodes"')[1]  # and in the list of every patient
    assert "No reminder channel" not in html


def test_a_patient_nobody_can_remind_is_shown(client, auth, clinic, nurse, now):
    unreachable = factories.gen_episode(
        clinic, name="Nell None", procedure_dt=now - timedelta(hours=30), no_phone_reason="no phone"
    )
    factories.gen_entry(unreachable.episode, 3, 24, red_flags=["fever"])
    factories.gen_episode(clinic, name="Eve Email", email="eve@example.test")
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    row = patient_rows(html)[unreachable.episode.id]
    assert "No phone: no phone" in row and "tel:" not in row
    assert '<span class="no-channel">No reminder channel</span>' in row
    patients = html.split('id="episodes"')[1]
    nell = patients.split("Nell None")[1].split("</tr>")[0]
    eve = patients.split("Eve Email")[1].split("</tr>")[0]
    assert "No reminder channel" in nell
    assert "No reminder channel" not in eve and "No phone number" in eve
