"""Replay recorded (or simulated) episodes through the alert rules, to see the alert burden.

Pure: standard library only (plus the other pure modules). A clinic runs this before it changes
a threshold: the clinical reference (docs/clinical.md) asks for alerts per 100 patient-days,
because alert fatigue is the main failure of symptom-monitoring systems (PRO-TECT, Basch 2022,
JAMA 327:2413: 34% of weekly surveys alerted, 10% judged urgent by patients).

Input CSV, one reading per row, header ``episode,hours,pain,red_flags``: ``hours`` since the end
of the procedure (<= 0 is a baseline reading), ``pain`` a 0-10 NRS integer, ``red_flags`` empty
or ``;``-separated codes from `recovery.clinical.vocabulary.RedFlag`.
Bad rows are reported with their line
number and skipped; nothing in the data makes this module raise.

The rules start when their check-in windows open, so the replay takes the clinic's schedule
(default: the default protocol) and runs the very code the live app does
(`recovery.clinical.rules`).

In a backtest no nurse acknowledges anything, so an alert, once opened, stays open: a later
reading breaking the same rule only escalates it (reported) or updates it (not reported).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from .curve import DEFAULT_PARAMS, CurveParams
from .rules import (
    RULES,
    Finding,
    History,
    Reading,
    Severity,
    apply_findings,
    evaluate_with_history,
    missed_checkin_finding,
)
from .schedule import DEFAULT_SCHEDULE, HOURS_PER_DAY, Window, closed_empty_windows, window_for
from .vocabulary import RedFlag

HEADER = ("episode", "hours", "pain", "red_flags")
#: Events written to the output; "updated" only refreshes an alert already counted.
REPORTED_EVENTS = ("opened", "escalated")

EXIT_OK = 0
EXIT_ROWS_SKIPPED = 1
EXIT_NO_DATA = 2


def _parse_row(fields: list[str]) -> tuple[str, Reading] | str:
    """An (episode, reading) pair, or the reason the row was refused."""
    if len(fields) != len(HEADER):
        return f"expected {len(HEADER)} columns ({','.join(HEADER)}), got {len(fields)}"
    episode, hours_text, pain_text, flags_text = (f.strip() for f in fields)
    if not episode:
        return "episode is blank"
    try:
        hours = float(hours_text)
    except ValueError:
        return f"hours must be a number, got {hours_text!r}"
    if not math.isfinite(hours):
        return f"hours must be a finite number, got {hours_text!r}"
    try:
        pain_value = float(pain_text)
    except ValueError:
        return f"pain must be a whole number 0-10, got {pain_text!r}"
    if not (math.isfinite(pain_value) and pain_value.is_integer() and 0 <= pain_value <= 10):
        return f"pain must be a whole number 0-10, got {pain_text!r}"
    codes = [code.strip() for code in flags_text.split(";") if code.strip()]
    unknown = [code for code in codes if code not in RedFlag.codes()]
    if unknown:
        return f"unknown red flag {unknown[0]!r} (known: {', '.join(RedFlag.codes())})"
    return episode, Reading(hours, int(pain_value), tuple(dict.fromkeys(codes)))


def parse_csv(
    lines: Iterable[str],
) -> tuple[dict[str, list[Reading]], list[tuple[int, str]]]:
    """Readings by episode (in file order), and (line number, message) for each refused row.

    The first line must be the header ``episode,hours,pain,red_flags``; without it nothing is
    read. Blank lines are ignored.
    """
    episodes: dict[str, list[Reading]] = {}
    errors: list[tuple[int, str]] = []
    header_seen = False
    for number, line in enumerate(lines, start=1):
        # One line at a time, so a stray quote spoils its own row and not the rest of the file.
        try:
            fields = next(csv.reader([line.lstrip("\ufeff") if number == 1 else line]), [])
        except csv.Error as exc:
            fields, problem = None, f"unreadable CSV ({exc})"
        else:
            problem = ""
        if not header_seen:
            names = tuple(f.strip().lower() for f in fields or ())
            if names != HEADER:
                errors.append((number, f"expected the header {','.join(HEADER)}"))
                return {}, errors
            header_seen = True
            continue
        if fields is not None and not any(f.strip() for f in fields):
            continue
        parsed = problem or _parse_row(fields or [])
        if isinstance(parsed, str):
            errors.append((number, parsed))
            continue
        episode, reading = parsed
        episodes.setdefault(episode, []).append(reading)
    if not header_seen:
        errors.append((1, f"empty file: expected the header {','.join(HEADER)}"))
    return episodes, errors


def _event(episode: str, hours: float, kind: str, finding: Finding) -> dict[str, Any]:
    return {
        "episode": episode,
        "hours": hours,
        "rule": finding.rule,
        "severity": finding.severity.code,
        "event": kind,
        "reason": finding.reason,
    }


def replay(
    episodes: Mapping[str, Sequence[Reading]],
    params: CurveParams = DEFAULT_PARAMS,
    schedule: Sequence[Window] = DEFAULT_SCHEDULE,
    *,
    missed_checkins: bool = False,
) -> list[dict[str, Any]]:
    """Alert events ("opened" and "escalated") from replaying each episode in time order.

    The baseline is the latest reading at hours <= 0 (none: ``params.default_baseline`` is
    assumed, as the live app does). Every reading is evaluated against the readings before it
    (baseline readings can only raise red flags), with the rule starts of ``params`` and
    ``schedule`` (the clinic's check-in windows; `recovery.clinical.rules.rule_starts`). With
    ``missed_checkins``, a window of ``schedule`` that closed empty before the episode's latest
    reading also raises ``missed_checkin`` at its end hour; without it (the default) attendance
    is not judged, since a CSV from another protocol would look like a string of missed
    check-ins.
    Each event: ``episode``, ``hours``, ``rule``, ``severity`` (code), ``event``, ``reason``.
    """
    schedule = tuple(schedule)
    events: list[dict[str, Any]] = []
    for episode, readings in episodes.items():
        history = History(params, schedule=schedule)
        events += _replay_episode(episode, readings, history, missed_checkins)
    return events


def _replay_episode(
    episode: str,
    readings: Sequence[Reading],
    history: History,
    missed_checkins: bool,
) -> list[dict[str, Any]]:
    return [
        _event(episode, hours, kind, finding)
        for hours, kind, finding in episode_findings(
            readings, history, missed_checkins=missed_checkins
        )
        if kind in REPORTED_EVENTS
    ]


def episode_findings(
    readings: Sequence[Reading],
    history: History,
    *,
    missed_checkins: bool = False,
    until_h: float | None = None,
) -> list[tuple[float, str, Finding]]:
    """Every finding of one episode's replay, in time order, as (hours since procedure,
    "opened" | "escalated" | "updated", finding): what the live app records as its alerts'
    history when no nurse acts on them.

    ``history``: an empty `History` with the clinic's params and schedule. With
    ``missed_checkins``, windows that closed empty raise ``missed_checkin`` at their end hour,
    up to the latest reading or, when later, ``until_h`` (the hour the replay stops at: the
    live app's job reports a window when it closes, entry or not).
    """
    schedule = history.schedule
    ordered = sorted(readings, key=lambda r: r.hours)
    before = [r for r in ordered if r.hours <= 0]
    baseline = before[-1].pain if before else None
    open_severity: dict[str, Severity] = {}
    findings: list[tuple[float, str, Finding]] = []

    def record(hours: float, new: Iterable[Finding]) -> None:
        for kind, finding in apply_findings(open_severity, new):
            if kind in REPORTED_EVENTS:
                open_severity[finding.rule] = finding.severity
            findings.append((hours, kind, finding))

    # One entry per filled window is all `closed_empty_windows` needs; keeping only those keeps
    # a long episode linear.
    filling_hours: list[float] = []
    filled: set[Window] = set()
    reported_missed: set[Window] = set()

    def report_missed(now_h: float) -> None:
        for window in closed_empty_windows(schedule, filling_hours, now_h):
            if window not in reported_missed:
                reported_missed.add(window)
                record(window.end_h, [missed_checkin_finding(window)])

    for reading in ordered:
        if missed_checkins:
            window = window_for(schedule, reading.hours)
            if window is not None and window not in filled:
                filled.add(window)
                filling_hours.append(reading.hours)
            report_missed(reading.hours)
        record(reading.hours, evaluate_with_history(reading, history, baseline))
        history.add(reading)
    if missed_checkins and until_h is not None:
        report_missed(until_h)
    return findings


def _rate(count: int, patient_days: float) -> float | None:
    return round(100 * count / patient_days, 2) if patient_days > 0 else None


def summarize(
    episodes: Mapping[str, Sequence[Reading]], events: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The alert burden of a replay.

    ``patient_days``: the sum over episodes of the last reading's hours since procedure / 24
    (at least 0). An alert is an "opened" event; by severity, each alert counts once at the
    highest severity it reached. Rates are alerts per 100 patient-days (None with no follow-up);
    ``per_100_readings`` (post-procedure readings) compares with per-survey figures such as
    PRO-TECT's.
    """
    patient_days = sum(
        max(0.0, max((r.hours for r in readings), default=0.0)) / HOURS_PER_DAY
        for readings in episodes.values()
    )
    by_rule = dict.fromkeys(RULES, 0)
    highest: dict[tuple[str, str], Severity] = {}
    escalations = 0
    alerted: set[str] = set()
    for event in events:
        key = (str(event["episode"]), str(event["rule"]))
        severity = Severity.from_code(str(event["severity"]))
        if event["event"] == "opened":
            by_rule[key[1]] = by_rule.get(key[1], 0) + 1
            alerted.add(key[0])
        else:
            escalations += 1
        highest[key] = max(highest.get(key, severity), severity)
    by_severity = dict.fromkeys(Severity.codes(), 0)
    for severity in highest.values():
        by_severity[severity.code] += 1
    total = sum(by_rule.values())
    readings = sum(1 for rs in episodes.values() for r in rs if r.hours > 0)
    return {
        "episodes": len(episodes),
        "patient_days": round(patient_days, 2),
        "post_procedure_readings": readings,
        "alerts": total,
        "escalations": escalations,
        "alerts_by_rule": by_rule,
        "alerts_by_severity": by_severity,
        "per_100_patient_days": {
            "all": _rate(total, patient_days),
            "by_rule": {rule: _rate(n, patient_days) for rule, n in by_rule.items()},
            "by_severity": {code: _rate(n, patient_days) for code, n in by_severity.items()},
        },
        "per_100_readings": round(100 * total / readings, 2) if readings else None,
        "episodes_alerted": len(alerted),
        "share_episodes_alerted": round(len(alerted) / len(episodes), 4) if episodes else None,
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as a few lines of text for a terminal."""

    def rate(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    per100 = summary["per_100_patient_days"]
    share = summary["share_episodes_alerted"]
    lines = [
        f"episodes: {summary['episodes']}, patient-days: {summary['patient_days']:.1f}",
        f"alerts: {summary['alerts']} ({rate(per100['all'])} per 100 patient-days, "
        f"{rate(summary['per_100_readings'])} per 100 post-procedure readings), "
        f"escalations: {summary['escalations']}",
        f"episodes with any alert: {summary['episodes_alerted']}"
        + ("" if share is None else f" ({share:.1%})"),
        "per 100 patient-days by rule:",
    ]
    for rule, value in per100["by_rule"].items():
        lines.append(f"  {rule:<15} {rate(value):>7}  ({summary['alerts_by_rule'][rule]})")
    lines.append("per 100 patient-days by highest severity:")
    for code, value in per100["by_severity"].items():
        lines.append(f"  {code:<15} {rate(value):>7}  ({summary['alerts_by_severity'][code]})")
    return "\n".join(lines)


def run_backtest(
    lines: Iterable[str],
    out: TextIO,
    err: TextIO,
    params: CurveParams = DEFAULT_PARAMS,
    schedule: Sequence[Window] = DEFAULT_SCHEDULE,
    *,
    missed_checkins: bool = False,
) -> int:
    """Parse, replay and report: events as JSON lines on `out`, errors and summary on `err`.

    ``params`` and ``schedule``: the clinic's settings and check-in windows, as the live app
    uses them; ``missed_checkins``: judge attendance too (see `replay`).

    Returns 0 when every row was read, 1 when some rows were skipped (the rest is still
    replayed), 2 when nothing could be read (bad header, or no valid rows).
    """
    episodes, errors = parse_csv(lines)
    for number, message in errors:
        err.write(f"line {number}: {message}\n")
    if not episodes:
        err.write("no readings to replay\n")
        return EXIT_NO_DATA
    events = replay(episodes, params, schedule, missed_checkins=missed_checkins)
    for event in events:
        out.write(json.dumps(event) + "\n")
    err.write(format_summary(summarize(episodes, events)) + "\n")
    return EXIT_ROWS_SKIPPED if errors else EXIT_OK
