"""The episode page and the alert workflow, driven through the Flask client."""

import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from recovery.care.episodes import EntryError, close_episode, issue_link
from recovery.care.models import Alert, AuditEvent, Episode, PainEntry
from recovery.extensions import db
from tests import factories


@pytest.fixture
def flagged(clinic, now):
    """An episode 30 h in with a high score at 24 h: above_expected (high) and no_improvement."""
    enrolled = factories.gen_episode(
        clinic, name="Hal High", procedure_dt=now - timedelta(hours=30)
    )
    factories.gen_entry(enrolled.episode, 9, 24)
    return enrolled


def alert_of(episode, rule) -> Alert:
    return db.session.scalar(db.select(Alert).filter_by(episode_id=episode.id, rule=rule))


def test_episode_page_shows_chart_entries_alerts_and_timeline(client, auth, nurse, flagged):
    auth.login()
    html = client.get(f"/staff/episodes/{flagged.episode.id}").get_data(as_text=True)
    figure = json.loads(
        re.search(
            r'<script type="application/json" id="episode-chart-data">(.*?)</script>', html, re.S
        ).group(1)
    )
    uids = {trace["uid"] for trace in figure["data"]}
    assert {"observed", "expected", "band", "red_line", "alerts"} <= uids
    observed = next(t for t in figure["data"] if t["uid"] == "observed")
    assert observed["y"] == [9]
    assert "9/10" in html and "Above expected" in html and "No improvement" in html
    assert "Patient</strong> recorded an entry" in html
    assert "System</strong> alert opened" in html
    assert "System</strong> enrolled the patient" in html  # enrolled from the command line
    assert "vendor/plotly-basic" in html


def test_acknowledge_then_resolve(client, auth, nurse, flagged):
    auth.login()
    alert = alert_of(flagged.episode, "above_expected")
    response = client.post(
        f"/staff/alerts/{alert.id}/acknowledge",
        data={"action": "called_patient", "note": "advised analgesia"},
    )
    assert response.status_code == 302
    db.session.refresh(alert)
    assert (alert.status, alert.acknowledged_by_id) == ("acknowledged", nurse.id)
    [acknowledged] = [e for e in alert.events if e.kind == "acknowledged"]
    assert (acknowledged.action, acknowledged.note, acknowledged.staff_id) == (
        "called_patient",
        "advised analgesia",
        nurse.id,
    )
    worklist = client.get("/staff/").get_data(as_text=True)
    # No longer waiting: it stays in the patient's row (their other alert is open), shown as
    # acknowledged with what was done, and no longer offered to acknowledge.
    assert f'class="row-alert row-alert--open" data-alert-id="{alert.id}"' not in worklist
    assert f'class="row-alert row-alert--acknowledged" data-alert-id="{alert.id}"' in worklist
    assert f"#alert-{alert.id}" not in worklist
    assert "advised analgesia" in worklist
    client.post(f"/staff/alerts/{alert.id}/resolve", data={"note": "settled"})
    db.session.refresh(alert)
    assert alert.status == "resolved" and alert.resolved_by_id == nurse.id
    actions = db.session.scalars(
        db.select(AuditEvent.action).filter_by(episode_id=flagged.episode.id)
    ).all()
    assert "alert_acknowledged" in actions and "alert_resolved" in actions


def test_bad_workflow_requests_are_refused_without_change(client, auth, nurse, flagged):
    auth.login()
    alert = alert_of(flagged.episode, "above_expected")
    client.post(f"/staff/alerts/{alert.id}/acknowledge", data={"action": "bogus"})
    client.post(
        f"/staff/alerts/{alert.id}/acknowledge", data={"action": "other", "note": "x" * 1001}
    )
    db.session.refresh(alert)
    assert alert.status == "open"
    assert [e.kind for e in alert.events] == ["opened"]
    client.post(f"/staff/alerts/{alert.id}/resolve", data={})
    page = client.post(
        f"/staff/alerts/{alert.id}/acknowledge", data={"action": "other"}, follow_redirects=True
    )
    assert b"this alert is already resolved" in page.data
    assert client.post("/staff/alerts/999999/resolve").status_code == 404


