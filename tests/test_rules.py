"""The alert rules at their boundaries, the patient status and alert hygiene.

recovery/clinical/rules.py
"""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recovery.clinical.curve import CalibrationPoint, CurveParams, expected_pain
from recovery.clinical.rules import (
    Finding,
    History,
    Reading,
    RuleStarts,
    apply_findings,
    assess,
    evaluate,
    evaluate_with_history,
    missed_checkin_finding,
    rule_starts,
)
from recovery.clinical.schedule import DEFAULT_SCHEDULE, schedule_from_list
from recovery.clinical.vocabulary import RedFlag, Rule, Severity

MODERATE, HIGH = Severity.MODERATE, Severity.HIGH


def rules_of(findings):
    return {f.rule: f.severity for f in findings}


def check(hours, pain, earlier=(), baseline=8, params=None, flags=(), schedule=None):
    reading = Reading(hours, pain, tuple(flags))
    if params is None and schedule is None:
        return rules_of(evaluate(reading, list(earlier), baseline))
    params = CurveParams() if params is None else params
    schedule = DEFAULT_SCHEDULE if schedule is None else schedule
    return rules_of(evaluate(reading, list(earlier), baseline, params, schedule=schedule))


def _window(label, target, start, end):
    return {"label": label, "target_h": target, "start_h": start, "end_h": end}


#: A clinic's edited schedule: the 24 h window opens at 20 h, the 48 h at 40 h, the 1 week
#: window at 6 days (144 h) and the 1 month window at 25 days (600 h).
EDITED = schedule_from_list(
    [
        _window("baseline", 0, -168, 0),
        _window("2 h", 2, 1, 4),
        _window("6 h", 6, 4, 12),
        _window("24 h", 24, 20, 30),
        _window("48 h", 48, 40, 60),
        _window("1 wk", 168, 144, 192),
        _window("2 wk", 336, 240, 432),
        _window("1 mo", 720, 600, 840),
        _window("3 mo", 2160, 1824, 2496),
    ]
)
SCHEDULES = {"default": DEFAULT_SCHEDULE, "edited": EDITED}


# --- readings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "pain", "flags"),
    [(1, 11, ()), (1, -1, ()), (1, 7.5, ()), (1, True, ()), (float("nan"), 5, ()), (1, 5, ("x",))],
)
def test_reading_refuses_impossible_values(hours, pain, flags):
    with pytest.raises(ValueError):
        Reading(hours, pain, flags)


# --- red flags and the first 4 hours --------------------------------------------------------


@pytest.mark.parametrize("hours", [-2, 0.5, 3.99, 24, 2000])
def test_red_flag_is_urgent_at_any_time_whatever_the_score(hours):
    assert check(hours, 0, flags=["fever"]) == {"red_flag": Severity.URGENT}


@pytest.mark.parametrize("flags", [["chest_pain"], ["breathless"], ["fever", "breathless"]])
def test_red_flag_with_chest_pain_or_breathlessness_is_an_emergency(flags):
    assert check(24, 0, flags=flags) == {"red_flag": Severity.EMERGENCY}
    assert check(2, 0, flags=flags) == {"red_flag": Severity.EMERGENCY}


def test_red_flag_reason_names_the_symptoms_in_plain_words():
    (finding,) = evaluate(Reading(3, 2, ("chest_pain", "wound")), [], 8)
    assert finding.reason == (
        "red flag at 3 h (2/10): chest pain; bleeding, swelling or redness at the needle site"
    )


@pytest.mark.parametrize("hours", [0.1, 1, 2, 3.99])
def test_no_score_only_alert_in_the_first_4_hours(hours):
    assert check(hours, 10, baseline=2) == {}


def test_score_rules_start_at_4_hours():
    assert check(3.99, 10) == {}
    assert check(4, 10) == {"above_expected": Severity.HIGH}


def test_baseline_readings_raise_no_score_alert():
    assert check(-1, 10, baseline=2) == {}


# --- above_expected -------------------------------------------------------------------------

# Lines at exact integers (at 8: amber 6.0, red 7.0) so "at the line" is tested exactly.
EXACT = CurveParams(calibration=(CalibrationPoint(4, 0.75, 0.875),))


