"""A nurse works the dashboard in Chromium: triage, chart, acknowledge, live updates, resolve."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from recovery import ROOT
from recovery.care.accounts import create_staff
from recovery.care.alerts import acknowledge_alert
from recovery.care.models import Alert
from recovery.extensions import db
from recovery.staff.services import PER_PAGE
from tests import factories
from tests.servers import gunicorn

NURSE_NAME = "Nurse Ada Okafor"
ACK_NOTE = "Called patient, advised A&E"
SCREENSHOTS = "dash-{page}-{width}.png"  # under the test's tmp_path


def gen_nurse(clinic, name: str = NURSE_NAME):
    """A committed nurse with a display name (password factories.PASSWORD)."""
    nurse = create_staff(clinic, f"nurse{clinic.id}@example.test", factories.PASSWORD, name=name)
    db.session.commit()
    return nurse


def seed_ward(clinic) -> dict:
    """Patients across the statuses: urgent red flag, high pain at 24 h, three on track."""
    urgent = factories.gen_episode(clinic, name="Urgent Ursula", mrn="MRN-U1")
    factories.gen_entry(urgent.episode, 5, 20, red_flags=["leg_weakness"])
    high = factories.gen_episode(clinic, name="High Harold", mrn="MRN-H1")
    factories.gen_entry(high.episode, 8, 23)
    on_track = []
    for i, pain in enumerate((3, 2, 4), start=1):
        enrolled = factories.gen_episode(clinic, name=f"Steady Sam {i}")
        factories.gen_entry(enrolled.episode, pain, 22)
        on_track.append(enrolled)
    return {"urgent": urgent, "high": high, "on_track": on_track}


def end_read_transaction() -> None:
    """Let the test's next query see, and write over, what the live server committed since.

    SQLite transactions begin explicitly (recovery.extensions), so one begun by an earlier read
    keeps its snapshot: it would not see the server's writes and could not write after them.
    """
    db.session.commit()


def alert_id(episode_id: int, rule: str) -> int:
    """The id of the episode's unresolved alert for `rule`."""
    end_read_transaction()
    return db.session.scalar(
        db.select(Alert.id).where(
            Alert.episode_id == episode_id, Alert.rule == rule, Alert.status != "resolved"
        )
    )


def sign_in(page, base_url: str, email: str) -> None:
    """Sign in through the real form (CSRF on), landing on the worklist."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/staff/")
    expect(page.locator("h1")).to_have_text("Worklist")


def chart_traces(page) -> dict[str, dict]:
    """The episode chart's plotted traces by uid, once Plotly has drawn them."""
    page.wait_for_selector('[data-chart-ready="1"]', timeout=10_000)
    traces = page.evaluate(
        "document.querySelector('[data-chart]').data"
        ".map(t => ({uid: t.uid, x: Array.from(t.x || []), y: Array.from(t.y || [])}))"
    )
    return {t["uid"]: t for t in traces}


