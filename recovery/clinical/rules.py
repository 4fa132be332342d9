"""Alert rules over the expected curve: which readings a nurse should hear about, and why.

Pure: standard library only (plus the curve, the schedule and the vocabulary of
`recovery.clinical`).
Pain is the 0-10 NRS (integers); times are hours since the end of the procedure, hours <= 0
being the baseline. Rules as docs/clinical.md, "Alert rules" (version 2), states them with their
sources and boundaries, in priority order:

1. ``red_flag`` (urgent; emergency for chest pain or breathlessness, a possible cement
   embolism): any red-flag symptom at any time (cement leak and embolism rates: VERTOS II,
   Klazen 2010; VERTOS IV, Firanescu 2018).
2. First 4 h: no score-only alerts; a score >= 8 affects about 16% of patients and does not
   predict a worse outcome (Cho 2013, AJNR).
3. ``above_expected`` from 4 h: moderate at the amber line, high at the red line (band:
   `recovery.clinical.curve`).
4. ``no_improvement`` from the opening of the 24 h window (18 h by default): fall from baseline
   < 2 points and < 30% of baseline (Farrar 2001, Pain 94:149; Ostelo 2008, Spine 33:90); high
   from the opening of the 48 h window (36 h).
5. ``rebound`` from the opening of the 48 h window (high): a rise of >= 2 points and >= 30% of
   baseline above the lowest earlier score from 4 h on, to 4 or more, or a return to >=
   baseline after that lowest score had come below it (Kamalian 2012, AJNR 33:370: 23%
   persistent or recurrent pain).
6. ``persistent`` (moderate): > 4 at or after the opening of the 1 week window (120 h) and a
   later score > 4 at or after the opening of the 1 month window (552 h) (Yang 2019, Pain
   Physician, residual back pain).
7. ``missed_checkin`` (moderate): a check-in window closed empty (`recovery.clinical.schedule`).

Rule starts come from the clinic's check-in schedule (`rule_starts`): ``CurveParams`` names the
check-in that starts each rule by its nominal hour, and the rule applies from the opening of
that check-in's window, so a clinic that edits its windows moves its rules. Every entry, in a
window or between windows, is judged by its own hour against these starts.

Alert hygiene (`apply_findings`): at most one open alert per episode and rule; PRO-TECT (Basch
2022, JAMA 327:2413) found alert fatigue the main failure of such systems.

Every threshold is a field of `recovery.clinical.curve.CurveParams`, overridable per clinic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .curve import (
    DEFAULT_PARAMS,
    PAIN_MAX,
    PAIN_MIN,
    CurveParams,
    amber_line,
    effective_baseline,
    expected_pain,
)
from .curve import red_line as red_line_at
from .message import N_, Message, join
from .schedule import DEFAULT_SCHEDULE, HOURS_PER_DAY, Window, window_opening
from .vocabulary import (
    HOURS_SHOWN_UP_TO,
    SCORE_RULES,
    PatientStatus,
    RedFlag,
    Rule,
    Severity,
    duration,
    red_flag_severity,
    short_number,
)

#: Rule codes in priority order (as used in the database, the API and the backtest).
RULES = tuple(Rule)
RED_FLAG = Rule.RED_FLAG
ABOVE_EXPECTED = Rule.ABOVE_EXPECTED
NO_IMPROVEMENT = Rule.NO_IMPROVEMENT
REBOUND = Rule.REBOUND
PERSISTENT = Rule.PERSISTENT
MISSED_CHECKIN = Rule.MISSED_CHECKIN

# Curve values are floats; an integer score exactly on a line (or a change exactly at a
# threshold) must count as on it, whatever the last bit of the arithmetic says.
_EPSILON = 1e-9


@dataclass(frozen=True)
class RuleStarts:
    """Hours since procedure from which each score rule judges a reading (version 2 rules).

    ``no_improvement`` (moderate) and ``no_improvement_high``; ``rebound``; ``persistent_week``
    (the earlier score > 4 counts from here) and ``persistent_month`` (the later one). The quiet
    hours (``CurveParams.quiet_hours``) still come first: no score rule fires before they end.
    """

    no_improvement: float
    no_improvement_high: float
    rebound: float
    persistent_week: float
    persistent_month: float


def rule_starts(
    params: CurveParams = DEFAULT_PARAMS, schedule: Sequence[Window] = DEFAULT_SCHEDULE
) -> RuleStarts:
    """When each rule starts for a clinic: the opening of the check-in window it is tied to.

    ``params.no_improvement_from_h`` (24), ``no_improvement_high_from_h`` (48),
    ``rebound_from_h`` (48), ``persistent_week_h`` (168) and ``persistent_month_h`` (720) name
    the check-in by its nominal hour; each resolves through
    `recovery.clinical.schedule.window_opening` to the opening of the window with that target
    (else the window containing that hour, else the hour itself). The default schedule gives
    18, 36, 36, 120 and 552 h.
    """
    return RuleStarts(
        no_improvement=window_opening(schedule, params.no_improvement_from_h),
        no_improvement_high=window_opening(schedule, params.no_improvement_high_from_h),
        rebound=window_opening(schedule, params.rebound_from_h),
        persistent_week=window_opening(schedule, params.persistent_week_h),
        persistent_month=window_opening(schedule, params.persistent_month_h),
    )


@dataclass(frozen=True)
class Reading:
    """One pain entry as the rules see it.

    ``hours``: hours since the end of the procedure (<= 0 is a baseline reading). ``pain``:
    0-10 NRS integer. ``red_flags``: `RedFlag` codes.
    """

    hours: float
    pain: int
    red_flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.pain, bool) or not isinstance(self.pain, int):
            raise ValueError(f"pain must be a whole number 0-10, got {self.pain!r}")
        if not PAIN_MIN <= self.pain <= PAIN_MAX:
            raise ValueError(f"pain must be 0-10, got {self.pain}")
        if not math.isfinite(self.hours):
            raise ValueError("hours must be a finite number")
        unknown = [code for code in self.red_flags if code not in RedFlag.codes()]
        if unknown:
            raise ValueError(f"unknown red flag {unknown[0]!r}")


@dataclass(frozen=True)
class Finding:
    """One rule broken by a reading: the rule code, its severity and a one-line reason."""

    rule: str
    severity: Severity
    message: Message

    @property
    def reason(self) -> str:
        """The reason in English, as the backtest, the API and the exports give it."""
        return str(self.message)


@dataclass(frozen=True)
class Assessment:
    """Everything the patient page and the services need about one reading.

    ``findings``: from `evaluate`, in priority order. ``expected``, ``amber``, ``red``: the
    curve and lines at the reading's time (0-10 NRS, lines not capped). ``baseline``: the
    baseline used; ``baseline_assumed``: True when it is the population default. ``status``:
    what the patient is told (`PatientStatus`, see `assess`).
    """

    findings: tuple[Finding, ...]
    expected: float
    amber: float
    red: float
    baseline: float
    baseline_assumed: bool
    status: PatientStatus


def _at(hours: float) -> Message:
    if hours <= 0:
        return Message(N_("before the procedure"))
    return Message(N_("at %(time)s"), {"time": duration(hours)})


def window_message(window: Window) -> Message:
    """A window's span in words: "18-30 h", "5-9 d"."""
    if window.end_h <= HOURS_SHOWN_UP_TO:
        return Message(
            N_("%(start)s-%(end)s h"),
            {"start": short_number(window.start_h), "end": short_number(window.end_h)},
        )
    return Message(
        N_("%(start)s-%(end)s d"),
        {
            "start": short_number(window.start_h / HOURS_PER_DAY),
            "end": short_number(window.end_h / HOURS_PER_DAY),
        },
    )


