"""A patient switches their pages to Spanish on a phone-sized Chromium, and checks in."""

from datetime import UTC, datetime, timedelta

import pytest

from recovery.care.models import PainEntry, Patient
from recovery.extensions import db
from tests import factories
from tests.browser.test_patient_phone import touch_targets_too_small
from tests.test_spanish import compile_spanish
from tests.test_translation import fresh_translations


@pytest.fixture
def spanish(live_app, tmp_path):
    """The live app reads the Spanish catalogue compiled from its .po for this test."""
    catalogue = compile_spanish(tmp_path / "translations")
    live_app.extensions["babel"].translation_directories = [str(catalogue)]
    with fresh_translations():
        yield


def test_a_patient_switches_to_spanish_and_checks_in(live_server, phone, spanish):
    clinic = factories.gen_clinic(phone="+34 910 000 000")
    enrolled = factories.gen_episode(clinic, procedure_dt=datetime.now(UTC) - timedelta(hours=24))
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    assert phone.locator("h1").inner_text() == "How is your pain?"
    switch = phone.get_by_role("button", name="Español")
    assert touch_targets_too_small(phone, ".language-switch__button") == []
    switch.click()
    phone.wait_for_load_state()
    assert phone.locator("h1").inner_text() == "¿Cómo está su dolor?"
    assert phone.locator("html").get_attribute("lang") == "es"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    assert phone.get_by_role("button", name="English").is_visible()

    phone.locator("label[for=pain-6]").click()
    phone.get_by_role("button", name="Enviar").click()
    phone.wait_for_url("**/entries/*")
    assert phone.locator("h1").inner_text() in {
        "Va según lo previsto.",
        "Su dolor es más alto de lo esperado.",
    }
    assert "Próximo registro" in phone.content() or "Hacer otro registro" in phone.content()
    assert phone.watch.problems == []
    db.session.rollback()  # see what the server committed
    assert db.session.scalars(db.select(PainEntry.pain)).all() == [6]
    assert db.session.get(Patient, enrolled.episode.patient_id).preferred_language == "es"
