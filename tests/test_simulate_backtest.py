"""The simulator, the backtest replay and how the rules do on a simulated cohort."""

import io
import json
import time

import pytest

from recovery.clinical.backtest import (
    EXIT_NO_DATA,
    EXIT_OK,
    EXIT_ROWS_SKIPPED,
    format_summary,
    parse_csv,
    replay,
    run_backtest,
    summarize,
)
from recovery.clinical.rules import SCORE_RULES, Reading, evaluate
from recovery.clinical.schedule import DEFAULT_SCHEDULE, schedule_from_list
from recovery.clinical.simulate import (
    DEFAULT_MIX,
    KINDS,
    SimEpisode,
    cohort_csv_rows,
    cohort_readings,
    detection_report,
    literature_anchors,
    simulate_cohort,
)

# --- the simulator --------------------------------------------------------------------------


def test_simulation_is_deterministic_for_a_seed():
    assert simulate_cohort(50, seed=1) == simulate_cohort(50, seed=1)
    assert simulate_cohort(50, seed=1) != simulate_cohort(50, seed=2)


def test_cohort_make_up_follows_the_mix():
    cohort = simulate_cohort(1000, seed=4)
    for kind in KINDS:
        assert sum(e.kind == kind for e in cohort) == round(1000 * DEFAULT_MIX[kind])
    assert DEFAULT_MIX["responder"] == 0.70
    only = simulate_cohort(30, seed=4, mix={"rebound": 1})
    assert {e.kind for e in only} == {"rebound"}
    with pytest.raises(ValueError):
        simulate_cohort(10, seed=4, mix={"zombie": 1})


def test_simulated_episodes_are_well_formed():
    for episode in simulate_cohort(300, seed=5):
        first, *post = episode.readings
        assert first.hours <= 0 and first.pain == episode.baseline
        assert all(r.hours > 0 for r in post)
        assert [r.hours for r in post] == sorted(r.hours for r in post)
        assert all(isinstance(r.pain, int) and 0 <= r.pain <= 10 for r in episode.readings)
        assert len(post) + len(episode.missed) == len(DEFAULT_SCHEDULE) - 1
        flagged = [i for i, r in enumerate(episode.readings) if r.red_flags]
        if episode.kind == "red_flag":
            assert flagged == [episode.event_index]
            assert len(episode.readings[episode.event_index].red_flags) == 1
        else:
            assert flagged == []
        if episode.kind == "rebound":
            assert episode.event_hours >= 0.9 * 168
        if episode.kind == "early_spike":
            assert any(0 < r.hours < 4 and r.pain >= 8 for r in post) or "2 h" in episode.missed


def test_the_simulated_population_matches_the_published_figures():
    anchors = literature_anchors(simulate_cohort(3000, seed=8))
    assert anchors["high_first_4h"] == pytest.approx(0.16, abs=0.03)  # Cho 2013
    assert anchors["mean_24h_at_b8"] == pytest.approx(3.3, abs=0.25)  # Voormolen 2006
    assert anchors["mean_1mo_at_b8"] == pytest.approx(2.6, abs=0.25)  # VERTOS II
    assert anchors["relieved_24h"] == pytest.approx(0.86, abs=0.07)
    assert anchors["relieved_48h"] == pytest.approx(0.965, abs=0.03)
    assert anchors["residual_pain"] == pytest.approx(0.046, abs=0.025)  # Yang 2019


# --- the rules on simulated cohorts ---------------------------------------------------------


@pytest.fixture(scope="module")
def enriched():
    """Equal numbers of each kind, so every detection rate rests on about 1000 episodes."""
    cohort = simulate_cohort(6000, seed=11, mix=dict.fromkeys(KINDS, 1))
    return cohort, detection_report(cohort, replay(cohort_readings(cohort)))


@pytest.fixture(scope="module")
def ordinary():
    """The default mix, as a clinic would see it."""
    cohort = simulate_cohort(1000, seed=7)
    return cohort, detection_report(cohort, replay(cohort_readings(cohort)))


def test_every_red_flag_is_caught_at_the_reading_that_reports_it(enriched):
    assert enriched[1]["red_flag_caught"] == 1.0