def format_window(window: Window) -> str:
    """`window_message` in English."""
    return str(window_message(window))


class History:
    """What the rules need to know about an episode's earlier readings, built one at a time.

    `evaluate` builds one from its ``earlier`` list; the backtest keeps one per episode and
    adds readings as it goes, so both run the same rule code. ``params`` and ``schedule`` (the
    clinic's check-in windows) fix the rule starts (``starts``, see `rule_starts`).
    ``lowest`` and ``high_after_week`` start a history where one kept earlier left off (the
    running state an episode keeps, `recovery.care.summary`).
    """

    def __init__(
        self,
        params: CurveParams = DEFAULT_PARAMS,
        *,
        schedule: Sequence[Window] = DEFAULT_SCHEDULE,
        lowest: Reading | None = None,
        high_after_week: Reading | None = None,
    ) -> None:
        self.params = params
        self.schedule = tuple(schedule)
        self.starts = rule_starts(params, self.schedule)
        #: The lowest reading so far from the end of the quiet hours on (the earliest of
        #: equals): what `rebound` measures from, leaving out the local-anaesthetic lows.
        self.lowest = lowest
        #: The first reading from the opening of the 1-week window on that scored above the
        #: persistent threshold.
        self.high_after_week = high_after_week

    def add(self, reading: Reading) -> None:
        """Take `reading` into account for readings that come after it."""
        if reading.hours <= 0:
            return
        if reading.hours >= self.params.quiet_hours - _EPSILON and (
            self.lowest is None or reading.pain < self.lowest.pain
        ):
            self.lowest = reading
        if (
            self.high_after_week is None
            and reading.hours >= self.starts.persistent_week - _EPSILON
            and reading.pain > self.params.persistent_above + _EPSILON
        ):
            self.high_after_week = reading

    @classmethod
    def of(
        cls,
        readings: Iterable[Reading],
        before_hours: float,
        params: CurveParams,
        *,
        schedule: Sequence[Window] = DEFAULT_SCHEDULE,
    ) -> History:
        """The history of `readings` at or before `before_hours` (hours since procedure).

        Readings later in time are ignored: a rule compares a score with the past, even when
        an older entry was typed in afterwards.
        """
        history = cls(params, schedule=schedule)
        for reading in sorted(readings, key=lambda r: r.hours):
            if reading.hours <= before_hours:
                history.add(reading)
        return history


