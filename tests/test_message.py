"""Messages: English by default, any language through a translate function, stored as JSON."""

from __future__ import annotations

import json

import pytest

from recovery.clinical.message import Message, join, joined_parts
from recovery.clinical.rules import Reading, evaluate
from recovery.translation import render

FRENCH = {"at %(time)s": "à %(time)s", "fever": "fièvre", "wound": "plaie"}


def french(text: str) -> str:
    return FRENCH.get(text, text)


def test_nested_messages_render_in_english_and_through_translate():
    when = Message("at %(time)s", {"time": Message("%(n)s h", {"n": "24"})})
    reason = Message(
        "%(pain)s/10 %(when)s, down %(share)s", {"pain": 7, "when": when, "share": "30%"}
    )
    assert str(reason) == "7/10 at 24 h, down 30%"
    assert reason.render(french) == "7/10 à 24 h, down 30%"


def test_join_keeps_punctuation_and_percent_signs():
    joined = join([Message("fever"), "50% better", Message("wound")], " % ")
    assert str(joined) == "fever % 50% better % wound"
    assert joined.render(french) == "fièvre % 50% better % plaie"


@pytest.mark.parametrize(
    "reading",
    [Reading(24, 8, ("chest_pain", "fever")), Reading(30, 8), Reading(800, 7)],
)
def test_every_finding_survives_json_and_renders_as_its_reason(reading):
    earlier = [Reading(2, 3), Reading(200, 6)]
    for finding in evaluate(reading, earlier, None):
        stored = json.loads(json.dumps(finding.message.to_json()))
        assert Message.from_json(stored) == finding.message
        assert Message.from_json(stored).render() == finding.reason


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"v": {}},
        {"t": "%(missing)s", "v": {"other": 1}},
        {"t": "%(a)s", "v": [1]},
        {"t": "%(a)d", "v": {"a": "x"}},
    ],
)
def test_a_stored_form_that_does_not_read_falls_back_to_the_english(app, stored):
    with app.test_request_context():
        assert render(stored, "the English") == "the English"
        assert render(None, "the English") == "the English"


def test_joined_parts_takes_a_join_apart_and_leaves_other_messages_whole():
    first, second = Message("a %(n)s", {"n": 1}), Message("b")
    assert joined_parts(join([first, second], " | "), " | ") == [first, second]
    assert joined_parts(join([first, second], "; "), " | ") == [join([first, second], "; ")]
    assert joined_parts(first, " | ") == [first]
    assert joined_parts("text", " | ") == ["text"]
