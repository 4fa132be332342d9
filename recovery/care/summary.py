"""An episode's summary and running state, kept on its row as entries arrive.

The summary (`last_pain`, `last_entry_dt`, `last_expected`, `last_amber`, `due_*`) is what the
worklist filters and sorts by. The running state is what a check-in needs of the entries
before it: the rules' `History` (the lowest score from the end of the quiet hours, the first
score above the persistent threshold from the 1-week window), the latest entry, the latest
score before the procedure (the baseline when none was enrolled) and the check-in windows an
entry fills. With it a check-in reads none of the earlier entries, however long the
follow-up (docs/architecture.md, "A check-in").

An entry recorded after every entry in force (the usual, live check-in) advances the state
(`RunningState.after`). Anything else rebuilds it from the entries (`state_from_entries`): an
entry dated before the latest one (typed in afterwards, sent late from an offline phone), a
correction, a clinic whose curve settings or schedule changed since the state was computed
(`Episode.state_fingerprint`), an episode from before the state was kept. Either way the
result is exactly what reading every entry gives.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..clinical.curve import amber_line, effective_baseline, expected_pain
from ..clinical.rules import History, Reading
from ..clinical.schedule import Window, next_due, window_for
from .clinics import ClinicRules
from .models import Episode, PainEntry


@dataclass(frozen=True)
class RunningState:
    """What the rules and the summary need of an episode's entries in force.

    ``history``: the rules' view of them, under the clinic's parameters and schedule.
    ``latest``: (recorded time, score) of the latest entry, or None when there is none.
    ``pre_procedure_pain``: the score of the latest entry recorded at or before the procedure.
    ``filled``: the labels of the schedule's windows an entry falls in (`window_for`).
    """

    history: History
    latest: tuple[datetime, int] | None
    pre_procedure_pain: int | None
    filled: frozenset[str]

    def takes(self, entry: PainEntry) -> bool:
        """Whether `entry` comes after every entry the state holds, so `after` may add it.

        One recorded at the same time as the latest comes after it too: entries are ordered by
        (recorded time, id), and a new entry's id is larger than any stored before it."""
        return self.latest is None or entry.recorded_dt >= self.latest[0]

    def after(self, episode: Episode, entry: PainEntry) -> RunningState:
        """The state once `entry`, which comes after every entry it holds, is added."""
        hours = episode.hours_since_procedure(entry.recorded_dt)
        history = copy.copy(self.history)
        history.add(Reading(hours=hours, pain=entry.pain))
        window = window_for(history.schedule, hours)
        return RunningState(
            history=history,
            latest=(entry.recorded_dt, entry.pain),
            pre_procedure_pain=(
                entry.pain if entry.recorded_dt <= episode.procedure_dt else self.pre_procedure_pain
            ),
            filled=self.filled | {window.label} if window else self.filled,
        )

    def baseline(self, episode: Episode) -> int | None:
        """The baseline score: as enrolled, else the latest score before the procedure."""
        if episode.baseline_pain is not None:
            return episode.baseline_pain
        return self.pre_procedure_pain


def empty_state(rules: ClinicRules) -> RunningState:
    """The state of an episode with no entry."""
    return RunningState(History(rules.params, schedule=rules.schedule), None, None, frozenset())


def state_from_entries(
    episode: Episode, entries: Iterable[PainEntry], rules: ClinicRules
) -> RunningState:
    """The state of `entries` (the episode's entries in force, in any order), read whole."""
    state = empty_state(rules)
    for entry in sorted(entries, key=lambda e: (e.recorded_dt, e.id)):
        state = state.after(episode, entry)
    return state


def _reading(hours: float | None, pain: int | None) -> Reading | None:
    return None if hours is None or pain is None else Reading(hours=hours, pain=pain)


def stored_state(episode: Episode, rules: ClinicRules) -> RunningState | None:
    """The state kept on the episode's row, or None when there is none for these settings
    (the next entry rebuilds it)."""
    if episode.state_fingerprint != rules.fingerprint:
        return None
    history = History(
        rules.params,
        schedule=rules.schedule,
        lowest=_reading(episode.lowest_hours, episode.lowest_pain),
        high_after_week=_reading(episode.high_after_week_hours, episode.high_after_week_pain),
    )
    latest = None
    if episode.last_entry_dt is not None and episode.last_pain is not None:
        latest = (episode.last_entry_dt, episode.last_pain)
    return RunningState(
        history, latest, episode.pre_procedure_pain, frozenset(episode.filled_windows or ())
    )


def save_state(episode: Episode, state: RunningState, rules: ClinicRules) -> None:
    """Keep `state` on the episode's row, with the summary that follows from it."""
    lowest, high = state.history.lowest, state.history.high_after_week
    episode.state_fingerprint = rules.fingerprint
    episode.lowest_pain = lowest.pain if lowest else None
    episode.lowest_hours = lowest.hours if lowest else None
    episode.high_after_week_pain = high.pain if high else None
    episode.high_after_week_hours = high.hours if high else None
    episode.pre_procedure_pain = state.pre_procedure_pain
    # In schedule order, so the stored list changes only when a window is filled.
    episode.filled_windows = [w.label for w in rules.schedule if w.label in state.filled]
    _save_summary(episode, state, rules)


def _save_summary(episode: Episode, state: RunningState, rules: ClinicRules) -> None:
    """The latest score, the curve values at its time and the next check-in window after it.

    Windows do not overlap and an entry on an hour two windows share fills the earlier one,
    so of the windows still open after the latest entry only the one it fills can hold an
    entry: the next window due follows from the latest entry alone."""
    params = rules.params
    latest_dt, latest_pain = state.latest or (None, None)
    episode.last_pain = latest_pain
    episode.last_entry_dt = latest_dt
    episode.last_expected = episode.last_amber = None
    entry_hours = []
    if latest_dt is not None and latest_dt > episode.procedure_dt:
        baseline, _ = effective_baseline(state.baseline(episode), params)
        hours = episode.hours_since_procedure(latest_dt)
        episode.last_expected = expected_pain(baseline, hours, params)
        episode.last_amber = amber_line(baseline, hours, params)
        entry_hours.append(hours)
    window = next_due(rules.schedule, entry_hours, max(entry_hours, default=0))
    episode.due_label = window.label if window else None
    episode.due_start_dt = episode.at_hours(window.start_h) if window else None
    episode.due_end_dt = episode.at_hours(window.end_h) if window else None


def stored_filled_windows(episode: Episode, rules: ClinicRules) -> set[Window] | None:
    """The windows of the clinic's schedule that an entry in force falls in, from the running
    state; None when the episode has none for these settings."""
    if episode.state_fingerprint != rules.fingerprint:
        return None
    labels = set(episode.filled_windows or ())
    return {w for w in rules.schedule if w.label in labels}
