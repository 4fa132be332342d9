"""The clinical vocabulary: every code the app stores, with its words, defined once (pure).

Rules, severities and their order, alert statuses, alert actions, alert history events, red
flags (code, the patient's words, the clinician's words), indications, entry sources, episode
statuses and staff roles. The models build their CHECK constraints from these enums, the forms
their choices, the API its schema enums, the exports their codes, the charts and templates
their words; nothing else spells a code or its label. Codes are stable (database, API, CSV,
FHIR); labels are marked with `N_` for translation and shown through `recovery.clinical.message`.

Red-flag codes and the severities follow docs/clinical.md, "Alert rules" (version 2: a red flag
with chest pain or breathlessness, a possible cement embolism, is an emergency; VERTOS II,
Klazen 2010; VERTOS IV, Firanescu 2018).

`duration` is the one formatter for a time since the procedure, used by tables, charts and
alert reasons alike.

Pure: standard library, `recovery.clinical.message` and `recovery.clinical.schedule` only.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from functools import cache

from .message import N_, Message
from .schedule import HOURS_PER_DAY


class Term(StrEnum):
    """A stored code with its words for people: ``Rule.REBOUND == "rebound"``, ``.label``."""

    label: str

    def __new__(cls, code: str, label: str) -> Term:
        member = str.__new__(cls, code)
        member._value_ = code
        member.label = label
        return member

    @classmethod
    @cache
    def codes(cls) -> tuple[str, ...]:
        """Every code, in definition order (the order pages and exports list them)."""
        return tuple(member.value for member in cls)

    @property
    def message(self) -> Message:
        """The label as a `Message`, for `render(gettext)`."""
        return Message(self.label)


class Rule(Term):
    """The alert rules in priority order (docs/clinical.md, "Alert rules")."""

    RED_FLAG = "red_flag", N_("Red flag")
    ABOVE_EXPECTED = "above_expected", N_("Above expected")
    NO_IMPROVEMENT = "no_improvement", N_("No improvement")
    REBOUND = "rebound", N_("Rebound")
    PERSISTENT = "persistent", N_("Persistent pain")
    MISSED_CHECKIN = "missed_checkin", N_("Missed check-in")


#: The rules that judge the score (not symptoms, not attendance).
SCORE_RULES = frozenset({Rule.ABOVE_EXPECTED, Rule.NO_IMPROVEMENT, Rule.REBOUND, Rule.PERSISTENT})


class Severity(IntEnum):
    """How soon a nurse should act; a higher value is more urgent.

    Stored and sent as its lower-case ``code``; listed most urgent first everywhere
    (`Severity.most_urgent_first`): emergency, urgent, high, moderate.
    """

    MODERATE = 1
    HIGH = 2
    URGENT = 3
    EMERGENCY = 4

    @property
    def code(self) -> str:
        """The code stored in the database and sent by the API ("moderate", ...)."""
        return self.name.lower()

    @property
    def label(self) -> str:
        """The word for people (translate before showing)."""
        return _SEVERITY_LABELS[self]

    @property
    def message(self) -> Message:
        """The label as a `Message`."""
        return Message(self.label)

    @classmethod
    def from_code(cls, code: str) -> Severity:
        """The severity for a code such as "high"; raises ValueError for an unknown code."""
        try:
            return cls[code.strip().upper()]
        except (KeyError, AttributeError):
            raise ValueError(f"unknown severity {code!r}") from None

    @classmethod
    def most_urgent_first(cls) -> tuple[Severity, ...]:
        """Every severity, most urgent first."""
        return tuple(sorted(cls, reverse=True))

    @classmethod
    @cache
    def codes(cls) -> tuple[str, ...]:
        """Every code, most urgent first (the order of filters, enums and exports)."""
        return tuple(s.code for s in cls.most_urgent_first())

    @classmethod
    def rank_of(cls, code: str) -> int:
        """0 for the most urgent code, 1 for the next...; unknown codes sort last."""
        codes = cls.codes()
        return codes.index(code) if code in codes else len(codes)


_SEVERITY_LABELS = {
    Severity.MODERATE: N_("Moderate"),
    Severity.HIGH: N_("High"),
    Severity.URGENT: N_("Urgent"),
    Severity.EMERGENCY: N_("Emergency"),
}


class RedFlag(Term):
    """Red-flag symptoms (docs/clinical.md, rule 1): the clinician's words and the patient's.

    ``label`` is the clinician's wording (staff pages, reasons, exports); ``patient_label`` the
    first-person words on the patient's check-in.
    """

    patient_label: str

    def __new__(cls, code: str, label: str, patient_label: str) -> RedFlag:
        member = str.__new__(cls, code)
        member._value_ = code
        member.label = label
        member.patient_label = patient_label
        return member

    LEG_WEAKNESS = (
        "leg_weakness",
        N_("new weakness in the legs"),
        N_("New weakness in my legs"),
    )
    NUMBNESS = (
        "numbness",
        N_("new numbness, tingling or shooting pain in the legs, arms or chest wall"),
        N_("New numbness, tingling or shooting pain in my legs, arms or chest wall"),
    )
    BLADDER_BOWEL = (
        "bladder_bowel",
        N_("new loss of bladder or bowel control"),
        N_("New loss of bladder or bowel control"),
    )
    CHEST_PAIN = "chest_pain", N_("chest pain"), N_("Chest pain")
    BREATHLESS = "breathless", N_("shortness of breath"), N_("Shortness of breath")
    FEVER = "fever", N_("fever or chills"), N_("Fever or chills")
    WOUND = (
        "wound",
        N_("bleeding, swelling or redness at the needle site"),
        N_("Bleeding, swelling or redness where the needle went in"),
    )
    NEW_PAIN = (
        "new_pain",
        N_("sudden new back pain at a different level"),
        N_("Sudden new back pain in a different place"),
    )


def label_of(terms: type[Term] | type[Severity], code: str) -> str:
    """The words for `code` in the vocabulary `terms` (untranslated), or `code` itself when
    it is not one of them (a row older than the vocabulary): pages never fail on a code."""
    try:
        term = terms.from_code(code) if terms is Severity else terms(code)
    except ValueError:
        return code
    return term.label


#: Red flags that mean "call emergency services", not the clinic: severity emergency.
EMERGENCY_FLAGS = frozenset({RedFlag.CHEST_PAIN, RedFlag.BREATHLESS})


def red_flag_severity(codes: tuple[str, ...] | list[str]) -> Severity | None:
    """The severity of a report with these red flags: emergency, urgent, or None for none."""
    if not codes:
        return None
    return Severity.EMERGENCY if EMERGENCY_FLAGS.intersection(codes) else Severity.URGENT


class PatientStatus(Term):
    """What the patient is told after a check-in (`rules.assess`; first match wins, in this
    order). The labels name each for staff and integrators; the patient's page has its own
    words (recovery.web.results)."""

    EMERGENCY = "emergency", N_("Call emergency services")
    CALL_CLINIC = "call_clinic", N_("Call the clinic")
    EARLY_HIGH = "early_high", N_("High soon after the procedure")
    HIGHER = "higher", N_("Higher than expected")
    ON_TRACK = "on_track", N_("On track")


class AlertStatus(Term):
    """Where an alert is in the nurse's workflow."""

    OPEN = "open", N_("Open")
    ACKNOWLEDGED = "acknowledged", N_("Acknowledged")
    RESOLVED = "resolved", N_("Resolved")