def test_non_responders_are_flagged_by_the_48_hour_check_in(enriched, ordinary):
    for _cohort, report in (enriched, ordinary):
        # All of them: the rule starts when the 24 h window opens, so every 24 h check-in
        # counts; only a patient who missed both the 24 h and 48 h check-ins can slip by.
        assert report["non_responder_flagged_by_48h"] >= 0.95
        # Among those with a reading from the rule's start (18 h) to the 48 h window's end.
        assert report["non_responder_flagged_by_48h_if_seen"] >= 0.97
        assert report["non_responder_any_alert_by_48h"] >= 0.99


def test_rebounds_are_caught_at_the_reading_where_they_happen(enriched):
    assert enriched[1]["rebound_any_alert"] >= 0.90
    assert enriched[1]["rebound_caught"] >= 0.85


def test_no_score_alert_in_the_first_4_hours(enriched, ordinary):
    assert enriched[1]["score_alerts_in_quiet_hours"] == 0
    assert ordinary[1]["score_alerts_in_quiet_hours"] == 0


def test_ordinary_responders_are_rarely_alerted(enriched, ordinary):
    for _cohort, report in (enriched, ordinary):
        assert report["alerted_by_kind"]["responder"] <= 0.05
        assert report["alerted_by_kind"]["early_spike"] <= 0.05


# --- CSV parsing ----------------------------------------------------------------------------

HEADER = "episode,hours,pain,red_flags"


def test_parse_csv_reads_readings_by_episode():
    episodes, errors = parse_csv(
        [
            "\ufeff" + HEADER,
            "a,-2,8,",
            "a,24,3,fever; wound",
            "",
            'b,2.5,7.0,"chest_pain;chest_pain"',
            "a,48,2,",
        ]
    )
    assert errors == []
    assert episodes == {
        "a": [Reading(-2, 8), Reading(24, 3, ("fever", "wound")), Reading(48, 2)],
        "b": [Reading(2.5, 7, ("chest_pain",))],
    }


def test_parse_csv_reports_bad_rows_with_line_numbers_and_skips_them():
    lines = [
        HEADER,
        "a,-1,8,",  # 2 ok
        "a,soon,3,",  # 3
        "a,24,11,",  # 4
        "a,24,2.5,",  # 5
        "a,24,-1,",  # 6
        "a,24,3,sneezing",  # 7
        "a,24,3",  # 8
        "a,nan,3,",  # 9
        "a,inf,3,",  # 10
        " ,24,3,",  # 11
        'a,"24,3,',  # 12
        "a,24,3,,extra",  # 13
        "a,24,nan,",  # 14
        "a,48,3,",  # 15 ok
    ]
    episodes, errors = parse_csv(lines)
    assert episodes == {"a": [Reading(-1, 8), Reading(48, 3)]}
    assert [number for number, _ in errors] == list(range(3, 15))
    messages = dict(errors)
    assert "hours must be a number" in messages[3]
    assert "pain must be a whole number 0-10" in messages[4]
    assert "unknown red flag 'sneezing'" in messages[7]
    assert "expected 4 columns" in messages[8]
    assert "finite" in messages[9]
    assert "episode is blank" in messages[11]


@pytest.mark.parametrize(
    "lines", [[], [""], ["episode,hours,pain"], ["a,1,2,"], ["patient,hours,pain,red_flags"]]
)
def test_a_missing_or_wrong_header_is_an_error(lines):
    episodes, errors = parse_csv(lines)
    assert episodes == {}
    assert errors[0][0] == 1 and "header" in errors[0][1]


# --- replay and summary ---------------------------------------------------------------------


def test_replay_emits_opened_and_escalated_events_only():
    episodes = {
        "a": [Reading(48, 7), Reading(-1, 8), Reading(24, 7), Reading(168, 7), Reading(-30, 2)]
    }
    events = replay(episodes)
    assert [(e["hours"], e["rule"], e["severity"], e["event"]) for e in events] == [
        (24, "above_expected", "high", "opened"),
        (24, "no_improvement", "moderate", "opened"),
        (48, "no_improvement", "high", "escalated"),
    ]
    assert set(events[0]) == {"episode", "hours", "rule", "severity", "event", "reason"}
    # The baseline is the latest pre-procedure reading (8), not the older 2.
    assert "baseline 8," in events[1]["reason"]


