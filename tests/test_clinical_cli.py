"""The clinical leads' commands: expected, backtest and calibrate, through the Click runner."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from recovery.care.clinics import clinic_params
from recovery.care.models import Episode, PainEntry, Patient
from recovery.clinical.curve import expected_pain
from recovery.clinical.simulate import cohort_csv_rows, simulate_cohort
from recovery.extensions import db
from tests import factories


def test_expected_prints_the_curve(runner):
    result = runner.invoke(args=["recovery", "expected", "--baseline", "8", "--hours", "2,24"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["hours"] == [2.0, 24.0]
    assert body["expected"][1] == round(expected_pain(8, 24), 2)
    assert body["amber"][1] == round(body["expected"][1] + 2.6, 2)
    assert body["red"][1] == round(body["expected"][1] + 3.2, 2)


@pytest.mark.parametrize(
    "args",
    [
        ["--baseline", "8", "--hours", "two"],
        ["--baseline", "11", "--hours", "2"],
        ["--baseline", "8", "--hours", "nan"],
        ["--baseline", "8", "--hours", ","],
    ],
    ids=["hours two", "baseline 11", "hours nan", "hours comma"],
)
def test_expected_rejects_bad_input(runner, args):
    result = runner.invoke(args=["recovery", "expected", *args])
    assert result.exit_code == 2
    assert "Error" in result.output


def test_backtest_reports_alerts_and_skips_bad_rows(runner, tmp_path):
    csv = tmp_path / "cohort.csv"
    csv.write_text(
        "episode,hours,pain,red_flags\n"
        "a,0,8,\n"
        "a,24,8,\n"
        "a,30,3,chest_pain\n"
        "b,0,8,\n"
        "b,abc,3,\n"
        "b,24,11,\n"
        "b,24,3,bogus\n"
    )
    result = runner.invoke(args=["recovery", "backtest", str(csv)])
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(e["episode"], e["rule"], e["event"]) for e in events} >= {
        ("a", "no_improvement", "opened"),
        ("a", "red_flag", "opened"),
    }
    assert all(
        set(e) == {"episode", "hours", "rule", "severity", "event", "reason"} for e in events
    )
    assert "line 6" in result.stderr and "line 7" in result.stderr and "line 8" in result.stderr
    assert "per 100 patient-days" in result.stderr


def test_backtest_with_a_clinic_uses_its_check_in_schedule(runner, clinic, tmp_path):
    # The clinic's 24 h window opens at 20 h, so its no_improvement rule starts there.
    schedule = tmp_path / "schedule.json"
    schedule.write_text(
        '[{"label": "24 h", "target_h": 24, "start_h": 20, "end_h": 30},'
        ' {"label": "48 h", "target_h": 48, "start_h": 40, "end_h": 60}]'
    )
    changed = runner.invoke(
        args=["recovery", "settings", "--clinic", clinic.slug, "--schedule", str(schedule)]
    )
    assert changed.exit_code == 0, changed.output
    db.session.rollback()
    csv = tmp_path / "cohort.csv"
    csv.write_text("episode,hours,pain,red_flags\na,0,8,\na,19,7,\na,38,7,\n")

    def no_improvement(*options):
        result = runner.invoke(args=["recovery", "backtest", str(csv), *options])
        assert result.exit_code == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines()]
        return [(e["hours"], e["severity"]) for e in events if e["rule"] == "no_improvement"]

    # Default schedule: from 18 h, high from 36 h.
    assert no_improvement() == [(19.0, "moderate"), (38.0, "high")]
    # The clinic's: from 20 h, high from 40 h.
    assert no_improvement("--clinic", clinic.slug) == [(38.0, "moderate")]


def test_backtest_of_a_simulated_cohort_through_the_cli(runner, tmp_path):
    csv = tmp_path / "sim.csv"
    csv.write_text("\n".join(cohort_csv_rows(simulate_cohort(200, seed=3))) + "\n")
    result = runner.invoke(args=["recovery", "backtest", str(csv)])
    assert result.exit_code == 0, result.stderr
    assert "episodes: 200," in result.stderr
    assert len(result.stdout.splitlines()) > 10  # a simulated cohort raises alerts


def seed_finished_episodes(clinic, count: int, now: datetime) -> None:
    """`count` closed episodes with simulated entries, inserted directly (no alerts needed)."""
    for index, sim in enumerate(simulate_cohort(count, seed=11)):
        procedure = now - timedelta(days=120)
        patient = Patient(clinic_id=clinic.id, display_name=f"Sim {index}")
        episode = Episode(
            clinic_id=clinic.id,
            patient=patient,
            procedure_dt=procedure,
            baseline_pain=sim.baseline,
            status="closed",
        )
        db.session.add_all([patient, episode])
        db.session.flush()
        db.session.add_all(
            PainEntry(
                episode_id=episode.id,
                pain=r.pain,
                recorded_dt=procedure + timedelta(hours=r.hours),
                red_flags=[],
            )
            for r in sim.readings
            if r.hours > 0
        )
    db.session.commit()


def test_calibrate_refuses_below_100_episodes(runner, clinic, now):
    seed_finished_episodes(clinic, 20, now)
    result = runner.invoke(args=["recovery", "calibrate", "--clinic", clinic.slug, "--apply"])
    assert result.exit_code == 1
    assert "20 finished episodes; at least 100" in result.output
    assert clinic_params(clinic).calibration == ()


def test_calibrate_reports_then_saves_only_with_apply(runner, clinic):
    now = datetime.now(UTC)
    seed_finished_episodes(clinic, 120, now)
    factories.gen_episode(clinic)  # an active episode is not used
    dry = runner.invoke(args=["recovery", "calibrate", "--clinic", clinic.slug])
    assert dry.exit_code == 0, dry.output
    assert "Calibration from 120 finished episodes" in dry.output
    assert "not saved" in dry.output
    db.session.rollback()
    assert clinic_params(clinic).calibration == ()
    applied = runner.invoke(args=["recovery", "calibrate", "--clinic", clinic.slug, "--apply"])
    assert applied.exit_code == 0, applied.output
    db.session.rollback()
    points = clinic_params(clinic).calibration
    assert points and all(0 < p.amber_ratio <= p.red_ratio for p in points)


@pytest.mark.parametrize("bad", ["amber_offset=abc", "red_offset=1.0", "amber_offset"])
def test_settings_refuse_a_bad_value_and_change_nothing(runner, clinic, bad):
    before = clinic_params(clinic)
    result = runner.invoke(args=["recovery", "settings", "--clinic", clinic.slug, "--set", bad])
    assert result.exit_code == 1 and "Error" in result.output
    db.session.rollback()
    assert clinic_params(clinic) == before


def test_settings_show_change_and_refuse_bad_values(runner, clinic, tmp_path):
    shown = json.loads(runner.invoke(args=["recovery", "settings", "--clinic", clinic.slug]).output)
    assert shown["curve"]["amber_offset"] == 2.6 and len(shown["schedule"]) == 9
    changed = runner.invoke(
        args=["recovery", "settings", "--clinic", clinic.slug, "--set", "amber_offset=2.8"]
    )
    assert changed.exit_code == 0, changed.output
    db.session.rollback()
    assert clinic_params(clinic).amber_offset == 2.8
    schedule = tmp_path / "schedule.json"
    schedule.write_text('[{"label": "24 h", "target_h": 24, "start_h": 30, "end_h": 18}]')
    result = runner.invoke(
        args=["recovery", "settings", "--clinic", clinic.slug, "--schedule", str(schedule)]
    )
    assert result.exit_code == 1
    db.session.rollback()
    assert clinic_params(clinic).amber_offset == 2.8  # nothing changed by the refused calls
    schedule.write_text('[{"label": "1 d", "target_h": 24, "start_h": 12, "end_h": 36}]')
    result = runner.invoke(
        args=["recovery", "settings", "--clinic", clinic.slug, "--schedule", str(schedule)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["schedule"][0]["label"] == "1 d"