def check_in(base_url: str, enrolled, payload: dict) -> int:
    """A check-in from the patient's phone app (the JSON API); its HTTP status."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/checkins",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={**enrolled.headers, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def open_alert_row(page, alert: int):
    """The alert in its patient's row of the open list, while it is open."""
    return page.locator(f'#open-alerts .row-alert--open[data-alert-id="{alert}"]')


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_nurse_triages_the_urgent_alert(request, live_server, device, tmp_path):
    page = request.getfixturevalue(device)
    width = page.viewport_size["width"]
    clinic = factories.gen_clinic()
    nurse = gen_nurse(clinic)
    ward = seed_ward(clinic)
    urgent_id = ward["urgent"].episode.id
    red_flag = alert_id(urgent_id, "red_flag")

    sign_in(page, live_server.url, nurse.email)
    # One row per patient, the most pressing first; in it, their alerts most severe first.
    first = page.locator("#open-alerts tbody tr").first
    expect(first.locator(".badge").first).to_have_text("Urgent")
    expect(first.locator("td").nth(0)).to_contain_text("Urgent Ursula")
    assert first.locator("[data-alert-id]").first.get_attribute("data-alert-id") == str(red_flag)
    second = page.locator("#open-alerts tbody tr").nth(1)
    expect(second.locator(".badge").first).to_have_text("High")
    expect(second.locator("td").nth(0)).to_contain_text("High Harold")
    expect(page.locator("#episodes")).to_contain_text("Steady Sam 3")
    page.screenshot(
        path=tmp_path / SCREENSHOTS.format(page="worklist", width=width), full_page=True
    )

    first.get_by_role("link", name="Urgent Ursula", exact=True).click()
    page.wait_for_url(f"**/staff/episodes/{urgent_id}")
    expect(page.locator("h1")).to_have_text("Urgent Ursula")
    traces = chart_traces(page)
    assert {"observed", "expected", "band"} <= set(traces)
    assert traces["observed"]["y"] == [5]
    assert len(traces["expected"]["x"]) > 2
    assert len(traces["red_flags"]["x"]) == 1
    page.screenshot(path=tmp_path / SCREENSHOTS.format(page="episode", width=width), full_page=True)

    card = page.locator(f"#alert-{red_flag}")
    card.get_by_label("What was done").select_option(label="Sent to emergency")
    card.get_by_label("Note", exact=True).fill(ACK_NOTE)
    card.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".flash")).to_have_text("Alert acknowledged.")
    card = page.locator(f"#alert-{red_flag}")
    expect(card).to_contain_text("(Acknowledged)")
    acknowledged = card.locator(".alert-history__event--acknowledged")
    expect(acknowledged).to_contain_text(f"{NURSE_NAME}: Sent to emergency")
    expect(acknowledged.locator(".note")).to_have_text(ACK_NOTE)

    page.get_by_role("navigation").get_by_role("link", name="Worklist").click()
    page.wait_for_url(f"{live_server.url}/staff/")
    expect(open_alert_row(page, red_flag)).to_have_count(0)
    expect(page.locator("#open-alerts")).to_contain_text("High Harold")
    in_progress = page.locator("#in-progress-alerts li").filter(has_text="Urgent Ursula")
    expect(in_progress).to_have_count(1)
    expect(in_progress).to_contain_text(ACK_NOTE)
    expect(in_progress).to_contain_text(f"acknowledged by {NURSE_NAME}")
    assert page.watch.problems == []


def test_two_nurses_acknowledge_one_alert_and_both_are_kept(live_server, desktop, phone):
    """A nurse must choose what was done (nothing is preselected); a second nurse, on her
    phone, adds her own call to the history instead of overwriting the first."""
    clinic = factories.gen_clinic()
    first = gen_nurse(clinic)
    second = create_staff(clinic, "bea@example.test", factories.PASSWORD, name="Nurse Bea Lund")
    db.session.commit()
    ward = seed_ward(clinic)
    episode_id = ward["urgent"].episode.id
    red_flag = alert_id(episode_id, "red_flag")
    episode_url = f"{live_server.url}/staff/episodes/{episode_id}"

    sign_in(desktop, live_server.url, first.email)
    desktop.goto(episode_url)
    card = desktop.locator(f"#alert-{red_flag}")
    action = card.get_by_label("What was done")
    expect(action).to_have_value("")
    card.get_by_role("button", name="Acknowledge").click()
    # The browser asks for a choice; nothing is sent, nothing recorded.
    assert action.evaluate("element => element.validity.valueMissing")
    expect(card).to_contain_text("(Open)")
    action.select_option(label="Called the patient")
    card.get_by_label("Note", exact=True).fill("No answer, left a message")
    card.get_by_role("button", name="Acknowledge").click()
    expect(desktop.locator(".flash")).to_have_text("Alert acknowledged.")

    sign_in(phone, live_server.url, second.email)
    phone.goto(episode_url)
    card = phone.locator(f"#alert-{red_flag}")
    expect(card).to_contain_text("(Acknowledged)")
    card.get_by_label("What was done").select_option(label="Booked a review")
    card.get_by_label("Note", exact=True).fill("Clinic Monday 10:00")
    card.get_by_role("button", name="Add an acknowledgement").click()
    expect(phone.locator(".flash")).to_have_text(
        f"{NURSE_NAME} had already acknowledged this alert; your acknowledgement was added to "
        "its history."
    )
    acknowledgements = phone.locator(f"#alert-{red_flag} .alert-history__event--acknowledged")
    expect(acknowledgements).to_have_count(2)
    expect(acknowledgements.nth(0)).to_contain_text(f"{NURSE_NAME}: Called the patient")
    expect(acknowledgements.nth(1)).to_contain_text("Nurse Bea Lund: Booked a review")

    phone.goto(f"{live_server.url}/staff/")
    in_progress = phone.locator("#in-progress-alerts li").filter(has_text="Urgent Ursula")
    expect(in_progress).to_contain_text(
        f"acknowledged by {NURSE_NAME} (Nurse Bea Lund: Booked a review: Clinic Monday 10:00)"
    )
    assert desktop.watch.problems == [] and phone.watch.problems == []


