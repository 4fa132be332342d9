"""Expected pain after vertebroplasty, the band around it, and per-clinic recalibration.

Pure: standard library only (plus `recovery.clinical.schedule` for the calibration time bins).
Numbers in, numbers out. Pain is the 0-10 NRS; time is hours since the end of the procedure;
hours <= 0 is the pre-procedure baseline. Model as in docs/clinical.md:

    E(t) = B * (0.29 + 0.59 * exp(-t / 3 h) + 0.12 * exp(-t / 720 h))

fitted to Diamond 2003 (Am J Med 114:257, -53% at 24 h), Voormolen 2006 (JVIR 17:1313, 8.8 to
about 3.3 at 24 h) and VERTOS II (Klazen 2010, Lancet 376:1085, about 2.6 at 1 month). The band
assumes a between-patient SD of 2.5 NRS points from 2 h on (consistent with Cho 2013, AJNR: 16%
score >= 8 in the first 4 h): amber at E(t) + 2.6 (about the 85th percentile), red at
E(t) + 3.2 (about the 90th). Once a clinic has about 100-200 finished episodes it may replace
that band with its own empirical 85th/90th percentiles of pain/B by time (`fit_calibration`),
because sham-controlled populations (INVEST, Kallmes 2009; Buchbinder 2009; VAPOUR, Clark 2016)
sit 1-2 points higher from 2 weeks on.

Every number of the model and of the alert rules lives in `CurveParams`, so a clinic can
override any of them in its settings (`to_dict` / `from_dict`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .schedule import DEFAULT_SCHEDULE, Window, window_for

#: The NRS runs from 0 (no pain) to 10 (worst pain imaginable).
PAIN_MIN = 0
PAIN_MAX = 10

#: A clinic needs this many finished episodes before its own band replaces the published one
#: (docs/clinical.md, "Recalibration per clinic": about 100-200).
MIN_CALIBRATION_EPISODES = 100
#: A time bin needs this many readings: with fewer, its 90th percentile rests on fewer than
#: five readings above it and would swing with a single patient.
MIN_CALIBRATION_READINGS_PER_BIN = 50

#: Standard normal quantiles behind the published offsets: 2.5 * 1.036 = 2.6, 2.5 * 1.282 = 3.2.
Z_AMBER = statistics.NormalDist().inv_cdf(0.85)
Z_RED = statistics.NormalDist().inv_cdf(0.90)

# Tolerance for comparing the curve weights' sum with 1 after a JSON round trip.
_WEIGHT_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class CalibrationPoint:
    """A clinic's empirical band at one time since procedure.

    ``hours``: hours since procedure (the check-in's target time). ``amber_ratio`` and
    ``red_ratio``: the 85th and 90th percentiles of pain / baseline there. ``median_ratio`` and
    ``n`` (readings) describe the data behind them, for the calibration report.
    """

    hours: float
    amber_ratio: float
    red_ratio: float
    median_ratio: float | None = None
    n: int = 0


@dataclass(frozen=True)
class CurveParams:
    """The expected curve, its band and the alert rules' thresholds, all overridable per clinic.

    Curve (fractions of baseline; times in hours since procedure): ``plateau``, ``fast_weight``
    with ``fast_tau_h``, ``slow_weight`` with ``slow_tau_h``. The three weights sum to 1, so the
    curve starts at the baseline.

    Band (0-10 NRS points): ``amber_offset`` and ``red_offset`` above E(t) are the thresholds the
    rules use; ``sd`` is the between-patient SD they were derived from (offset = z * SD, see
    `normal_offsets`), kept for the calibration report and for a clinic that wants to re-derive
    the offsets. ``calibration``, when not empty, replaces E(t) + offset with the clinic's own
    percentiles.

    ``default_baseline``: the baseline assumed when none was recorded (population mean, 0-10).

    Rule thresholds (docs/clinical.md, "Alert rules"): ``quiet_hours`` (no score-only alerts
    before it, in hours since procedure), ``early_high_pain`` (a score at or above it in the
    quiet hours gets the "take your analgesia" advice), ``min_change_points`` and
    ``min_change_fraction`` (of baseline; Farrar 2001, Ostelo 2008), ``rebound_floor`` (0-10
    NRS) and ``persistent_above`` (Yang 2019).

    Rule starts: ``no_improvement_from_h`` / ``no_improvement_high_from_h``, ``rebound_from_h``,
    ``persistent_week_h`` / ``persistent_month_h`` name the check-in that starts each rule by its
    nominal hour (24, 48, 48, 168, 720). Since version 2 of the rules a rule applies from the
    opening of that check-in's window in the clinic's schedule (18, 36, 36, 120 and 552 h with
    the default one): see `recovery.clinical.rules.rule_starts`. Stored settings keep their meaning.
    """

    plateau: float = 0.29
    fast_weight: float = 0.59
    fast_tau_h: float = 3.0
    slow_weight: float = 0.12
    slow_tau_h: float = 720.0
    sd: float = 2.5
    amber_offset: float = 2.6
    red_offset: float = 3.2
    default_baseline: float = 8.0
    quiet_hours: float = 4.0
    early_high_pain: float = 8.0
    no_improvement_from_h: float = 24.0
    no_improvement_high_from_h: float = 48.0
    min_change_points: float = 2.0
    min_change_fraction: float = 0.30
    rebound_from_h: float = 48.0
    rebound_floor: float = 4.0
    # The 1-week and 1-month check-ins (one month is taken as 30 days).
    persistent_week_h: float = 7 * 24.0
    persistent_month_h: float = 30 * 24.0
    persistent_above: float = 4.0
    calibration: tuple[CalibrationPoint, ...] = field(default=())

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("invalid curve settings: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings: every field, calibration as a list of dicts."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "calibration"}
        data["calibration"] = [asdict(point) for point in self.calibration]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CurveParams:
        """Settings from `to_dict` output: unknown keys ignored, missing keys take defaults.

        Raises ValueError naming the setting when a value is not a finite number or the whole
        is inconsistent (e.g. red offset below amber).
        """
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            if f.name == "calibration":
                values[f.name] = _calibration_from_data(data[f.name])
            else:
                values[f.name] = _number(data[f.name], f.name)
        return cls(**values)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number")
    return number


def _calibration_from_data(items: Any) -> tuple[CalibrationPoint, ...]:
    if items is None:
        return ()
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise ValueError("calibration must be a list of points")
    points = []
    for item in items:
        if not isinstance(item, Mapping):
            raise ValueError("each calibration point must be an object")
        median = item.get("median_ratio")
        points.append(
            CalibrationPoint(
                hours=_number(item.get("hours"), "calibration hours"),
                amber_ratio=_number(item.get("amber_ratio"), "calibration amber_ratio"),
                red_ratio=_number(item.get("red_ratio"), "calibration red_ratio"),
                median_ratio=None if median is None else _number(median, "median_ratio"),
                n=int(_number(item.get("n", 0), "calibration n")),
            )
        )
    return tuple(points)


def _problems(p: CurveParams) -> list[str]:
    problems = []
    weights = (p.plateau, p.fast_weight, p.slow_weight)
    if min(weights) < 0:
        problems.append("plateau and phase weights must not be negative")
    elif abs(sum(weights) - 1.0) > _WEIGHT_SUM_TOLERANCE:
        # E(0) = B only when they sum to 1; otherwise the curve jumps at the procedure.
        problems.append("plateau + fast_weight + slow_weight must equal 1")
    if p.fast_tau_h <= 0 or p.slow_tau_h <= 0:
        problems.append("time constants must be positive")
    if p.sd <= 0:
        problems.append("sd must be positive")
    if p.amber_offset < 0 or p.red_offset < p.amber_offset:
        problems.append("need 0 <= amber_offset <= red_offset")
    if not PAIN_MIN <= p.default_baseline <= PAIN_MAX:
        problems.append("default_baseline must be 0-10")
    if not 0 <= p.min_change_fraction <= 1 or p.min_change_points < 0:
        problems.append("minimum change must be >= 0 points and 0-1 of baseline")
    if p.no_improvement_high_from_h < p.no_improvement_from_h:
        problems.append("no_improvement_high_from_h must not precede no_improvement_from_h")
    if p.persistent_month_h < p.persistent_week_h:
        problems.append("persistent_month_h must not precede persistent_week_h")
    hours = [point.hours for point in p.calibration]
    if hours != sorted(set(hours)):
        problems.append("calibration points must be in increasing time order")
    if any(pt.amber_ratio < 0 or pt.red_ratio < pt.amber_ratio for pt in p.calibration):
        problems.append("calibration needs 0 <= amber_ratio <= red_ratio")
    return problems


DEFAULT_PARAMS = CurveParams()


def normal_offsets(sd: float) -> tuple[float, float]:
    """The (amber, red) offsets in NRS points for a between-patient SD, to 0.1 point.

    Normal theory: the 85th and 90th percentiles sit 1.036 and 1.282 SD above the mean;
    SD 2.5 gives the published 2.6 and 3.2 (docs/clinical.md, "Band").
    """
    return round(Z_AMBER * sd, 1), round(Z_RED * sd, 1)


def effective_baseline(
    baseline: float | None, params: CurveParams = DEFAULT_PARAMS
) -> tuple[float, bool]:
    """The baseline to draw and judge against (0-10 NRS) and whether it was assumed.

    A missing baseline becomes the population mean (``params.default_baseline``), and the
    caller must say so (chart note, alert reason).
    """
    if baseline is None:
        return params.default_baseline, True
    return float(baseline), False


def expected_pain(baseline: float, hours: float, params: CurveParams = DEFAULT_PARAMS) -> float:
    """Expected pain (0-10 NRS) at `hours` since procedure for a patient with `baseline`.

    Before the procedure (hours <= 0) it is the baseline itself.
    """
    if hours <= 0:
        return float(baseline)
    fraction = (
        params.plateau
        + params.fast_weight * math.exp(-hours / params.fast_tau_h)
        + params.slow_weight * math.exp(-hours / params.slow_tau_h)
    )
    return baseline * fraction


def _calibrated_ratio(points: Sequence[CalibrationPoint], hours: float, attr: str) -> float:
    # Linear in hours between points; flat beyond the first and last, where there are no data.
    if hours <= points[0].hours:
        return getattr(points[0], attr)
    for left, right in zip(points, points[1:], strict=False):
        if hours <= right.hours:
            share = (hours - left.hours) / (right.hours - left.hours)
            return getattr(left, attr) + share * (getattr(right, attr) - getattr(left, attr))
    return getattr(points[-1], attr)


def amber_line(baseline: float, hours: float, params: CurveParams = DEFAULT_PARAMS) -> float:
    """The "review at next contact" threshold (0-10 NRS, not capped) at `hours` since procedure."""
    if params.calibration:
        return baseline * _calibrated_ratio(params.calibration, hours, "amber_ratio")
    return expected_pain(baseline, hours, params) + params.amber_offset


def red_line(baseline: float, hours: float, params: CurveParams = DEFAULT_PARAMS) -> float:
    """The "call the patient" threshold (0-10 NRS, not capped) at `hours` since procedure."""
    if params.calibration:
        return baseline * _calibrated_ratio(params.calibration, hours, "red_ratio")
    return expected_pain(baseline, hours, params) + params.red_offset


def band_top(baseline: float, hours: float, params: CurveParams = DEFAULT_PARAMS) -> float:
    """Top of the shaded expected range: the amber line, capped at 10 (the top of the scale)."""
    return min(amber_line(baseline, hours, params), float(PAIN_MAX))


def curve_points(
    baseline: float, hours: Sequence[float], params: CurveParams = DEFAULT_PARAMS
) -> dict[str, list[float]]:
    """Expected curve and lines at each of `hours`, for charts and the API.

    Keys ``hours``, ``expected``, ``amber``, ``red``: lists of floats (0-10 NRS, lines not
    capped) rounded to 2 decimals.
    """
    return {
        "hours": [round(float(h), 2) for h in hours],
        "expected": [round(expected_pain(baseline, h, params), 2) for h in hours],
        "amber": [round(amber_line(baseline, h, params), 2) for h in hours],
        "red": [round(red_line(baseline, h, params), 2) for h in hours],
    }


#: Chart sampling: from 15 minutes, six points per doubling of time, up to 3 months.
_CHART_FIRST_H = 0.25
_CHART_LAST_H = 2160.0
_CHART_POINTS_PER_DOUBLING = 6


def chart_hours() -> list[float]:
    """Sample times (hours since procedure) from 0 to 2160 for drawing a smooth curve.

    Evenly spaced on a log axis, so the fast first hours get as many points as the months.
    """
    hours = [0.0]
    step = 2 ** (1 / _CHART_POINTS_PER_DOUBLING)
    value = _CHART_FIRST_H
    while value < _CHART_LAST_H:
        hours.append(round(value, 2))
        value *= step
    hours.append(_CHART_LAST_H)
    return hours


def _quantile(ordered: Sequence[float], q: float) -> float:
    # Linear interpolation between order statistics (Hyndman-Fan type 7, numpy's default).
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def fit_calibration(
    episodes: Sequence[tuple[float | None, Sequence[tuple[float, int]]]],
    bins: Sequence[Window] = DEFAULT_SCHEDULE,
    *,
    min_episodes: int = MIN_CALIBRATION_EPISODES,
    min_per_bin: int = MIN_CALIBRATION_READINGS_PER_BIN,
) -> tuple[CalibrationPoint, ...]:
    """A clinic's empirical band from its finished episodes.

    ``episodes``: (baseline 0-10 NRS, [(hours since procedure, pain 0-10), ...]) per episode.
    Episodes without a baseline above 0 are left out (pain / baseline is undefined). Each
    post-procedure check-in window of ``bins`` is a time bin, placed at its target time; an
    episode contributes at most one reading per bin, the one nearest the target, so a patient
    who checked in twice does not count twice. Readings outside every window are not used.

    Returns one point per bin with at least ``min_per_bin`` readings: the 85th (amber) and 90th
    (red) percentiles and the median of pain / baseline. Raises ValueError when fewer than
    ``min_episodes`` episodes have a baseline, or no bin has enough readings.
    """
    ratios: dict[Window, list[float]] = {w: [] for w in bins if not w.is_pre_procedure}
    usable = 0
    for baseline, readings in episodes:
        if baseline is None or baseline <= 0:
            continue
        usable += 1
        nearest: dict[Window, tuple[float, int]] = {}
        for hours, pain in readings:
            window = window_for(bins, hours)
            if window is None or window.is_pre_procedure:
                continue
            best = nearest.get(window)
            if best is None or abs(hours - window.target_h) < abs(best[0] - window.target_h):
                nearest[window] = (hours, pain)
        for window, (_hours, pain) in nearest.items():
            ratios[window].append(pain / baseline)
    if usable < min_episodes:
        raise ValueError(
            f"{usable} episodes with a baseline; at least {min_episodes} are needed "
            "before a clinic's own band replaces the published one"
        )
    points = []
    for window, values in ratios.items():
        if len(values) < min_per_bin:
            continue
        ordered = sorted(values)
        points.append(
            CalibrationPoint(
                hours=window.target_h,
                amber_ratio=round(_quantile(ordered, 0.85), 4),
                red_ratio=round(_quantile(ordered, 0.90), 4),
                median_ratio=round(_quantile(ordered, 0.50), 4),
                n=len(ordered),
            )
        )
    if not points:
        raise ValueError(f"no check-in has {min_per_bin} or more readings to calibrate on")
    return tuple(points)


def calibration_report(
    points: Sequence[CalibrationPoint], params: CurveParams = DEFAULT_PARAMS
) -> list[dict[str, Any]]:
    """How far a clinic sits from the published curve, per calibration point.

    Ratios are pain / baseline. The published amber and red lines are offsets in points, so
    their ratios depend on the baseline; they (and every ``*_shift_points``, in NRS points) are
    given at ``params.default_baseline``. ``implied_sd`` is the between-patient SD (NRS points
    at that baseline) that would put the clinic's 90th percentile where it is, for comparison
    with ``params.sd``: a clinic far above it has a wider spread than the published band.
    """
    published = replace(params, calibration=())
    reference = params.default_baseline
    report = []
    for point in points:
        expected = expected_pain(reference, point.hours, published)
        row: dict[str, Any] = {
            "hours": point.hours,
            "n": point.n,
            "reference_baseline": reference,
            "published_median_ratio": round(expected / reference, 3),
            "clinic_median_ratio": point.median_ratio,
            "published_amber_ratio": round(
                amber_line(reference, point.hours, published) / reference, 3
            ),
            "clinic_amber_ratio": point.amber_ratio,
            "published_red_ratio": round(
                red_line(reference, point.hours, published) / reference, 3
            ),
            "clinic_red_ratio": point.red_ratio,
            "amber_shift_points": round(
                point.amber_ratio * reference - amber_line(reference, point.hours, published), 2
            ),
            "red_shift_points": round(
                point.red_ratio * reference - red_line(reference, point.hours, published), 2
            ),
            "median_shift_points": None,
            "implied_sd": None,
            "published_sd": params.sd,
        }
        if point.median_ratio is not None:
            row["median_shift_points"] = round((point.median_ratio * reference) - expected, 2)
            row["implied_sd"] = round((point.red_ratio - point.median_ratio) * reference / Z_RED, 2)
        report.append(row)
    return report
