"""The handout, printed: a patient prints their own from their link, a nurse prints the new
link's handout in the patient's language; only the handout goes on paper."""

from datetime import UTC, datetime, timedelta

from recovery.extensions import db
from tests import factories
from tests.browser.test_dashboard import sign_in

ON_PAPER = "#handout-title, .handout .qr, .handout__times, .handout__phone"


def visible(page, selector: str) -> list[bool]:
    return [
        page.locator(selector).nth(i).is_visible() for i in range(page.locator(selector).count())
    ]


def test_a_patient_prints_their_handout_from_the_phone(live_server, phone):
    clinic = factories.gen_clinic(phone="+44 20 7946 0002")
    enrolled = factories.gen_episode(clinic, procedure_dt=datetime.now(UTC) - timedelta(hours=5))
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    phone.get_by_role("link", name="Your check-in times and warning signs, to print").tap()
    assert phone.locator("h1").inner_text() == "Your check-ins after your procedure"
    print_button = phone.get_by_role("button", name="Print this page")
    assert print_button.is_visible()
    assert (
        phone.locator(".handout__times li").count() == 7
    )  # the 2 h window has closed: 6 h to 3 months
    phone.emulate_media(media="print")
    assert all(visible(phone, ON_PAPER))
    assert not print_button.is_visible()
    assert not phone.get_by_role("link", name="Go to my check-in").is_visible()
    assert not phone.locator(".language-switch").is_visible()
    assert phone.watch.problems == []


def test_a_nurse_prints_the_new_link_s_handout_in_the_patient_s_language(live_server, desktop):
    clinic = factories.gen_clinic(phone="+34 900 000 000")
    nurse = factories.gen_staff(clinic)
    enrolled = factories.gen_episode(clinic, name="Ana Ejemplo", preferred_language="es")
    db.session.commit()
    sign_in(desktop, live_server.url, nurse.email)
    desktop.goto(f"{live_server.url}/staff/episodes/{enrolled.episode.id}/link")
    desktop.get_by_role("button", name="Issue a new link").click()
    desktop.wait_for_selector("#handout-title")
    link = desktop.locator("#patient-link").inner_text()
    assert desktop.locator(".handout").get_attribute("lang") == "es"
    assert (
        desktop.locator("#handout-title").inner_text() == "Sus registros después del procedimiento"
    )
    assert desktop.locator(".handout .link-url").inner_text() == link
    desktop.emulate_media(media="print")
    assert all(visible(desktop, ON_PAPER))
    # The staff page's own parts stay off the paper: its header, heading, link box, buttons.
    for selector in (".site-header", "h1", ".link-card", "form[action$='/link/reissue']"):
        assert not any(visible(desktop, selector)), selector
    assert desktop.watch.problems == []
