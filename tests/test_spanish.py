"""Spanish, complete: the catalogue translates every message, the pages in Spanish show no
English, and a patient's language is chosen at enrolment, on their own pages, and followed
by their reminders.

The catalogue is compiled here from `translations/es/LC_MESSAGES/messages.po` into tmp_path,
so the tests never read a stale `.mo` left by an earlier `make`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from recovery import ROOT
from recovery.care.episodes import revoke_link
from recovery.care.models import AuditEvent, Patient
from recovery.clinical.schedule import DEFAULT_SCHEDULE
from recovery.clinical.vocabulary import DURATION_TEMPLATES, RedFlag, Severity, Term
from recovery.extensions import db
from tests import factories
from tests.servers import smtp_server
from tests.test_translation import (
    DATA_WORDS,
    VisibleText,
    extracted_messages,
    fresh_translations,
    locale_words,
    sample_pages,
)

SPANISH_PO = ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po"
HOW_TO_FIX = (
    "translate them in translations/es/LC_MESSAGES/messages.po "
    "(after `make messages`; see docs/translation.md)"
)


def spanish_catalogue():
    with SPANISH_PO.open("rb") as file:
        return read_po(file, locale="es")


@pytest.fixture
def mail():
    with smtp_server() as (mailbox, port):
        yield mailbox, port


def compile_spanish(directory: Path) -> Path:
    """The Spanish .po compiled into `directory` (as `pybabel compile` does: fuzzy entries
    left out); returns `directory`, a translation directory."""
    target = directory / "es" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as file:
        write_mo(file, spanish_catalogue())
    return directory


@pytest.fixture
def extra_config(tmp_path, mail) -> dict:
    """English and Spanish, the Spanish catalogue compiled into tmp_path; email reminders to a
    real SMTP server."""
    with fresh_translations():
        yield {
            "LANGUAGES": ["en", "es"],
            "BABEL_TRANSLATION_DIRECTORIES": str(compile_spanish(tmp_path)),
            "SMTP_URL": f"smtp://127.0.0.1:{mail[1]}",
            "MAIL_FROM": "clinic@example.test",
        }


def test_the_spanish_catalogue_translates_every_message(tmp_path):
    template = extracted_messages(tmp_path)
    spanish = spanish_catalogue()
    gaps = []
    for message in template:
        if not message.id:
            continue
        translated = spanish.get(message.id, message.context)
        strings = translated.string if translated else ""
        strings = strings if isinstance(strings, tuple) else (strings,)
        if translated is None or translated.fuzzy or not all(strings):
            gaps.append(message.id)
    assert gaps == [], f"{len(gaps)} messages have no Spanish: {HOW_TO_FIX}"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in spanish.check()]
    assert problems == [], "placeholders must match the English"


def subclasses(cls) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *subclasses(direct))]


def test_every_word_of_the_clinical_core_has_spanish():
    """The vocabulary's labels, the durations and the schedule's windows, which the pages,
    reminders and alert reasons show: each has its Spanish (a label not marked with N_ would
    escape the extracted catalogue)."""
    texts = {member.label for terms in subclasses(Term) for member in terms}
    texts |= {member.patient_label for member in RedFlag}
    texts |= {severity.label for severity in Severity}
    texts |= set(DURATION_TEMPLATES) | {window.label for window in DEFAULT_SCHEDULE}
    assert len(texts) > 80
    spanish = spanish_catalogue()
    missing = [text for text in sorted(texts) if not getattr(spanish.get(text), "string", "")]
    assert missing == [], HOW_TO_FIX


def words_of(text: str) -> set[str]:
    """The words of a message, lower case, without its placeholders (%(pain)s, {n})."""
    text = re.sub(r"%\([^)]*\)[a-z]|\{[^}]*\}", " ", text)
    return {w.lower() for w in re.findall(r"[^\W\d_]{2,}", text)}


def english_only_words() -> set[str]:
    """Words of the English messages that no Spanish translation uses: on a Spanish page, any
    of them is text that was not translated."""
    spanish = spanish_catalogue()
    english, used = set(), set()
    for message in spanish:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in ids:
            english |= words_of(text)
        for text in strings:
            used |= words_of(text)
    return english - used - {w.lower() for w in DATA_WORDS}


def english_on(html: str, phrases: set[str], english: set[str]) -> list[str]:
    """Visible words of `html` that are English-only, after removing data (`phrases`)."""
    parser = VisibleText()
    parser.feed(html)
    found = []
    for text in parser.texts:
        outside = text
        for phrase in sorted(phrases, key=len, reverse=True):
            outside = outside.replace(phrase, " ")
        found += [
            f"{word!r} in {text[:80]!r}"
            for word in re.findall(r"[^\W\d_]{2,}", outside)
            if word.lower() in english
        ]
    return found


def test_every_page_in_spanish_shows_no_english(client, clinic, nurse, now):
    pages, phrases = sample_pages(client, clinic, nurse, now, "es")
    english = english_only_words() - locale_words("es")
    assert {"pain", "check", "your", "worklist", "alert"} <= english  # the check can fail
    problems = {url: english_on(page, phrases, english) for url, page in pages.items()}
    assert {url: words for url, words in problems.items() if words} == {}
    assert '<html lang="es">' in pages["/staff/"] and "Lista de trabajo" in pages["/staff/"]
    # Numbers in the Spanish way: the expected score in the entries table is "3,3", not "3.3".
    episode_pages = [
        page for url, page in pages.items() if re.fullmatch(r"/staff/episodes/\d+", url)
    ]
    assert all(re.search(r">\d,\d<", page) for page in episode_pages)
    assert not any(re.search(r">\d\.\d<", page) for page in episode_pages)
    checkin = next(page for url, page in pages.items() if url.count("/") == 2 and "/p/" in url)
    assert "¿Cómo está su dolor?" in checkin and "10 = el peor dolor que pueda imaginar" in checkin
    result = next(page for url, page in pages.items() if "/entries/" in url)
    # The next check-in in the Spanish way: "Su próximo registro: entre las 05:00 y las 09:00
    # de hoy"; on the handout with the weekday in full, "del miércoles, 10 de junio".
    assert re.search(r"Su próximo registro: (entre|ahora, hasta) las \d\d:\d\d", result)
    handout = next(page for url, page in pages.items() if url.endswith("/handout"))
    assert re.search(r"las \d\d:\d\d del \w+, \d+ de \w+", handout)


# The patient's language: at enrolment, on their pages, in their reminders.


def language_events(episode) -> list[str]:
    return db.session.scalars(
        db.select(AuditEvent.detail).filter_by(episode_id=episode.id, action="language_changed")
    ).all()


def test_a_patient_switches_to_spanish_from_their_page_and_back(client, clinic):
    enrolled = factories.gen_episode(clinic)
    link = f"/p/{enrolled.token}"
    page = client.get(link).get_data(as_text=True)
    assert "How is your pain?" in page
    assert f'action="{link}/language"' in page
    assert '<button type="submit" name="language" value="es" lang="es"' in page
    assert "Español</button>" in page and 'value="en" lang="en"' not in page

    response = client.post(f"{link}/language", data={"language": "es", "next": f"{link}/reminders"})
    assert response.status_code == 303 and response.headers["Location"] == f"{link}/reminders"
    page = client.get(f"{link}/reminders").get_data(as_text=True)
    assert '<html lang="es">' in page and "Recordatorios" in page
    assert 'value="en" lang="en"' in page and "English</button>" in page
    # The choice belongs to the patient, not to this browser: another phone sees Spanish too.
    client.delete_cookie("session")
    assert "¿Cómo está su dolor?" in client.get(link).get_data(as_text=True)
    assert language_events(enrolled.episode) == ["Español (es)"]

    # The same choice again (a double tap) changes and records nothing.
    client.post(f"{link}/language", data={"language": "es"})
    assert language_events(enrolled.episode) == ["Español (es)"]
    client.post(f"{link}/language", data={"language": "en"})
    db.session.refresh(enrolled.episode.patient)
    assert enrolled.episode.patient.preferred_language == "en"
    assert language_events(enrolled.episode) == ["Español (es)", "English (en)"]


@pytest.mark.parametrize(
    "data",
    [{"language": "fr"}, {"language": ""}, {}, {"language": "es\x00"}, {"language": "x" * 5000}],
)
def test_a_language_not_offered_is_refused_and_nothing_is_stored(client, clinic, data):
    enrolled = factories.gen_episode(clinic)
    response = client.post(f"/p/{enrolled.token}/language", data=data)
    assert response.status_code == 400
    assert f'href="/p/{enrolled.token}"' in response.get_data(as_text=True)  # back to check in
    db.session.refresh(enrolled.episode.patient)
    assert enrolled.episode.patient.preferred_language == "en"
    assert language_events(enrolled.episode) == []


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/p/x", "/staff/", "/p/other-token", "/p/{t}/../x"],
)
def test_after_a_switch_the_patient_stays_on_their_own_link(client, clinic, target):
    enrolled = factories.gen_episode(clinic)
    data = {"language": "es", "next": target.format(t=enrolled.token)}
    response = client.post(f"/p/{enrolled.token}/language", data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/p/{enrolled.token}"


def test_a_dead_link_cannot_change_a_language(client, clinic):
    enrolled = factories.gen_episode(clinic)
    assert client.post("/p/not-a-link/language", data={"language": "es"}).status_code == 404
    client.application.config["WTF_CSRF_ENABLED"] = True  # the link, not a cookie, is the key
    response = client.post(f"/p/{enrolled.token}/language", data={"language": "es"})
    assert response.status_code == 303


def test_staff_choose_the_language_at_enrolment(client, clinic, nurse, auth):
    auth.login()
    page = client.get("/staff/enrol").get_data(as_text=True)
    assert '<option selected value="en">English</option>' in page
    assert '<option value="es">Español</option>' in page
    today = datetime.now(UTC).date().isoformat()
    data = {
        "display_name": "Ana García",
        "phone": "+34 600 000 000",
        "preferred_language": "es",
        "procedure_date": today,
        "procedure_time": "09:00",
        "indication": "osteoporosis",
    }
    assert client.post("/staff/enrol", data=data).status_code == 302
    patient = db.session.scalar(db.select(Patient).filter_by(display_name="Ana García"))
    assert patient.preferred_language == "es"
    response = client.post("/staff/enrol", data={**data, "preferred_language": "fr"})
    assert response.status_code == 400
    assert db.session.scalar(db.select(db.func.count(Patient.id))) == 1


def enroll(runner, clinic, *extra):
    return runner.invoke(
        args=[
            "recovery",
            "enroll",
            "--clinic",
            clinic.slug,
            "--name",
            "Ana García",
            "--procedure-at",
            "2026-11-26T09:00:00+01:00",
            "--no-phone-reason",
            "no phone",
            *extra,
        ]
    )


def test_the_command_line_enrols_in_spanish_and_refuses_an_unknown_language(runner, clinic):
    result = enroll(runner, clinic, "--language", "es")
    assert result.exit_code == 0, result.output
    patient_id = json.loads(result.output)["patient_id"]
    assert db.session.get(Patient, patient_id).preferred_language == "es"

    result = enroll(runner, clinic, "--language", "fr")
    assert result.exit_code != 0
    assert "unknown language 'fr': choose from en, es" in result.output
    assert db.session.scalar(db.select(db.func.count(Patient.id))) == 1
    result = enroll(runner, clinic)
    assert result.exit_code == 0, result.output
    assert db.session.get(Patient, json.loads(result.output)["patient_id"]).preferred_language == (
        "en"
    )


def test_a_spanish_patient_gets_their_reminder_email_in_spanish(runner, app, mail):
    mailbox = mail[0]
    procedure = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # 10:00 in London
    clinic = factories.gen_clinic(name="Spine Clinic", phone="+44 20 7946 0000")
    with time_machine.travel(procedure, tick=False):
        enrolled = factories.gen_episode(clinic, procedure_dt=procedure, email="ana@example.test")
        enrolled.episode.patient.preferred_language = "es"
        db.session.commit()
    at = procedure + timedelta(hours=1)  # the 2 h window opens (1-4 h)
    result = runner.invoke(args=["recovery", "tick", "--at", at.isoformat()])
    assert result.exit_code == 0, result.output
    [email] = mailbox.messages
    assert email["To"] == "ana@example.test"
    assert email["Subject"] == "Spine Clinic: es la hora de su registro de 2 h"
    body = email.get_content()
    assert "Es la hora de su registro del dolor de 2 h. Solo le llevará un minuto:" in body
    assert "Puede responder hasta el miércoles, 10 de junio, 14:00." in body
    assert "¿Tiene preguntas? Llame a la clínica al +44 20 7946 0000." in body
    assert "Para dejar de recibir estos recordatorios:" in body
    text = re.sub(r"http://\S+", " ", body)
    assert english_on(text, {"Spine Clinic"}, english_only_words()) == []


def test_a_link_that_does_not_work_is_shown_in_the_language_chosen_on_it(client, clinic):
    page = client.get("/p/not-a-link").get_data(as_text=True)
    assert "This link does not work" in page
    assert '<a href="?lang=es" lang="es" hreflang="es"' in page and "/language" not in page
    response = client.get("/p/not-a-link?lang=es")
    page = response.get_data(as_text=True)
    assert response.status_code == 404 and '<html lang="es">' in page
    assert "Este enlace no funciona" in page and '<a href="?lang=en"' in page
    # A revoked link's page names the clinic, in the patient's language unless asked otherwise.
    enrolled = factories.gen_episode(clinic)
    enrolled.episode.patient.preferred_language = "es"
    revoke_link(enrolled.episode)
    db.session.commit()
    assert "Este enlace no funciona" in client.get(f"/p/{enrolled.token}").get_data(as_text=True)
    page = client.get(f"/p/{enrolled.token}?lang=en").get_data(as_text=True)
    assert "This link does not work" in page and clinic.name in page
    assert "?lang=xx" not in page and client.get("/p/not-a-link?lang=xx").status_code == 404
