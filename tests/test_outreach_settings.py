"""A clinic's notification targets and outreach timings, on the command line and on the
administrators' settings page: validated, stored, shown with secrets masked."""

from __future__ import annotations

import json

import pytest

from recovery.care.clinics import outreach_settings
from recovery.care.models import AuditEvent, Clinic
from recovery.care.senders import target_key
from recovery.extensions import db
from tests.factories import gen_staff

SECRET_URL = "json://hook:s3cr3t-token@127.0.0.1:9/alerts"


def settings_cli(runner, clinic, *args):
    result = runner.invoke(args=["recovery", "settings", "--clinic", clinic.slug, *args])
    db.session.rollback()
    return result


def test_cli_sets_targets_and_timings_and_shows_secrets_masked(runner, clinic):
    result = settings_cli(
        runner,
        clinic,
        "--notify",
        SECRET_URL,
        "--notify",
        "ntfy://on-call-topic",
        "--escalate",
        "mailto://lead:pw@example.test",
        "--set",
        "escalate_after_minutes=10",
        "--set",
        "quiet_hours=22:00-07:30",
        "--set",
        "response_hours=4",
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert "s3cr3t" not in result.output and "pw@" not in result.output
    assert shown["notify"] == ["json://hook:****@127.0.0.1:9/al…", "ntfys://on…"]
    assert (shown["escalate_after_minutes"], shown["quiet_hours"]) == (10, "22:00-07:30")
    assert shown["response_hours"] == 4
    outreach = outreach_settings(db.session.get(Clinic, clinic.id))
    assert outreach.notify == (SECRET_URL, "ntfy://on-call-topic")
    assert outreach.escalate == ("mailto://lead:pw@example.test",)
    assert outreach.quiet_hours == (22 * 60, 7 * 60 + 30)
    cleared = settings_cli(runner, clinic, "--clear-notify", "--set", "quiet_hours=none")
    assert json.loads(cleared.output)["notify"] == []
    assert json.loads(cleared.output)["quiet_hours"] == ""


def test_defaults(runner, clinic):
    shown = json.loads(settings_cli(runner, clinic).output)
    assert (shown["notify"], shown["escalate"]) == ([], [])
    assert shown["escalate_after_minutes"] == 15
    assert shown["quiet_hours"] == "21:00-08:00"
    assert shown["response_hours"] == 24


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--notify", "nonsense://x"], "'nonsense' is not a notification URL"),
        (["--notify", "not a url"], "is not a notification URL"),
        (["--set", "escalate_after_minutes=0"], "escalate_after_minutes must be from 1 to 1440"),
        (["--set", "escalate_after_minutes=soon"], "must be a whole number"),
        (["--set", "quiet_hours=9pm-8am"], "quiet hours are HH:MM-HH:MM"),
        (["--set", "quiet_hours=08:00-08:00"], "quiet hours are HH:MM-HH:MM"),
        (["--set", "response_hours=999"], "response_hours must be from 1 to 336"),
    ],
)
def test_cli_refuses_bad_settings_and_changes_nothing(runner, clinic, args, words):
    result = settings_cli(runner, clinic, "--notify", "ntfy://fine", *args)
    assert result.exit_code == 1
    assert words in result.output
    assert outreach_settings(db.session.get(Clinic, clinic.id)).notify == ()


@pytest.fixture
def admin(clinic):
    return gen_staff(clinic, email="admin@example.test", role="admin")


def test_the_settings_page_adds_and_removes_targets_without_showing_secrets(
    client, auth, clinic, admin
):
    auth.login("admin@example.test")
    page = client.get("/staff/settings").get_data(as_text=True)
    assert "No on-call target" in page
    added = client.post(
        "/staff/settings/targets", data={"url": SECRET_URL, "kind": "notify"}, follow_redirects=True
    )
    body = added.get_data(as_text=True)
    assert added.status_code == 200 and "Target added." in body
    assert "s3cr3t" not in body and "json://hook:" in body
    assert outreach_settings(db.session.get(Clinic, clinic.id)).notify == (SECRET_URL,)
    audit = db.session.scalar(db.select(AuditEvent).filter_by(action="settings_changed"))
    assert "s3cr3t" not in audit.detail and audit.staff_id == admin.id

    removed = client.post(
        f"/staff/settings/targets/notify/{target_key(SECRET_URL)}/remove", follow_redirects=True
    )
    assert "Target removed." in removed.get_data(as_text=True)
    assert outreach_settings(db.session.get(Clinic, clinic.id)).notify == ()
    assert client.post("/staff/settings/targets/notify/nope/remove").status_code == 404
    assert client.post("/staff/settings/targets/other/nope/remove").status_code == 404


def test_the_settings_page_refuses_a_bad_target_or_timing_and_keeps_the_input(
    client, auth, clinic, admin
):
    auth.login("admin@example.test")
    bad = client.post("/staff/settings/targets", data={"url": "nonsense://x", "kind": "notify"})
    assert bad.status_code == 400
    assert "is not a notification URL" in bad.get_data(as_text=True)
    assert 'value="nonsense://x"' in bad.get_data(as_text=True)
    timing = client.post(
        "/staff/settings/timing",
        data={"escalate_after_minutes": "5", "quiet_hours": "late", "response_hours": "4"},
    )
    assert timing.status_code == 400
    assert "quiet hours are HH:MM-HH:MM" in timing.get_data(as_text=True)
    assert outreach_settings(db.session.get(Clinic, clinic.id)).escalate_after_minutes == 15
    saved = client.post(
        "/staff/settings/timing",
        data={"escalate_after_minutes": "5", "quiet_hours": "", "response_hours": "4"},
        follow_redirects=True,
    )
    assert "Settings saved." in saved.get_data(as_text=True)
    outreach = outreach_settings(db.session.get(Clinic, clinic.id))
    assert (outreach.escalate_after_minutes, outreach.quiet_hours) == (5, None)
    assert outreach.response_hours == 4


def test_only_administrators_see_the_settings(client, auth, clinic, nurse):
    assert client.get("/staff/settings").status_code == 302  # to the sign-in page
    auth.login()
    assert client.get("/staff/settings").status_code == 403
    response = client.post("/staff/settings/targets", data={"url": SECRET_URL, "kind": "notify"})
    assert response.status_code == 403
    assert client.post("/staff/settings/timing", data={}).status_code == 403
    assert outreach_settings(db.session.get(Clinic, clinic.id)).notify == ()