@pytest.mark.parametrize(
    ("pain", "severity"),
    [(5, None), (6, Severity.MODERATE), (7, Severity.HIGH), (10, Severity.HIGH)],
)
def test_above_expected_at_the_amber_and_red_lines(pain, severity):
    found = check(24, pain, params=EXACT, baseline=8).get("above_expected")
    assert found is severity


def test_above_expected_with_the_published_band_at_offsets_landing_on_integers():
    e = expected_pain(8, 168)
    params = CurveParams(amber_offset=5 - e, red_offset=6 - e)
    assert check(168, 4, params=params, earlier=[Reading(48, 3)]) == {}
    assert check(168, 5, params=params, earlier=[Reading(48, 3)]) == {
        "above_expected": Severity.MODERATE
    }
    assert check(168, 6, params=params, earlier=[Reading(48, 4)])["above_expected"] is (
        Severity.HIGH
    )


def test_above_expected_reason_matches_the_clinical_example():
    (finding, _) = evaluate(Reading(24, 7), [], 8)
    assert finding.rule == "above_expected"
    assert finding.reason == "7/10 at 24 h; expected 3.3, red line 6.5"
    moderate = evaluate(Reading(24, 6), [], 8)[0]
    assert moderate.reason == "6/10 at 24 h; expected 3.3, amber line 5.9"


def test_calibrated_lines_are_named_as_the_clinics():
    (finding, *_) = evaluate(Reading(24, 7), [], 8, EXACT)
    assert "clinic red line 7.0" in finding.reason


# --- no_improvement -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "hours", "severity"),
    [
        # Default: from the 24 h window's opening (18 h), high from the 48 h window's (36 h).
        ("default", 17.99, None),
        ("default", 18, MODERATE),
        ("default", 18.01, MODERATE),
        ("default", 24, MODERATE),
        ("default", 35.99, MODERATE),
        ("default", 36, HIGH),
        ("default", 36.01, HIGH),
        # Edited: the 24 h window opens at 20 h, the 48 h window at 40 h.
        ("edited", 17.99, None),
        ("edited", 19.99, None),
        ("edited", 20, MODERATE),
        ("edited", 20.01, MODERATE),
        ("edited", 39.99, MODERATE),
        ("edited", 40, HIGH),
        ("edited", 40.01, HIGH),
    ],
)
def test_no_improvement_starts_when_the_24_h_window_opens_and_is_high_from_the_48_h(
    schedule, hours, severity
):
    found = check(hours, 7, schedule=SCHEDULES[schedule])
    assert found.get("no_improvement") is severity


@pytest.mark.parametrize(
    ("baseline", "pain", "fires"),
    [
        (8, 7, True),  # fall 1
        (8, 6, False),  # fall 2 = 2 points: improved
        (10, 9, True),  # fall 1 (10%)
        (10, 8, False),  # fall 2: 2 points is enough even below 30%
        (6, 5, True),  # fall 1 < 1.8 (30%)
        (6, 4, False),  # fall 2
        (5, 4, True),  # fall 1 < 1.5 (30%) and < 2
        (3, 2, False),  # fall 1 >= 0.9 (30% of 3)
        (8, 9, True),  # worse than baseline
    ],
)
def test_no_improvement_needs_both_less_than_2_points_and_less_than_30_percent(
    baseline, pain, fires
):
    assert ("no_improvement" in check(24, pain, baseline=baseline)) is fires


def test_no_improvement_30_percent_edge_is_exclusive():
    # 25% of 8 = 2 points exactly: a fall of 2 is not "< 25%", a fall of 1 is.
    params = CurveParams(min_change_points=3, min_change_fraction=0.25)
    assert "no_improvement" not in check(24, 6, params=params)
    assert "no_improvement" in check(24, 7, params=params)


def test_no_improvement_reason_has_the_numbers():
    finding = evaluate(Reading(48, 7), [], 8)[1]
    assert finding.reason == "7/10 at 48 h; baseline 8, down 1 (12%): less than 2 points and 30%"


