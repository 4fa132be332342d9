"""Reminder links (`episodes.reminder_token`) work exactly as long as the patient's link does,
and nothing typed into them, or into the reminders page or the job's command line, is a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recovery.care.episodes import close_episode, issue_link, reminder_token, revoke_link
from recovery.care.models import AuditEvent, Patient
from recovery.extensions import db
from tests.factories import gen_episode


@pytest.fixture
def enrolled(clinic):
    return gen_episode(clinic, email="ann@example.test")


def page(client, token: str, suffix: str = ""):
    response = client.get(f"/p/{token}{suffix}")
    return response.status_code, response.get_data(as_text=True)


def test_a_reminder_link_opens_the_patients_pages(client, enrolled):
    token = reminder_token(enrolled.episode)
    assert page(client, token)[0] == 200
    assert page(client, token, "/reminders")[0] == 200
    response = client.post(f"/p/{token}", data={"pain": 2, "idempotency_key": "k"})
    assert response.status_code == 302
    assert page(client, token, response.location.split(token, 1)[1])[0] == 200


@pytest.mark.parametrize("end", ["replaced", "revoked", "closed"])
def test_a_reminder_link_ends_with_the_link_and_then_names_the_clinic(client, enrolled, nurse, end):
    token = reminder_token(enrolled.episode)
    if end == "replaced":
        issue_link(enrolled.episode)
    elif end == "revoked":
        revoke_link(enrolled.episode)
    else:
        close_episode(enrolled.episode, staff=nurse)
    db.session.commit()
    status, body = page(client, token)
    assert status == 404 and "This link does not work" in body
    assert enrolled.episode.clinic.name in body
    assert client.post(f"/p/{token}", data={"pain": 2, "idempotency_key": "k"}).status_code == 404


@pytest.mark.parametrize(
    "forge",
    [
        lambda payload, signature, other: f"{payload}.{signature[:-2]}xx",
        lambda payload, signature, other: f"{other}.{signature}",
        lambda payload, signature, other: f"{payload}.",
        lambda payload, signature, other: ".",
        lambda payload, signature, other: "a.b.c",
    ],
    ids=["changed signature", "other episode", "no signature", "dot", "three parts"],
)
def test_a_changed_signature_or_episode_is_an_unknown_link(client, enrolled, clinic, forge):
    payload, signature = reminder_token(enrolled.episode).rsplit(".", 1)
    other = reminder_token(gen_episode(clinic).episode).rsplit(".", 1)[0]
    bad = forge(payload, signature, other)
    status, body = page(client, bad)
    assert status == 404, bad
    assert enrolled.episode.clinic.name not in body, bad


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1))
def test_any_token_with_a_dot_is_a_page_never_an_error(client, enrolled, token):
    token = token.replace("/", "").replace("?", "").replace("#", "") + ".x"
    status = client.get(f"/p/{token}/reminders").status_code
    assert status in (404, 308), token


@pytest.mark.parametrize(
    "data", [{}, {"wanted": ""}, {"wanted": "OFF"}, {"wanted": "x" * 10_000}, {"wanted": "\x00"}]
)
def test_the_reminders_page_refuses_anything_but_on_or_off(client, enrolled, data):
    response = client.post(f"/p/{enrolled.token}/reminders", data=data)
    assert response.status_code == 400
    assert db.session.get(Patient, enrolled.episode.patient_id).reminders_stopped_dt is None


def test_stopping_twice_records_it_once(client, enrolled):
    for _ in range(2):
        client.post(f"/p/{enrolled.token}/reminders", data={"wanted": "off"})
    actions = db.session.scalars(
        db.select(AuditEvent.action).filter_by(episode_id=enrolled.episode.id)
    ).all()
    assert actions.count("reminders_stopped") == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["tick", "--at", "yesterday"], "use ISO 8601"),
        (["tick", "--at", "2026-06-10T09:00:00"], "include a UTC offset"),
        (["worker", "--interval", "-1"], "-1"),
        (["worker", "--ticks", "0"], "0"),
    ],
)
def test_the_job_commands_refuse_bad_options(runner, app, args, words):
    result = runner.invoke(args=["recovery", *args])
    assert result.exit_code == 2
    assert words in result.output