def test_worse_finding_reopens_an_acknowledged_alert(client, auth, nurse, flagged):
    auth.login()
    alert = alert_of(flagged.episode, "no_improvement")
    assert alert.severity == "moderate"
    client.post(f"/staff/alerts/{alert.id}/acknowledge", data={"action": "called_patient"})
    factories.gen_entry(flagged.episode, 8, 29.5)  # still < 48 h: same severity, stays acked
    db.session.refresh(alert)
    assert alert.status == "acknowledged"
    flagged.episode.procedure_dt -= timedelta(hours=30)
    db.session.commit()
    factories.gen_entry(flagged.episode, 8, 55)  # from 48 h no_improvement is high
    db.session.refresh(alert)
    assert (alert.status, alert.severity) == ("open", "high")
    assert "8/10 at 55 h" in alert.reason
    assert (
        db.session.scalar(
            db.select(db.func.count()).select_from(Alert).filter_by(rule="no_improvement")
        )
        == 1
    )


def test_a_new_finding_after_resolution_opens_a_new_alert(client, auth, nurse, flagged):
    auth.login()
    alert = alert_of(flagged.episode, "above_expected")
    client.post(f"/staff/alerts/{alert.id}/resolve", data={"note": "reviewed"})
    factories.gen_entry(flagged.episode, 9, 29)
    alerts = db.session.scalars(db.select(Alert).filter_by(rule="above_expected")).all()
    assert sorted(a.status for a in alerts) == ["open", "resolved"]


def test_staff_records_an_entry_on_the_patients_behalf(client, auth, nurse, flagged, clinic, now):
    auth.login()
    local = now.astimezone(__import__("zoneinfo").ZoneInfo(clinic.timezone))
    data = {
        "pain": "4",
        "recorded_date": local.date().isoformat(),
        "recorded_time": local.strftime("%H:%M"),
        "note": "by phone",
        "idempotency_key": "s1",
    }
    response = client.post(f"/staff/episodes/{flagged.episode.id}/entries", data=data)
    assert response.status_code == 302
    client.post(f"/staff/episodes/{flagged.episode.id}/entries", data=data)  # a double click
    staff_entries = db.session.scalars(db.select(PainEntry).filter_by(source="staff")).all()
    assert len(staff_entries) == 1 and staff_entries[0].recorded_by_id == nurse.id
    page = client.get(f"/staff/episodes/{flagged.episode.id}").get_data(as_text=True)
    assert "staff (nurse@example.test)" in page


@pytest.mark.parametrize(
    "overrides",
    [
        {"pain": ""},
        {"pain": "12"},
        {"recorded_date": "2999-01-01"},
        {"recorded_date": "2001-01-01"},
        {"recorded_time": "25:00"},
        {"red_flags": "bogus"},
    ],
)
def test_bad_staff_entries_get_errors_and_store_nothing(
    client, auth, nurse, flagged, now, overrides
):
    auth.login()
    data = {
        "pain": "4",
        "recorded_date": now.date().isoformat(),
        "recorded_time": "00:00",
        "idempotency_key": "s2",
        "note": "keep this note",
        **overrides,
    }
    response = client.post(f"/staff/episodes/{flagged.episode.id}/entries", data=data)
    assert response.status_code == 400
    assert b"Please check the form" in response.data and b"keep this note" in response.data
    assert (
        db.session.scalar(
            db.select(db.func.count()).select_from(PainEntry).filter_by(source="staff")
        )
        == 0
    )


def test_close_episode(client, auth, nurse, flagged):
    auth.login()
    client.post(f"/staff/episodes/{flagged.episode.id}/close")
    episode = db.session.get(Episode, flagged.episode.id)
    assert episode.status == "closed" and episode.token_hash is None
    assert "Hal High" not in client.get("/staff/").get_data(as_text=True)
    assert client.get(f"/p/{flagged.token}").status_code == 404
    page = client.get(f"/staff/episodes/{flagged.episode.id}").get_data(as_text=True)
    assert "Record entry" not in page


def test_late_entry_is_judged_at_its_own_time(clinic, now):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=100))
    factories.gen_entry(enrolled.episode, 2, 50)
    # Sent late from a phone that was offline: recorded at 30 h, after the 50 h entry arrived.
    result = factories.gen_entry(enrolled.episode, 7, 30)
    reasons = [f.reason for f in result.assessment.findings]
    assert any("at 30 h" in r for r in reasons)
    assert not any(f.rule == "rebound" for f in result.assessment.findings)
    db.session.refresh(enrolled.episode)
    assert enrolled.episode.last_pain == 2  # the latest by recorded time is still the 50 h one


def test_episode_page_query_count_does_not_grow(client, auth, nurse, clinic, now, count_queries):
    auth.login()
    few = factories.gen_episode(clinic, procedure_dt=now - timedelta(days=60))
    many = factories.gen_episode(clinic, procedure_dt=now - timedelta(days=60))
    for hours in (2, 24):
        factories.gen_entry(few.episode, 7, hours)
    for index in range(30):
        factories.gen_entry(many.episode, 3 + index % 6, 2 + index * 40)
    with count_queries() as q_few:
        assert client.get(f"/staff/episodes/{few.episode.id}").status_code == 200
    with count_queries() as q_many:
        assert client.get(f"/staff/episodes/{many.episode.id}").status_code == 200
    assert q_few.count == q_many.count


