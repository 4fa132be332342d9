"""What the patient's result page says, prepared as plain strings for the template."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import ngettext

from ..care.clinics import (
    clinic_params,
    clinic_rules,
    clinic_schedule,
    emergency_number,
    response_hours,
)
from ..care.episodes import episode_baseline, episode_entries
from ..care.models import Episode, PainEntry, entries_in_force, utcnow
from ..care.summary import stored_filled_windows
from ..clinical.curve import (
    amber_line,
    chart_hours,
    curve_points,
    effective_baseline,
    expected_pain,
)
from ..clinical.rules import Assessment
from ..clinical.schedule import Window, filled_windows, next_due, next_unfilled, window_for
from ..clinical.vocabulary import PatientStatus
from .charts import PAIN_MAX
from .phone_chart import PhoneChart, Tick, phone_chart
from .when import after_procedure, between, capitalised, span


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


def entry_limit_text(retry_after: int) -> str:
    """What the patient (or caregiver) is told when the follow-up has taken its entries for the
    hour (`episodes.EntryLimitError`): nothing was lost, when to send again, whom to call."""
    minutes = max(1, -(-retry_after // 60))
    return ngettext(
        "Too many check-ins were sent for this follow-up in the last hour, so this one was not "
        "saved yet. Your answer is still below: please send it again in %(num)d minute. If you "
        "feel unwell, call the clinic now.",
        "Too many check-ins were sent for this follow-up in the last hour, so this one was not "
        "saved yet. Your answer is still below: please send it again in %(num)d minutes. If you "
        "feel unwell, call the clinic now.",
        minutes,
    )


def result_view(
    episode: Episode, entry: PainEntry, assessment: Assessment, now: datetime | None = None
) -> ResultView:
    """Turn an assessment into the sentences a patient reads after checking in."""
    hours = episode.hours_since_procedure(entry.recorded_dt)
    expected = round(assessment.expected)
    if hours <= 0:
        comparison = _("You reported %(pain)s out of 10 before your procedure.", pain=entry.pain)
    else:
        comparison = _(
            "You reported %(pain)s out of 10, %(when)s. "
            "At this time most people report about %(expected)s out of 10.",
            pain=entry.pain,
            when=after_procedure(hours),
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
        next_checkin=next_checkin_text(episode, now),
    )


def next_checkin_text(episode: Episode, now: datetime | None = None) -> str | None:
    """ "Your next check-in: between 05:00 and 09:00 today." for the first unfilled window
    still open, in the clinic's time zone; None once the last check-in is done."""
    now = now or utcnow()
    rules = clinic_rules(episode.clinic)
    filled = stored_filled_windows(episode, rules)
    if filled is None:
        filled = filled_windows(rules.schedule, _entry_hours(episode))
    window = next_unfilled(rules.schedule, filled, episode.hours_since_procedure(now))
    if window is None:
        return None
    start, end = window_times(episode, window)
    return _("Your next check-in: %(when)s.", when=between(start, end, now))


@dataclass(frozen=True)
class CheckinIntro:
    """What the check-in page says first: which check-in this is, and when the next one is."""

    this_checkin: str
    next_checkin: str | None


def checkin_intro(episode: Episode, now: datetime | None = None) -> CheckinIntro:
    """Which check-in the patient is about to make (check-in 3 of 8, about 1 day after the
    procedure), or that none is due now and when the next one is."""
    now = now or utcnow()
    schedule = [w for w in clinic_schedule(episode.clinic) if not w.is_pre_procedure]
    hours_now = episode.hours_since_procedure(now)
    entry_hours = _entry_hours(episode)
    window = window_for(schedule, hours_now)
    # The one after this check-in: as if the patient answered now.
    upcoming = next_due(schedule, [*entry_hours, hours_now], hours_now)
    following = None
    if upcoming is not None:
        start, end = window_times(episode, upcoming)
        when = between(start, end, now)
        if window is not None and window not in filled_windows(schedule, entry_hours):
            following = _("After this one, your next check-in: %(when)s.", when=when)
        else:
            following = _("Your next check-in: %(when)s.", when=when)
    if window is None:
        return CheckinIntro(
            _("No check-in is due right now. You can still tell us how you are at any time."),
            following,
        )
    number, total = schedule.index(window) + 1, len(schedule)
    if window in filled_windows(schedule, entry_hours):
        return CheckinIntro(
            _(
                "You have already done check-in %(number)d of %(total)d. If your pain has "
                "changed, you can tell us again.",
                number=number,
                total=total,
            ),
            following,
        )
    return CheckinIntro(
        _(
            "This is check-in %(number)d of %(total)d: %(when)s.",
            number=number,
            total=total,
            when=after_procedure(window.target_h),
        ),
        following,
    )


def _entry_hours(episode: Episode) -> list[float]:
    return [episode.hours_since_procedure(e.recorded_dt) for e in entries_in_force(episode.entries)]


def window_times(episode: Episode, window: Window) -> tuple[datetime, datetime]:
    """When `window` opens (not before the procedure) and closes, for this episode."""
    return episode.at_hours(max(window.start_h, 0)), episode.at_hours(window.end_h)


@dataclass(frozen=True)
class ChartView:
    """The patient's chart (`phone_chart.PhoneChart`) and the same in words."""

    shapes: PhoneChart
    summary: str
    scores: list[str]
    ticks: list[tuple[Tick, str]]


def patient_chart(episode: Episode) -> ChartView:
    """The patient's own chart for a phone: their scores beside most people's, drawn as SVG,
    with a sentence and a list that say the same in words."""
    entries = episode_entries(episode)
    params = clinic_params(episode.clinic)
    baseline, _assumed = effective_baseline(episode_baseline(episode, entries), params)
    points = [
        {"hours": episode.hours_since_procedure(e.recorded_dt), "pain": e.pain} for e in entries
    ]
    if episode.baseline_pain is not None and not any(p["hours"] <= 0 for p in points):
        # The score taken at enrolment, before the procedure: the patient's starting point.
        points.insert(0, {"hours": 0.0, "pain": episode.baseline_pain})
    shapes = phone_chart(
        entries=points, curve=curve_points(baseline, [0.0, *chart_hours()], params)
    )
    scores = []
    for point in points:
        if point["hours"] <= 0:
            scores.append(
                _(
                    "%(when)s: %(pain)s out of 10",
                    when=capitalised(after_procedure(point["hours"])),
                    pain=point["pain"],
                )
            )
            continue
        expected = round(min(expected_pain(baseline, point["hours"], params), PAIN_MAX))
        usual_top = round(min(amber_line(baseline, point["hours"], params), PAIN_MAX))
        scores.append(
            _(
                "%(when)s: %(pain)s out of 10. Most people then: about %(expected)s, and up "
                "to %(top)s is still common.",
                when=capitalised(after_procedure(point["hours"])),
                pain=point["pain"],
                expected=expected,
                top=usual_top,
            )
        )
    if points:
        last = points[-1]
        summary = ngettext(
            "Your %(num)d score so far, the latest %(pain)s out of 10, beside most people's.",
            "Your %(num)d scores so far, the latest %(pain)s out of 10, beside most people's.",
            len(points),
            pain=last["pain"],
        )
    else:
        summary = _("No scores yet. The dashed line shows most people's scores.")
    labels = {0.0: _("Before")}
    ticks = [(tick, labels.get(tick.hours) or span(tick.hours)) for tick in shapes.ticks]
    return ChartView(shapes=shapes, summary=summary, scores=scores, ticks=ticks)
