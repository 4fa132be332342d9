"""An administrator sets who is told of alerts, on a phone-sized Chromium."""

from __future__ import annotations

from playwright.sync_api import expect

from recovery.care.accounts import create_staff
from recovery.care.clinics import outreach_settings
from recovery.care.models import Clinic
from recovery.extensions import db
from tests import factories

SECRET_URL = "json://hook:s3cr3t@127.0.0.1:9/alerts"


def test_an_administrator_adds_and_removes_a_target_at_phone_size(live_server, phone):
    clinic = factories.gen_clinic()
    create_staff(clinic, "lead@example.test", factories.PASSWORD, "admin", "Lead Nurse")
    db.session.commit()
    phone.goto(f"{live_server.url}/login")
    phone.get_by_label("Email").fill("lead@example.test")
    phone.get_by_label("Password").fill(factories.PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    phone.goto(f"{live_server.url}/staff/settings")
    expect(phone.locator("h1")).to_have_text("Clinic settings")
    phone.get_by_label("Notification URL").fill("nonsense://x")
    phone.get_by_role("button", name="Add target").click()
    expect(phone.locator(".field__error").first).to_contain_text("is not a notification URL")
    phone.get_by_label("Notification URL").fill(SECRET_URL)
    phone.get_by_label("Emergency and urgent alerts not acknowledged in time").check()
    phone.get_by_role("button", name="Add target").click()
    expect(phone.locator("#targets-escalate")).to_contain_text("json://hook:")
    assert "s3cr3t" not in phone.content()
    db.session.commit()  # see what the server committed
    assert outreach_settings(db.session.get(Clinic, clinic.id)).escalate == (SECRET_URL,)
    phone.get_by_label("Escalate after (minutes)").fill("10")
    phone.get_by_role("button", name="Save").click()
    expect(phone.get_by_text("Settings saved.")).to_be_visible()
    boxes = phone.eval_on_selector_all(
        "main button, main input",
        "els => els.filter(e => e.type !== 'hidden' && e.type !== 'radio')"
        ".map(e => e.getBoundingClientRect().height)",
    )
    assert boxes and min(boxes) >= 44
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.locator("#targets-escalate").get_by_role("button", name="Remove").click()
    expect(phone.get_by_text("No escalation target.")).to_be_visible()
    assert phone.watch.problems == []