def _with_baseline_note(message: Message, baseline: float, assumed: bool) -> Message:
    if not assumed:
        return message
    return Message(
        N_("%(reason)s; baseline not recorded, %(baseline)s assumed"),
        {"reason": message, "baseline": short_number(baseline)},
    )


def _red_flag(reading: Reading) -> Finding | None:
    if not reading.red_flags:
        return None
    words = join([RedFlag(code).message for code in reading.red_flags])
    return Finding(
        RED_FLAG,
        red_flag_severity(reading.red_flags),
        Message(
            N_("red flag %(when)s (%(pain)s/10): %(words)s"),
            {"when": _at(reading.hours), "pain": reading.pain, "words": words},
        ),
    )


def _above_expected(
    reading: Reading, baseline: float, assumed: bool, params: CurveParams
) -> Finding | None:
    expected = expected_pain(baseline, reading.hours, params)
    red = red_line_at(baseline, reading.hours, params)
    amber = amber_line(baseline, reading.hours, params)
    if reading.pain >= red - _EPSILON:
        severity, value = Severity.HIGH, red
        line = N_("clinic red line %(value)s") if params.calibration else N_("red line %(value)s")
    elif reading.pain >= amber - _EPSILON:
        severity, value = Severity.MODERATE, amber
        line = (
            N_("clinic amber line %(value)s") if params.calibration else N_("amber line %(value)s")
        )
    else:
        return None
    reason = Message(
        N_("%(pain)s/10 %(when)s; expected %(expected)s, %(line)s"),
        {
            "pain": reading.pain,
            "when": _at(reading.hours),
            "expected": f"{expected:.1f}",
            "line": Message(line, {"value": f"{value:.1f}"}),
        },
    )
    return Finding(ABOVE_EXPECTED, severity, _with_baseline_note(reason, baseline, assumed))


