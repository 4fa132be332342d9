"""Words of the clinical core (`recovery.clinical.message`) in the reader's language.

Through Flask-Babel; the reminders the job writes use it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import match_skeleton
from flask_babel import format_decimal, get_locale, get_timezone, gettext, lazy_gettext
from wtforms.fields.choices import SelectChoice

from .clinical.message import Message
from .clinical.vocabulary import label_of


def translate(text: str) -> str:
    """`text`, a message id marked with N_ (or any text), in the reader's language."""
    return gettext(text) if text else text


def render(message: Message | Mapping[str, Any] | None, fallback: str = "") -> str:
    """A Message, or its stored JSON form, in the reader's language; `fallback` without one.

    A stored form that no longer reads as a message (edited by hand, an older format) also
    gives `fallback`: the English text stored beside it.
    """
    if message is None:
        return fallback
    try:
        if not isinstance(message, Message):
            message = Message.from_json(message)
        return message.render(translate)
    except (KeyError, TypeError, ValueError, AttributeError):
        return fallback


def words(terms: Any, code: str) -> str:
    """A stored code in the reader's language, by its vocabulary (`vocabulary.label_of`)."""
    return translate(label_of(terms, code))


def choices(terms: Iterable[Any], words: str = "label") -> list[SelectChoice]:
    """Form choices for vocabulary members (`recovery.clinical.vocabulary`): code and words, lazily
    translated; ``words="patient_label"`` gives the patient's words for red flags."""
    return [SelectChoice(term.value, lazy_gettext(getattr(term, words))) for term in terms]


def language_name(code: str) -> str:
    """A language's name in that language ("English", "Español"): what its readers look for."""
    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:]


def language_choices(codes: Iterable[str]) -> list[SelectChoice]:
    """Form choices for the offered languages (LANGUAGES), each named in its own language."""
    return [SelectChoice(code, language_name(code)) for code in codes]


def format_number(value: float, decimals: int = 1) -> str:
    """`value` with `decimals` decimal places in the reader's locale: "3.3", in Spanish "3,3"."""
    pattern = "0." + "0" * decimals if decimals else "0"
    return format_decimal(value, format=pattern)


#: The app's English is British: "Wednesday 10 June".
ENGLISH_DAY = "EEEE d MMMM"


def day_pattern(locale: Locale) -> str:
    """A Babel pattern for a day: the weekday in full, the day and the month in the locale's
    order and words ("Wednesday 10 June"; in Spanish "miércoles, 10 de junio")."""
    if locale.language == "en":
        return ENGLISH_DAY
    skeleton = match_skeleton("MMMMEd", locale.datetime_skeletons)
    day = str(locale.datetime_skeletons[skeleton].pattern)
    return re.sub(r"(?<![E'])E{1,3}(?!E)", "EEEE", day)  # the weekday in full, for patients


def day_time_pattern(locale: Locale) -> str:
    """A Babel pattern for a day and a time: `day_pattern` and a 24-hour time."""
    if locale.language == "en":
        return ENGLISH_DAY + ", HH:mm"
    medium = str(locale.datetime_formats["medium"])
    return medium.replace("{1}", day_pattern(locale)).replace("{0}", "HH:mm")


def format_day(when: datetime, zone: tzinfo | None = None) -> str:
    """A day for patients, in the reader's language (`day_pattern`); in `zone`, else the
    page's time zone."""
    locale = get_locale() or Locale.parse("en")
    return babel_format_datetime(
        when, day_pattern(locale), tzinfo=zone or get_timezone(), locale=locale
    )


def format_day_time(when: datetime, zone: tzinfo | None = None) -> str:
    """A day and a time for patients, in the reader's language: "Wednesday 10 June, 14:00",
    in Spanish "miércoles, 10 de junio, 14:00"; in `zone`, else the page's time zone."""
    locale = get_locale() or Locale.parse("en")
    return babel_format_datetime(
        when, day_time_pattern(locale), tzinfo=zone or get_timezone(), locale=locale
    )
