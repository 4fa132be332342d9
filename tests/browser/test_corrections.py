"""A nurse corrects an entry in Chromium, with CSRF on: both entries stay in the table, the
chart shows the corrected score, and an administrator finds it on the audit page."""

from __future__ import annotations

from playwright.sync_api import expect

from recovery.care.models import PainEntry
from recovery.extensions import db
from tests import factories
from tests.browser.test_dashboard import chart_traces, end_read_transaction, gen_nurse, sign_in


def test_nurse_corrects_an_entry_and_the_admin_sees_it(live_server, desktop):
    page = desktop
    clinic = factories.gen_clinic()
    nurse = gen_nurse(clinic)
    admin = factories.gen_staff(clinic, email="boss@example.test", role="admin")
    enrolled = factories.gen_episode(clinic, name="Corrie Correct")
    entry = factories.gen_entry(enrolled.episode, 8, 20).entry
    sign_in(page, live_server.url, nurse.email)
    page.goto(f"{live_server.url}/staff/episodes/{enrolled.episode.id}")
    assert chart_traces(page)["observed"]["y"] == [8]

    page.locator(f"#entry-{entry.id}").get_by_role("link", name="Correct").click()
    expect(page.locator("h1")).to_have_text("Correct an entry")
    form = page.locator("main form")
    form.get_by_label("Pain (0-10)").select_option("3")
    form.get_by_label("Reason for the correction").fill("She said 3, I typed 8")
    form.get_by_role("button", name="Record the correction").click()
    expect(page.locator(".flash")).to_contain_text("The entry was corrected.")
    rows = page.locator("#entries tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("3/10")
    expect(rows.nth(0)).to_contain_text("Correction of 8/10: She said 3, I typed 8")
    expect(page.locator("tr.entry--corrected")).to_contain_text("corrected")
    expect(page.locator("tr.entry--corrected")).to_contain_text(f"Corrected by {nurse.name}")
    assert chart_traces(page)["observed"]["y"] == [3]
    end_read_transaction()
    assert db.session.scalar(
        db.select(PainEntry.correction_reason).where(PainEntry.supersedes_id == entry.id)
    ) == ("She said 3, I typed 8")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server.url, admin.email)
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Patient").fill("Corrie")
    page.get_by_role("button", name="Filter").click()
    table = page.locator("#audit")
    expect(table.locator('tr[data-action="entry_corrected"]')).to_contain_text(nurse.name)
    expect(table.locator('tr[data-action="episode_viewed"]').first).to_contain_text(
        "viewed the record"
    )
    assert page.watch.problems == []
