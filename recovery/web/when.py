"""Times in words for patients: "about 2 days after your procedure", "between 05:00 and 09:00
today", never "3.2 h".

Staff pages keep the compact `recovery.clinical.vocabulary.duration` ("2.5 h", "3 d"); what
a patient reads (the check-in page, the result page, the handout) goes through here. Clock
times are in the request's time zone (the clinic's, set with the patient's link), as 24-hour
"HH:mm"; days are "today", "tomorrow" or the weekday and date in the reader's language.
"""

from __future__ import annotations

import math
from datetime import datetime

from flask_babel import format_time, ngettext, to_user_timezone
from flask_babel import gettext as _

from ..translation import format_day

HOURS_PER_DAY = 24
HOURS_PER_WEEK = 7 * HOURS_PER_DAY
HOURS_PER_MONTH = 30 * HOURS_PER_DAY


def _unit(hours: float) -> tuple[str, int]:
    """The unit a patient counts `hours` in, and how many: hours below a day, days below two
    weeks (but whole weeks in weeks: "1 week", the check-in's name), weeks below two months,
    then months; rounded half up to a whole unit, at least 1 ("1 day" from 23.5 to 35.9 h)."""
    weeks = hours / HOURS_PER_WEEK
    if hours < HOURS_PER_DAY - 0.5:
        return "hour", _whole(hours)
    if hours < 2 * HOURS_PER_WEEK - HOURS_PER_DAY / 2 and not (
        weeks >= 1 and math.isclose(weeks, round(weeks))
    ):
        return "day", _whole(hours / HOURS_PER_DAY)
    if hours < 2 * HOURS_PER_MONTH - HOURS_PER_WEEK / 2:
        return "week", _whole(weeks)
    return "month", _whole(hours / HOURS_PER_MONTH)


def _whole(value: float) -> int:
    return max(1, math.floor(value + 0.5))


def span(hours: float) -> str:
    """A length of time as a patient says it, standing alone (a chart's time label): "6 hours",
    "1 day", "1 week", "3 months"."""
    unit, n = _unit(hours)
    if unit == "hour":
        return ngettext("%(num)d hour", "%(num)d hours", n)
    if unit == "day":
        return ngettext("%(num)d day", "%(num)d days", n)
    if unit == "week":
        return ngettext("%(num)d week", "%(num)d weeks", n)
    return ngettext("%(num)d month", "%(num)d months", n)


def after_procedure(hours: float) -> str:
    """When something happened, counted from the procedure: "before your procedure", "less
    than an hour after your procedure", "about 2 days after your procedure". Whole sentences
    per unit, so that a language can give the noun the form it takes after "about"."""
    if hours <= 0:
        return _("before your procedure")
    if hours < 1:
        return _("less than an hour after your procedure")
    unit, n = _unit(hours)
    if unit == "hour":
        return ngettext(
            "about %(num)d hour after your procedure", "about %(num)d hours after your procedure", n
        )
    if unit == "day":
        return ngettext(
            "about %(num)d day after your procedure", "about %(num)d days after your procedure", n
        )
    if unit == "week":
        return ngettext(
            "about %(num)d week after your procedure", "about %(num)d weeks after your procedure", n
        )
    return ngettext(
        "about %(num)d month after your procedure", "about %(num)d months after your procedure", n
    )


def _day(moment: datetime, now: datetime | None) -> str:
    if now is None:
        return _("on %(date)s", date=format_day(moment))
    days = (to_user_timezone(moment).date() - to_user_timezone(now).date()).days
    if days == 0:
        return _("today")
    if days == 1:
        return _("tomorrow")
    return _("on %(date)s", date=format_day(moment))


def _clock(moment: datetime) -> str:
    return format_time(moment, "HH:mm")


def at(moment: datetime, now: datetime | None) -> str:
    """A moment as a patient reads it: "09:00 today", "17:30 on Monday 7 December". With
    `now` None (a printed page, read on another day), always the date."""
    return _("%(time)s %(day)s", time=_clock(moment), day=_day(moment, now))


def between(start: datetime, end: datetime, now: datetime | None) -> str:
    """A check-in window: "between 05:00 and 09:00 today"; "now, until 21:00 today" once it
    has opened; across days, "between 21:00 today and 09:00 tomorrow". With `now` None (a
    printed page), dates only: "between 05:00 and 09:00 on Thursday 3 December"."""
    if now is not None and start <= now:
        return _("now, until %(end)s", end=at(end, now))
    if _day(start, now) == _day(end, now):
        return _(
            "between %(start)s and %(end)s %(day)s",
            start=_clock(start),
            end=_clock(end),
            day=_day(start, now),
        )
    return _("between %(start)s and %(end)s", start=at(start, now), end=at(end, now))


def capitalised(text: str) -> str:
    """`text` with its first letter upper case (a phrase that starts a line)."""
    return text[:1].upper() + text[1:]
