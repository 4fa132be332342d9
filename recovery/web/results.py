"""What the patient's result page says, prepared as plain strings for the template."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import format_datetime, ngettext
from flask_babel import gettext as _

from ..care.clinics import clinic_params, clinic_schedule, emergency_number, response_hours
from ..care.episodes import episode_baseline, episode_entries
from ..care.models import Episode, PainEntry, utcnow
from ..clinical.curve import chart_hours, curve_points, effective_baseline
from ..clinical.rules import Assessment
from ..clinical.schedule import next_due
from ..clinical.vocabulary import PatientStatus, duration
from ..translation import format_day_time, render, translate
from .chart_text import chart_labels
from .charts import patient_figure


@dataclass(frozen=True)
class ResultView:
    """Ready-to-show text for the result page."""

    tone: str  # "urgent", "warning", "info" or "ok": the page's colour and icon
    headline: str
    comparison: str
    actions: list[str]
    clinic_phone: str
    emergency_number: str
    show_emergency: bool
    next_checkin: str | None


def result_view(episode: Episode, entry: PainEntry, assessment: Assessment) -> ResultView:
    """Turn an assessment into the sentences a patient reads after checking in."""
    hours = episode.hours_since_procedure(entry.recorded_dt)
    expected = round(assessment.expected)
    if hours <= 0:
        comparison = _("You reported %(pain)s out of 10 before your procedure.", pain=entry.pain)
    else:
        comparison = _(
            "You reported %(pain)s out of 10, %(when)s after your procedure. "
            "At this time most people report about %(expected)s out of 10.",
            pain=entry.pain,
            when=render(duration(hours)),
            expected=expected,
        )
    status = assessment.status
    if status is PatientStatus.EMERGENCY:
        tone, headline = "urgent", _("Call emergency services now.")
        actions = [
            _(
                "Chest pain or shortness of breath after this procedure needs to be checked "
                "straight away. Call emergency services now."
            ),
            _("Then tell the clinic. The clinic has also been alerted."),
        ]
    elif status is PatientStatus.CALL_CLINIC:
        tone, headline = "urgent", _("Call the clinic now.")
        actions = [
            _("The symptom you ticked needs to be checked today. Call the clinic now."),
            _("If you cannot reach the clinic, call emergency services."),
        ]
    elif status is PatientStatus.EARLY_HIGH:
        tone, headline = "info", _("Pain is often high in the first hours.")
        actions = [
            _("Take the pain medicine you were prescribed, as directed."),
            _("Check in again at your next time. If the pain gets much worse, call the clinic."),
        ]
    elif status is PatientStatus.HIGHER:
        tone, headline = "warning", _("Your pain is higher than expected.")
        actions = [
            ngettext(
                "The clinic has been told and will contact you within %(num)d hour.",
                "The clinic has been told and will contact you within %(num)d hours.",
                response_hours(episode.clinic),
            ),
            _(
                "Take the pain medicine you were prescribed. If the pain gets much worse, or you "
                "notice any of the warning signs, call the clinic."
            ),
        ]
    else:
        tone, headline = "ok", _("You are on track.")
        actions = [_("Thank you. Keep checking in at the times the clinic gave you.")]
    return ResultView(
        tone=tone,
        headline=headline,
        comparison=comparison,
        actions=actions,
        clinic_phone=episode.clinic.phone,
        emergency_number=emergency_number(episode.clinic),
        show_emergency=status is PatientStatus.EMERGENCY,
        next_checkin=next_checkin_text(episode),
    )


def next_checkin_text(episode: Episode) -> str | None:
    """ "Next check-in: <time>" for the first unfilled window still open, or None."""
    now = utcnow()
    entry_hours = [episode.hours_since_procedure(e.recorded_dt) for e in episode.entries]
    window = next_due(
        clinic_schedule(episode.clinic), entry_hours, episode.hours_since_procedure(now)
    )
    if window is None:
        return None
    start = episode.procedure_dt + timedelta(hours=max(window.start_h, 0))
    when = max(start, now)
    return _(
        "Next check-in: %(label)s after your procedure, from %(when)s.",
        label=translate(window.label),
        when=format_day_time(when),
    )


def patient_chart(episode: Episode) -> dict:
    """The patient's own chart for a phone: their scores and the expected range."""
    entries = episode_entries(episode)
    params = clinic_params(episode.clinic)
    baseline, _assumed = effective_baseline(episode_baseline(episode, entries), params)
    return patient_figure(
        entries=[
            {
                "hours": episode.hours_since_procedure(e.recorded_dt),
                "pain": e.pain,
                "red_flags": list(e.red_flags or []),
                "source": e.source,
                "recorded_label": format_datetime(e.recorded_dt, "EEE d MMM HH:mm"),
            }
            for e in entries
        ],
        curve=curve_points(baseline, [0.0, *chart_hours()], params),
        labels=chart_labels(),
    )
