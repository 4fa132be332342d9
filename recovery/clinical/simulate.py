"""Simulated follow-up episodes, for the demo data, the tests and the backtest figures.

Pure: standard library only (plus the other pure modules). Deterministic for a seed. Pain is the
0-10 NRS (integers); times are hours since the end of the procedure; the baseline reading is
taken before it (hours < 0).

Kinds of patient, with the evidence behind their share and shape (docs/clinical.md,
"Simulated cohort"):

- ``responder``: follows E(t) (Diamond 2003; Voormolen 2006; VERTOS II, Klazen 2010) with a
  personal time constant for the fast phase, a modest personal offset and day-to-day noise;
- ``early_spike``: a responder scoring >= 8 at the first check-in (Cho 2013: 16% >= 8 in the
  first 4 h, no worse outcome);
- ``slow``: relief over days rather than hours, ending a little higher (about 14% not relieved
  at 24 h but 3.5% at 48 h in one series; sham-like populations sit 1-2 points higher);
- ``non_responder``: little or no fall from baseline (fall below the Farrar 2001 / Ostelo 2008
  minimal important change);
- ``rebound``: a responder whose pain comes back at one check-in from 1 week on (new fracture,
  cement or facet pain; Kamalian 2012: 23% persistent or recurrent pain);
- ``red_flag``: a responder who reports one red-flag symptom at one check-in (cement leak,
  embolism, infection, new fracture; VERTOS II and IV).

The "between-patient SD 2.5" of the published band describes the whole treated population,
these kinds together; ordinary responders scatter much less (see `SimAssumptions`).

Run ``python -m recovery.clinical.simulate --episodes 1000 --seed 7 > cohort.csv`` for a
backtest CSV, or add ``--report`` for the detection figures quoted in docs/clinical.md.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .backtest import format_summary, replay, summarize
from .curve import DEFAULT_PARAMS, CurveParams
from .rules import SCORE_RULES, Reading, rule_starts
from .schedule import DEFAULT_SCHEDULE, Window, window_for

RESPONDER = "responder"
EARLY_SPIKE = "early_spike"
SLOW = "slow"
NON_RESPONDER = "non_responder"
REBOUND_KIND = "rebound"
RED_FLAG_KIND = "red_flag"
KINDS = (RESPONDER, EARLY_SPIKE, SLOW, NON_RESPONDER, REBOUND_KIND, RED_FLAG_KIND)

#: Default share of each kind. Responders (with early spikes, who are responders after 4 h)
#: are three quarters, matching 86% relieved at 24 h once slow responders are counted.
DEFAULT_MIX: dict[str, float] = {
    RESPONDER: 0.70,
    EARLY_SPIKE: 0.04,
    SLOW: 0.10,
    NON_RESPONDER: 0.04,
    REBOUND_KIND: 0.08,
    RED_FLAG_KIND: 0.04,
}


@dataclass(frozen=True)
class SimAssumptions:
    """The simulator's assumptions; NRS points unless stated, times in hours since procedure.

    ``baseline_weights``: baseline score -> share (typical B 7-9, mean about 8).
    ``jitter_fraction``: a check-in lands within +- this share of its target time.
    ``miss_rate``: chance that a post-procedure check-in is skipped (never the one carrying the
    rebound or red flag).
    ``offset_sd``: a responder's personal, lasting offset from E(t). ``noise_sd``: day-to-day
    noise of one score. ``tau_log_sd``: log-normal spread of a responder's fast time constant
    around the curve's 3 h (anaesthetic wearing off sooner or later).
    ``slow_tau_h``: range of a slow responder's single relief time constant;
    ``slow_plateau_extra``: extra plateau, as a share of baseline.
    ``non_responder_fall``: range of a non-responder's true fall from baseline.
    ``rebound_level``: range of the rebound score as a share of baseline; ``rebound_decay_h``:
    how fast it settles afterwards; ``rebound_from_label``: first check-in it can happen at.
    ``early_spike_pain``: range of the first check-in's score for an early spike.
    ``red_flag_weights``: relative frequency of each red flag (new fractures and wound problems
    are far commoner than symptomatic cement leaks or embolism).
    """

    baseline_weights: tuple[tuple[int, float], ...] = (
        (6, 0.07),
        (7, 0.23),
        (8, 0.35),
        (9, 0.25),
        (10, 0.10),
    )
    baseline_hours: tuple[float, float] = (-24.0, -1.0)
    jitter_fraction: float = 0.10
    miss_rate: float = 0.05
    responder_plateau_shift: float = -0.06
    offset_sd: float = 0.7
    noise_sd: float = 0.6
    tau_log_sd: float = 0.5
    slow_tau_h: tuple[float, float] = (36.0, 72.0)
    slow_plateau_extra: tuple[float, float] = (0.0, 0.10)
    non_responder_fall: tuple[float, float] = (-0.5, 1.0)
    rebound_level: tuple[float, float] = (0.60, 1.05)
    rebound_decay_h: float = 720.0
    rebound_from_label: str = "1 wk"
    early_spike_pain: tuple[int, int] = (8, 10)
    red_flag_weights: tuple[tuple[str, float], ...] = (
        ("leg_weakness", 0.07),
        ("numbness", 0.15),
        ("bladder_bowel", 0.03),
        ("chest_pain", 0.05),
        ("breathless", 0.05),
        ("fever", 0.15),
        ("wound", 0.20),
        ("new_pain", 0.30),
    )


DEFAULT_ASSUMPTIONS = SimAssumptions()


@dataclass(frozen=True)
class SimEpisode:
    """One simulated episode.

    ``baseline``: the pre-procedure score (0-10 NRS), also its first reading. ``readings``: in
    time order, baseline first. ``missed``: labels of skipped check-ins. ``event_index``: for
    "rebound" and "red_flag", the index in ``readings`` of the reading where it happens.
    """

    episode_id: str
    kind: str
    baseline: int
    readings: tuple[Reading, ...]
    missed: tuple[str, ...] = ()
    event_index: int | None = None

    @property
    def event_hours(self) -> float | None:
        """Hours since procedure of the rebound or red-flag reading, else None."""
        return None if self.event_index is None else self.readings[self.event_index].hours


def _score(value: float) -> int:
    # Patients answer in whole points; round half up, keep on the scale.
    return min(10, max(0, math.floor(value + 0.5)))


def _kind_counts(n: int, mix: Mapping[str, float]) -> list[str]:
    unknown = set(mix) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s) in mix: {', '.join(sorted(unknown))}")
    total = sum(mix.values())
    if total <= 0 or min(mix.values()) < 0:
        raise ValueError("mix shares must be >= 0 and not all 0")
    # Fixed counts (not a draw per patient) keep the cohort's make-up exact for any seed.
    kinds = []
    for kind in KINDS:
        kinds += [kind] * math.floor(n * mix.get(kind, 0.0) / total)
    largest = max(mix, key=lambda k: mix[k])
    kinds += [largest] * (n - len(kinds))
    return kinds


class _Patient:
    """One simulated patient's true (noise-free) course and how they report it."""

    def __init__(
        self,
        kind: str,
        baseline: int,
        rng: random.Random,
        params: CurveParams,
        sim: SimAssumptions,
    ) -> None:
        self.kind, self.baseline, self.rng, self.params, self.sim = kind, baseline, rng, params, sim
        self.offset = rng.gauss(0.0, sim.offset_sd)
        self.tau = params.fast_tau_h * math.exp(rng.gauss(0.0, sim.tau_log_sd))
        self.slow_tau = rng.uniform(*sim.slow_tau_h)
        self.slow_plateau = params.plateau + rng.uniform(*sim.slow_plateau_extra)
        self.fall = rng.uniform(*sim.non_responder_fall)
        self.rebound_at: float | None = None
        self.rebound_jump = 0.0

    def responder_course(self, hours: float) -> float:
        p = self.params
        fraction = (
            p.plateau
            + self.sim.responder_plateau_shift
            + p.fast_weight * math.exp(-hours / self.tau)
            + p.slow_weight * math.exp(-hours / p.slow_tau_h)
        )
        return self.baseline * fraction + self.offset

    def course(self, hours: float) -> float:
        b, p = self.baseline, self.params
        if self.kind == NON_RESPONDER:
            return b - self.fall
        if self.kind == SLOW:
            fast = 1.0 - self.slow_plateau - p.slow_weight
            fraction = (
                self.slow_plateau
                + fast * math.exp(-hours / self.slow_tau)
                + p.slow_weight * math.exp(-hours / p.slow_tau_h)
            )
            return b * fraction + self.offset
        value = self.responder_course(hours)
        if self.rebound_at is not None and hours >= self.rebound_at:
            decay = math.exp(-(hours - self.rebound_at) / self.sim.rebound_decay_h)
            value += self.rebound_jump * decay
        return value

    def report(self, hours: float) -> int:
        return _score(self.course(hours) + self.rng.gauss(0.0, self.sim.noise_sd))