def test_new_alert_appears_on_the_open_worklist_without_a_reload(live_server, desktop):
    page = desktop
    clinic = factories.gen_clinic()
    nurse = gen_nurse(clinic)
    ward = seed_ward(clinic)
    quiet = ward["on_track"][0]
    navigations = []
    sign_in(page, live_server.url, nurse.email)
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.evaluate("window.__sameDocument = 'still here'")
    rows_before = page.locator("#open-alerts tbody tr").count()
    expect(page.locator("#open-alerts")).not_to_contain_text("Steady Sam 1")

    assert check_in(live_server.url, quiet, {"pain": 10, "red_flags": ["fever"]}) == 201

    new_rows = page.locator("#open-alerts tbody tr").filter(has_text="Steady Sam 1")
    expect(new_rows.first).to_be_visible(timeout=5000)
    expect(new_rows.first.locator(".badge").first).to_have_text("Urgent")
    red_flag = alert_id(quiet.episode.id, "red_flag")
    # Most urgent, then longest waiting: the older urgent alert stays on top.
    expect(
        page.locator("#open-alerts tbody tr").nth(1).locator("[data-alert-id]").first
    ).to_have_attribute("data-alert-id", str(red_flag))
    assert page.locator("#open-alerts tbody tr").count() == rows_before + new_rows.count()
    expect(page.locator("#live-status")).to_contain_text("Updated")
    assert page.evaluate("window.__sameDocument") == "still here"
    assert navigations == []
    assert page.watch.problems == []


@pytest.fixture
def ward_on_worklist(live_server, desktop):
    """A nurse of a seeded ward with its worklist open on a laptop: (page, ward)."""
    clinic = factories.gen_clinic()
    nurse = gen_nurse(clinic)
    ward = seed_ward(clinic)
    sign_in(desktop, live_server.url, nurse.email)
    return desktop, ward


def test_a_live_update_keeps_what_the_nurse_is_typing_in_the_search(live_server, ward_on_worklist):
    page, ward = ward_on_worklist
    search = page.get_by_label("Name or MRN")
    search.click()
    page.keyboard.type("Stea")

    assert (
        check_in(live_server.url, ward["on_track"][1], {"pain": 9, "red_flags": ["fever"]}) == 201
    )

    new_row = page.locator("#open-alerts tbody tr").filter(has_text="Steady Sam 2")
    expect(new_row.first).to_be_visible(timeout=5000)
    patient = page.locator("#episodes tbody tr").filter(has_text="Steady Sam 2")
    expect(patient.locator(".status")).to_have_text("Alert")
    expect(page.locator("#live-status")).to_contain_text("Updated")
    expect(search).to_have_value("Stea")
    expect(search).to_be_focused()
    page.keyboard.type("dy")  # the nurse goes on typing where she was
    expect(search).to_have_value("Steady")
    assert page.watch.problems == []


