"""The patient handout: the personal link and its QR code, the check-in times, the warning
signs and the clinic's phone, on one printable page addressed to the patient.

Staff print it when they issue a link (the link page), and a patient or caregiver can print
their own from their link (/p/<token>/handout). It is written in the patient's language and
the clinic's time zone, with dates in full, since paper is read on other days than it was
printed (docs/patients.md, "The handout").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import segno
from flask import current_app, render_template_string
from flask_babel import force_locale, get_locale
from markupsafe import Markup

from ..care.clinics import clinic_schedule, emergency_number
from ..care.models import Episode, utcnow
from ..clinical.vocabulary import RedFlag, Severity, red_flag_severity
from ..translation import translate
from .results import window_times
from .when import after_procedure, between, capitalised


@dataclass(frozen=True)
class Handout:
    """Ready-to-print text for `templates/patient/_handout.html`."""

    language: str  # the page's language code, for the lang attribute
    clinic_name: str
    clinic_phone: str
    emergency_number: str
    url: str
    qr: str  # an SVG data: URI
    times: list[tuple[str, str]]  # (About 1 day after your procedure, between ... on ...)
    call_emergency: list[str]  # warning signs: call emergency services
    call_clinic: list[str]  # warning signs: call the clinic straight away


def handout(episode: Episode, url: str, now: datetime) -> Handout:
    """The handout for `episode` with its link `url`; check-ins that end after `now` only."""
    times = []
    for window in clinic_schedule(episode.clinic):
        if window.is_pre_procedure:
            continue
        start, end = window_times(episode, window)
        if end > now:
            when = capitalised(after_procedure(window.target_h))
            times.append((when, between(start, end, None)))
    flags = {True: [], False: []}
    for flag in RedFlag:
        flags[red_flag_severity([flag.value]) is Severity.EMERGENCY].append(
            translate(flag.patient_label)
        )
    return Handout(
        language=str(get_locale() or "en"),
        clinic_name=episode.clinic.name,
        clinic_phone=episode.clinic.phone,
        emergency_number=emergency_number(episode.clinic),
        url=url,
        qr=segno.make(url, error="m").svg_data_uri(scale=6, border=2),
        times=times,
        call_emergency=flags[True],
        call_clinic=flags[False],
    )


def printable_handout(episode: Episode, url: str, now: datetime | None = None) -> Markup:
    """The handout as HTML for a staff page, in the patient's language (English when the app
    does not offer it), its headings one level down (the page has its own h1)."""
    language = episode.patient.preferred_language
    if language not in current_app.config["LANGUAGES"]:
        language = current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(language):
        sheet = handout(episode, url, now or utcnow())
        return Markup(
            render_template_string(
                '{% from "patient/_handout.html" import handout %}{{ handout(h, 2) }}', h=sheet
            )
        )