def _simulate_one(
    episode_id: str,
    kind: str,
    rng: random.Random,
    params: CurveParams,
    schedule: Sequence[Window],
    sim: SimAssumptions,
) -> SimEpisode:
    scores, weights = zip(*sim.baseline_weights, strict=True)
    baseline = rng.choices(scores, weights)[0]
    patient = _Patient(kind, baseline, rng, params, sim)
    post = [w for w in schedule if not w.is_pre_procedure]
    times = []
    for window in post:
        jitter = rng.uniform(-sim.jitter_fraction, sim.jitter_fraction) * window.target_h
        hours = min(max(window.target_h + jitter, window.start_h), window.end_h)
        times.append(round(hours, 2))

    event_slot: int | None = None
    if kind == REBOUND_KIND:
        labels = [w.label for w in post]
        first = labels.index(sim.rebound_from_label) if sim.rebound_from_label in labels else 0
        event_slot = rng.randrange(first, len(post))
        patient.rebound_at = times[event_slot]
        level = baseline * rng.uniform(*sim.rebound_level)
        patient.rebound_jump = max(0.0, level - patient.responder_course(times[event_slot]))
    elif kind == RED_FLAG_KIND:
        event_slot = rng.randrange(len(post))
    codes, code_weights = zip(*sim.red_flag_weights, strict=True)

    readings = [Reading(round(rng.uniform(*sim.baseline_hours), 2), baseline)]
    missed = []
    event_index = None
    for slot, (window, hours) in enumerate(zip(post, times, strict=True)):
        if slot != event_slot and rng.random() < sim.miss_rate:
            missed.append(window.label)
            continue
        pain = patient.report(hours)
        flags: tuple[str, ...] = ()
        if kind == EARLY_SPIKE and slot == 0:
            pain = max(pain, rng.randint(*sim.early_spike_pain))
        if slot == event_slot:
            event_index = len(readings)
            if kind == RED_FLAG_KIND:
                flags = (rng.choices(codes, code_weights)[0],)
        readings.append(Reading(hours, pain, flags))
    return SimEpisode(episode_id, kind, baseline, tuple(readings), tuple(missed), event_index)


