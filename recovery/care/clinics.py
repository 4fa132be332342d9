"""Clinics: creation, settings (curve, schedule, outreach), time zone and emergency number."""

import hashlib
import json
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import update

from ..clinical.curve import CurveParams
from ..clinical.schedule import DEFAULT_SCHEDULE, Window, schedule_from_list, schedule_to_list
from ..extensions import db
from .models import Clinic, Episode


class SetupError(ValueError):
    """A clinic or staff account could not be created; the message says why."""


@dataclass(frozen=True)
class ClinicRules:
    """What a clinic's settings make of the rules: its curve and band parameters, its check-in
    schedule, and a fingerprint of both that changes whenever either does (an episode's
    running state records the one it was computed under, `recovery.care.summary`)."""

    params: CurveParams
    schedule: tuple[Window, ...]
    fingerprint: str


#: Parsed settings by their stored text, so each process parses a clinic's settings once per
#: version of them. Keyed on the settings themselves, never on time: another process may
#: change them at any moment, and the next request here that reads the row sees the change.
_RULES: dict[str, ClinicRules] = {}
#: Enough for every clinic's current and previous settings; past it the cache starts again.
_RULES_KEPT = 256


#: How an episode's running state is computed (recovery.care.summary, rules.History): part
#: of the fingerprint a state is kept under, so raising it when that computation changes has
#: every kept state rebuilt from the entries at its episode's next check-in.
STATE_VERSION = 1


def clinic_rules(clinic: Clinic) -> ClinicRules:
    """The clinic's parameters (published defaults where not overridden), its schedule (or
    the default protocol) and their fingerprint."""
    settings = clinic.settings or {}
    curve, items = settings.get("curve") or {}, settings.get("schedule") or None
    key = json.dumps([curve, items], sort_keys=True)
    rules = _RULES.get(key)
    if rules is None:
        params = CurveParams.from_dict(curve)
        schedule = schedule_from_list(items) if items else DEFAULT_SCHEDULE
        effective = json.dumps(
            [STATE_VERSION, params.to_dict(), schedule_to_list(schedule)], sort_keys=True
        )
        fingerprint = hashlib.sha256(effective.encode()).hexdigest()[:16]
        rules = ClinicRules(params, schedule, fingerprint)
        if len(_RULES) >= _RULES_KEPT:
            _RULES.clear()
        _RULES[key] = rules
    return rules


def clinic_params(clinic: Clinic) -> CurveParams:
    """The clinic's curve and band parameters (published defaults where not overridden)."""
    return clinic_rules(clinic).params


def clinic_schedule(clinic: Clinic) -> tuple[Window, ...]:
    """The clinic's check-in schedule, or the default protocol."""
    return clinic_rules(clinic).schedule


def save_clinic_params(clinic: Clinic, params: CurveParams) -> None:
    """Store `params` as the clinic's curve settings."""
    clinic.settings = {**(clinic.settings or {}), "curve": params.to_dict()}
    db.session.flush()


def clinic_zone(clinic: Clinic) -> ZoneInfo:
    """The clinic's time zone, for showing times."""
    return ZoneInfo(clinic.timezone)


#: The number patients are told to call for chest pain or breathlessness, unless the clinic
#: sets its own: 112 reaches emergency services from any mobile phone in Europe and beyond.
DEFAULT_EMERGENCY_NUMBER = "112"
_EMERGENCY_NUMBER = re.compile(r"[0-9]{2,6}")


def valid_emergency_number(number: str) -> str:
    """`number` (2 to 6 digits, e.g. 999, 911, 000) or SetupError."""
    number = number.strip()
    if not _EMERGENCY_NUMBER.fullmatch(number):
        raise SetupError(f"the emergency number must be 2 to 6 digits, not {number!r}")
    return number


def valid_mrn_system(system: str) -> str:
    """A FHIR identifier system for the clinic's MRNs (a URI such as urn:oid:1.2.3), or
    SetupError; empty text removes the clinic's own system."""
    system = system.strip()
    if system and (len(system) > 255 or ":" not in system or any(c.isspace() for c in system)):
        raise SetupError(f"the MRN system must be a URI such as urn:oid:1.2.3, not {system!r}")
    return system


