"""The expected curve, its band, clinic settings and recalibration (recovery/clinical/curve.py)."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recovery.clinical.curve import (
    DEFAULT_PARAMS,
    MIN_CALIBRATION_EPISODES,
    CalibrationPoint,
    CurveParams,
    amber_line,
    band_top,
    calibration_report,
    chart_hours,
    curve_points,
    effective_baseline,
    expected_pain,
    fit_calibration,
    normal_offsets,
    red_line,
)
from recovery.clinical.schedule import DEFAULT_SCHEDULE


@pytest.mark.parametrize(
    ("hours", "expected"),
    [(2, 5.7), (6, 3.9), (24, 3.3), (48, 3.2), (168, 3.1), (336, 2.9), (720, 2.7), (2160, 2.4)],
)
def test_expected_pain_matches_the_published_predictions_for_baseline_8(hours, expected):
    assert round(expected_pain(8, hours), 1) == expected


@pytest.mark.parametrize("hours", [0, -0.01, -24, -1000])
def test_before_the_procedure_the_expectation_is_the_baseline(hours):
    assert expected_pain(7, hours) == 7.0


def test_curve_is_continuous_at_the_procedure():
    assert expected_pain(8, 1e-9) == pytest.approx(8.0)


def test_band_lines_are_expected_plus_the_offsets():
    e = expected_pain(8, 24)
    assert amber_line(8, 24) == pytest.approx(e + 2.6)
    assert red_line(8, 24) == pytest.approx(e + 3.2)
    # The published example reason: "7/10 at 24 h; expected 3.3, red line 6.5".
    assert f"{e:.1f} {red_line(8, 24):.1f}" == "3.3 6.5"


def test_lines_are_not_capped_but_the_band_top_is():
    assert amber_line(10, 1) > 10
    assert band_top(10, 1) == 10.0
    assert band_top(8, 24) == pytest.approx(amber_line(8, 24))


def test_offsets_follow_from_the_sd_by_normal_theory():
    assert normal_offsets(2.5) == (2.6, 3.2)
    assert normal_offsets(DEFAULT_PARAMS.sd) == (
        DEFAULT_PARAMS.amber_offset,
        DEFAULT_PARAMS.red_offset,
    )


def test_missing_baseline_uses_the_population_mean_and_says_so():
    assert effective_baseline(None) == (8.0, True)
    assert effective_baseline(6) == (6.0, False)
    assert effective_baseline(0) == (0.0, False)
    assert effective_baseline(None, CurveParams(default_baseline=7)) == (7.0, True)


def test_curve_points_has_the_four_lists_rounded():
    points = curve_points(8, [0, 2, 24.123])
    assert set(points) == {"hours", "expected", "amber", "red"}
    assert points["hours"] == [0.0, 2.0, 24.12]
    assert points["expected"][0] == 8.0
    assert points["expected"][2] == round(expected_pain(8, 24.123), 2)
    assert points["red"][2] == round(red_line(8, 24.123), 2)
    assert all(len(v) == 3 for v in points.values())


def test_chart_hours_run_from_0_to_3_months_dense_early():
    hours = chart_hours()
    assert hours[0] == 0.0
    assert hours[-1] == 2160.0
    assert hours == sorted(set(hours))
    assert sum(1 for h in hours if 0 < h <= 4) >= 10
    assert sum(1 for h in hours if h >= 168) <= 30


def test_params_round_trip_through_json():
    params = CurveParams(
        plateau=0.35,
        fast_weight=0.55,
        slow_weight=0.10,
        amber_offset=2.0,
        calibration=(CalibrationPoint(24, 0.7, 0.8, 0.4, 120), CalibrationPoint(168, 0.6, 0.7)),
    )
    data = json.loads(json.dumps(params.to_dict()))
    assert CurveParams.from_dict(data) == params


def test_from_dict_ignores_unknown_keys_and_defaults_missing_ones():
    params = CurveParams.from_dict({"red_offset": "3.5", "colour": "blue"})
    assert params.red_offset == 3.5
    assert params.amber_offset == DEFAULT_PARAMS.amber_offset
    assert CurveParams.from_dict({}) == DEFAULT_PARAMS


def test_rule_start_settings_keep_naming_the_check_in_by_its_nominal_hour():
    # Version 2 rules start when these check-ins' windows open
    # (recovery.clinical.rules.rule_starts);
    # the settings still hold the check-ins' hours, so a clinic's stored settings keep working.
    assert (
        DEFAULT_PARAMS.no_improvement_from_h,
        DEFAULT_PARAMS.no_improvement_high_from_h,
        DEFAULT_PARAMS.rebound_from_h,
        DEFAULT_PARAMS.persistent_week_h,
        DEFAULT_PARAMS.persistent_month_h,
    ) == (24, 48, 48, 168, 720)
    stored = {"no_improvement_from_h": 24, "persistent_month_h": 552}
    assert CurveParams.from_dict(stored).persistent_month_h == 552


@pytest.mark.parametrize(
    "data",
    [
        {"red_offset": 2.0},  # below amber
        {"plateau": 0.5},  # weights no longer sum to 1
        {"fast_tau_h": 0},
        {"sd": float("nan")},
        {"amber_offset": True},
        {"amber_offset": "lots"},
        {"default_baseline": 11},
        {"calibration": "none"},
        {"calibration": [{"hours": 24, "amber_ratio": 0.8, "red_ratio": 0.7}]},
        {"calibration": [{"hours": 48, "amber_ratio": 0.5, "red_ratio": 0.6}, {"hours": 24}]},
    ],
)
def test_invalid_settings_are_refused_with_a_value_error(data):
    with pytest.raises(ValueError):
        CurveParams.from_dict(data)


CALIBRATED = CurveParams(
    calibration=(CalibrationPoint(24, 0.75, 0.875), CalibrationPoint(168, 0.5, 0.625))
)


def test_calibration_replaces_the_offsets_and_interpolates_in_hours():
    assert amber_line(8, 24, CALIBRATED) == 6.0
    assert red_line(8, 24, CALIBRATED) == 7.0
    midway = (24 + 168) / 2
    assert amber_line(8, midway, CALIBRATED) == pytest.approx(8 * 0.625)
    assert red_line(8, midway, CALIBRATED) == pytest.approx(8 * 0.75)
    # The curve itself stays the published one.
    assert expected_pain(8, 24, CALIBRATED) == expected_pain(8, 24)


def test_calibration_is_flat_beyond_its_first_and_last_points():
    assert amber_line(8, 2, CALIBRATED) == 6.0
    assert amber_line(8, 2160, CALIBRATED) == 4.0
    assert red_line(4, 5000, CALIBRATED) == 2.5


def _episode(baseline, *readings):
    return (baseline, list(readings))


def test_fit_calibration_takes_percentiles_of_pain_over_baseline_per_check_in():
    # 100 episodes, baseline 10, 24 h scores 0..9 ten times each: ratios 0.0..0.9.
    episodes = [_episode(10, (-1, 10), (24, i % 10)) for i in range(100)]
    (point,) = fit_calibration(episodes)
    assert point.hours == 24
    assert point.n == 100
    assert point.amber_ratio == pytest.approx(0.8)  # 85th percentile
    assert point.red_ratio == pytest.approx(0.81)  # 90th, between 0.8 and 0.9
    assert point.median_ratio == pytest.approx(0.45)


def test_fit_calibration_counts_one_reading_per_episode_per_check_in_the_nearest():
    # The 30 h reading is farther from 24 h than the 23 h one, so it is not used.
    episodes = [_episode(10, (23, 5), (30, 10)) for _ in range(100)]
    (point,) = fit_calibration(episodes)
    assert point.n == 100
    assert point.red_ratio == pytest.approx(0.5)


def test_fit_calibration_skips_episodes_without_baseline_and_readings_outside_windows():
    episodes = [_episode(10, (24, 3), (15, 9)) for _ in range(100)]
    episodes += [_episode(None, (24, 10)), _episode(0, (24, 10))]
    (point,) = fit_calibration(episodes)
    assert point.n == 100
    assert point.amber_ratio == pytest.approx(0.3)


def test_fit_calibration_needs_enough_episodes_and_readings_per_check_in():
    few = [_episode(8, (24, 3)) for _ in range(MIN_CALIBRATION_EPISODES - 1)]
    with pytest.raises(ValueError, match="at least 100"):
        fit_calibration(few)
    sparse = [_episode(8, (24, 3) if i < 49 else (168, 3)) for i in range(100)]
    (point,) = fit_calibration(sparse)  # the 24 h bin has 49 readings: left out
    assert point.hours == 168
    with pytest.raises(ValueError, match="no check-in"):
        fit_calibration(sparse, min_per_bin=60)


def test_calibration_report_shows_no_shift_for_a_clinic_on_the_published_curve():
    b = DEFAULT_PARAMS.default_baseline
    point = CalibrationPoint(
        24,
        amber_ratio=amber_line(b, 24) / b,
        red_ratio=red_line(b, 24) / b,
        median_ratio=expected_pain(b, 24) / b,
        n=150,
    )
    (row,) = calibration_report([point])
    assert row["n"] == 150
    assert row["amber_shift_points"] == 0
    assert row["red_shift_points"] == 0
    assert row["median_shift_points"] == 0
    assert row["implied_sd"] == pytest.approx(2.5, abs=0.01)
    assert row["published_red_ratio"] == round(red_line(b, 24) / b, 3)


def test_calibration_report_measures_a_clinic_one_point_higher():
    b = DEFAULT_PARAMS.default_baseline
    point = CalibrationPoint(
        720,
        amber_ratio=(amber_line(b, 720) + 1) / b,
        red_ratio=(red_line(b, 720) + 1) / b,
        median_ratio=(expected_pain(b, 720) + 1) / b,
    )
    (row,) = calibration_report([point], CALIBRATED)  # compares with the published curve
    assert row["median_shift_points"] == 1.0
    assert row["red_shift_points"] == 1.0


def test_a_simulated_cohort_calibrates_close_to_its_own_spread():
    from recovery.clinical.simulate import simulate_cohort

    cohort = simulate_cohort(400, seed=3)
    points = fit_calibration(
        [(e.baseline, [(r.hours, r.pain) for r in e.readings]) for e in cohort]
    )
    assert [p.hours for p in points] == [w.target_h for w in DEFAULT_SCHEDULE[1:]]
    assert all(0 <= p.median_ratio <= p.amber_ratio <= p.red_ratio for p in points)


baselines = st.integers(min_value=0, max_value=10)
times = st.floats(min_value=0, max_value=10_000, allow_nan=False)


@given(baselines, times, times)
def test_expected_curve_never_rises_with_time(baseline, t1, t2):
    early, late = sorted((t1, t2))
    assert expected_pain(baseline, late) <= expected_pain(baseline, early) + 1e-12


@given(baselines, st.floats(min_value=-100, max_value=10_000, allow_nan=False))
def test_expected_curve_stays_between_0_and_baseline(baseline, hours):
    assert 0 <= expected_pain(baseline, hours) <= baseline + 1e-12


@given(
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0.1, max_value=100),
    st.floats(min_value=100, max_value=5000),
    baselines,
    times,
    times,
)
def test_any_valid_clinic_curve_never_rises_and_stays_in_range(a, b, fast_tau, slow_tau, B, t1, t2):
    plateau = a * (1 - b)
    fast = (1 - plateau) * b
    params = CurveParams(
        plateau=plateau,
        fast_weight=fast,
        slow_weight=1 - plateau - fast,
        fast_tau_h=fast_tau,
        slow_tau_h=slow_tau,
    )
    early, late = sorted((t1, t2))
    e_early, e_late = expected_pain(B, early, params), expected_pain(B, late, params)
    assert e_late <= e_early + 1e-9
    assert -1e-9 <= e_late <= B + 1e-9
    assert not math.isnan(e_late)