# --- rebound --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "hours", "fires"),
    [
        ("default", 35.99, False),
        ("default", 36, True),
        ("default", 36.01, True),
        ("edited", 35.99, False),
        ("edited", 39.99, False),
        ("edited", 40, True),
        ("edited", 40.01, True),
    ],
)
def test_rebound_starts_when_the_48_h_window_opens(schedule, hours, fires):
    found = check(hours, 5, [Reading(24, 2)], schedule=SCHEDULES[schedule])
    assert found.get("rebound") is (HIGH if fires else None)


@pytest.mark.parametrize(
    ("baseline", "lowest", "pain", "fires"),
    [
        (6, 2, 4, True),  # +2 points, >= 1.8 (30%), reaches 4
        (6, 3, 4, False),  # +1 point
        (10, 2, 5, True),  # +3 = 30% of 10
        (10, 2, 4, False),  # +2 points but < 30% of 10
        (8, 2, 4, False),  # +2 < 2.4 (30% of 8): the ordinary 2 -> 4 wobble
        (8, 2, 5, True),  # +3
        (6, 1, 3, False),  # +2 >= 1.8 but below the floor of 4
        (3, 1, 3, True),  # back to baseline, though below the floor
        (3, 1, 2, False),  # +1, below baseline
        (8, 7, 8, True),  # back to baseline from a lower score
        (8, 8, 8, False),  # never came down: not a return
        (8, 8, 10, False),  # never came down: +2 < 2.4, and no "return"
    ],
)
def test_rebound_edges(baseline, lowest, pain, fires):
    found = check(168, pain, [Reading(-1, baseline), Reading(48, lowest)], baseline=baseline)
    assert ("rebound" in found) is fires


def test_rebound_measures_from_the_lowest_score_from_4_hours_on_only():
    # A low pre-procedure score is not "the lowest since 4 h".
    assert "rebound" not in check(168, 5, [Reading(-5, 1), Reading(24, 4)])
    # Nor are the local anaesthetic's lows of the first hours: 1/10 at 2 h, then on the curve.
    assert "rebound" not in check(48, 4, [Reading(2, 1), Reading(24, 3)])
    assert "rebound" not in check(168, 6, [Reading(3.99, 1), Reading(24, 4)])
    assert check(168, 6, [Reading(4, 1), Reading(24, 4)])["rebound"] is HIGH
    # The lowest of several earlier scores, whatever order they are given in.
    assert "rebound" in check(168, 5, [Reading(72, 4), Reading(24, 2), Reading(48, 3)])


def test_rebound_back_to_baseline_only_after_the_lowest_from_4_hours_came_below_it():
    # 1/10 at 2 h does not count as having come down; 3/10 since then never went below 3.
    assert "rebound" not in check(168, 3, [Reading(2, 1), Reading(24, 3)], baseline=3)
    assert "rebound" in check(168, 3, [Reading(2, 1), Reading(6, 2), Reading(24, 3)], baseline=3)


def test_rebound_follows_the_clinics_quiet_hours():
    params = CurveParams(quiet_hours=6)
    assert "rebound" in check(168, 6, [Reading(5, 1), Reading(24, 4)])
    assert "rebound" not in check(168, 6, [Reading(5, 1), Reading(24, 4)], params=params)


def test_rebound_ignores_readings_later_in_time_than_this_one():
    assert "rebound" not in check(168, 5, [Reading(24, 4), Reading(300, 1)])


def test_rebound_reasons():
    earlier = [Reading(48, 2)]
    finding = rules_of(evaluate(Reading(168, 6), earlier, 8))
    assert "rebound" in finding
    reason = next(f.reason for f in evaluate(Reading(168, 6), earlier, 8) if f.rule == "rebound")
    assert reason == "6/10 at 7 d; up 4 from the lowest since 4 h, 2/10 at 48 h"
    low = next(f for f in evaluate(Reading(168, 3), [Reading(48, 1)], 3) if f.rule == "rebound")
    assert low.reason == "3/10 at 7 d; back to baseline 3 from 1/10 at 48 h"


