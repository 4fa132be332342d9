"""Every word a user reads is wrapped for translation: a new language is a catalogue.

The test extracts the catalogue with the same command as `make messages`, "translates" every
message into a pseudo-language (each message wrapped in ⟦ ⟧) under the locale `eo`, and
renders the pages in that locale. Any visible word outside the brackets that is not data
(names, e-mail addresses, numbers, dates) was not wrapped.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from recovery import ROOT
from recovery.care.alerts import acknowledge_alert
from recovery.care.clinics import update_clinic_settings
from recovery.care.episodes import issue_link, record_pain_entry
from recovery.care.models import Alert, Notification
from recovery.care.outreach import compose
from recovery.clinical.vocabulary import EntrySource
from recovery.extensions import babel, db
from tests import factories

PSEUDO = "eo"
OPEN, CLOSE = "\u27e6", "\u27e7"
# Text the user typed or the system generated, and units: not for translators.
# Language names are shown in their own language ("English", "Español") on purpose.
DATA_WORDS = {"Recovery", "NRS", "UTC", "Europe", "London", "English", "Español", "Esperanto"}


def extracted_messages(directory: Path, locale: str | None = None):
    """The messages in the code and templates now, extracted as `make messages` does (into
    `directory`), as a catalogue for `locale`."""
    pot = directory / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run(
        [str(pybabel), "extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_", "-o", str(pot), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as file:
        return read_po(file, locale=locale)


def pseudo_catalogue(directory: Path) -> None:
    """Extract the messages as `make messages` does and write a pseudo-translated .mo."""
    catalog = extracted_messages(directory, PSEUDO)
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            message.string = tuple(f"{OPEN}{message.id[1]}{CLOSE}" for _ in range(2))
        else:
            message.string = f"{OPEN}{message.id}{CLOSE}"
    target = directory / PSEUDO / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as file:
        write_mo(file, catalog)


class VisibleText(HTMLParser):
    """Text nodes and user-facing attributes, outside <script> and <style>."""

    ATTRIBUTES = ("alt", "aria-label", "placeholder", "title")

    def __init__(self):
        super().__init__()
        self.skip = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "title"):
            self.skip += 1
        for name, value in attrs:
            if name in self.ATTRIBUTES and value:
                self.texts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.texts.append(data.strip())


def unwrapped_words(html: str, phrases: set[str], words: set[str]) -> list[str]:
    """Visible words of `html` outside ⟦ ⟧ that are not data.

    `phrases` (names, notes, e-mail addresses) are removed first; `words` (month and day
    names, units) are allowed as whole words.
    """
    parser = VisibleText()
    parser.feed(html)
    found = []
    for text in parser.texts:
        outside, removed = text, 1
        while removed:  # innermost first: messages nest
            outside, removed = re.subn(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}", " ", outside)
        for phrase in sorted(phrases, key=len, reverse=True):
            outside = outside.replace(phrase, " ")
        for word in re.findall(r"[^\W\d_]{2,}", outside):
            if word not in DATA_WORDS and word.lower() not in words:
                found.append(f"{word!r} in {text[:80]!r}")
    return found


def leaf_strings(data) -> list[str]:
    """The strings (not the keys) in a tree of Babel's locale data."""
    if hasattr(data, "values"):
        return [text for value in data.values() for text in leaf_strings(value)]
    return [data] if isinstance(data, str) else []


def locale_words(code: str = PSEUDO) -> set[str]:
    """Month and day names of a locale (the pseudo one unless given): dates are data
    formatted by Babel."""
    locale = Locale.parse(code)
    words = set()
    for names in (locale.months, locale.days):
        for widths in names["format"].values():
            words.update(str(v).lower() for v in widths.values())
    for period in locale.day_periods["format"]["abbreviated"].values():
        words.add(str(period).lower())
    for unit, patterns in locale._data["unit_patterns"].items():  # "{0} sekundoj"
        if unit.startswith("duration-"):
            for pattern in leaf_strings(patterns):
                words.update(w.lower() for w in re.findall(r"[^\W\d_]+", pattern))
    return {w.strip(".") for w in words}


@contextmanager
def fresh_translations():
    """Flask-Babel keeps the catalogues it loaded per process, by language, whichever app
    asked: start and end with none, so this test reads its own catalogue and no other test
    reads it."""

    def forget():
        domain = vars(babel).get("domain_instance")  # a cached property, made on first use
        if domain is not None:
            domain.cache.clear()

    forget()
    try:
        yield
    finally:
        forget()


@pytest.fixture
def extra_config(tmp_path) -> dict:
    """The pseudo-language catalogue, offered beside English."""
    pseudo_catalogue(tmp_path)
    with fresh_translations():
        yield {"LANGUAGES": ["en", PSEUDO], "BABEL_TRANSLATION_DIRECTORIES": str(tmp_path)}


