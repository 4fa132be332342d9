"""A patient checks in on a phone-sized Chromium."""

from datetime import UTC, datetime, timedelta

from recovery.care.episodes import close_episode, reminder_token
from recovery.care.models import PainEntry, Patient
from recovery.extensions import db
from tests import factories


def touch_targets_too_small(page, selector):
    boxes = page.eval_on_selector_all(
        selector,
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })",
    )
    return [b for b in boxes if b[0] < 44 or b[1] < 44]


def test_patient_checks_in_on_a_phone(live_server, phone):
    clinic = factories.gen_clinic(phone="+44 20 7946 0002")
    enrolled = factories.gen_episode(clinic, procedure_dt=datetime.now(UTC) - timedelta(hours=24))
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    assert phone.locator("h1").inner_text() == "How is your pain?"
    labels = phone.locator(".pain-choice__label")
    assert labels.count() == 11
    assert touch_targets_too_small(phone, ".pain-choice__label, .check__input, button") == []
    rows = {round(labels.nth(i).bounding_box()["y"]) for i in range(11)}
    assert len(rows) == 2  # two rows on a narrow phone
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    assert phone.locator("input[name=pain]:checked").count() == 0

    phone.get_by_role("button", name="Submit").click()
    assert "Please choose a number from 0 to 10." in phone.content()
    assert db.session.scalar(db.select(db.func.count()).select_from(PainEntry)) == 0

    phone.locator("label[for=pain-3]").click()
    phone.get_by_label("I took pain medicine since my last check-in").check()
    phone.get_by_role("button", name="Submit").click()
    phone.wait_for_url("**/entries/*")
    assert phone.locator("h1").inner_text() == "You are on track."
    phone.wait_for_selector('[data-chart-ready="1"]')
    uids = phone.evaluate("document.querySelector('[data-chart]').data.map(t => t.uid)")
    assert {"band", "observed"} <= set(uids)
    assert phone.watch.problems == []
    db.session.rollback()
    entry = db.session.scalar(db.select(PainEntry))
    assert (entry.pain, entry.is_analgesic_taken) == (3, True)


def test_red_flag_shows_what_to_do_now(live_server, phone):
    clinic = factories.gen_clinic(phone="+44 20 7946 0002")
    enrolled = factories.gen_episode(clinic)
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    phone.locator("label[for=pain-2]").click()
    phone.get_by_label("Shortness of breath").check()
    phone.get_by_role("button", name="Submit").click()
    phone.wait_for_url("**/entries/*")
    assert phone.locator("h1").inner_text() == "Call emergency services now."
    assert phone.get_by_role("link", name="Call emergency services").is_visible()
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