def test_replay_without_a_baseline_assumes_8_and_says_so():
    (event, *_) = replay({"x": [Reading(24, 7)]})
    assert event["reason"].endswith("baseline not recorded, 8 assumed")


def test_replay_judging_attendance_reports_missed_check_ins_once():
    episodes = {"a": [Reading(-1, 8), Reading(2, 6), Reading(50, 3), Reading(170, 3)]}
    events = replay(episodes, schedule=DEFAULT_SCHEDULE, missed_checkins=True)
    assert [(e["hours"], e["rule"], e["event"]) for e in events] == [
        (12, "missed_checkin", "opened"),
    ]
    assert events[0]["reason"] == "no check-in in the 6 h window (4-12 h)"
    # Attendance is judged only when asked: a CSV from another protocol would be all misses.
    assert replay(episodes) == []
    assert replay(episodes, schedule=DEFAULT_SCHEDULE) == []


def _window(label, target, start, end):
    return {"label": label, "target_h": target, "start_h": start, "end_h": end}


#: The default protocol with the 24 h window opening at 20 h and the 48 h one at 40 h.
EDITED = schedule_from_list(
    [
        _window(w.label, w.target_h, {24: 20, 48: 40}.get(w.target_h, w.start_h), w.end_h)
        for w in DEFAULT_SCHEDULE
    ]
)


def test_replay_starts_the_rules_when_the_clinics_windows_open():
    episodes = {"a": [Reading(-1, 8), Reading(19, 7), Reading(38, 7), Reading(45, 7)]}

    def seen(schedule):
        events = replay(episodes, schedule=schedule)
        return [
            (e["hours"], e["rule"], e["severity"]) for e in events if e["rule"] != "above_expected"
        ]

    # Default: from the 24 h window's opening (18 h), high from the 48 h window's (36 h).
    assert seen(DEFAULT_SCHEDULE) == [
        (19, "no_improvement", "moderate"),
        (38, "no_improvement", "high"),
    ]
    # Edited: from 20 h, high from 40 h.
    assert seen(EDITED) == [(38, "no_improvement", "moderate"), (45, "no_improvement", "high")]


def test_replay_runs_the_live_rule_code():
    # Every event is a finding `evaluate` gives the same reading, with the same schedule.
    cohort = simulate_cohort(200, seed=12, schedule=EDITED)
    episodes = cohort_readings(cohort)
    events = replay(episodes, schedule=EDITED)
    assert events
    for event in events:
        readings = episodes[event["episode"]]
        (reading,) = [r for r in readings if r.hours == event["hours"]]
        baseline = max((r for r in readings if r.hours <= 0), key=lambda r: r.hours).pain
        earlier = [r for r in readings if r.hours < reading.hours]
        findings = evaluate(reading, earlier, baseline, schedule=EDITED)
        assert (event["rule"], event["severity"], event["reason"]) in {
            (f.rule, f.severity.code, f.reason) for f in findings
        }


def test_detection_report_judges_non_responders_from_the_clinics_rule_start():
    # A non-responder seen once, at 19 h: after the default 24 h window opens, before EDITED's.
    cohort = [SimEpisode("n", "non_responder", 8, (Reading(-1, 8), Reading(19, 7)))]
    default = detection_report(cohort, replay(cohort_readings(cohort)))
    assert default["non_responder_flagged_by_48h"] == 1.0
    assert default["non_responder_flagged_by_48h_if_seen"] == 1.0
    edited_events = replay(cohort_readings(cohort), schedule=EDITED)
    edited = detection_report(cohort, edited_events, schedule=EDITED)
    assert edited["non_responder_flagged_by_48h"] == 0.0
    assert edited["non_responder_flagged_by_48h_if_seen"] is None  # not seen from 20 h on


TINY_CSV = """episode,hours,pain,red_flags
p1,-1,8,
p1,24,7,
p1,48,7,
p1,96,3,
p2,-2,6,
p2,2,9,
p2,24,2,fever
p2,48,1,
oops,24,eleven,
"""