def emergency_number(clinic: Clinic) -> str:
    """The emergency services number the clinic's patients are told to call."""
    return (clinic.settings or {}).get("emergency_number") or DEFAULT_EMERGENCY_NUMBER


def create_clinic(
    slug: str,
    name: str,
    timezone: str = "Europe/London",
    phone: str = "",
    emergency: str = DEFAULT_EMERGENCY_NUMBER,
) -> Clinic:
    """Create a clinic; raises SetupError for a taken slug, an unknown time zone or a bad
    emergency number."""
    slug = slug.strip().lower()
    if not slug or not slug.replace("-", "").isalnum():
        raise SetupError("the slug must be letters, digits and hyphens")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SetupError(f"unknown time zone {timezone!r}") from exc
    if db.session.scalar(db.select(Clinic).filter_by(slug=slug)) is not None:
        raise SetupError(f"a clinic with slug {slug!r} already exists")
    settings = {}
    if valid_emergency_number(emergency) != DEFAULT_EMERGENCY_NUMBER:
        settings["emergency_number"] = emergency.strip()
    clinic = Clinic(
        slug=slug, name=name.strip(), timezone=timezone, phone=phone.strip(), settings=settings
    )
    db.session.add(clinic)
    db.session.flush()
    return clinic


def get_clinic(slug: str) -> Clinic:
    """The clinic with `slug`; raises SetupError when there is none."""
    clinic = db.session.scalar(db.select(Clinic).filter_by(slug=slug.strip().lower()))
    if clinic is None:
        raise SetupError(f"no clinic with slug {slug!r}")
    return clinic


def update_clinic_settings(
    clinic: Clinic,
    curve_overrides: dict | None = None,
    schedule_items: list | None = None,
    emergency: str | None = None,
    mrn_system: str | None = None,
    notify: list[str] | None = None,
    escalate: list[str] | None = None,
) -> None:
    """Change the clinic's settings; SetupError when any is invalid (then none changes).

    `curve_overrides` may also hold the outreach settings (`OUTREACH_SETTINGS`). Curve values
    merge into the current ones; a schedule, or a list of targets, replaces the current one.
    """
    settings = dict(clinic.settings or {})
    overrides = dict(curve_overrides or {})
    try:
        for name in OUTREACH_SETTINGS:
            if name in overrides:
                settings[name] = _outreach_value(name, overrides.pop(name))
        if notify is not None:
            settings["notify"] = _targets(notify)
        if escalate is not None:
            settings["escalate"] = _targets(escalate)
        if overrides:
            merged = {**clinic_params(clinic).to_dict(), **overrides}
            settings["curve"] = CurveParams.from_dict(merged).to_dict()
        if schedule_items is not None:
            settings["schedule"] = schedule_to_list(schedule_from_list(schedule_items))
        if emergency is not None:
            settings["emergency_number"] = valid_emergency_number(emergency)
        if mrn_system is not None:
            settings["fhir_mrn_system"] = valid_mrn_system(mrn_system)
    except (ValueError, TypeError) as exc:
        raise SetupError(f"invalid setting: {exc}") from exc
    clinic.settings = settings
    if schedule_items is not None or "quiet_hours" in (curve_overrides or {}):
        # The outreach job's next look at each episode was worked out from the old windows
        # or quiet hours: it looks at every active episode at its next run instead.
        db.session.execute(
            update(Episode)
            .where(Episode.clinic_id == clinic.id, Episode.status == "active")
            .values(outreach_due_dt=Episode.procedure_dt)
        )
    db.session.flush()


def clinic_settings_json(clinic: Clinic) -> dict:
    """The clinic's effective settings (defaults filled in), JSON-safe. Notification targets
    are shown with their passwords and tokens masked."""
    from .senders import masked_target

    outreach = outreach_settings(clinic)
    return {
        "curve": clinic_params(clinic).to_dict(),
        "schedule": schedule_to_list(clinic_schedule(clinic)),
        "emergency_number": emergency_number(clinic),
        "fhir_mrn_system": (clinic.settings or {}).get("fhir_mrn_system") or None,
        "notify": [masked_target(url) for url in outreach.notify],
        "escalate": [masked_target(url) for url in outreach.escalate],
        "escalate_after_minutes": outreach.escalate_after_minutes,
        "quiet_hours": outreach.quiet_hours_text,
        "response_hours": outreach.response_hours,
    }