def simulate_cohort(
    n: int,
    seed: int,
    params: CurveParams = DEFAULT_PARAMS,
    schedule: Sequence[Window] = DEFAULT_SCHEDULE,
    mix: Mapping[str, float] | None = None,
    assumptions: SimAssumptions = DEFAULT_ASSUMPTIONS,
) -> list[SimEpisode]:
    """`n` simulated episodes, the same for the same seed and arguments.

    ``mix``: kind -> share (normalised; default `DEFAULT_MIX`); counts are fixed by the shares
    and the order shuffled. Readings fall near each post-procedure check-in's target time, hours
    rounded to 0.01 (as in a CSV); the baseline reading comes 1-24 h before the procedure.
    """
    rng = random.Random(seed)
    kinds = _kind_counts(n, DEFAULT_MIX if mix is None else mix)
    rng.shuffle(kinds)
    return [
        _simulate_one(f"sim-{i + 1:05d}", kind, rng, params, schedule, assumptions)
        for i, kind in enumerate(kinds)
    ]


CSV_HEADER = "episode,hours,pain,red_flags"


def cohort_csv_rows(cohort: Iterable[SimEpisode]) -> Iterator[str]:
    """Lines (no newline) of a backtest CSV for `cohort`, header first."""
    yield CSV_HEADER
    for episode in cohort:
        for r in episode.readings:
            yield f"{episode.episode_id},{r.hours:.2f},{r.pain},{';'.join(r.red_flags)}"