class AlertAction(Term):
    """What a nurse did about an alert, recorded with an acknowledgement."""

    CALLED_PATIENT = "called_patient", N_("Called the patient")
    ADJUSTED_ANALGESIA = "adjusted_analgesia", N_("Adjusted analgesia")
    BOOKED_REVIEW = "booked_review", N_("Booked a review")
    SENT_TO_EMERGENCY = "sent_to_emergency", N_("Sent to emergency")
    NO_ACTION_NEEDED = "no_action_needed", N_("No action needed")
    OTHER = "other", N_("Other (see note)")


class AlertEventKind(Term):
    """One line of an alert's history."""

    OPENED = "opened", N_("Opened")
    UPDATED = "updated", N_("New finding")
    ESCALATED = "escalated", N_("Escalated")
    ACKNOWLEDGED = "acknowledged", N_("Acknowledged")
    RESOLVED = "resolved", N_("Resolved")
    REOPENED = "reopened", N_("Reopened")
    #: The on-call targets were sent the alert (one event per target).
    NOTIFIED = "notified", N_("On-call notified")
    #: Not acknowledged in time: the escalation targets were sent the alert.
    ESCALATION_SENT = "escalation_sent", N_("Escalation sent")
    #: A notification could not be delivered; `detail` says why (it is retried).
    NOTIFY_FAILED = "notify_failed", N_("Notification failed")
    #: A nurse tried to reach the patient; `action` holds the `ContactOutcome`.
    CONTACT = "contact", N_("Contact attempt")