def sample_pages(client, clinic, nurse, now, language: str) -> tuple[dict[str, str], set[str]]:
    """Every patient and staff page, rendered in `language` (the patient's own language on
    patient pages, the browser's on staff pages): {url: html}, and the data shown on them
    (names, notes, e-mail addresses) that no catalogue translates."""
    names = {"Ursula Urgent", "Harold High"}
    urgent = factories.gen_episode(clinic, name="Ursula Urgent", mrn="MRN-U1")
    urgent.episode.patient.preferred_language = language
    factories.gen_entry(urgent.episode, 5, 20, red_flags=["leg_weakness"], note="sore back")
    high = factories.gen_episode(clinic, name="Harold High", procedure_dt=now - timedelta(days=2))
    high.episode.patient.preferred_language = language  # the handout staff print is his
    factories.gen_entry(high.episode, 8, 30)
    alert = db.session.scalar(db.select(Alert).filter_by(episode_id=high.episode.id))
    acknowledge_alert(alert, nurse, action="called_patient", note="rang her")
    db.session.commit()
    phrases = {*names, "MRN-U1", "sore back", "rang her", clinic.name, nurse.email}
    if nurse.name:
        phrases.add(nurse.name)
    headers = {"Accept-Language": language}

    patient_pages = [f"/p/{urgent.token}", "/p/not-a-valid-token"]
    entry_id = urgent.episode.entries[0].id
    patient_pages.append(f"/p/{urgent.token}/entries/{entry_id}")
    patient_pages.append(f"/p/{urgent.token}/reminders")
    patient_pages.append(f"/p/{urgent.token}/handout")
    caregiver = issue_link(urgent.episode, holder=EntrySource.CAREGIVER)
    db.session.commit()
    patient_pages += [f"/p/{caregiver}", f"/p/{caregiver}/reminders"]
    phrases.add(f"http://localhost/p/{urgent.token}")  # the handout's link, data
    refused = {"/p/not-a-valid-token": 404, f"/p/{caregiver}/reminders": 403}
    pages = {}
    for url in ["/login", *patient_pages]:
        response = client.get(url, headers=headers)
        assert response.status_code == refused.get(url, 200), url
        pages[url] = response.get_data(as_text=True)

    nurse.role = "admin"  # to see the team page too
    db.session.commit()
    client.post("/login", data={"email": nurse.email, "password": factories.PASSWORD})
    staff_pages = [
        "/staff/",
        f"/staff/episodes/{urgent.episode.id}",
        f"/staff/episodes/{high.episode.id}",
        f"/staff/episodes/{urgent.episode.id}/link",
        "/staff/enrol",
        "/staff/exports",
        "/staff/cohort",
        "/staff/no-such-page",
        "/account/password",
        "/staff/team",
        "/staff/settings",
        "/staff/audit",
    ]
    for url in staff_pages:
        response = client.get(url, headers=headers)
        assert response.status_code == (404 if "no-such" in url else 200), url
        pages[url] = response.get_data(as_text=True)
    # A new link, shown once with the patient's handout.
    reissue = f"/staff/episodes/{high.episode.id}/link/reissue"
    shown = client.post(reissue, headers=headers, follow_redirects=True)
    assert "handout-title" in shown.get_data(as_text=True)
    pages[reissue] = shown.get_data(as_text=True)
    phrases.add(re.search(r'id="patient-link">([^<]+)<', pages[reissue]).group(1))
    return pages, phrases


def test_every_visible_word_is_wrapped_for_translation(client, clinic, nurse, now):
    pages, phrases = sample_pages(client, clinic, nurse, now, PSEUDO)
    words = locale_words()
    problems = {url: unwrapped_words(page, phrases, words) for url, page in pages.items()}
    assert {url: words for url, words in problems.items() if words} == {}


def test_every_word_of_a_reminder_and_an_alert_message_is_wrapped(
    runner, app, client, clinic, nurse
):
    """Messages the job sends: a reminder in the patient's language (email and text message,
    printed by the console sender), and an on-call alert in the staff's."""
    app.config.update(NOTIFY_CONSOLE=True, BABEL_DEFAULT_LOCALE=PSEUDO)
    procedure = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    update_clinic_settings(clinic, {"quiet_hours": "none"}, notify=["json://127.0.0.1:9/x"])
    db.session.commit()
    with time_machine.travel(procedure, tick=False):
        enrolled = factories.gen_episode(
            clinic, procedure_dt=procedure, email="ann@example.test", phone="+447700900123"
        )
        enrolled.episode.patient.preferred_language = PSEUDO
        db.session.commit()
    with time_machine.travel(procedure + timedelta(minutes=30), tick=False):
        record_pain_entry(enrolled.episode, pain=5, red_flags=["leg_weakness"])
        db.session.commit()
    at = procedure + timedelta(hours=1)
    result = runner.invoke(args=["recovery", "tick", "--at", at.isoformat()])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    lines = [line for line in result.output.splitlines() if not line.startswith(("---", "{"))]
    notification = db.session.scalar(db.select(Notification).filter_by(kind="on_call"))
    alert_message = compose(notification, at)
    lines += [alert_message.subject, alert_message.body]
    text = re.sub(f"https?://[^\\s{CLOSE}]+", " ", "\n".join(lines))
    assert text.count(OPEN) >= 8  # subjects, lines, the text message, the alert
    assert unwrapped_words(html.escape(text), {clinic.name, "P."}, locale_words()) == []
    # The episode's timeline and the alert's history say what was sent, in words too.
    client.post("/login", data={"email": nurse.email, "password": factories.PASSWORD})
    page = client.get(
        f"/staff/episodes/{enrolled.episode.id}", headers={"Accept-Language": PSEUDO}
    ).get_data(as_text=True)
    patient = enrolled.episode.patient
    data = {clinic.name, patient.display_name, patient.email, patient.phone, nurse.email}
    data |= {notification.last_error, notification.target_label}  # the sender's own words
    assert unwrapped_words(page, data, locale_words()) == []
    assert page.count("json://127.0.0.1:9/x: A Connection error") == 2  # history, timeline