def alert_cards_in_page_order(client, episode) -> list[str]:
    """The rules of the episode page's alert cards, top to bottom."""
    html = client.get(f"/staff/episodes/{episode.id}").get_data(as_text=True)
    ids = re.findall(r'<article class="card alert-card[^"]*" id="alert-(\d+)"', html)
    return [db.session.get(Alert, int(alert_id)).rule for alert_id in ids]


@pytest.fixture
def three_severities(clinic, now):
    """Alerts raised least severe first: above_expected, red_flag, then no_improvement.

    above_expected opens as moderate at 6 h and becomes high at 24 h, when no_improvement
    (moderate) opens; the urgent red flag came in between.
    """
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=60))
    factories.gen_entry(enrolled.episode, 7, 6)
    factories.gen_entry(enrolled.episode, 4, 20, red_flags=["fever"])
    factories.gen_entry(enrolled.episode, 7, 24)
    severities = {a.rule: a.severity for a in enrolled.episode.alerts}
    assert severities == {
        "above_expected": "high",
        "red_flag": "urgent",
        "no_improvement": "moderate",
    }
    return enrolled


def test_episode_page_lists_alerts_most_severe_first(client, auth, nurse, three_severities):
    auth.login()
    order = alert_cards_in_page_order(client, three_severities.episode)
    assert order == ["red_flag", "above_expected", "no_improvement"]


def test_episode_page_lists_equally_severe_alerts_oldest_first_and_resolved_ones_last(
    client, auth, nurse, three_severities
):
    auth.login()
    episode = three_severities.episode
    factories.gen_entry(episode, 8, 55)  # no_improvement becomes high, a high rebound opens
    highs = sorted(a.rule for a in episode.alerts if a.severity == "high")
    assert highs == ["above_expected", "no_improvement", "rebound"]
    red_flag = alert_of(episode, "red_flag")
    assert client.post(f"/staff/alerts/{red_flag.id}/resolve", data={}).status_code == 302
    order = alert_cards_in_page_order(client, episode)
    assert order == ["above_expected", "no_improvement", "rebound", "red_flag"]


CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def test_staff_entry_form_carries_its_csrf_token(app, client, nurse, flagged, now, clinic):
    app.config["WTF_CSRF_ENABLED"] = True
    token = CSRF_FIELD.search(client.get("/login").get_data(as_text=True)).group(1)
    credentials = {"email": nurse.email, "password": factories.PASSWORD, "csrf_token": token}
    assert client.post("/login", data=credentials).status_code == 302
    url = f"/staff/episodes/{flagged.episode.id}/entries"
    html = client.get(f"/staff/episodes/{flagged.episode.id}").get_data(as_text=True)
    entry_form = html.split(f'action="{url}"')[1].split("</form>")[0]
    token = CSRF_FIELD.search(entry_form)
    assert token, "the form to record a score has no CSRF token"
    local = now.astimezone(ZoneInfo(clinic.timezone))
    data = {
        "csrf_token": token.group(1),
        "pain": "4",
        "recorded_date": local.date().isoformat(),
        "recorded_time": local.strftime("%H:%M"),
        "idempotency_key": "s-csrf",
    }
    assert client.post(url, data=data).status_code == 302
    assert db.session.scalars(db.select(PainEntry.pain).filter_by(source="staff")).all() == [4]


def test_closing_twice_keeps_the_first_closing_and_says_so(client, auth, nurse, flagged):
    auth.login()
    client.post(f"/staff/episodes/{flagged.episode.id}/close")
    closed_dt = db.session.get(Episode, flagged.episode.id).closed_dt
    again = client.post(f"/staff/episodes/{flagged.episode.id}/close", follow_redirects=True)
    assert "already closed" in again.get_data(as_text=True)
    assert db.session.get(Episode, flagged.episode.id).closed_dt == closed_dt
    closings = db.session.scalars(
        db.select(AuditEvent).filter_by(episode_id=flagged.episode.id, action="closed")
    ).all()
    assert len(closings) == 1


def test_a_closed_episode_takes_no_new_link_whoever_asks(app, nurse, flagged):
    close_episode(flagged.episode, staff=nurse)
    with pytest.raises(EntryError) as refused:
        issue_link(flagged.episode, staff=nurse)
    assert refused.value.code == "closed"
    assert flagged.episode.token_hash is None
