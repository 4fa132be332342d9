"""A nurse records an attempt to reach the patient about an alert: reached, no answer, left a
message. It is a line of the alert's history, of the timeline and of GET /api/v1/alerts/<id>;
reaching the patient about an open alert acknowledges it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from jsonschema import Draft202012Validator

from recovery.api.openapi import openapi_document
from recovery.care.accounts import issue_api_token
from recovery.care.alerts import AlertError, Contacted, record_contact_attempt, resolve_alert
from recovery.care.models import Alert, AlertEvent, AuditEvent
from recovery.extensions import db
from tests import factories


@pytest.fixture
def alert(clinic, now) -> Alert:
    """An open red-flag alert (urgent) of an episode 30 h in."""
    enrolled = factories.gen_episode(
        clinic, name="Ann Smith", procedure_dt=now - timedelta(hours=30)
    )
    factories.gen_entry(enrolled.episode, 3, 26, red_flags=["fever"])
    return db.session.scalar(db.select(Alert).filter_by(episode_id=enrolled.episode.id))


@pytest.fixture
def named_nurse(nurse):
    nurse.name = "Nurse Jo"
    db.session.commit()
    return nurse


def contact(client, alert: Alert, **data):
    return client.post(f"/staff/alerts/{alert.id}/contact", data=data, follow_redirects=True)


def history(html: str, alert: Alert) -> list[str]:
    card = html.split(f'id="alert-{alert.id}"')[1].split("</article>")[0]
    return re.findall(r'<li class="alert-history__event[^"]*">(.*?)</li>', card, re.S)


def test_no_answer_is_recorded_in_the_history_and_the_timeline(client, auth, named_nurse, alert):
    auth.login()
    page = contact(client, alert, outcome="no_answer", note="rang twice")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Contact attempt recorded." in html
    db.session.refresh(alert)
    assert alert.status == "open"  # nobody has heard from the patient yet
    [event] = [e for e in alert.events if e.kind == "contact"]
    assert (event.action, event.note, event.staff_id) == ("no_answer", "rang twice", named_nurse.id)
    assert alert.episode.updated_dt == event.created_dt  # the worklist's live cursor moves
    lines = history(html, alert)
    assert "<strong>Contact attempt</strong>" in lines[-1]
    assert "Nurse Jo: No answer" in lines[-1]
    assert '<span class="note">rang twice</span>' in lines[-1]
    timeline = html.split('id="timeline-heading"')[1]
    assert "Nurse Jo</strong> recorded a contact attempt: Red flag: No answer: rang twice" in (
        timeline
    )
    audited = db.session.scalars(
        db.select(AuditEvent.action).filter_by(episode_id=alert.episode_id)
    ).all()
    assert "alert_contact" in audited


def test_the_episode_page_offers_the_outcomes_with_labels(client, auth, nurse, alert):
    auth.login()
    html = client.get(f"/staff/episodes/{alert.episode_id}").get_data(as_text=True)
    form = html.split(f'action="/staff/alerts/{alert.id}/contact"')[1].split("</form>")[0]
    for code, words in [
        ("reached", "Reached the patient"),
        ("no_answer", "No answer"),
        ("left_message", "Left a message"),
    ]:
        input_id = f"contact-{alert.id}-{code}"
        assert f'id="{input_id}"' in form and f'value="{code}"' in form
        assert f'<label class="check__label" for="{input_id}">{words}</label>' in form
    assert "checked" not in form  # nothing preselected
    assert f'<label class="field__label" for="contact-note-{alert.id}">' in form


def test_reaching_the_patient_acknowledges_an_open_alert(client, auth, named_nurse, alert):
    auth.login()
    html = contact(client, alert, outcome="reached", note="feels better").get_data(as_text=True)
    assert "Contact attempt recorded. The alert is now acknowledged." in html
    db.session.refresh(alert)
    assert (alert.status, alert.acknowledged_by_id) == ("acknowledged", named_nurse.id)
    assert [(e.kind, e.action, e.note) for e in alert.events[1:]] == [
        ("contact", "reached", "feels better"),
        ("acknowledged", "called_patient", ""),
    ]
    lines = history(html, alert)
    assert "Nurse Jo: Reached the patient" in lines[1]
    assert "Nurse Jo: Called the patient" in lines[2]


def test_reaching_the_patient_keeps_an_earlier_acknowledgement(clinic, nurse, alert):
    other = factories.gen_staff(clinic)
    record_contact_attempt(alert, nurse, outcome="reached")
    db.session.commit()
    assert record_contact_attempt(alert, other, outcome="reached") is Contacted.RECORDED
    db.session.commit()
    assert alert.acknowledged_by_id == nurse.id
    assert [e.kind for e in alert.events].count("acknowledged") == 1
    assert [e.kind for e in alert.events].count("contact") == 2


def test_no_answer_and_a_message_leave_the_alert_open(nurse, alert):
    for outcome in ("no_answer", "left_message"):
        assert record_contact_attempt(alert, nurse, outcome=outcome) is Contacted.RECORDED
    db.session.commit()
    assert alert.status == "open" and alert.acknowledged_by_id is None


def test_a_double_click_is_one_attempt_a_later_call_is_another(nurse, alert):
    now = alert.opened_dt + timedelta(minutes=1)
    assert record_contact_attempt(alert, nurse, outcome="no_answer", now=now) == "recorded"
    again = now + timedelta(seconds=5)
    assert record_contact_attempt(alert, nurse, outcome="no_answer", now=again) == "repeated"
    later = now + timedelta(minutes=20)
    assert record_contact_attempt(alert, nurse, outcome="no_answer", now=later) == "recorded"
    db.session.commit()
    assert [e.kind for e in alert.events] == ["opened", "contact", "contact"]


def test_a_resolved_alert_takes_no_contact_attempt(client, auth, nurse, alert):
    resolve_alert(alert, nurse, note="settled")
    db.session.commit()
    with pytest.raises(AlertError, match="already resolved"):
        record_contact_attempt(alert, nurse, outcome="no_answer")
    db.session.rollback()
    with pytest.raises(AlertError, match="unknown contact outcome"):
        record_contact_attempt(alert, nurse, outcome="shrugged")
    db.session.rollback()
    auth.login()
    page = contact(client, alert, outcome="no_answer")
    assert page.status_code == 200
    assert "This alert is already resolved; the contact attempt was not recorded." in (
        page.get_data(as_text=True)
    )
    db.session.refresh(alert)
    assert [e.kind for e in alert.events] == ["opened", "resolved"]
    # The resolved alert's card offers no contact form.
    assert f'action="/staff/alerts/{alert.id}/contact"' not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "data", [{}, {"outcome": "shrugged"}, {"outcome": "no_answer", "note": "x" * 1001}]
)
def test_a_bad_contact_form_changes_nothing(client, auth, nurse, alert, data):
    auth.login()
    page = contact(client, alert, **data)
    assert page.status_code == 200
    assert "The alert was not changed" in page.get_data(as_text=True)
    db.session.refresh(alert)
    assert [e.kind for e in alert.events] == ["opened"]


def test_the_api_lists_the_contact_attempt(client, named_nurse, alert):
    record_contact_attempt(alert, named_nurse, outcome="left_message", note="voicemail")
    token = issue_api_token(named_nurse)
    db.session.commit()
    response = client.get(
        f"/api/v1/alerts/{alert.id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["history"][-1] == {
        "at": body["history"][-1]["at"],
        "kind": "contact",
        "by": "Nurse Jo",
        "action": "left_message",
        "note": "voicemail",
        "severity": "urgent",
        "reason": None,
        "entry_id": None,
    }
    assert body["note"] == "left_message: voicemail"
    document = openapi_document()
    schema = {
        **document["components"]["schemas"]["AlertDetail"],
        "components": document["components"],
    }
    Draft202012Validator(schema).validate(body)


def test_history_rows_take_contact_outcomes_only_as_actions(nurse, alert):
    db.session.add(
        AlertEvent(alert_id=alert.id, created_dt=alert.opened_dt, kind="contact", action="reached")
    )
    db.session.flush()
    db.session.add(
        AlertEvent(alert_id=alert.id, created_dt=alert.opened_dt, kind="contact", action="hung_up")
    )
    with pytest.raises(Exception, match="(?i)check"):
        db.session.flush()
    db.session.rollback()


def test_the_episode_page_offers_the_call(client, auth, nurse, clinic):
    phoned = factories.gen_episode(clinic, name="Pia Phone", phone="07700 900789", email="p@e.test")
    unreachable = factories.gen_episode(clinic, name="Nat None", no_phone_reason="declined")
    auth.login()
    html = client.get(f"/staff/episodes/{phoned.episode.id}").get_data(as_text=True)
    facts = html.split('class="facts"')[1].split("</dl>")[0]
    assert 'href="tel:07700900789" aria-label="Call Pia Phone on 07700 900789"' in facts
    assert "p@e.test" in facts and "No reminder channel" not in facts
    html = client.get(f"/staff/episodes/{unreachable.episode.id}").get_data(as_text=True)
    facts = html.split('class="facts"')[1].split("</dl>")[0]
    assert "No phone: declined" in facts and "No reminder channel" in facts
