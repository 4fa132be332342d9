"""An unattended staff page warns before its session ends, keeps it on request, and then
leaves the patient's data for the sign-in page; the page's clock is Playwright's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from playwright.sync_api import expect

from recovery.care.models import StaffSession
from recovery.extensions import db
from tests import factories


def test_an_idle_page_warns_keeps_the_session_on_request_then_signs_out(live_server, phone):
    clinic = factories.gen_clinic()
    factories.gen_staff(clinic, "nurse@example.test")
    factories.gen_episode(clinic, name="Idle Ida")
    db.session.commit()
    phone.clock.install()
    phone.goto(f"{live_server.url}/login")
    phone.get_by_label("Email").fill("nurse@example.test")
    phone.get_by_label("Password").fill(factories.PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.locator("#episodes")).to_contain_text("Idle Ida")
    warning = phone.get_by_role("alertdialog")
    expect(warning).to_be_hidden()

    phone.clock.fast_forward("26:00")
    expect(warning).to_be_hidden()
    phone.clock.fast_forward("01:10")  # 27 minutes: 2 before the page's 29
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("You will be signed out in 2 minutes")
    stay = phone.get_by_role("button", name="Stay signed in")
    expect(stay).to_be_focused()
    before = db.session.scalar(db.select(StaffSession.last_seen_dt))
    stay.click()
    expect(warning).to_be_hidden()
    db.session.rollback()
    assert db.session.scalar(db.select(StaffSession.last_seen_dt)) > before

    # The page's time is up while the server saw activity a moment ago (the keepalive): the
    # server says how long is left, and the page stays, without counting itself as activity.
    phone.clock.fast_forward("29:10")
    phone.wait_for_timeout(500)
    expect(phone.locator("#episodes")).to_contain_text("Idle Ida")
    db.session.rollback()
    assert db.session.scalar(db.select(StaffSession.ended_dt)) is None

    # Half an hour passes on the server too: at the page's next check the session ends there
    # and then, and the page leaves the patient's data for the sign-in page.
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=31), tick=True):
        phone.clock.fast_forward("30:30")
        expect(phone.locator("h1")).to_have_text("Staff sign in")
        expect(phone.locator(".flash")).to_have_count(1)
        expect(phone.locator(".flash")).to_contain_text(
            "You were signed out after 30 minutes without activity."
        )
        assert "Idle Ida" not in phone.content()
        phone.goto(f"{live_server.url}/staff/")  # the session is over, not merely left
        expect(phone.locator("h1")).to_have_text("Staff sign in")
    assert phone.watch.problems == []