class ContactOutcome(Term):
    """How a nurse's attempt to reach the patient went."""

    REACHED = "reached", N_("Reached the patient")
    NO_ANSWER = "no_answer", N_("No answer")
    LEFT_MESSAGE = "left_message", N_("Left a message")


class NotificationKind(Term):
    """What a message sent by the job is for."""

    #: A check-in window has opened.
    REMINDER = "reminder", N_("Reminder")
    #: The window closes soon and is still empty.
    LAST_REMINDER = "last_reminder", N_("Second reminder")
    #: An emergency, urgent or high alert, to the clinic's on-call targets.
    ON_CALL = "on_call", N_("On-call notification")
    #: An emergency or urgent alert not acknowledged in time, to the escalation targets.
    ESCALATION = "escalation", N_("Escalation")


class NotificationChannel(Term):
    """How a message travels."""

    EMAIL = "email", N_("Email")
    SMS = "sms", N_("Text message")
    #: A clinic's notification target (an Apprise URL: email, Teams, Slack, SMS, webhook...).
    TARGET = "target", N_("Notification target")


class NotificationStatus(Term):
    """Where a message is: waiting (or waiting to be retried), sent, or given up."""

    PENDING = "pending", N_("Waiting")
    SENT = "sent", N_("Sent")
    #: Every attempt failed; the last error is kept.
    FAILED = "failed", N_("Failed")
    #: No longer worth sending: the window closed or was filled, the patient opted out, the
    #: episode closed, the alert was acknowledged or the target removed.
    CANCELLED = "cancelled", N_("Cancelled")


class Indication(Term):
    """Why the vertebroplasty was done."""

    OSTEOPOROSIS = "osteoporosis", N_("Osteoporotic vertebral fracture")
    TUMOUR = "tumour", N_("Vertebral tumour (metastasis or myeloma)")
    OTHER = "other", N_("Other")


class EntrySource(Term):
    """Who recorded a pain entry: the patient or their caregiver (each through their own
    personal link), or staff on their behalf."""

    PATIENT = "patient", N_("Patient")
    STAFF = "staff", N_("Staff")
    CAREGIVER = "caregiver", N_("Caregiver")


class EpisodeStatus(Term):
    """Whether an episode is still followed."""

    ACTIVE = "active", N_("Active")
    CLOSED = "closed", N_("Closed")


class Role(Term):
    """A staff member's role in a clinic."""

    NURSE = "nurse", N_("Nurse")
    ADMIN = "admin", N_("Administrator")


def short_number(value: float) -> str:
    """A number as a reader takes it in: one decimal below 10 ("2.5", "3"), none above."""
    if abs(value) < 10:
        text = f"{value:.1f}"
        return text[:-2] if text.endswith(".0") else text
    return str(round(value))


_MONTH_H = 30 * HOURS_PER_DAY
#: Times below this many hours are given in hours ("60 h"), later ones in days and up.
HOURS_SHOWN_UP_TO = 72.0
#: Below each limit (hours since procedure), a time is shown in that unit.
_UNITS = (
    (HOURS_SHOWN_UP_TO, 1.0, N_("%(n)s h")),
    (14 * HOURS_PER_DAY, HOURS_PER_DAY, N_("%(n)s d")),
    (_MONTH_H, 7 * HOURS_PER_DAY, N_("%(n)s wk")),
)


#: Every template `duration` uses, so a caller can translate them ahead (the charts do).
DURATION_TEMPLATES = (
    N_("before procedure"),
    N_("%(n)s min"),
    *(unit for _limit, _unit_h, unit in _UNITS),
    N_("%(n)s mo"),
)


def duration(hours: float) -> Message:
    """Hours since the procedure in words read at a glance: "45 min", "24 h", "3 d", "2 wk".

    Minutes under 1 hour, hours up to 3 days, days up to 2 weeks, weeks up to a month (30
    days), then months; one decimal below 10 ("2.5 h"). Hours <= 0 are "before procedure".
    The one formatter for tables, charts and alert reasons.
    """
    if hours <= 0:
        return Message(N_("before procedure"))
    if hours < 1:
        return Message(N_("%(n)s min"), {"n": max(1, round(hours * 60))})
    for limit, unit_h, unit in _UNITS:
        if hours < limit:
            return Message(unit, {"n": short_number(hours / unit_h)})
    return Message(N_("%(n)s mo"), {"n": short_number(hours / _MONTH_H)})


def format_duration(hours: float) -> str:
    """`duration` in English."""
    return str(duration(hours))
