"""`flask recovery ...` commands, run through Click's runner against a real database."""

import json

import pytest

from recovery.care.models import Alert, Clinic, Episode, PainEntry, StaffUser
from recovery.care.tokens import hash_token
from recovery.extensions import db


def test_create_clinic_staff_and_enroll(runner, client):
    result = runner.invoke(
        args=[
            "recovery",
            "create-clinic",
            "north",
            "--name",
            "North IR",
            "--timezone",
            "Europe/Paris",
        ]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=[
            "recovery",
            "create-staff",
            "--clinic",
            "north",
            "--email",
            "Ann@North.example",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(db.select(StaffUser))
    assert (user.email, user.role, user.clinic.timezone) == (
        "ann@north.example",
        "admin",
        "Europe/Paris",
    )
    assert user.api_token_hash is None
    result = runner.invoke(
        args=[
            "recovery",
            "enroll",
            "--clinic",
            "north",
            "--name",
            "Jo Bloggs",
            "--procedure-at",
            "2026-11-26T09:00:00+01:00",
            "--baseline",
            "7",
            "--phone",
            "+44 7700 900456",
        ]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    episode = db.session.get(Episode, printed["episode_id"])
    assert (episode.patient.phone, episode.patient.no_phone_reason) == ("+44 7700 900456", None)
    assert episode.token_hash == hash_token(printed["token"])
    assert printed["patient_url"].endswith("/p/" + printed["token"])
    assert episode.procedure_dt.isoformat() == "2026-11-26T08:00:00+00:00"
    assert client.get("/p/" + printed["token"]).status_code == 200


def test_create_staff_with_api_token_prints_it_last(runner):
    runner.invoke(args=["recovery", "create-clinic", "south", "--name", "South"])
    result = runner.invoke(
        args=[
            "recovery",
            "create-staff",
            "--clinic",
            "south",
            "--email",
            "bot@south.example",
            "--password-stdin",
            "--api-token",
        ],
        input="another long password\n",
    )
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    user = db.session.scalar(db.select(StaffUser))
    assert user.api_token_hash == hash_token(token)


NO_PHONE = ["--procedure-at", "2026-01-01T00:00:00Z", "--clinic", "nope", "--name", "A"]
CLI_ERRORS = [
    (["recovery", "create-clinic", "bad slug!", "--name", "X"], "slug"),
    (["recovery", "create-clinic", "x", "--name", "X", "--timezone", "Mars/Base"], "time zone"),
    (
        ["recovery", "create-clinic", "x", "--name", "X", "--emergency-number", "9-1-1"],
        "digits",
    ),
    (
        [
            "recovery",
            "create-staff",
            "--clinic",
            "nope",
            "--email",
            "a@b.c",
            "--password-stdin",
        ],
        "no clinic",
    ),
    (
        [
            "recovery",
            "enroll",
            "--clinic",
            "nope",
            "--name",
            "A",
            "--procedure-at",
            "2026-01-01",
        ],
        "offset",
    ),
    (
        [
            "recovery",
            "enroll",
            "--clinic",
            "nope",
            "--name",
            "A",
            "--procedure-at",
            "2026-01-01T00:00:00Z",
            "--baseline",
            "12",
        ],
        "12",
    ),
    (["recovery", "enroll", *NO_PHONE], "--no-phone-reason"),
]


@pytest.mark.parametrize(
    ("args", "words"), CLI_ERRORS, ids=lambda v: v if isinstance(v, str) else None
)
def test_cli_errors_are_clear_and_store_nothing(runner, args, words):
    result = runner.invoke(args=args, input="a long enough password\n")
    assert result.exit_code != 0
    assert words in result.output, result.output
    assert db.session.scalar(db.select(db.func.count()).select_from(Clinic)) == 0


def test_short_password_and_duplicate_email_are_refused(runner):
    runner.invoke(args=["recovery", "create-clinic", "c", "--name", "C"])
    args = [
        "recovery",
        "create-staff",
        "--clinic",
        "c",
        "--email",
        "a@c.example",
        "--password-stdin",
    ]
    assert "at least 10" in runner.invoke(args=args, input="short\n").output
    assert runner.invoke(args=args, input="long enough pass\n").exit_code == 0
    assert "already exists" in runner.invoke(args=args, input="long enough pass\n").output


def test_demo_is_idempotent_and_shows_every_kind_of_alert(runner, client):
    result = runner.invoke(args=["recovery", "demo"])
    assert result.exit_code == 0, result.output
    assert "nurse@demo.test" in result.output
    episodes = db.session.scalar(db.select(db.func.count()).select_from(Episode))
    entries = db.session.scalar(db.select(db.func.count()).select_from(PainEntry))
    assert episodes >= 30 and entries > episodes
    rules = set(db.session.scalars(db.select(Alert.rule).distinct()))
    assert {"red_flag", "above_expected", "no_improvement"} <= rules
    # A nurse has already called about one alert: work in progress, with its history.
    [acknowledged] = db.session.scalars(db.select(Alert).filter_by(status="acknowledged")).all()
    assert [(e.kind, e.action) for e in acknowledged.events][-1] == (
        "acknowledged",
        "called_patient",
    )
    again = runner.invoke(args=["recovery", "demo"])
    assert "already present" in again.output
    assert db.session.scalar(db.select(db.func.count()).select_from(Episode)) == episodes
    login = client.post("/login", data={"email": "nurse@demo.test", "password": "demo-nurse-2026"})
    assert login.status_code == 302
    client.post("/logout")
    assert "admin@demo.test / demo-admin-2026" in result.output
    login = client.post("/login", data={"email": "admin@demo.test", "password": "demo-admin-2026"})
    assert login.status_code == 302
    assert client.get("/staff/team").status_code == 200


def test_demo_if_empty_leaves_a_real_database_alone(runner):
    runner.invoke(args=["recovery", "create-clinic", "real", "--name", "Real"])
    result = runner.invoke(args=["recovery", "demo", "--if-empty"])
    assert result.exit_code == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(Clinic)) == 1


def test_enroll_without_a_phone_needs_a_reason_and_keeps_it(runner):
    runner.invoke(args=["recovery", "create-clinic", "east", "--name", "East"])
    args = ["recovery", "enroll", "--clinic", "east", "--name", "Al"]
    args += ["--procedure-at", "2026-11-26T09:00:00+00:00"]
    refused = runner.invoke(args=args)
    assert refused.exit_code == 1
    assert "give the patient's phone number (--phone), or say why" in refused.output
    assert db.session.scalar(db.select(db.func.count()).select_from(Episode)) == 0
    result = runner.invoke(args=[*args, "--no-phone-reason", "no phone"])
    assert result.exit_code == 0, result.output
    episode = db.session.get(Episode, json.loads(result.output)["episode_id"])
    assert (episode.patient.phone, episode.patient.no_phone_reason) == (None, "no phone")