# --- persistent -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "earlier_h", "hours", "fires"),
    [
        # Default: the 1 week window opens at 120 h (5 days), the 1 month window at 552 h.
        ("default", 119.99, 720, False),
        ("default", 120, 720, True),
        ("default", 120.01, 720, True),
        ("default", 168, 551.99, False),
        ("default", 168, 552, True),
        ("default", 168, 552.01, True),
        ("default", 120, 552, True),
        # Edited: the 1 week window opens at 144 h (6 days), the 1 month window at 600 h.
        ("edited", 143.99, 720, False),
        ("edited", 144, 720, True),
        ("edited", 144.01, 720, True),
        ("edited", 168, 599.99, False),
        ("edited", 168, 600, True),
        ("edited", 168, 600.01, True),
    ],
)
def test_persistent_starts_when_the_1_week_and_1_month_windows_open(
    schedule, earlier_h, hours, fires
):
    found = check(hours, 5, [Reading(earlier_h, 5)], schedule=SCHEDULES[schedule])
    assert found.get("persistent") is (MODERATE if fires else None)


def test_persistent_needs_two_scores_above_4():
    week = Reading(168, 5)
    assert check(720, 5, [week])["persistent"] is MODERATE
    assert "persistent" not in check(720, 4, [week])  # 4 is not above 4
    assert "persistent" not in check(720, 5, [Reading(168, 4)])
    assert "persistent" not in check(720, 5, [])  # only one of the two windows


def test_persistent_counts_two_readings_after_a_month():
    assert "persistent" in check(2160, 5, [Reading(720, 6)])
    assert "persistent" in check(560, 5, [Reading(552, 6)])


def test_persistent_reason_gives_the_window_openings():
    def reason(schedule):
        findings = evaluate(Reading(720, 6), [Reading(168, 5)], 8, schedule=schedule)
        return next(f.reason for f in findings if f.rule == "persistent")

    assert reason(DEFAULT_SCHEDULE) == (
        "6/10 at 1 mo and 5/10 at 7 d; above 4 at or after 5 d and at or after 23 d"
    )
    assert reason(EDITED).endswith("above 4 at or after 6 d and at or after 25 d")


# --- rule starts from the schedule ----------------------------------------------------------


def test_rule_starts_are_the_openings_of_their_check_in_windows():
    assert rule_starts() == RuleStarts(
        no_improvement=18,
        no_improvement_high=36,
        rebound=36,
        persistent_week=120,
        persistent_month=552,
    )
    assert rule_starts(CurveParams(), EDITED) == RuleStarts(20, 40, 40, 144, 600)


def test_rule_starts_follow_the_clinics_settings_through_its_windows():
    # The settings name the check-in; the rule starts when its window opens.
    later = CurveParams(no_improvement_from_h=48, rebound_from_h=168)
    assert rule_starts(later).no_improvement == 36
    assert rule_starts(later).rebound == 120
    # An hour that is no check-in's target: the window containing it, else the hour itself.
    assert rule_starts(CurveParams(persistent_month_h=552)).persistent_month == 552
    assert rule_starts(CurveParams(no_improvement_from_h=30)).no_improvement == 18
    assert rule_starts(CurveParams(no_improvement_from_h=15)).no_improvement == 15
    # A relabelled window is found by its target hour.
    one_day = schedule_from_list([_window("1 d", 24, 12, 36)])
    assert rule_starts(CurveParams(), one_day).no_improvement == 12
    assert rule_starts(CurveParams(), one_day).persistent_week == 168


def test_entries_between_windows_are_judged_by_their_own_hour():
    low = [Reading(6, 2)]
    assert "no_improvement" not in check(15, 7)  # between the 6 h and 24 h windows
    assert check(33, 7, low) == {"above_expected": HIGH, "no_improvement": MODERATE}
    assert check(100, 7, low)["no_improvement"] is HIGH  # between 48 h and 1 week
    assert check(100, 7, low)["rebound"] is HIGH
    # 5/10 at 110 h is before the 1 week window opens; at 500 h (after 2 weeks) it counts.
    assert "persistent" not in check(720, 5, [Reading(110, 5)])
    assert "persistent" in check(720, 5, [Reading(500, 5)])
    assert "persistent" not in check(500, 5, [Reading(200, 5)])  # not yet the 1 month window