def test_a_live_update_waits_while_the_focus_is_in_the_list(live_server, ward_on_worklist):
    page, ward = ward_on_worklist
    link = page.locator("#episodes").get_by_role("link", name="Steady Sam 3")
    link.focus()

    assert (
        check_in(live_server.url, ward["on_track"][2], {"pain": 9, "red_flags": ["fever"]}) == 201
    )

    # The alerts list, which does not hold the focus, is updated; the patients list waits.
    new_row = page.locator("#open-alerts tbody tr").filter(has_text="Steady Sam 3")
    expect(new_row.first).to_be_visible(timeout=5000)
    expect(link).to_be_focused()
    patient = page.locator("#episodes tbody tr").filter(has_text="Steady Sam 3")
    expect(patient.locator(".status")).to_have_text("On track")
    page.get_by_label("Name or MRN").focus()
    expect(patient.locator(".status")).to_have_text("Alert")
    assert page.watch.problems == []


def test_resolving_alerts_removes_them_from_both_lists(live_server, desktop):
    page = desktop
    clinic = factories.gen_clinic()
    nurse = gen_nurse(clinic)
    procedure_dt = datetime.now(UTC) - timedelta(hours=30)
    enrolled = factories.gen_episode(clinic, name="Resolve Rita", procedure_dt=procedure_dt)
    factories.gen_entry(enrolled.episode, 10, 25, red_flags=["chest_pain"])
    episode_id = enrolled.episode.id
    red_flag = alert_id(episode_id, "red_flag")
    above = alert_id(episode_id, "above_expected")
    no_improvement = alert_id(episode_id, "no_improvement")
    acknowledge_alert(db.session.get(Alert, red_flag), nurse, action="called_patient")
    db.session.commit()

    sign_in(page, live_server.url, nurse.email)
    # Rita has open alerts: her row is in the open list, with the acknowledged one in it.
    rita = page.locator("#open-alerts tbody tr").filter(has_text="Resolve Rita")
    expect(rita.locator(f'.row-alert--acknowledged[data-alert-id="{red_flag}"]')).to_have_count(1)
    expect(open_alert_row(page, above)).to_have_count(1)

    page.goto(f"{live_server.url}/staff/episodes/{episode_id}")
    for alert in (red_flag, above):
        card = page.locator(f"#alert-{alert}")
        card.get_by_label("Resolution note").fill("Seen in clinic, settled")
        card.get_by_role("button", name="Resolve").click()
        expect(page.locator(".flash")).to_have_text("Alert resolved.")
        expect(page.locator(f"#alert-{alert}")).to_contain_text("(Resolved)")
        expect(page.locator(f"#alert-{alert}").locator("form")).to_have_count(0)

    page.get_by_role("navigation").get_by_role("link", name="Worklist").click()
    page.wait_for_url(f"{live_server.url}/staff/")
    expect(open_alert_row(page, red_flag)).to_have_count(0)
    expect(open_alert_row(page, above)).to_have_count(0)
    expect(open_alert_row(page, no_improvement)).to_have_count(1)
    expect(page.locator("#in-progress-alerts")).to_have_count(0)
    assert page.watch.problems == []


def test_nurse_records_a_score_for_the_patient(live_server, desktop):
    page = desktop
    clinic = factories.gen_clinic()
    nurse = gen_nurse(clinic)
    enrolled = factories.gen_episode(clinic, name="Phone Phoebe")
    factories.gen_entry(enrolled.episode, 3, 20)
    sign_in(page, live_server.url, nurse.email)
    page.goto(f"{live_server.url}/staff/episodes/{enrolled.episode.id}")
    assert chart_traces(page)["observed"]["y"] == [3]

    page.locator("label[for=pain-4]").click()
    page.get_by_label(re.compile("^Anything else")).fill("Given by phone")
    page.get_by_role("button", name="Record entry").click()
    expect(page.locator(".flash")).to_have_text("The entry was recorded.")
    newest = page.locator("#entries tbody tr").first
    expect(newest).to_contain_text("4/10")
    expect(newest).to_contain_text("Given by phone")
    entered_by = 'td[data-label="Entered by"]'
    expect(newest.locator(entered_by)).to_have_text(f"staff ({NURSE_NAME})")
    expect(page.locator("#entries tbody tr").nth(1).locator(entered_by)).to_have_text("Patient")
    assert chart_traces(page)["observed"]["y"] == [3, 4]
    assert page.watch.problems == []