def test_summary_of_a_tiny_hand_made_csv():
    episodes, errors = parse_csv(TINY_CSV.splitlines())
    assert errors == [(10, "pain must be a whole number 0-10, got 'eleven'")]
    events = replay(episodes)
    # p1: above_expected high + no_improvement moderate at 24 h, escalated at 48 h.
    # p2: red flag at 24 h; the 9/10 at 2 h is in the quiet hours.
    summary = summarize(episodes, events)
    patient_days = (96 + 48) / 24  # 6.0
    assert summary["episodes"] == 2
    assert summary["patient_days"] == patient_days
    assert summary["post_procedure_readings"] == 6
    assert summary["alerts"] == 3
    assert summary["escalations"] == 1
    assert summary["alerts_by_rule"] == {
        "red_flag": 1,
        "above_expected": 1,
        "no_improvement": 1,
        "rebound": 0,
        "persistent": 0,
        "missed_checkin": 0,
    }
    assert summary["alerts_by_severity"] == {"moderate": 0, "high": 2, "urgent": 1, "emergency": 0}
    per100 = summary["per_100_patient_days"]
    assert per100["all"] == 50.0  # 3 alerts in 6 patient-days
    assert per100["by_rule"]["red_flag"] == round(100 / 6, 2)
    assert per100["by_severity"]["high"] == round(200 / 6, 2)
    assert summary["per_100_readings"] == 50.0
    assert summary["episodes_alerted"] == 2
    assert summary["share_episodes_alerted"] == 1.0
    text = format_summary(summary)
    assert "patient-days: 6.0" in text and "50.00 per 100 patient-days" in text


def test_summary_counts_emergencies_and_lists_the_most_urgent_first():
    episodes = {"a": [Reading(-1, 8), Reading(24, 2, ("breathless",)), Reading(48, 2, ("fever",))]}
    summary = summarize(episodes, replay(episodes))
    assert list(summary["alerts_by_severity"]) == ["emergency", "urgent", "high", "moderate"]
    # One red-flag alert: opened as an emergency; the later fever only updates it.
    assert summary["alerts_by_severity"] == {"emergency": 1, "urgent": 0, "high": 0, "moderate": 0}
    assert "emergency" in format_summary(summary)


def test_summary_of_nothing_has_no_rates():
    summary = summarize({"a": [Reading(-1, 8)]}, [])
    assert summary["patient_days"] == 0
    assert summary["per_100_patient_days"]["all"] is None
    assert "n/a" in format_summary(summary)


def test_run_backtest_writes_json_lines_and_a_summary():
    out, err = io.StringIO(), io.StringIO()
    code = run_backtest(TINY_CSV.splitlines(), out, err)
    assert code == EXIT_ROWS_SKIPPED
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(events) == 4
    assert events[0] == {
        "episode": "p1",
        "hours": 24.0,
        "rule": "above_expected",
        "severity": "high",
        "event": "opened",
        "reason": "7/10 at 24 h; expected 3.3, red line 6.5",
    }
    assert err.getvalue().startswith("line 10: pain must be")
    assert "alerts: 3" in err.getvalue()


def test_run_backtest_exit_codes():
    out, err = io.StringIO(), io.StringIO()
    assert run_backtest([HEADER, "a,-1,8,", "a,24,2,"], out, err) == EXIT_OK
    assert out.getvalue() == ""
    assert run_backtest(["nonsense"], io.StringIO(), err) == EXIT_NO_DATA
    assert run_backtest([HEADER, "a,x,1,"], io.StringIO(), io.StringIO()) == EXIT_NO_DATA


def test_simulated_csv_round_trips_through_the_parser():
    cohort = simulate_cohort(40, seed=9)
    episodes, errors = parse_csv(cohort_csv_rows(cohort))
    assert errors == []
    assert episodes == cohort_readings(cohort)


def test_100000_rows_take_well_under_10_seconds():
    rows = list(cohort_csv_rows(simulate_cohort(12_000, seed=1)))[: 100_000 + 1]
    start = time.perf_counter()
    code = run_backtest(rows, io.StringIO(), io.StringIO())
    elapsed = time.perf_counter() - start
    assert code == EXIT_OK
    assert elapsed < 10


def test_score_events_only_come_from_score_rules_after_the_quiet_hours(ordinary):
    cohort, _ = ordinary
    events = replay(cohort_readings(cohort))
    assert all(e["hours"] >= 4 for e in events if e["rule"] in SCORE_RULES)