def test_rule_starts_never_move_the_quiet_hours():
    # A 24 h window opening at 2 h: no_improvement still waits for the quiet hours to end.
    early = schedule_from_list([_window("24 h", 24, 2, 30), _window("48 h", 48, 30, 60)])
    assert rule_starts(CurveParams(), early).no_improvement == 2
    assert check(3.99, 10, baseline=10, schedule=early) == {}
    assert check(4, 10, baseline=10, schedule=early) == {
        "above_expected": HIGH,
        "no_improvement": MODERATE,
    }


def test_a_history_judges_with_the_settings_and_schedule_it_was_built_for():
    history = History(schedule=EDITED)
    reading = Reading(19, 7)
    assert evaluate_with_history(reading, history, 8) == evaluate(reading, [], 8, schedule=EDITED)
    assert evaluate_with_history(reading, History(), 8) == evaluate(reading, [], 8)
    assert evaluate_with_history(reading, History(), 8) != evaluate_with_history(
        reading, history, 8
    )


# --- baseline missing -----------------------------------------------------------------------


def test_missing_baseline_assumes_8_and_says_so():
    findings = evaluate(Reading(24, 7), [], None)
    assert rules_of(findings) == rules_of(evaluate(Reading(24, 7), [], 8))
    assert all(f.reason.endswith("; baseline not recorded, 8 assumed") for f in findings)
    assessment = assess(Reading(24, 7), [], None)
    assert assessment.baseline == 8 and assessment.baseline_assumed


def test_clinic_default_baseline_is_used_and_named():
    findings = evaluate(Reading(24, 6), [], None, CurveParams(default_baseline=7))
    assert findings[-1].rule == "no_improvement"
    assert findings[-1].reason.endswith("baseline not recorded, 7 assumed")


# --- priority, status, hygiene --------------------------------------------------------------


def test_findings_come_in_priority_order_one_per_rule():
    earlier = [Reading(-1, 8), Reading(48, 2), Reading(168, 6)]
    findings = evaluate(Reading(720, 9, ("fever",)), earlier, 8)
    assert [f.rule for f in findings] == [
        "red_flag",
        "above_expected",
        "no_improvement",
        "rebound",
        "persistent",
    ]


@pytest.mark.parametrize(
    ("hours", "pain", "flags", "status"),
    [
        (24, 2, ("breathless",), "emergency"),
        (24, 2, ("fever", "chest_pain"), "emergency"),
        (1, 9, ("wound",), "call_clinic"),
        (2, 8, (), "early_high"),
        (3.99, 10, (), "early_high"),
        (2, 7, (), "on_track"),
        (4, 8, (), "higher"),
        (24, 7, (), "higher"),
        (24, 3, (), "on_track"),
        (-1, 9, (), "on_track"),
    ],
)
def test_assess_status(hours, pain, flags, status):
    assessment = assess(Reading(hours, pain, flags), [], 8)
    assert assessment.status == status


def test_assess_judges_by_the_clinics_schedule():
    # 4/10 at 19 h with baseline 5: below the amber line, down only 1 point (20%).
    assert assess(Reading(19, 4), [], 5).status == "higher"
    assert assess(Reading(19, 4), [], 5, schedule=EDITED).status == "on_track"


def test_assess_carries_the_curve_values_and_the_findings():
    reading = Reading(24, 7)
    assessment = assess(reading, [], 8)
    assert assessment.findings == tuple(evaluate(reading, [], 8))
    assert assessment.expected == pytest.approx(expected_pain(8, 24))
    assert assessment.amber == pytest.approx(assessment.expected + 2.6)
    assert assessment.red == pytest.approx(assessment.expected + 3.2)
    assert assessment.baseline == 8 and not assessment.baseline_assumed


def test_apply_findings_opens_escalates_and_updates():
    moderate = Finding("no_improvement", Severity.MODERATE, "a")
    high = Finding("no_improvement", Severity.HIGH, "b")
    flag = Finding("red_flag", Severity.URGENT, "c")
    assert apply_findings({}, [moderate, flag]) == [("opened", moderate), ("opened", flag)]
    assert apply_findings({"no_improvement": Severity.MODERATE}, [high]) == [("escalated", high)]
    assert apply_findings({"no_improvement": Severity.HIGH}, [high]) == [("updated", high)]
    assert apply_findings({"no_improvement": Severity.HIGH}, [moderate]) == [("updated", moderate)]