def cohort_readings(cohort: Iterable[SimEpisode]) -> dict[str, list[Reading]]:
    """The cohort as `recovery.clinical.backtest.replay` takes it: episode id -> readings."""
    return {episode.episode_id: list(episode.readings) for episode in cohort}


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def detection_report(
    cohort: Sequence[SimEpisode],
    events: Sequence[Mapping[str, Any]],
    params: CurveParams = DEFAULT_PARAMS,
    schedule: Sequence[Window] = DEFAULT_SCHEDULE,
) -> dict[str, Any]:
    """How the rules did on a simulated cohort, from `recovery.clinical.backtest.replay` events.

    ``params`` and ``schedule`` must be those of the replay (and of the cohort).

    - ``red_flag_caught``: red-flag episodes with a red_flag alert at the reading reporting it;
    - ``non_responder_flagged_by_48h``: non-responders with a no_improvement alert by the end
      of the 48 h window; ``..._if_seen``: the same among those with a reading between the
      rule's start (the 24 h window's opening, `recovery.clinical.rules.rule_starts`) and that end
      (the rule had something to judge);
      ``non_responder_any_alert_by_48h``: with any score alert by then;
    - ``rebound_caught`` / ``rebound_any_alert``: rebound episodes with a rebound alert (or any
      alert) opened or escalated at the rebound reading;
    - ``alerted_by_kind``: share of each kind with any score-rule alert;
    - ``score_alerts_in_quiet_hours``: score-rule events before ``params.quiet_hours`` (must be 0).
    """
    by_episode: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        by_episode.setdefault(str(event["episode"]), []).append(event)
    # The end of the window of the check-in that makes no_improvement high (the 48 h one), found
    # by its target hour as `rule_starts` finds it, so a renamed window changes nothing.
    by_48h = next(
        (w.end_h for w in schedule if w.target_h == params.no_improvement_high_from_h),
        params.no_improvement_high_from_h,
    )
    no_improvement_from = rule_starts(params, schedule).no_improvement
    counts: dict[str, list[int]] = {kind: [0, 0] for kind in KINDS}
    red = [0, 0]
    non = [0, 0, 0, 0, 0]
    rebound = [0, 0, 0]
    quiet = 0
    for episode in cohort:
        mine = by_episode.get(episode.episode_id, [])
        score_events = [e for e in mine if e["rule"] in SCORE_RULES]
        quiet += sum(1 for e in score_events if float(e["hours"]) < params.quiet_hours)
        counts[episode.kind][0] += 1
        counts[episode.kind][1] += bool(score_events)
        at_event = [e for e in mine if e["hours"] == episode.event_hours]
        if episode.kind == RED_FLAG_KIND:
            red[0] += 1
            red[1] += any(e["rule"] == "red_flag" for e in at_event)
        elif episode.kind == NON_RESPONDER:
            flagged = any(
                e["rule"] == "no_improvement" and float(e["hours"]) <= by_48h for e in mine
            )
            seen = any(no_improvement_from <= r.hours <= by_48h for r in episode.readings)
            non[0] += 1
            non[1] += flagged
            non[2] += seen
            non[3] += flagged and seen
            non[4] += any(float(e["hours"]) <= by_48h for e in score_events)
        elif episode.kind == REBOUND_KIND:
            rebound[0] += 1
            rebound[1] += any(e["rule"] == "rebound" for e in at_event)
            rebound[2] += bool(at_event)
    return {
        "red_flag_caught": _share(red[1], red[0]),
        "non_responder_flagged_by_48h": _share(non[1], non[0]),
        "non_responder_flagged_by_48h_if_seen": _share(non[3], non[2]),
        "non_responder_any_alert_by_48h": _share(non[4], non[0]),
        "rebound_caught": _share(rebound[1], rebound[0]),
        "rebound_any_alert": _share(rebound[2], rebound[0]),
        "alerted_by_kind": {kind: _share(hit, n) for kind, (n, hit) in counts.items()},
        "episodes_by_kind": {kind: n for kind, (n, _hit) in counts.items()},
        "score_alerts_in_quiet_hours": quiet,
    }


