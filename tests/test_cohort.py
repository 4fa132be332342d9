"""The cohort view: pain / baseline against the published curve, and alerts per 100 patient-days."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest

from recovery.care import cohort
from recovery.care.models import Alert, PainEntry, utcnow
from recovery.clinical import cohort as statistics
from recovery.clinical.curve import expected_pain
from recovery.clinical.schedule import DEFAULT_SCHEDULE
from recovery.extensions import db
from tests import factories

FIGURE = re.compile(r'<script type="application/json" id="cohort-chart-data">(.*?)</script>', re.S)
LABELS = [w.label for w in DEFAULT_SCHEDULE if not w.is_pre_procedure]
AT_24H = LABELS.index("24 h")
AT_48H = LABELS.index("48 h")


def figure(html: str) -> dict:
    return json.loads(FIGURE.search(html).group(1))


def trace(fig: dict, uid: str) -> dict:
    return next(item for item in fig["data"] if item["uid"] == uid)


def table_row(html: str, label: str) -> list[str]:
    """The cells of the time-point table row headed `label`."""
    match = re.search(rf'<th scope="row">{re.escape(label)}</th>(.*?)</tr>', html, re.S)
    cells = re.findall(r"<td>(.*?)</td>", match[1])
    # Tags and the word joiners that keep a range on one line are not part of the value.
    return [re.sub(r"<[^>]+>", "", cell).replace("\u2060", "").strip() for cell in cells]


@pytest.fixture
def fixed_now(monkeypatch):
    """Pin the view's clock, so its numbers match a service call made with the same time."""
    now = utcnow().replace(microsecond=0)
    monkeypatch.setattr("recovery.staff.cohort.utcnow", lambda: now)
    return now


# Pure helpers ------------------------------------------------------------------------------


def test_quantile_interpolates_between_order_statistics():
    assert statistics.quantile([0.2, 0.4, 0.5, 0.6, 1.0], 0.5) == 0.5
    assert statistics.quantile([0.25, 0.6], 0.5) == pytest.approx(0.425)
    assert statistics.quantile([0.25, 0.6], 0.25) == pytest.approx(0.3375)
    assert statistics.quantile([3.0], 0.75) == 3.0
    with pytest.raises(ValueError):
        statistics.quantile([], 0.5)


def test_nearest_reading_per_window_earlier_wins_a_tie():
    scores = statistics.nearest_per_window(
        [(-2, 9), (20, 5), (28, 6), (30, 7), (100, 1)], DEFAULT_SCHEDULE
    )
    assert scores == {"24 h": 5}  # 20 h and 28 h tie: the earlier wins


def test_follow_up_overlap_is_capped_and_clipped():
    now = utcnow()
    day = timedelta(days=1)
    overlap = statistics.follow_up_overlap_days
    assert overlap(now - 10 * day, None, now - 30 * day, now) == pytest.approx(10)
    assert overlap(now - 100 * day, None, now - 30 * day, now) == pytest.approx(20)
    assert overlap(now - 60 * day, now - 50 * day, now - 30 * day, now) == 0
    assert overlap(now + day, None, now - 30 * day, now) == 0


# Pain / baseline ---------------------------------------------------------------------------


def hand_made_cohort(clinic, now):
    """24 h ratios 0.2, 0.4, 0.5, 0.6, 1.0; 48 h ratios 0.25, 0.6; one episode without baseline."""
    start = now - timedelta(days=10)

    def episode(baseline, readings):
        enrolled = factories.gen_episode(clinic, procedure_dt=start, baseline_pain=baseline)
        for hours, pain in readings:
            factories.gen_entry(enrolled.episode, pain, hours)
        return enrolled.episode

    # Baseline from the latest pre-procedure entry (10), not the older one (6).
    episode(None, [(-30, 6), (-2, 10), (24, 2)])
    # The 24 h reading nearest the target counts (4 at 25 h), not the 9 at 29 h.
    episode(5, [(25, 2), (29, 9), (48, 3)])
    episode(8, [(24, 4), (48, 2)])
    episode(5, [(23, 3)])
    episode(4, [(24, 4)])
    episode(None, [(24, 1)])  # no baseline at all: left out
    episode(0, [(24, 0)])  # baseline 0: pain / baseline undefined, left out


