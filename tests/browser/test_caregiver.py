"""A nurse gives a caregiver their own link; the caregiver checks in on a phone, and the nurse
sees the entry marked as the caregiver's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from recovery.care.models import PainEntry
from recovery.extensions import db
from tests import factories
from tests.browser.test_dashboard import chart_traces, end_read_transaction, gen_nurse, sign_in


def test_a_caregiver_checks_in_and_the_nurse_sees_it_as_theirs(live_server, desktop, phone):
    clinic = factories.gen_clinic(phone="+44 20 7946 0002")
    nurse = gen_nurse(clinic)
    enrolled = factories.gen_episode(
        clinic, name="Carer Carla", procedure_dt=datetime.now(UTC) - timedelta(hours=24)
    )
    factories.gen_entry(enrolled.episode, 5, 20)
    episode_url = f"{live_server.url}/staff/episodes/{enrolled.episode.id}"

    sign_in(desktop, live_server.url, nurse.email)
    desktop.goto(episode_url)
    desktop.get_by_role("button", name="Issue a caregiver link").click()
    desktop.wait_for_url("**/link")
    expect(desktop.locator(".link-card")).to_contain_text("for the patient's caregiver")
    caregiver_url = desktop.locator("#patient-link").get_attribute("href")
    assert caregiver_url.startswith(f"{live_server.url}/p/")

    phone.goto(caregiver_url)
    expect(phone.locator("h1")).to_have_text("How is your pain?")
    expect(phone.locator(".caregiver-note")).to_contain_text("as their caregiver")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    phone.locator("label[for=pain-6]").click()
    phone.get_by_role("button", name="Submit").click()
    phone.wait_for_url("**/entries/*")
    assert phone.watch.problems == []
    # The patient's own link still works beside it.
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    expect(phone.locator(".caregiver-note")).to_have_count(0)

    end_read_transaction()
    sources = db.session.scalars(db.select(PainEntry.source).order_by(PainEntry.id)).all()
    assert sources == ["patient", "caregiver"]
    desktop.goto(episode_url)
    newest = desktop.locator("#entries tbody tr").first
    expect(newest).to_contain_text("6/10")
    entered_by = 'td[data-label="Entered by"]'
    expect(newest.locator(entered_by)).to_have_text("reported by caregiver")
    expect(desktop.locator("#entries tbody tr").nth(1).locator(entered_by)).to_have_text("Patient")
    assert chart_traces(desktop)["observed"]["y"] == [5, 6]
    hovers = desktop.evaluate(
        "document.querySelector('[data-chart]').data.find(t => t.uid === 'observed')"
        ".customdata.map(c => c[1])"
    )
    assert ["(reported by caregiver)" in h for h in hovers] == [False, True]
    assert desktop.watch.problems == []
