"""The clinical vocabulary: each code defined once, with its words.

recovery/clinical/vocabulary.py
"""

import pytest

from recovery.care.accounts import issue_api_token
from recovery.clinical.rules import RULES
from recovery.clinical.vocabulary import (
    EMERGENCY_FLAGS,
    AlertAction,
    AlertStatus,
    RedFlag,
    Rule,
    Severity,
    format_duration,
    label_of,
    red_flag_severity,
)
from recovery.extensions import db
from tests import factories


def test_severities_in_order_most_urgent_first():
    assert Severity.codes() == ("emergency", "urgent", "high", "moderate")
    assert Severity.MODERATE < Severity.HIGH < Severity.URGENT < Severity.EMERGENCY
    assert Severity.from_code("high") is Severity.HIGH
    assert [Severity.rank_of(code) for code in ("emergency", "moderate", "severe")] == [0, 3, 4]


@pytest.mark.parametrize("bad", ["severe", "", None])
def test_an_unknown_severity_code_is_refused(bad):
    with pytest.raises(ValueError):
        Severity.from_code(bad)


def test_rule_codes_in_priority_order():
    assert (
        RULES
        == tuple(Rule)
        == (
            "red_flag",
            "above_expected",
            "no_improvement",
            "rebound",
            "persistent",
            "missed_checkin",
        )
    )


def test_red_flags_are_clinicals_eight_codes_in_order_with_two_wordings():
    assert RedFlag.codes() == (
        "leg_weakness",
        "numbness",
        "bladder_bowel",
        "chest_pain",
        "breathless",
        "fever",
        "wound",
        "new_pain",
    )
    assert RedFlag.LEG_WEAKNESS.label == "new weakness in the legs"
    assert RedFlag.LEG_WEAKNESS.patient_label == "New weakness in my legs"
    assert all(flag.label and flag.patient_label for flag in RedFlag)
    assert frozenset({"chest_pain", "breathless"}) == EMERGENCY_FLAGS


@pytest.mark.parametrize(
    ("flags", "severity"),
    [
        ((), None),
        (("fever",), Severity.URGENT),
        (("leg_weakness", "wound"), Severity.URGENT),
        (("chest_pain",), Severity.EMERGENCY),
        (("fever", "breathless"), Severity.EMERGENCY),
    ],
)
def test_chest_pain_or_breathlessness_is_an_emergency(flags, severity):
    assert red_flag_severity(flags) == severity


def test_indications_read_the_same_on_the_form_the_episode_page_and_in_fhir(
    client, auth, clinic, nurse
):
    enrolled = factories.gen_episode(clinic, indication="tumour")
    headers = {"Authorization": f"Bearer {issue_api_token(nurse)}"}
    db.session.commit()
    auth.login()
    words = "Vertebral tumour (metastasis or myeloma)"
    assert words in client.get("/staff/enrol").get_data(as_text=True)
    assert words in client.get(f"/staff/episodes/{enrolled.episode.id}").get_data(as_text=True)
    bundle = client.get(f"/api/v1/episodes/{enrolled.episode.id}/fhir", headers=headers)
    [procedure] = [
        e["resource"]
        for e in bundle.get_json()["entry"]
        if e["resource"]["resourceType"] == "Procedure"
    ]
    assert procedure["reasonCode"] == [{"text": words}]


def test_statuses_and_actions_have_words():
    assert AlertStatus.codes() == ("open", "acknowledged", "resolved")
    assert AlertAction.CALLED_PATIENT.label == "Called the patient"
    assert AlertAction("other") is AlertAction.OTHER


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (0.25, "15 min"),
        (2, "2 h"),
        (2.5, "2.5 h"),
        (24, "24 h"),
        (48, "48 h"),
        (60, "60 h"),
        (72, "3 d"),
        (168, "7 d"),
        (336, "2 wk"),
        (504, "3 wk"),
        (720, "1 mo"),
        (2160, "3 mo"),
        (0, "before procedure"),
        (-3, "before procedure"),
    ],
)
def test_one_duration_formatter(hours, text):
    assert format_duration(hours) == text


def test_an_unknown_code_reads_as_itself():
    """A row older than the vocabulary never breaks a page: its code is shown as it is."""
    assert label_of(Severity, "emergency") == "Emergency"
    assert label_of(Severity, "severe") == "severe"
    assert label_of(RedFlag, "chest_pain") == "chest pain"
    assert label_of(RedFlag, "old_code") == "old_code"
    assert label_of(AlertAction, "called_patient") == "Called the patient"