def test_median_iqr_and_n_per_time_point(client, auth, clinic, nurse, fixed_now):
    hand_made_cohort(clinic, fixed_now)

    curve = cohort.cohort_curve(clinic.id, fixed_now)
    by_label = {p.label: p for p in curve.points}
    at_24 = by_label["24 h"]
    assert (at_24.n, at_24.median, at_24.q1, at_24.q3) == (5, 0.5, 0.4, 0.6)
    at_48 = by_label["48 h"]
    assert at_48.n == 2
    assert at_48.median == pytest.approx(0.425)
    assert (at_48.q1, at_48.q3) == (pytest.approx(0.3375), pytest.approx(0.5125))
    assert by_label["1 wk"].n == 0 and by_label["1 wk"].median is None
    assert at_24.published == pytest.approx(expected_pain(8, 24) / 8)
    assert (curve.episodes, curve.without_baseline) == (5, 2)

    auth.login()
    response = client.get("/staff/cohort")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Cohort</h1>" in html
    assert table_row(html, "24 h") == ["5* (fewer than 20)", "50%", "40–60%", "41%"]
    assert table_row(html, "48 h") == ["2* (fewer than 20)", "42%", "34–51%", "40%"]
    assert table_row(html, "1 wk")[:3] == ["0* (fewer than 20)", "—", "—"]
    assert "* Fewer than 20 episodes behind 2 h, 6 h, 24 h" in html
    assert "2 episodes without a baseline score above 0 are left out" in html
    assert "Too few episodes to compare" in html

    median = trace(figure(html), "cohort_median")
    assert median["y"][AT_24H] == 0.5 and median["y"][AT_48H] == 0.42
    assert median["customdata"][AT_24H][1:] == [0.4, 0.6, "n = 5"]
    assert median["y"][LABELS.index("1 wk")] is None


def test_figure_has_the_three_traces_and_assets_only_on_this_page(client, auth, clinic, nurse):
    auth.login()
    html = client.get("/staff/cohort").get_data(as_text=True)
    fig = figure(html)
    assert [item["uid"] for item in fig["data"]] == ["cohort_iqr", "published", "cohort_median"]
    assert trace(fig, "published")["y"][0] == 1.0
    assert 'data-chart="cohort-chart-data"' in html
    assert 'id="plotly.js-style-global" class="no-inline-styles"' in html
    assert "vendor/plotly-basic-4.1.1.min.js" in html and "js/charts.js" in html
    assert "plotly" not in client.get("/staff/").get_data(as_text=True)


def test_summary_says_how_far_the_clinic_sits_from_the_published_curve(
    client, auth, clinic, nurse, fixed_now
):
    # 20 episodes, baseline 10, 6/10 at 24 h: 60% against the published 41%.
    start = fixed_now - timedelta(days=3)
    for _ in range(statistics.MIN_EPISODES_PER_POINT):
        episode = factories.gen_episode(clinic, procedure_dt=start, baseline_pain=10).episode
        db.session.add(
            PainEntry(episode_id=episode.id, pain=6, recorded_dt=start + timedelta(hours=24))
        )
    db.session.commit()
    auth.login()
    html = unescape(client.get("/staff/cohort").get_data(as_text=True))
    gap = 0.6 - expected_pain(1.0, 24)
    assert (
        "At the time points with at least 20 episodes (24 h), the clinic's median pain sits "
        f"{gap:.0%} of baseline above the published curve on average"
    ) in html
    assert f"about {gap * 8:.1f} points for a baseline of 8" in html
    assert table_row(html, "24 h")[0] == "20"


# Alert burden ------------------------------------------------------------------------------


def add_alert(episode, rule, severity, opened_dt, status="open"):
    db.session.add(
        Alert(
            episode_id=episode.id,
            clinic_id=episode.clinic_id,
            rule=rule,
            severity=severity,
            status=status,
            reason="test",
            opened_dt=opened_dt,
            updated_dt=opened_dt,
        )
    )


def known_alerts(clinic, now):
    """30 d: 30 patient-days, 2 episodes, 3 alerts. 90 d: 110 patient-days, 4 episodes, 6."""
    day = timedelta(days=1)

    def episode(procedure_days_ago, closed_days_ago=None):
        found = factories.gen_episode(clinic, procedure_dt=now - procedure_days_ago * day).episode
        if closed_days_ago is not None:
            found.status, found.closed_dt = "closed", now - closed_days_ago * day
        return found

    recent = episode(10)  # 10 days in both periods
    closed = episode(60, closed_days_ago=50)  # 10 days, all in the 90-day period
    long_ago = episode(100)  # followed until 10 days ago: 20 and 80 days
    capped = episode(170)  # followed until 80 days ago: 0 and 10 days
    episode(200)  # follow-up ended before both periods
    episode(-2)  # procedure still to come
    add_alert(recent, "above_expected", "high", now - 2 * day)
    add_alert(recent, "red_flag", "urgent", now - 1 * day)
    add_alert(long_ago, "missed_checkin", "moderate", now - 20 * day)
    add_alert(long_ago, "persistent", "moderate", now - 40 * day, status="resolved")
    add_alert(closed, "no_improvement", "high", now - 55 * day)
    add_alert(capped, "above_expected", "moderate", now - 85 * day)
    add_alert(capped, "rebound", "high", now - 95 * day)  # before both periods
    add_alert(recent, "rebound", "high", now + timedelta(hours=1))  # after `now`
    db.session.commit()