def _no_improvement(
    reading: Reading, baseline: float, assumed: bool, params: CurveParams, starts: RuleStarts
) -> Finding | None:
    fall = baseline - reading.pain
    points, fraction = params.min_change_points, params.min_change_fraction
    if fall >= points - _EPSILON or fall >= fraction * baseline - _EPSILON:
        return None
    high = reading.hours >= starts.no_improvement_high - _EPSILON
    values = {
        "pain": reading.pain,
        "when": _at(reading.hours),
        "baseline": short_number(baseline),
        "fall": short_number(fall),
        "points": short_number(points),
        "fraction": f"{fraction:.0%}",
    }
    if baseline > 0:
        template = N_(
            "%(pain)s/10 %(when)s; baseline %(baseline)s, down %(fall)s (%(share)s): "
            "less than %(points)s points and %(fraction)s"
        )
        values["share"] = f"{fall / baseline:.0%}"
    else:
        template = N_(
            "%(pain)s/10 %(when)s; baseline %(baseline)s, down %(fall)s: "
            "less than %(points)s points and %(fraction)s"
        )
    reason = _with_baseline_note(Message(template, values), baseline, assumed)
    return Finding(NO_IMPROVEMENT, Severity.HIGH if high else Severity.MODERATE, reason)


def _rebound(
    reading: Reading, history: History, baseline: float, assumed: bool, params: CurveParams
) -> Finding | None:
    lowest = history.lowest
    if lowest is None:
        return None
    rise = reading.pain - lowest.pain
    meaningful = (
        rise >= params.min_change_points - _EPSILON
        and rise >= params.min_change_fraction * baseline - _EPSILON
        and reading.pain >= params.rebound_floor - _EPSILON
    )
    # Measured from the lowest score since the quiet hours ended, not from the local
    # anaesthetic's lows. "Return" means that lowest score had come below the baseline.
    back_to_baseline = lowest.pain < baseline - _EPSILON and reading.pain >= baseline - _EPSILON
    if not (meaningful or back_to_baseline):
        return None
    values = {
        "pain": reading.pain,
        "when": _at(reading.hours),
        "lowest": lowest.pain,
        "lowest_when": _at(lowest.hours),
    }
    if meaningful:
        template = N_(
            "%(pain)s/10 %(when)s; up %(rise)s from the lowest since %(since)s, "
            "%(lowest)s/10 %(lowest_when)s"
        )
        values["rise"] = rise
        values["since"] = duration(params.quiet_hours)
    else:
        template = N_(
            "%(pain)s/10 %(when)s; back to baseline %(baseline)s from %(lowest)s/10 %(lowest_when)s"
        )
        values["baseline"] = short_number(baseline)
    reason = _with_baseline_note(Message(template, values), baseline, assumed)
    return Finding(REBOUND, Severity.HIGH, reason)


def _in_days(hours: float) -> Message:
    # "5 d", "23 d": the unit of the windows these starts open (`window_message`).
    if hours < HOURS_SHOWN_UP_TO:
        return duration(hours)
    return Message(N_("%(n)s d"), {"n": short_number(hours / HOURS_PER_DAY)})


def _persistent(reading: Reading, history: History, params: CurveParams) -> Finding | None:
    earlier = history.high_after_week
    if earlier is None or reading.pain <= params.persistent_above + _EPSILON:
        return None
    reason = Message(
        N_(
            "%(pain)s/10 %(when)s and %(earlier)s/10 %(earlier_when)s; "
            "above %(above)s at or after %(week)s and at or after %(month)s"
        ),
        {
            "pain": reading.pain,
            "when": _at(reading.hours),
            "earlier": earlier.pain,
            "earlier_when": _at(earlier.hours),
            "above": short_number(params.persistent_above),
            "week": _in_days(history.starts.persistent_week),
            "month": _in_days(history.starts.persistent_month),
        },
    )
    return Finding(PERSISTENT, Severity.MODERATE, reason)


def evaluate_with_history(
    reading: Reading,
    history: History,
    baseline: float | None,
) -> list[Finding]:
    """`evaluate` with the earlier readings already summarised in `history`, which also
    holds the settings and the schedule's rule starts to judge by."""
    params, starts = history.params, history.starts
    b, assumed = effective_baseline(baseline, params)
    candidates: list[Finding | None] = [_red_flag(reading)]
    hours = reading.hours
    # Rule 2: in the first hours the score alone never raises an alert, whatever the schedule.
    if hours >= params.quiet_hours - _EPSILON:
        candidates.append(_above_expected(reading, b, assumed, params))
        if hours >= starts.no_improvement - _EPSILON:
            candidates.append(_no_improvement(reading, b, assumed, params, starts))
        if hours >= starts.rebound - _EPSILON:
            candidates.append(_rebound(reading, history, b, assumed, params))
        if hours >= starts.persistent_month - _EPSILON:
            candidates.append(_persistent(reading, history, params))
    return [finding for finding in candidates if finding is not None]