# --- The stylesheet ---------------------------------------------------------------------------


def test_the_stylesheet_braces_balance():
    """A stray or missing brace silently drops the rules after it (once, the pager's)."""
    css = (ROOT / "static" / "css" / "app.css").read_text()
    # Braces inside comments and strings do not count; keep the newlines for line numbers.
    css = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), css, flags=re.S)
    css = re.sub(r"""(["'])(?:\\.|(?!\1)[^\\\n])*\1""", '""', css)
    depth = 0
    for number, line in enumerate(css.splitlines(), start=1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"app.css line {number}: a closing brace with no block open"
    assert depth == 0, "app.css: a block is never closed"


def test_the_pager_is_laid_out_by_the_stylesheet(live_server, desktop):
    page = desktop
    clinic = factories.gen_clinic()
    nurse = gen_nurse(clinic)
    for i in range(PER_PAGE + 1):
        factories.gen_episode(clinic, name=f"Paged Pat {i:02d}")
    sign_in(page, live_server.url, nurse.email)
    pager = page.locator("nav.pager")
    expect(pager).to_contain_text("Page 1 of 2")
    style = pager.evaluate("el => { const s = getComputedStyle(el); return [s.display, s.gap]; }")
    assert style == ["flex", "8px"]
    assert page.watch.problems == []


# --- Accessibility basics -------------------------------------------------------------------

UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 120))"""

OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
  }
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.table-wrap, .visually-hidden, .skip-link')) continue;
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1) {
      const classes = typeof el.className === 'string' && el.className
        ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + classes;
      found.push(`${name} right edge ${Math.round(box.right)} > ${width}`);
    }
  }
  return found;
}"""

SMALL_TARGETS = """() => Array.from(document.querySelectorAll(
    'main button, main .button, main .pain-choice__label, main .check__input'))
  .filter(el => el.getClientRects().length)
  .map(el => [el, el.getBoundingClientRect()])
  .filter(([el, box]) => box.height < 44 || box.width < 44)
  .map(([el, box]) =>
    `${el.outerHTML.slice(0, 80)} ${Math.round(box.width)}x${Math.round(box.height)}`)"""


def accessibility_problems(page) -> dict[str, object]:
    """What the page gets wrong of the basics; every value is empty or true when it is fine."""
    return {
        "lang": page.evaluate("document.documentElement.lang") != "",
        "one h1": page.locator("h1").count() == 1,
        "unlabelled": page.evaluate(UNLABELLED_CONTROLS),
        "overflow": page.evaluate(OVERFLOWING),
        "small targets": page.evaluate(SMALL_TARGETS),
    }


FINE = {"lang": True, "one h1": True, "unlabelled": [], "overflow": [], "small targets": []}


def test_worklist_and_episode_page_basics_at_phone_size(live_server, phone):
    page = phone
    clinic = factories.gen_clinic()
    nurse = gen_nurse(clinic)
    ward = seed_ward(clinic)
    urgent = ward["urgent"].episode.id
    high = ward["high"].episode
    # Every alert of Harold's acknowledged: he is in progress (a patient with an open alert
    # is in the open list).
    for alert in db.session.scalars(
        db.select(Alert).where(Alert.episode_id == high.id, Alert.status == "open")
    ):
        acknowledge_alert(alert, nurse, action="booked_review", note="Review booked for Friday")
    db.session.commit()

    sign_in(page, live_server.url, nurse.email)
    expect(page.locator("#in-progress-alerts")).to_be_visible()
    assert re.fullmatch(r"[a-z]{2}(-[A-Za-z]{2})?", page.evaluate("document.documentElement.lang"))
    assert accessibility_problems(page) == FINE
    # Each patient is a card on a phone: their alerts' reasons are on screen without scrolling
    # sideways.
    why = page.locator("#open-alerts tbody tr").first.locator("td").nth(3)
    expect(why).to_contain_text("new weakness in the legs")
    box = why.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]

    for episode_id in (urgent, high.id):
        page.goto(f"{live_server.url}/staff/episodes/{episode_id}")
        page.wait_for_selector('[data-chart-ready="1"]', timeout=10_000)
        assert accessibility_problems(page) == FINE, f"episode {episode_id}"
    end_read_transaction()
    nurse.role = "admin"  # to see the team page too
    db.session.commit()
    for path in (
        "/staff/cohort",
        "/staff/exports",
        "/staff/enrol",
        "/account/password",
        "/staff/team",
    ):
        page.goto(f"{live_server.url}{path}")
        assert accessibility_problems(page) == FINE, path
    assert page.watch.problems == []