# Reaching people: reminders, on-call notifications and escalation (recovery.care.outreach).

#: Reminders wait outside these local hours (start-end, crossing midnight), unless changed.
DEFAULT_QUIET_HOURS = "21:00-08:00"
#: An emergency or urgent alert not acknowledged within this goes to the escalation targets.
DEFAULT_ESCALATE_AFTER_MINUTES = 15
#: What the clinic tells a patient whose answer raised an alert: "we will contact you within".
DEFAULT_RESPONSE_HOURS = 24
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
#: The settings `--set NAME=VALUE` changes besides the curve's.
OUTREACH_SETTINGS = ("escalate_after_minutes", "quiet_hours", "response_hours")


@dataclass(frozen=True)
class OutreachSettings:
    """How a clinic reaches people: its notification targets (Apprise URLs), when it
    escalates, when reminders wait, and the response time patients are promised."""

    notify: tuple[str, ...] = ()
    escalate: tuple[str, ...] = ()
    escalate_after_minutes: int = DEFAULT_ESCALATE_AFTER_MINUTES
    #: (start, end) in minutes after local midnight, or None for no quiet hours.
    quiet_hours: tuple[int, int] | None = (21 * 60, 8 * 60)
    response_hours: int = DEFAULT_RESPONSE_HOURS

    @property
    def quiet_hours_text(self) -> str:
        """ "21:00-08:00", or "" when reminders may go at any hour."""
        if self.quiet_hours is None:
            return ""
        return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in self.quiet_hours)


def parse_quiet_hours(text: str) -> tuple[int, int] | None:
    """ "21:00-08:00" -> (1260, 480) minutes after midnight; "" or "none" -> None; else
    ValueError."""
    text = text.strip()
    if text.lower() in ("", "none", "off"):
        return None
    start, sep, end = text.partition("-")
    clocks = [_CLOCK.fullmatch(part.strip()) for part in (start, end)]
    if not sep or not all(clocks) or start.strip() == end.strip():
        raise ValueError(f"quiet hours are HH:MM-HH:MM such as 21:00-08:00, not {text!r}")
    return tuple(int(c.group(1)) * 60 + int(c.group(2)) for c in clocks)  # type: ignore[return-value]


def _whole_number(name: str, value, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise ValueError(f"{name} must be from {low} to {high}")
    return number


def outreach_settings(clinic: Clinic) -> OutreachSettings:
    """The clinic's targets and outreach timings (defaults where not set)."""
    settings = clinic.settings or {}
    quiet = settings.get("quiet_hours", DEFAULT_QUIET_HOURS)
    return OutreachSettings(
        notify=tuple(settings.get("notify") or ()),
        escalate=tuple(settings.get("escalate") or ()),
        escalate_after_minutes=int(
            settings.get("escalate_after_minutes", DEFAULT_ESCALATE_AFTER_MINUTES)
        ),
        quiet_hours=parse_quiet_hours(quiet),
        response_hours=int(settings.get("response_hours", DEFAULT_RESPONSE_HOURS)),
    )


def response_hours(clinic: Clinic) -> int:
    """Within how many hours the clinic contacts a patient whose answer raised an alert."""
    return outreach_settings(clinic).response_hours


def _outreach_value(name: str, value) -> object:
    """A valid stored value for the outreach setting `name`, or ValueError."""
    if name == "escalate_after_minutes":
        return _whole_number(name, value, 1, 24 * 60)
    if name == "response_hours":
        return _whole_number(name, value, 1, 14 * 24)
    parse_quiet_hours(str(value))
    return str(value).strip() if str(value).strip().lower() not in ("none", "off") else ""


def _targets(urls) -> list[str]:
    """The notification target URLs, each one Apprise understands, or ValueError."""
    from .senders import valid_target

    return list(dict.fromkeys(valid_target(url) for url in urls if url.strip()))