def evaluate(
    reading: Reading,
    earlier: Sequence[Reading],
    baseline: float | None,
    params: CurveParams = DEFAULT_PARAMS,
    *,
    schedule: Sequence[Window] = DEFAULT_SCHEDULE,
) -> list[Finding]:
    """Every rule `reading` breaks, in priority order, at most one finding per rule.

    ``earlier``: the episode's readings recorded before this one, in any order. ``baseline``:
    the pre-procedure score (0-10 NRS), or None to assume ``params.default_baseline`` (the
    reasons say so). ``schedule``: the clinic's check-in windows, which say when each rule
    starts (`rule_starts`). Missed check-ins are not judged here (see `missed_checkin_finding`).
    """
    history = History.of(earlier, reading.hours, params, schedule=schedule)
    return evaluate_with_history(reading, history, baseline)


def assess(
    reading: Reading,
    earlier: Sequence[Reading],
    baseline: float | None,
    params: CurveParams = DEFAULT_PARAMS,
    *,
    schedule: Sequence[Window] = DEFAULT_SCHEDULE,
) -> Assessment:
    """Evaluate `reading` once and say what the patient should be told.

    Status, first match wins: "emergency" (an emergency red flag, `red_flag_severity`),
    "call_clinic" (any other red flag), "early_high" (in the quiet hours after the procedure
    with a score at or above ``params.early_high_pain``: take the prescribed analgesia, check
    in at the next time), "higher" (a score rule fired: the clinic has been told), else "on_track".
    """
    history = History.of(earlier, reading.hours, params, schedule=schedule)
    return assess_with_history(reading, history, baseline)


def assess_with_history(reading: Reading, history: History, baseline: float | None) -> Assessment:
    """`assess` with the earlier readings already summarised in `history`, which also holds
    the settings and the schedule's rule starts to judge by."""
    params = history.params
    findings = evaluate_with_history(reading, history, baseline)
    b, assumed = effective_baseline(baseline, params)
    hours = reading.hours
    if red_flag_severity(reading.red_flags) is Severity.EMERGENCY:
        status = PatientStatus.EMERGENCY
    elif reading.red_flags:
        status = PatientStatus.CALL_CLINIC
    elif 0 < hours < params.quiet_hours and reading.pain >= params.early_high_pain - _EPSILON:
        status = PatientStatus.EARLY_HIGH
    elif any(f.rule in SCORE_RULES for f in findings):
        status = PatientStatus.HIGHER
    else:
        status = PatientStatus.ON_TRACK
    return Assessment(
        findings=tuple(findings),
        expected=expected_pain(b, hours, params),
        amber=amber_line(b, hours, params),
        red=red_line_at(b, hours, params),
        baseline=b,
        baseline_assumed=assumed,
        status=status,
    )


def missed_checkin_finding(window: Window) -> Finding:
    """The moderate finding for a check-in window that closed with no entry."""
    return Finding(
        MISSED_CHECKIN,
        Severity.MODERATE,
        Message(
            N_("no check-in in the %(label)s window (%(span)s)"),
            {"label": Message(window.label), "span": window_message(window)},
        ),
    )


def apply_findings(
    open_severity: Mapping[str, Severity], findings: Iterable[Finding]
) -> list[tuple[str, Finding]]:
    """What each finding does to the episode's alerts, given the open ones (rule -> severity).

    "opened": no open alert for that rule; "escalated": more severe than the open alert;
    "updated": same or lower severity, so the caller refreshes the reason and keeps the higher
    severity. The caller records the result; this only decides.
    """
    events = []
    for finding in findings:
        current = open_severity.get(finding.rule)
        if current is None:
            events.append(("opened", finding))
        elif finding.severity > current:
            events.append(("escalated", finding))
        else:
            events.append(("updated", finding))
    return events