def test_nurse_calls_from_the_worklist_and_records_the_attempt(live_server, phone):
    """On her phone: the patient's number is a large tap-to-call link named after the patient;
    the call's outcome is recorded on the patient's page and read back in the alert's history."""
    page = phone
    clinic = factories.gen_clinic()
    nurse = gen_nurse(clinic)
    enrolled = factories.gen_episode(clinic, name="Callum Reach", phone="+44 7700 900456")
    factories.gen_entry(enrolled.episode, 5, 20, red_flags=["fever"])
    red_flag = alert_id(enrolled.episode.id, "red_flag")

    sign_in(page, live_server.url, nurse.email)
    call = page.locator("#open-alerts").get_by_role(
        "link", name="Call Callum Reach on +44 7700 900456"
    )
    expect(call).to_have_attribute("href", "tel:+447700900456")
    box = call.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44

    page.locator(f'#open-alerts [data-alert-id="{red_flag}"]').get_by_role(
        "link", name="Acknowledge"
    ).click()
    page.wait_for_url(f"**/staff/episodes/{enrolled.episode.id}#alert-{red_flag}")
    card = page.locator(f"#alert-{red_flag}")
    card.get_by_role("button", name="Record contact attempt").click()
    # The browser asks how the call went; nothing is sent.
    expect(card).not_to_contain_text("Contact attempt ·")
    card.get_by_label("No answer").check()
    card.get_by_label("Note about the call").fill("Rang twice")
    card.get_by_role("button", name="Record contact attempt").click()
    expect(page.locator(".flash")).to_have_text("Contact attempt recorded.")
    contact = page.locator(f"#alert-{red_flag} .alert-history__event--contact")
    expect(contact).to_contain_text(f"Contact attempt · {NURSE_NAME}: No answer")
    expect(contact.locator(".note")).to_have_text("Rang twice")
    expect(page.locator(f"#alert-{red_flag}")).to_contain_text("(Open)")
    assert accessibility_problems(page) == FINE
    assert page.watch.problems == []


@pytest.fixture
def gunicorn_on_the_same_database(live_app, tmp_path):
    """The app again, in two gunicorn worker processes on the live server's database."""
    database = live_app.config["SQLALCHEMY_DATABASE_URI"]
    with gunicorn(database, tmp_path, secret_key="browser-test") as url:
        yield url


def test_a_check_in_taken_by_another_server_process_reaches_the_worklist(
    live_server, desktop, gunicorn_on_the_same_database
):
    page = desktop
    clinic = factories.gen_clinic()
    nurse = gen_nurse(clinic)
    quiet = factories.gen_episode(clinic, name="Quiet Quentin")
    sign_in(page, live_server.url, nurse.email)
    expect(page.locator("#open-alerts")).not_to_be_attached()

    payload = {"pain": 3, "red_flags": ["fever"]}
    assert check_in(gunicorn_on_the_same_database, quiet, payload) == 201

    row = page.locator("#open-alerts tbody tr").filter(has_text="Quiet Quentin")
    expect(row).to_be_visible(timeout=5000)
    expect(row.locator(".badge").first).to_have_text("Urgent")
    assert page.watch.problems == []