def format_detection(report: Mapping[str, Any]) -> str:
    """The detection report as text lines."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    lines = [
        f"red flags caught at the reading:            {pct(report['red_flag_caught'])}",
        f"non-responders flagged by the 48 h window:  "
        f"{pct(report['non_responder_flagged_by_48h'])} "
        f"({pct(report['non_responder_flagged_by_48h_if_seen'])} of those seen from the rule's "
        f"start to the window's end; {pct(report['non_responder_any_alert_by_48h'])} with any "
        "score alert)",
        f"rebounds caught by the rebound rule:        {pct(report['rebound_caught'])}",
        f"rebounds with any alert at that reading:    {pct(report['rebound_any_alert'])}",
        f"score alerts before the quiet hours end:    {report['score_alerts_in_quiet_hours']}",
        "share with any score alert, by kind:",
    ]
    episodes = report["episodes_by_kind"]
    for kind, share in report["alerted_by_kind"].items():
        lines.append(f"  {kind:<14} {pct(share):>7}  (n={episodes[kind]})")
    return "\n".join(lines)


def literature_anchors(
    cohort: Sequence[SimEpisode], schedule: Sequence[Window] = DEFAULT_SCHEDULE
) -> dict[str, float | None]:
    """Figures of a simulated cohort to set against the published ones (docs/clinical.md).

    - ``high_first_4h``: share scoring >= 8 at a reading in the first 4 h (Cho 2013: 16%);
    - ``relieved_24h`` / ``relieved_48h``: share whose 24 h / 48 h check-in is >= 2 points or
      >= 30% below baseline (one series: 86% relieved within 24 h, 96.5% by 48 h);
    - ``residual_pain``: share scoring > 4 at both the 1 wk and the 1 mo check-in (Yang 2019:
      4.6%);
    - ``mean_24h_at_b8`` / ``mean_1mo_at_b8``: mean pain / baseline at the 24 h / 1 mo
      check-in, times 8 (Voormolen 2006: about 3.3 at 24 h; VERTOS II: about 2.6 at 1 month).
    """
    # The thresholds here are the papers' own definitions, not a clinic's rule settings.
    by_label: dict[str, list[tuple[SimEpisode, Reading]]] = {w.label: [] for w in schedule}
    high_early = 0
    for episode in cohort:
        high_early += any(0 < r.hours < 4 and r.pain >= 8 for r in episode.readings)
        for reading in episode.readings[1:]:
            window = window_for(schedule, reading.hours)
            if window is not None:
                by_label[window.label].append((episode, reading))

    def relieved(label: str) -> float | None:
        pairs = by_label.get(label, [])
        hits = sum(
            (e.baseline - r.pain) >= 2 or (e.baseline - r.pain) >= 0.3 * e.baseline
            for e, r in pairs
        )
        return _share(hits, len(pairs))

    def mean_at_b8(label: str) -> float | None:
        pairs = by_label.get(label, [])
        if not pairs:
            return None
        return round(8 * sum(r.pain / e.baseline for e, r in pairs) / len(pairs), 2)

    week = {e.episode_id: r.pain for e, r in by_label.get("1 wk", [])}
    month = {e.episode_id: r.pain for e, r in by_label.get("1 mo", [])}
    both = [k for k in week if k in month]
    return {
        "high_first_4h": _share(high_early, len(cohort)),
        "relieved_24h": relieved("24 h"),
        "relieved_48h": relieved("48 h"),
        "residual_pain": _share(sum(week[k] > 4 and month[k] > 4 for k in both), len(both)),
        "mean_24h_at_b8": mean_at_b8("24 h"),
        "mean_1mo_at_b8": mean_at_b8("1 mo"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write a simulated cohort as CSV to stdout, or with --report the backtest figures."""
    parser = argparse.ArgumentParser(
        prog="python -m recovery.clinical.simulate", description=main.__doc__
    )
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--report", action="store_true", help="print the backtest figures")
    parser.add_argument(
        "--equal-mix", action="store_true", help="as many of each kind (for detection rates)"
    )
    args = parser.parse_args(argv)
    mix = dict.fromkeys(KINDS, 1.0) if args.equal_mix else None
    params, schedule = DEFAULT_PARAMS, DEFAULT_SCHEDULE
    cohort = simulate_cohort(args.episodes, args.seed, params, schedule, mix=mix)
    if not args.report:
        for line in cohort_csv_rows(cohort):
            sys.stdout.write(line + "\n")
        return 0
    episodes = cohort_readings(cohort)
    # The same rule code, settings and schedule as the live app and `recovery backtest`.
    events = replay(episodes, params, schedule)
    sys.stdout.write(format_summary(summarize(episodes, events)) + "\n\n")
    report = detection_report(cohort, events, params, schedule)
    sys.stdout.write(format_detection(report) + "\n\n")
    anchors = literature_anchors(cohort, schedule)
    sys.stdout.write("simulated vs published: " + json.dumps(anchors) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
