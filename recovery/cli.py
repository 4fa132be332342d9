"""`flask --app wsgi recovery ...` commands. They call services; each commits once."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click
from flask import current_app, g
from flask.cli import AppGroup
from sqlalchemy import func

from .care import twofactor
from .care.accounts import create_staff, issue_api_token
from .care.audit import record_event
from .care.clinics import (
    DEFAULT_EMERGENCY_NUMBER,
    SetupError,
    clinic_params,
    clinic_settings_json,
    create_clinic,
    get_clinic,
    update_clinic_settings,
)
from .care.demo import (
    DEMO_ADMIN_EMAIL,
    DEMO_ADMIN_PASSWORD,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    MAX_ADDED_PATIENTS,
    add_demo_patients,
    seed_demo,
)
from .care.episodes import EntryError, enrol_patient, issue_link
from .care.models import Episode, utcnow
from .care.patients import require_language
from .care.urls import patient_url
from .clinical.curve import DEFAULT_PARAMS, curve_points
from .clinical.vocabulary import EntrySource
from .extensions import db

recovery_cli = AppGroup("recovery", help="Recovery administration and clinical tools.")


def fail(message: str) -> None:
    """Stop with `message` on stderr and exit status 1, storing nothing."""
    db.session.rollback()
    raise click.ClickException(message)


@recovery_cli.command("create-clinic")
@click.argument("slug")
@click.option("--name", required=True, help="The clinic's name as patients see it.")
@click.option("--timezone", default="Europe/London", show_default=True, help="IANA time zone.")
@click.option("--phone", default="", help="The number patients call about a red flag.")
@click.option(
    "--emergency-number",
    default=DEFAULT_EMERGENCY_NUMBER,
    show_default=True,
    help="Emergency services, for chest pain or breathlessness (999, 911, 000...).",
)
def create_clinic_command(
    slug: str, name: str, timezone: str, phone: str, emergency_number: str
) -> None:
    """Create a clinic."""
    try:
        clinic = create_clinic(slug, name, timezone, phone, emergency_number)
    except SetupError as exc:
        fail(str(exc))
    db.session.commit()
    click.echo(f"created clinic {clinic.slug} (id {clinic.id})")


@recovery_cli.command("create-staff")
@click.option("--clinic", "clinic_slug", required=True, help="The clinic's slug.")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["nurse", "admin"]), default="nurse", show_default=True)
@click.option("--name", default="", help="Name shown to colleagues.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--api-token", is_flag=True, help="Also issue an integration API token.")
@click.option(
    "--totp",
    is_flag=True,
    help="Set up two-step sign-in and print the otpauth:// URI for an authenticator app.",
)
def create_staff_command(clinic_slug, email, role, name, password_stdin, api_token, totp) -> None:
    """Create a staff account. With --totp the otpauth:// URI is printed on its own line (for
    the staff member's authenticator app); the API token, if asked for, is printed once, last."""
    if not password_stdin:
        fail("give the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        user = create_staff(get_clinic(clinic_slug), email, password, role, name)
        secret = twofactor.set_up_directly(user) if totp else None
        token = issue_api_token(user) if api_token else None
    except SetupError as exc:
        fail(str(exc))
    # In the audit trail as the team page's changes are, by the system (the command line).
    for action in ("staff_added", "api_token_issued")[: 2 if token else 1]:
        record_event(action, clinic_id=user.clinic_id, detail=f"{user.email} (command line)")
    db.session.commit()
    click.echo(f"created {user.role} {user.email} (id {user.id})")
    if secret:
        click.echo("Two-step sign-in: add this to the authenticator app (shown once):")
        click.echo(twofactor.provisioning_uri(user, secret))
    if token:
        click.echo("API token (shown once, store it now):")
        click.echo(token)


def parse_iso(value: str) -> datetime:
    """An ISO 8601 time with an offset, or a click error."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-11-27T09:30:00+00:00") from None
    if parsed.tzinfo is None:
        raise click.BadParameter("include a UTC offset, e.g. +00:00")
    return parsed


@recovery_cli.command("enroll")
@click.option("--clinic", "clinic_slug", required=True)
@click.option("--name", required=True, help="Patient's display name.")
@click.option("--procedure-at", required=True, help="Procedure end, ISO 8601 with offset.")
@click.option("--baseline", type=click.IntRange(0, 10), default=None, help="Pre-procedure pain.")
@click.option("--email", default=None)
@click.option("--phone", default=None, help="For a nurse to call back, and text reminders.")
@click.option(
    "--no-phone-reason",
    default=None,
    help='Why there is no phone number ("no phone", "declined"); needed without --phone.',
)
@click.option("--mrn", default=None)
@click.option("--levels", default="", help='Levels treated, e.g. "T12, L1".')
@click.option(
    "--indication",
    type=click.Choice(["osteoporosis", "tumour", "other"]),
    default="osteoporosis",
    show_default=True,
)
@click.option(
    "--language",
    default=None,
    help="The patient's language for their pages and reminders, one of LANGUAGES "
    "(default: the first, en).",
)
def enroll_command(
    clinic_slug,
    name,
    procedure_at,
    baseline,
    email,
    phone,
    no_phone_reason,
    mrn,
    levels,
    indication,
    language,
) -> None:
    """Enrol a patient; prints one JSON object with the episode and the personal link.

    A phone number lets a nurse call the patient back about an alert; without one, say why
    with --no-phone-reason.
    """
    procedure_dt = parse_iso(procedure_at)
    if not (phone or "").strip() and not (no_phone_reason or "").strip():
        fail(
            "give the patient's phone number (--phone), or say why there is none "
            '(--no-phone-reason "no phone")'
        )
    try:
        result = enrol_patient(
            get_clinic(clinic_slug),
            display_name=name,
            procedure_dt=procedure_dt,
            baseline_pain=baseline,
            levels=levels,
            indication=indication,
            mrn=mrn,
            email=email,
            phone=phone,
            no_phone_reason=no_phone_reason,
            preferred_language=require_language(language or current_app.config["LANGUAGES"][0]),
        )
    except (SetupError, EntryError) as exc:
        fail(str(exc))
    db.session.commit()
    click.echo(
        json.dumps(
            {
                "episode_id": result.episode.id,
                "patient_id": result.episode.patient_id,
                "token": result.token,
                "patient_url": patient_url(result.token),
            }
        )
    )


@recovery_cli.command("issue-link")
@click.option("--episode", "episode_id", type=int, required=True, help="The episode's id.")
@click.option(
    "--caregiver",
    is_flag=True,
    help="A link for the patient's caregiver; the patient's own link keeps working.",
)
def issue_link_command(episode_id: int, caregiver: bool) -> None:
    """Issue a new personal link; prints one JSON object with the link, as `enroll` does.

    The holder's earlier link (the patient's, or with --caregiver the caregiver's) stops
    working; the other holder's link is left as it is. A closed follow-up takes no new link.
    """
    holder = EntrySource.CAREGIVER if caregiver else EntrySource.PATIENT
    episode = db.session.get(Episode, episode_id)
    if episode is None:
        fail(f"no episode with id {episode_id}")
    try:
        token = issue_link(episode, holder=holder)
    except EntryError as exc:
        fail(str(exc))
    db.session.commit()
    click.echo(
        json.dumps(
            {
                "episode_id": episode.id,
                "holder": holder.value,
                "token": token,
                "patient_url": patient_url(token),
            }
        )
    )


@recovery_cli.command("demo")
@click.option(
    "--if-empty",
    is_flag=True,
    help="Only seed when the database has no clinic at all (then with --patients too).",
)
@click.option(
    "--patients",
    type=click.IntRange(1, MAX_ADDED_PATIENTS),
    default=None,
    help="Also add this many simulated active patients to the demo clinic, with their "
    "entries, alerts and personal links, in bulk (10,000 take seconds). Each run adds this "
    "many more.",
)
@click.option(
    "--at",
    "at",
    default=None,
    help="Seed as if it were this instant (ISO 8601 with offset), for tests and benchmarks.",
)
def demo_command(if_empty: bool, patients: int | None, at: str | None) -> None:
    """Seed a demo clinic with nurse and administrator logins and 40 patients at every stage
    of recovery (once: run again, it leaves them as they are). With --patients N, also add N
    simulated active patients, each run N more, for trying the app at scale."""
    now = parse_iso(at) if at else utcnow()
    # On SQLite the whole seeding holds the write lock from its first statement, as the
    # outreach job does: the bulk insert takes the ids after the largest stored.
    was_writer = g.get("database_writer", False)
    g.database_writer = True
    try:
        created = seed_demo(only_if_empty=if_empty, now=now)
        added = None
        if patients and (created or not if_empty):
            try:
                added = add_demo_patients(patients, now=now)
            except ValueError as exc:
                fail(str(exc))
        db.session.commit()
    finally:
        g.database_writer = was_writer
    click.echo("demo clinic seeded" if created else "demo data already present")
    if added is not None:
        active = db.session.scalar(
            db.select(func.count())
            .select_from(Episode)
            .filter_by(clinic_id=added.clinic_id, status="active")
        )
        click.echo(
            f"added {len(added.episode_ids):,} simulated patients "
            f"({added.rows['pain_entry']:,} entries, {added.rows['alert']:,} alerts); "
            f"the demo clinic now follows {active:,} active episodes"
        )
    click.echo(f"nurse login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
    click.echo(
        f"administrator login (also manages the team): {DEMO_ADMIN_EMAIL} / {DEMO_ADMIN_PASSWORD}"
    )


def parse_hours_list(value: str) -> list[float]:
    """ "2,6,24" -> [2.0, 6.0, 24.0], or a click error."""
    try:
        hours = [float(h) for h in value.split(",") if h.strip()]
    except ValueError:
        raise click.BadParameter("give hours as numbers separated by commas") from None
    if not hours or any(h != h or h in (float("inf"), float("-inf")) for h in hours):
        raise click.BadParameter("give at least one finite number of hours")
    return hours


@recovery_cli.command("expected")
@click.option("--baseline", type=click.FloatRange(0, 10), required=True, help="0-10 NRS.")
@click.option("--hours", "hours_text", required=True, help="Hours since procedure: 2,6,24")
@click.option("--clinic", "clinic_slug", default=None, help="Use this clinic's settings.")
def expected_command(baseline: float, hours_text: str, clinic_slug: str | None) -> None:
    """Print the expected curve and the amber and red lines as one JSON object."""
    hours = parse_hours_list(hours_text)
    params = DEFAULT_PARAMS
    if clinic_slug:
        try:
            params = clinic_params(get_clinic(clinic_slug))
        except SetupError as exc:
            fail(str(exc))
    click.echo(json.dumps(curve_points(baseline, hours, params)))


@recovery_cli.command("backtest")
@click.argument("csv_file", type=click.File("r", encoding="utf-8", errors="replace"))
@click.option("--clinic", "clinic_slug", default=None, help="Use this clinic's settings.")
def backtest_command(csv_file, clinic_slug: str | None) -> None:
    """Replay a CSV (episode,hours,pain,red_flags) through the live rules; alerts as JSON lines.

    With --clinic, the clinic's curve settings and check-in schedule (the rules start when its
    windows open); otherwise the defaults.
    """
    from .care.clinics import clinic_schedule
    from .clinical.backtest import run_backtest
    from .clinical.schedule import DEFAULT_SCHEDULE

    params, schedule = DEFAULT_PARAMS, DEFAULT_SCHEDULE
    if clinic_slug:
        try:
            clinic = get_clinic(clinic_slug)
            params, schedule = clinic_params(clinic), clinic_schedule(clinic)
        except SetupError as exc:
            fail(str(exc))
    code = run_backtest(csv_file, sys.stdout, sys.stderr, params, schedule)
    if code:
        sys.exit(code)


@recovery_cli.command("settings")
@click.option("--clinic", "clinic_slug", required=True)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="NAME=VALUE",
    help="Change a curve setting, e.g. --set amber_offset=2.8, or escalate_after_minutes, "
    "quiet_hours (21:00-08:00, or none) or response_hours (repeatable).",
)
@click.option(
    "--schedule",
    "schedule_file",
    type=click.File("r", encoding="utf-8"),
    help="Replace the check-in schedule with a JSON list of windows "
    '({"label", "target_h", "start_h", "end_h"}).',
)
@click.option(
    "--emergency-number",
    default=None,
    help="The emergency services number patients are told to call (default 112).",
)
@click.option(
    "--fhir-mrn-system",
    default=None,
    help="The identifier system of the clinic's MRNs in FHIR exports, e.g. urn:oid:1.2.3 "
    '("" goes back to FHIR_MRN_SYSTEM).',
)
@click.option(
    "--notify",
    multiple=True,
    metavar="URL",
    help="An on-call notification target as an Apprise URL (mailto://, msteams://, slack://, "
    "ntfy://, json://...); repeat for several. Replaces the current targets.",
)
@click.option(
    "--escalate",
    multiple=True,
    metavar="URL",
    help="An escalation target (Apprise URL) for emergency and urgent alerts not acknowledged "
    "in time; repeatable. Replaces the current ones.",
)
@click.option("--clear-notify", is_flag=True, help="Remove every on-call target.")
@click.option("--clear-escalate", is_flag=True, help="Remove every escalation target.")
def settings_command(
    clinic_slug: str,
    assignments: tuple[str, ...],
    schedule_file,
    emergency_number: str | None,
    fhir_mrn_system: str | None,
    notify: tuple[str, ...],
    escalate: tuple[str, ...],
    clear_notify: bool,
    clear_escalate: bool,
) -> None:
    """Show, or change, a clinic's settings: curve, check-in schedule, emergency number,
    notification targets and outreach timings. Targets are shown with secrets masked."""
    try:
        clinic = get_clinic(clinic_slug)
        overrides = {}
        for assignment in assignments:
            name, sep, value = assignment.partition("=")
            if not sep:
                raise SetupError(f"use NAME=VALUE, not {assignment!r}")
            overrides[name.strip()] = value.strip()
        schedule = None
        if schedule_file is not None:
            try:
                schedule = json.load(schedule_file)
            except json.JSONDecodeError as exc:
                raise SetupError(f"the schedule file is not JSON: {exc}") from None
        notify_urls = [] if clear_notify else list(notify) or None
        escalate_urls = [] if clear_escalate else list(escalate) or None
        changes = (schedule, emergency_number, fhir_mrn_system, notify_urls, escalate_urls)
        if overrides or any(change is not None for change in changes):
            update_clinic_settings(clinic, overrides, *changes)
            record_event("settings_changed", clinic_id=clinic.id, detail="command line")
    except SetupError as exc:
        fail(str(exc))
    db.session.commit()
    click.echo(json.dumps(clinic_settings_json(clinic), indent=2))


@recovery_cli.command("calibrate")
@click.option("--clinic", "clinic_slug", required=True)
@click.option("--apply", "apply_", is_flag=True, help="Save the fitted band for the clinic.")
def calibrate_command(clinic_slug: str, apply_: bool) -> None:
    """Fit the clinic's own band from its finished episodes; saves only with --apply."""
    from .care.calibration import CalibrationError, calibrate_clinic

    try:
        outcome = calibrate_clinic(get_clinic(clinic_slug), apply=apply_)
    except (SetupError, CalibrationError) as exc:
        fail(str(exc))
    if apply_:
        record_event(
            "settings_changed",
            clinic_id=get_clinic(clinic_slug).id,
            detail="command line: the clinic's own band (calibrate --apply)",
        )
    db.session.commit()
    click.echo(outcome.report_text)
    click.echo(
        "saved: the clinic now uses its own band"
        if apply_
        else "not saved (run again with --apply to use this band)"
    )


@recovery_cli.command("tick")
@click.option(
    "--at",
    "at",
    default=None,
    help="Act as if it were this instant (ISO 8601 with offset), for tests and replays.",
)
def tick_command(at: str | None) -> None:
    """Send what is due now, once: reminders, missed check-ins, on-call notifications and
    escalations, and retries. Safe to run every minute from cron or a systemd timer, and
    twice at once. Prints what it did as JSON."""
    from .care.outreach import run_tick

    now = parse_iso(at) if at else utcnow()
    report = run_tick(now)
    click.echo(json.dumps(report.to_json()))


@recovery_cli.command("worker")
@click.option(
    "--interval",
    type=click.FloatRange(0, 3600),
    default=60,
    show_default=True,
    help="Seconds between runs.",
)
@click.option("--ticks", type=click.IntRange(1), default=None, help="Stop after this many runs.")
def worker_command(interval: float, ticks: int | None) -> None:
    """Run `tick` every --interval seconds until stopped (Ctrl-C or SIGTERM ends it cleanly,
    between runs). A run that fails is logged and the next one goes ahead."""
    from .care.outreach import run_worker

    run_worker(interval=interval, ticks=ticks, echo=click.echo)