def test_alerts_per_100_patient_days(client, auth, clinic, nurse, fixed_now):
    known_alerts(clinic, fixed_now)

    burden = cohort.alert_burden(clinic.id, fixed_now)
    assert burden.days == (30, 90)
    assert burden.patient_days == {30: pytest.approx(30), 90: pytest.approx(110)}
    assert burden.episodes == {30: 2, 90: 4}
    assert burden.total == {30: 3, 90: 6}
    assert burden.by_rule["above_expected"] == {30: 1, 90: 2}
    assert burden.by_rule["rebound"] == {30: 0, 90: 0}
    assert burden.by_severity == {
        "emergency": {30: 0, 90: 0},
        "urgent": {30: 1, 90: 1},
        "high": {30: 1, 90: 2},
        "moderate": {30: 1, 90: 3},
    }
    assert burden.per_100(burden.total[30], 30) == pytest.approx(10.0)
    assert burden.per_100(burden.total[90], 90) == pytest.approx(600 / 110)

    auth.login()
    html = client.get("/staff/cohort").get_data(as_text=True)
    assert table_row(html, "All alerts") == ["10.0 (3)", "5.5 (6)"]
    assert table_row(html, "Above expected") == ["3.3 (1)", "1.8 (2)"]
    assert table_row(html, "Rebound") == ["0.0 (0)", "0.0 (0)"]
    assert table_row(html, "Moderate") == ["3.3 (1)", "2.7 (3)"]
    assert table_row(html, "Patient-days of follow-up") == ["30", "110"]
    assert table_row(html, "Episodes followed") == ["2", "4"]


def test_no_follow_up_shows_no_rate(client, auth, clinic, nurse):
    auth.login()
    html = client.get("/staff/cohort").get_data(as_text=True)
    assert table_row(html, "All alerts") == ["—", "—"]
    assert table_row(html, "Episodes followed") == ["0", "0"]


# Access and scale --------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    response = client.get("/staff/cohort")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_other_clinics_data_is_left_out(client, auth, clinic, nurse, fixed_now):
    own = factories.gen_episode(clinic, procedure_dt=fixed_now - timedelta(days=5)).episode
    factories.gen_entry(own, 3, 24)
    other = factories.gen_clinic()
    factories.gen_staff(other, email="other@example.test")
    for _ in range(3):
        theirs = factories.gen_episode(other, procedure_dt=fixed_now - timedelta(days=5)).episode
        factories.gen_entry(theirs, 9, 24)
        add_alert(theirs, "red_flag", "urgent", fixed_now - timedelta(days=1))
    db.session.commit()

    auth.login()
    html = client.get("/staff/cohort").get_data(as_text=True)
    assert table_row(html, "24 h")[:3] == ["1* (fewer than 20)", "38%", "38–38%"]
    assert table_row(html, "Red flag") == ["0.0 (0)", "0.0 (0)"]
    assert table_row(html, "Episodes followed") == ["1", "1"]

    auth.logout()
    auth.login(email="other@example.test")
    html = client.get("/staff/cohort").get_data(as_text=True)
    assert table_row(html, "24 h")[:3] == ["3* (fewer than 20)", "112%", "112–112%"]
    assert table_row(html, "Red flag")[0] == "20.0 (3)"  # 3 in 15 patient-days


def seed_episodes(clinic, count, now):
    """`count` episodes with a reading at every check-in and one alert each, rows added directly."""
    start = now - timedelta(days=95)
    for number in range(count):
        episode = factories.gen_episode(clinic, procedure_dt=start, baseline_pain=8).episode
        db.session.add_all(
            PainEntry(
                episode_id=episode.id,
                pain=(number + index) % 8,
                recorded_dt=start + timedelta(hours=window.target_h),
            )
            for index, window in enumerate(DEFAULT_SCHEDULE)
            if window.target_h > 0
        )
        add_alert(episode, "missed_checkin", "moderate", now - timedelta(days=number % 60))
    db.session.commit()


def test_statement_count_does_not_grow_with_the_cohort(client, auth, clinic, nurse, count_queries):
    now = utcnow()
    auth.login()
    seed_episodes(clinic, 3, now)
    with count_queries() as few:
        assert client.get("/staff/cohort").status_code == 200
    seed_episodes(clinic, 27, now)
    with count_queries() as many:
        html = client.get("/staff/cohort").get_data(as_text=True)
    assert table_row(html, "1 mo")[0] == "30"
    assert many.count == few.count, many.statements
    assert few.count <= 6, few.statements
