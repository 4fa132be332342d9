"""A patient checks in on a phone-sized Chromium."""

from datetime import UTC, datetime, timedelta

import pytest

from recovery.care.episodes import close_episode, reminder_token
from recovery.care.models import PainEntry, Patient
from recovery.extensions import db
from tests import factories
from tests.browser.conftest import PageWatch

#: The phones the issue names: a current one, and a small one (320 x 568, an iPhone SE).
PHONES = {"390x844": {"width": 390, "height": 844}, "320x568": {"width": 320, "height": 568}}


@pytest.fixture(params=sorted(PHONES))
def any_phone(request, browser):
    """A touch phone page at each size, with problems collected as for `phone`."""
    size = PHONES[request.param]
    context = browser.new_context(
        viewport=size, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.watch = PageWatch(page)
    page.width = size["width"]
    page.height = size["height"]
    yield page
    context.close()


def touch_targets_too_small(page, selector):
    boxes = page.eval_on_selector_all(
        selector,
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })",
    )
    return [b for b in boxes if b[0] < 44 or b[1] < 44]


def transferred_bytes(page) -> int:
    """What the browser received for the page and everything it loaded (headers and the
    encoded, i.e. compressed, bodies), from the Resource Timing entries."""
    return page.evaluate(
        "performance.getEntriesByType('navigation').concat("
        "performance.getEntriesByType('resource')).reduce((n, e) => n + e.transferSize, 0)"
    )


def test_patient_checks_in_on_a_phone(live_server, any_phone):
    phone = any_phone
    clinic = factories.gen_clinic(phone="+44 20 7946 0002")
    enrolled = factories.gen_episode(clinic, procedure_dt=datetime.now(UTC) - timedelta(hours=24))
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    assert phone.locator("h1").inner_text() == "How is your pain?"
    assert phone.locator(".checkin-intro").inner_text() == (
        "This is check-in 3 of 8: about 1 day after your procedure."
    )
    assert transferred_bytes(phone) <= 60_000
    labels = phone.locator(".pain-choice__label")
    assert labels.count() == 11
    assert touch_targets_too_small(phone, ".pain-choice__label, .check__input, button") == []
    rows = {round(labels.nth(i).bounding_box()["y"]) for i in range(11)}
    assert len(rows) >= 2  # more rows on a narrower phone
    assert phone.evaluate("document.documentElement.scrollWidth") <= phone.width
    assert phone.locator("input[name=pain]:checked").count() == 0

    phone.get_by_role("button", name="Submit").click()
    assert "Please choose a number from 0 to 10." in phone.content()
    assert db.session.scalar(db.select(db.func.count()).select_from(PainEntry)) == 0

    phone.locator("label[for=pain-6]").click()
    phone.get_by_role("button", name="Submit").click()
    phone.wait_for_url("**/entries/*")
    # What to do now, then when the next check-in is, come before the chart.
    order = phone.eval_on_selector_all(
        "h1, .next-checkin, .pchart", "els => els.map(e => e.className || e.tagName)"
    )
    assert order == ["H1", "next-checkin", "pchart"]
    next_checkin = phone.locator(".next-checkin").inner_text()
    assert next_checkin.startswith("Your next check-in: between ")
    assert phone.locator(".pchart__dot").count() == 2  # the score before the procedure, and 6
    # No JavaScript draws the chart (the page's one small script focuses an error summary).
    assert phone.locator("script[src*=plotly], script[src*=charts]").count() == 0
    assert "6 out of 10" in phone.locator(".pchart__scores").inner_text()
    assert transferred_bytes(phone) <= 100_000
    assert phone.evaluate("document.documentElement.scrollWidth") <= phone.width
    assert phone.watch.problems == []
    db.session.rollback()
    entry = db.session.scalar(db.select(PainEntry))
    assert (entry.pain, entry.red_flags) == (6, [])


def test_chest_pain_puts_the_emergency_instructions_first(live_server, any_phone):
    phone = any_phone
    clinic = factories.gen_clinic(phone="+44 20 7946 0002")
    enrolled = factories.gen_episode(clinic)
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    phone.locator("label[for=pain-2]").click()
    phone.get_by_label("Chest pain").check()
    phone.get_by_role("button", name="Submit").click()
    phone.wait_for_url("**/entries/*")
    assert phone.locator("h1").inner_text() == "Call emergency services now."
    first_link = phone.locator("main a").first
    assert first_link.inner_text().startswith("Call emergency services")
    assert first_link.get_attribute("href").startswith("tel:")
    box, heading = first_link.bounding_box(), phone.locator("h1").bounding_box()
    # On the first screen, under the heading.
    assert heading["y"] < box["y"] and box["y"] + box["height"] <= phone.height
    assert phone.watch.problems == []


def test_an_answer_survives_a_browser_that_dropped_its_cookies(live_app, live_server, phone):
    """Private browsing, or a browser cleared while the page was open: the answer is kept."""
    live_app.config["WTF_CSRF_ENABLED"] = True
    enrolled = factories.gen_episode(factories.gen_clinic())
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    phone.locator("label[for=pain-6]").click()
    phone.context.clear_cookies()
    phone.get_by_role("button", name="Submit").click()
    phone.wait_for_url("**/entries/*")
    assert phone.locator("h1").inner_text() != "Please try again"
    assert phone.context.cookies() == []  # the patient's pages set none
    db.session.rollback()  # see what the server committed
    assert db.session.scalars(db.select(PainEntry.pain)).all() == [6]
    assert phone.watch.problems == []


def test_a_closed_follow_up_link_offers_the_clinic_to_call(live_server, phone):
    clinic = factories.gen_clinic(name="Riverside IR", phone="+44 20 7946 0002")
    enrolled = factories.gen_episode(clinic)
    close_episode(enrolled.episode, staff=factories.gen_staff(clinic))
    db.session.commit()
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    assert phone.locator("h1").inner_text() == "This link does not work"
    call = phone.get_by_role("link", name="Call the clinic: +44 20 7946 0002")
    assert call.get_attribute("href") == "tel:+44 20 7946 0002"
    assert touch_targets_too_small(phone, "a.button") == []
    assert phone.get_by_role("link", name="Sign in").count() == 0
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_reminder_link_opens_the_check_in_and_stops_reminders(live_server, phone):
    clinic = factories.gen_clinic(name="Riverside IR", phone="+44 20 7946 0002")
    enrolled = factories.gen_episode(clinic, email="ann@example.test")
    link = f"{live_server.url}/p/{reminder_token(enrolled.episode)}"
    phone.goto(link)
    assert phone.locator("h1").inner_text() == "How is your pain?"
    phone.goto(f"{link}/reminders")
    assert phone.locator("h1").inner_text() == "Reminders"
    phone.get_by_role("button", name="Stop reminders").click()
    assert phone.get_by_role("status").inner_text() == "Done. Your choice is saved."
    again = phone.get_by_role("button", name="Send me reminders again")
    assert again.is_visible()
    assert touch_targets_too_small(phone, "button, a.button") == []
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    db.session.rollback()
    assert db.session.get(Patient, enrolled.episode.patient_id).reminders_stopped_dt is not None
    # Once the follow-up is closed, the reminder link says whom to call.
    close_episode(enrolled.episode, staff=factories.gen_staff(clinic))
    db.session.commit()
    phone.goto(link)
    assert phone.locator("h1").inner_text() == "This link does not work"
    assert phone.get_by_role("link", name="Call the clinic: +44 20 7946 0002").is_visible()