def test_missed_checkin_finding():
    by_label = {w.label: w for w in DEFAULT_SCHEDULE}
    finding = missed_checkin_finding(by_label["24 h"])
    assert (finding.rule, finding.severity, finding.reason) == (
        "missed_checkin",
        Severity.MODERATE,
        "no check-in in the 24 h window (18-30 h)",
    )
    assert missed_checkin_finding(by_label["1 wk"]).reason.endswith("(5-9 d)")
    assert missed_checkin_finding(by_label["1 mo"]).reason.endswith("(23-37 d)")


# --- properties -----------------------------------------------------------------------------

post_hours = st.floats(min_value=0.01, max_value=3000, allow_nan=False)
pains = st.integers(min_value=0, max_value=10)
histories = st.lists(
    st.builds(
        Reading,
        st.floats(min_value=-48, max_value=3000, allow_nan=False),
        pains,
        st.lists(st.sampled_from(list(RedFlag.codes())), max_size=2, unique=True).map(tuple),
    ),
    max_size=8,
)
baselines = st.one_of(st.none(), st.integers(min_value=0, max_value=10))
flag_sets = st.lists(st.sampled_from(list(RedFlag.codes())), max_size=2, unique=True).map(tuple)


def _opened_at(fractions):
    """The default schedule with each post-procedure window opening anywhere from the end of
    the window before it to its own target (fraction 0 .. 1 of that gap)."""
    windows, previous_end = [DEFAULT_SCHEDULE[0]], DEFAULT_SCHEDULE[0].end_h
    for window, fraction in zip(DEFAULT_SCHEDULE[1:], fractions, strict=True):
        start = previous_end + fraction * (window.target_h - previous_end)
        windows.append(replace(window, start_h=start))
        previous_end = window.end_h
    return tuple(windows)


schedules = st.one_of(
    st.sampled_from([DEFAULT_SCHEDULE, EDITED]),
    st.lists(
        st.floats(min_value=0, max_value=1),
        min_size=len(DEFAULT_SCHEDULE) - 1,
        max_size=len(DEFAULT_SCHEDULE) - 1,
    ).map(_opened_at),
)


def worst(findings):
    return max((f.severity for f in findings), default=0)


@given(post_hours, pains, pains, histories, baselines, flag_sets, schedules)
def test_a_higher_score_never_gets_a_less_severe_finding(
    hours, a, b, earlier, baseline, flags, schedule
):
    low, high = sorted((a, b))
    low_findings = evaluate(Reading(hours, low, flags), earlier, baseline, schedule=schedule)
    high_findings = evaluate(Reading(hours, high, flags), earlier, baseline, schedule=schedule)
    assert worst(high_findings) >= worst(low_findings)
    # Rule by rule too: a rule that fires for the lower score fires for the higher one.
    low_rules, high_rules = rules_of(low_findings), rules_of(high_findings)
    assert all(high_rules.get(rule, 0) >= sev for rule, sev in low_rules.items())


@given(post_hours, pains, histories, baselines, flag_sets, schedules)
def test_findings_are_ordered_unique_and_quiet_in_the_first_hours(
    hours, pain, earlier, baseline, flags, schedule
):
    findings = evaluate(Reading(hours, pain, flags), earlier, baseline, schedule=schedule)
    codes = [f.rule for f in findings]
    assert codes == sorted(set(codes), key=list(Rule).index)
    assert all("\n" not in f.reason for f in findings)
    if hours < 4:
        assert codes in ([], ["red_flag"])


@given(schedules)
def test_rule_starts_come_in_order_and_never_after_their_check_in(schedule):
    params = CurveParams()
    starts = rule_starts(params, schedule)
    assert starts.no_improvement <= starts.no_improvement_high <= params.no_improvement_high_from_h
    assert starts.no_improvement <= params.no_improvement_from_h
    assert starts.rebound <= params.rebound_from_h
    assert starts.persistent_week <= starts.persistent_month <= params.persistent_month_h
    assert starts.persistent_week <= params.persistent_week_h
