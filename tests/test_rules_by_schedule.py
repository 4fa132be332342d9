"""The live app judges each entry with the rule starts of its own clinic's schedule
(docs/clinical.md, version 2: rules start when their check-in window opens)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recovery.care.models import Alert
from recovery.clinical.schedule import DEFAULT_SCHEDULE, schedule_to_list
from recovery.extensions import db
from tests import factories


def later_24h_window(clinic) -> None:
    """The clinic's 24 h check-in opens at 20 h instead of 18 h."""
    items = schedule_to_list(DEFAULT_SCHEDULE)
    for item in items:
        if item["target_h"] == 24:
            item["start_h"] = 20.0
    clinic.settings = {**(clinic.settings or {}), "schedule": items}
    db.session.commit()


def rules_after_check_in(client, clinic, now, hours: float) -> dict[str, str]:
    """A non-responder (8 -> 7) checks in on their phone `hours` after the procedure."""
    enrolled = factories.gen_episode(
        clinic, procedure_dt=now - timedelta(hours=hours), baseline_pain=8
    )
    response = client.post(f"/p/{enrolled.token}", data={"pain": "7", "idempotency_key": "k"})
    assert response.status_code == 302
    db.session.rollback()
    alerts = db.session.scalars(db.select(Alert).filter_by(episode_id=enrolled.episode.id))
    return {alert.rule: alert.severity for alert in alerts}


@pytest.mark.parametrize(("hours", "expected"), [(17.5, None), (19, "moderate"), (37, "high")])
def test_no_improvement_starts_when_the_default_24h_window_opens(
    client, clinic, now, hours, expected
):
    assert rules_after_check_in(client, clinic, now, hours).get("no_improvement") == expected


@pytest.mark.parametrize(("hours", "expected"), [(19, None), (21, "moderate")])
def test_an_edited_window_moves_the_start(client, clinic, now, hours, expected):
    later_24h_window(clinic)
    assert rules_after_check_in(client, clinic, now, hours).get("no_improvement") == expected
