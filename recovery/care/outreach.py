"""The job that reaches people: reminders, missed check-ins, on-call notifications, escalation.

`run_tick(now)` does once what is due at `now`; `flask recovery tick` runs it (from cron or a
systemd timer), `flask recovery worker` runs it every minute (docs/architecture.md,
"Reaching people"). Each run:

1. **Windows** (`check_windows`): for each active episode whose next check-in window has
   opened, the pure rules in `recovery.clinical.reminders` say which windows to remind, remind again
   or report missed; a missed window opens a `missed_checkin` alert through the rule code the
   backtest uses (`rules.missed_checkin_finding`). What was done is kept in `checkin_window`.
2. **Alerts** (`queue_alert_notifications`): open emergency, urgent and high alerts go to the
   clinic's on-call targets; emergency and urgent ones still open after the clinic's
   `escalate_after_minutes` go to its escalation targets, once.
3. **Delivery** (`deliver_due`): every message is a row of the outbox (`Notification`);
   the due ones are sent, and a failure is recorded and retried with backoff.

Run twice, or twice at once, nothing is sent twice:
- a window's decisions are taken with its episode's row locked (PostgreSQL: FOR UPDATE SKIP
  LOCKED, so a second job moves on to other episodes; SQLite: the database's write lock) and
  recorded in the same transaction;
- each message has a unique `dedupe_key` and is inserted with ON CONFLICT DO NOTHING;
- a message is claimed (a conditional UPDATE only one job can win) before it is sent and
  marked after. A job that dies between sending and marking leaves a claim that expires after
  `LEASE`; then the message goes again (at least once: the only case of a repeat).
Sending happens outside any transaction: a slow SMTP server holds no lock, and no web request
ever waits on a message.
"""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, g
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from ..clinical.message import N_, Message
from ..clinical.reminders import WindowRecord, due_now, in_quiet_hours, next_look
from ..clinical.rules import missed_checkin_finding
from ..clinical.schedule import Window
from ..clinical.vocabulary import (
    AlertEventKind,
    AlertStatus,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
    Rule,
    Severity,
)
from ..extensions import db, describe_failure
from ..translation import format_day_time, render, translate, words
from .audit import record_alert_event, record_event
from .clinics import clinic_schedule, clinic_zone, outreach_settings
from .episodes import apply_alerts, reminder_token
from .models import (
    Alert,
    AlertEvent,
    CheckinWindow,
    Clinic,
    Episode,
    Notification,
    PainEntry,
    Patient,
    entry_in_force,
    utcnow,
)
from .senders import SendError, Senders, masked_target, target_key
from .urls import external_url, patient_url

#: A job sending a message holds it this long; if it dies, another may send it after.
LEASE = timedelta(minutes=5)
#: A failed message is tried again after 1, 2, 4... minutes, never more than an hour apart...
RETRY_FIRST = timedelta(minutes=1)
RETRY_LONGEST = timedelta(hours=1)
#: ...and given up after this many attempts (about four hours of trying).
MAX_ATTEMPTS = 10
#: Alerts that notify the on-call targets, and those that escalate when not acknowledged.
ON_CALL_SEVERITIES = (Severity.EMERGENCY, Severity.URGENT, Severity.HIGH)
ESCALATING_SEVERITIES = (Severity.EMERGENCY, Severity.URGENT)
#: On-call targets hear of an alert that reached its severity within this, and escalation
#: targets of one whose wait ended within it; an older one is on the worklist already (and a
#: target added today is not sent last month's alerts).
ON_CALL_LOOKBACK = timedelta(hours=24)
#: The most messages one run sends; the rest wait for the next run.
BATCH = 200
#: Episodes whose windows are looked at in one transaction: a run that finds 10,000 due (the
#: first after an upgrade, or after the job was stopped for long) commits 200 times, not
#: 10,000, and reads each batch's windows and entries in one statement each. A check-in to
#: one of them waits for its batch; on SQLite, where a transaction that writes holds the whole
#: database, batches are smaller so that no check-in waits long.
EPISODE_BATCH = {"postgresql": 50, "sqlite": 10}


@dataclass
class TickReport:
    """What one run did (counts), printed by `flask recovery tick` as JSON."""

    missed: int = 0
    reminders: int = 0
    on_call: int = 0
    escalations: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def run_tick(now: datetime, senders: Senders | None = None) -> TickReport:
    """Do everything due at `now` once (see the module's docstring); commits as it goes."""
    # On SQLite, every transaction of the job takes the write lock when it begins
    # (recovery.extensions), so two jobs at once take turns instead of failing.
    now = now.astimezone(UTC)
    was_writer = g.get("database_writer", False)
    g.database_writer = True
    try:
        senders = senders or Senders.from_config(current_app.config)
        report = TickReport()
        failed = []
        # Each stage on its own: trouble with reminders never holds up an emergency page.
        for stage in (check_windows, queue_alert_notifications, deliver_due):
            try:
                stage(now, senders, report)
            except Exception as exc:
                db.session.rollback()
                current_app.logger.error(
                    "outreach: %s failed: %s", stage.__name__, describe_failure(exc)
                )
                failed.append(exc)
        if failed:
            raise failed[0]
        return report
    finally:
        g.database_writer = was_writer


def set_reminders(episode: Episode, wanted: bool, *, now: datetime, address: str | None = None):
    """Stop (`wanted` False) or restart the patient's reminders; the timeline records it. A
    message already waiting is not sent once they are stopped (`compose` checks)."""
    patient = episode.patient
    if wanted == (patient.reminders_stopped_dt is None):
        return
    patient.reminders_stopped_dt = None if wanted else now
    if wanted:
        episode.outreach_due_dt = episode.procedure_dt  # look again at the next run
    record_event(
        "reminders_resumed" if wanted else "reminders_stopped",
        clinic_id=episode.clinic_id,
        episode=episode,
        actor="patient",
        address=address,
    )
    db.session.flush()


def run_worker(*, interval: float, ticks: int | None = None, echo=print, clock=utcnow) -> int:
    """Run `run_tick` every `interval` seconds until SIGTERM or SIGINT (or `ticks` runs);
    returns how many ran. A run that fails is logged and rolled back; the next goes ahead."""
    stop = threading.Event()
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            handlers[signum] = signal.signal(signum, lambda *_args: stop.set())
    count = 0
    echo(f"worker: running every {interval:g} s (Ctrl-C stops)")
    if not current_app.config.get("PUBLIC_BASE_URL"):
        echo(
            "worker: PUBLIC_BASE_URL is not set, so links in messages point to "
            f"{external_url('/')}; set it to the address patients and staff use"
        )
    try:
        while not stop.is_set():
            try:
                report = run_tick(clock())
                if any(report.to_json().values()):
                    echo(json.dumps(report.to_json()))
            except Exception as exc:
                db.session.rollback()
                current_app.logger.error(
                    "the outreach run failed; the next one will retry: %s", describe_failure(exc)
                )
            count += 1
            if ticks is not None and count >= ticks:
                break
            stop.wait(interval)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return count


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt (1, 2, 4... minutes, <= 1 h)."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_LONGEST)


# 1. Windows: reminders and missed check-ins.


def check_windows(now: datetime, senders: Senders, report: TickReport) -> None:
    """Remind patients and report missed check-ins for the episodes whose next look
    (`Episode.outreach_due_dt`) has come, a batch (`EPISODE_BATCH`, one transaction) at a time.

    A batch that fails is undone and its episodes are taken one by one, so that the others
    are done: one whose window another job recorded first is left to it; one that fails
    otherwise is logged and skipped, and the stage reports the first such failure at the end.
    """
    episode_ids = db.session.scalars(
        db.select(Episode.id)
        .where(Episode.status == "active", Episode.outreach_due_dt <= now)
        .where(Episode.procedure_dt <= now)
        .order_by(Episode.id)
    ).all()
    db.session.commit()
    size = EPISODE_BATCH.get(db.engine.dialect.name, 10)
    failures = []
    for start in range(0, len(episode_ids), size):
        batch = episode_ids[start : start + size]
        if _check_batch(batch, now, senders, report) is None:
            continue
        for episode_id in batch:
            failure = _check_batch([episode_id], now, senders, report)
            if isinstance(failure, IntegrityError):
                current_app.logger.warning(
                    "outreach: episode %s was done by another run", episode_id
                )
            elif failure is not None:
                current_app.logger.error(
                    "outreach: episode %s failed: %s", episode_id, describe_failure(failure)
                )
                failures.append(failure)
    if failures:
        raise failures[0]


def _check_batch(
    episode_ids: list[int], now: datetime, senders: Senders, report: TickReport
) -> Exception | None:
    """`_check_episode` for each of the episodes, in one transaction, their windows and
    entries read in one statement each; the exception, having changed nothing, if one of them
    failed (an IntegrityError: another job recorded one of their windows first)."""
    done = TickReport()
    episodes = db.session.scalars(
        db.select(Episode)
        .where(Episode.id.in_(episode_ids), Episode.status == "active")
        .order_by(Episode.id)
        # In id order, as every job takes them; those another job holds now are its own.
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    ids = [episode.id for episode in episodes]
    windows: dict[int, dict[datetime, CheckinWindow]] = {i: {} for i in ids}
    for row in db.session.scalars(
        db.select(CheckinWindow).where(CheckinWindow.episode_id.in_(ids))
    ):
        windows[row.episode_id][row.start_dt] = row
    entry_hours: dict[int, list[float]] = {i: [] for i in ids}
    by_id = {episode.id: episode for episode in episodes}
    for episode_id, recorded_dt in db.session.execute(
        db.select(PainEntry.episode_id, PainEntry.recorded_dt)
        .where(PainEntry.episode_id.in_(ids), entry_in_force())
        .order_by(PainEntry.episode_id, PainEntry.recorded_dt, PainEntry.id)
    ):
        entry_hours[episode_id].append(by_id[episode_id].hours_since_procedure(recorded_dt))
    # Loaded once for the batch (and kept: the session holds objects only while referenced).
    _patients = db.session.scalars(
        db.select(Patient).where(Patient.id.in_({e.patient_id for e in episodes}))
    ).all()
    try:
        for episode in episodes:
            _check_episode(
                episode, windows[episode.id], entry_hours[episode.id], now, senders, done
            )
        db.session.commit()
    except Exception as exc:  # noqa: BLE001 - the caller takes the episodes one by one
        db.session.rollback()
        return exc
    for name, value in asdict(done).items():
        setattr(report, name, getattr(report, name) + value)
    return None


def _hours(episode: Episode, when: datetime | None) -> float | None:
    return None if when is None else episode.hours_since_procedure(when)


def _records(episode: Episode, schedule, rows: dict) -> dict[Window, WindowRecord]:
    """What was done about each window, from the episode's `CheckinWindow` rows."""
    records = {}
    for window in schedule:
        row = rows.get(_window_start(episode, window))
        if row is not None:
            records[window] = WindowRecord(
                _hours(episode, row.reminded_dt),
                _hours(episode, row.last_reminded_dt),
                row.missed_dt is not None,
            )
    return records


def quiet_until(clinic: Clinic, now: datetime) -> datetime | None:
    """When the clinic's quiet hours end (UTC) if `now` is in them, else None."""
    quiet = outreach_settings(clinic).quiet_hours
    local = now.astimezone(clinic_zone(clinic))
    if not in_quiet_hours(local.hour * 60 + local.minute, quiet):
        return None
    end = local.replace(hour=quiet[1] // 60, minute=quiet[1] % 60, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


def _check_episode(
    episode: Episode,
    rows: dict[datetime, CheckinWindow],
    entry_hours: list[float],
    now: datetime,
    senders: Senders,
    report: TickReport,
):
    """Remind, remind again or report missed the episode's windows due at `now` and set its
    next look; `rows` are its `CheckinWindow` rows by start, `entry_hours` its entries' times
    (hours since procedure, in force, in recorded order). The caller holds its lock."""
    clinic = episode.clinic
    schedule = clinic_schedule(clinic)
    quiet_end = quiet_until(clinic, now)
    stopped = episode.patient.reminders_stopped_dt is not None
    now_h = episode.hours_since_procedure(now)
    enrolled_h = episode.hours_since_procedure(episode.created_dt)
    records = _records(episode, schedule, rows)
    due = due_now(
        schedule,
        entry_hours,
        now_h,
        enrolled_h=enrolled_h,
        records=records,
        quiet=quiet_end is not None or stopped,
    )
    for window in due.missed:
        _window_row(episode, window, rows).missed_dt = now
        apply_alerts(episode, None, [missed_checkin_finding(window)], now=now)
        report.missed += 1
    # With no channel (no address, or the channel is not configured) nothing is marked: the
    # window stays unreminded, so a reminder goes once one can carry it.
    channels = _patient_channels(episode, senders)
    for kind, windows in (
        (NotificationKind.REMINDER, due.remind if channels else ()),
        (NotificationKind.LAST_REMINDER, due.remind_again if channels else ()),
    ):
        for window in windows:
            row = _window_row(episode, window, rows)
            if kind is NotificationKind.REMINDER:
                row.reminded_dt = now
            else:
                row.last_reminded_dt = now
            db.session.flush()
            for channel in channels:
                report.reminders += _queue(
                    dedupe_key=f"{kind}:{row.id}:{channel}",
                    clinic_id=clinic.id,
                    episode_id=episode.id,
                    window_id=row.id,
                    kind=kind.value,
                    channel=channel.value,
                    target_label=channel.label,
                    now=now,
                )
    # When to look again: the next window event, or the end of the quiet hours if they held
    # a reminder back.
    records = _records(episode, schedule, rows)
    look_h = next_look(schedule, entry_hours, now_h, enrolled_h=enrolled_h, records=records)
    look = None if look_h is None else episode.at_hours(look_h)
    if quiet_end is not None and not stopped:
        held = due_now(
            schedule, entry_hours, now_h, enrolled_h=enrolled_h, records=records, quiet=False
        )
        if held.remind or held.remind_again:
            look = quiet_end if look is None else min(look, quiet_end)
    episode.outreach_due_dt = look


def _window_start(episode: Episode, window: Window) -> datetime:
    return episode.at_hours(window.start_h)


def _window_row(episode: Episode, window: Window, rows: dict) -> CheckinWindow:
    """The episode's record of `window`, created on first use."""
    start = _window_start(episode, window)
    if start not in rows:
        rows[start] = CheckinWindow(
            episode_id=episode.id,
            label=window.label,
            start_dt=start,
            end_dt=episode.at_hours(window.end_h),
        )
        db.session.add(rows[start])
    return rows[start]


def _patient_channels(episode: Episode, senders: Senders) -> list[NotificationChannel]:
    """The ways a reminder can reach the patient: email and/or a text message."""
    patient = episode.patient
    channels = []
    if patient.email and senders.can_email:
        channels.append(NotificationChannel.EMAIL)
    if patient.phone and senders.can_text:
        channels.append(NotificationChannel.SMS)
    return channels


def _queue(*, dedupe_key: str, now: datetime, **values) -> int:
    """Add a message to the outbox unless one with `dedupe_key` is there; 1 if added."""
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else None
    statement = (insert or sqlite_insert)(Notification).values(
        dedupe_key=dedupe_key,
        created_dt=now,
        next_attempt_dt=now,
        status=NotificationStatus.PENDING.value,
        attempts=0,
        last_error="",
        **values,
    )
    added = db.session.execute(
        statement.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Notification.id)
    )
    return len(added.all())


# 2. Alerts: on-call notifications and escalation.


def queue_alert_notifications(now: datetime, senders: Senders, report: TickReport) -> None:
    """Queue on-call notifications and escalations for the open alerts that need them.

    Only clinics with targets are looked at, and of their alerts only those that could need
    a message now (changed within `ON_CALL_LOOKBACK`, or escalating ones), in a fixed number
    of statements whatever their count.
    """
    outreach = {
        clinic.id: outreach_settings(clinic) for clinic in db.session.scalars(db.select(Clinic))
    }
    clinic_ids = [cid for cid, settings in outreach.items() if settings.notify or settings.escalate]
    escalating = [severity.code for severity in ESCALATING_SEVERITIES]
    alerts = (
        db.session.scalars(
            db.select(Alert)
            .join(Episode)
            .where(Episode.clinic_id.in_(clinic_ids), Episode.status == "active")
            .where(Alert.status == AlertStatus.OPEN)
            .where(Alert.severity.in_([severity.code for severity in ON_CALL_SEVERITIES]))
            .where(or_(Alert.updated_dt >= now - ON_CALL_LOOKBACK, Alert.severity.in_(escalating)))
            .options(contains_eager(Alert.episode))
            .order_by(Alert.id)
        ).all()
        if clinic_ids
        else []
    )
    reached = _severity_reached(alerts)
    queued = set(
        db.session.scalars(
            db.select(Notification.dedupe_key).where(
                Notification.alert_id.in_([alert.id for alert in alerts])
            )
        )
        if alerts
        else ()
    )
    for alert in alerts:
        settings = outreach[alert.episode.clinic_id]
        since, urgent_since = reached[alert.id]
        messages = []
        if now - since <= ON_CALL_LOOKBACK:
            messages += [
                (NotificationKind.ON_CALL, url, f"{alert.severity}:") for url in settings.notify
            ]
        due = urgent_since + timedelta(minutes=settings.escalate_after_minutes)
        if alert.severity in escalating and due <= now <= due + ON_CALL_LOOKBACK:
            messages += [(NotificationKind.ESCALATION, url, "") for url in settings.escalate]
        for kind, url, part in messages:
            key = f"{kind}:{alert.id}:{part}{target_key(url)}"
            if key in queued:
                continue
            added = _queue(
                dedupe_key=key,
                clinic_id=alert.episode.clinic_id,
                episode_id=alert.episode_id,
                alert_id=alert.id,
                kind=kind.value,
                channel=NotificationChannel.TARGET.value,
                target_key=target_key(url),
                target_label=masked_target(url)[:300],
                now=now,
            )
            if kind is NotificationKind.ON_CALL:
                report.on_call += added
            else:
                report.escalations += added
    db.session.commit()


def _severity_reached(alerts) -> dict[int, tuple[datetime, datetime]]:
    """alert id -> (when it reached its present severity; when it last became open at
    emergency or urgent severity, which an escalation counts from), from its history in one
    query. An acknowledged alert that a worse finding reopens starts a new wait."""
    if not alerts:
        return {}
    kinds = (
        AlertEventKind.OPENED,
        AlertEventKind.ESCALATED,
        AlertEventKind.ACKNOWLEDGED,
        AlertEventKind.REOPENED,
    )
    events = db.session.execute(
        db.select(AlertEvent.alert_id, AlertEvent.kind, AlertEvent.severity, AlertEvent.created_dt)
        .where(AlertEvent.alert_id.in_([a.id for a in alerts]), AlertEvent.kind.in_(kinds))
        .order_by(AlertEvent.created_dt, AlertEvent.id)
    ).all()
    severity_of = {alert.id: alert.severity for alert in alerts}
    urgent = {s.code for s in ESCALATING_SEVERITIES}
    reached: dict[int, datetime] = {}
    waiting: dict[int, datetime | None] = {}
    state: dict[int, tuple[bool, str | None]] = {}  # alert id -> (open, severity)
    for alert_id, kind, severity, created_dt in events:
        is_open, current = state.get(alert_id, (False, None))
        if kind in (AlertEventKind.OPENED, AlertEventKind.ESCALATED):
            current = severity
            if alert_id not in reached and severity == severity_of[alert_id]:
                reached[alert_id] = created_dt
        is_open = {
            AlertEventKind.OPENED: True,
            AlertEventKind.REOPENED: True,
            AlertEventKind.ACKNOWLEDGED: False,
        }.get(kind, is_open)
        state[alert_id] = (is_open, current)
        if is_open and current in urgent:
            waiting[alert_id] = waiting.get(alert_id) or created_dt
        else:
            waiting[alert_id] = None
    return {
        alert.id: (
            reached.get(alert.id, alert.opened_dt),
            waiting.get(alert.id) or alert.opened_dt,
        )
        for alert in alerts
    }


# 3. Delivery.


@dataclass(frozen=True)
class Outgoing:
    """A message ready to send: where, and the words (plain data, no database objects)."""

    channel: str
    to: str
    subject: str
    body: str


def _clock(now: datetime) -> datetime:
    """The later of the run's `now` and the real time: leases must hold in real time, also for
    a run given an --at in the past or one that has been sending for a while."""
    return max(now, utcnow())


@dataclass(frozen=True)
class Postponed:
    """A reminder that must wait: it is the clinic's quiet hours (a retry may fall in them)."""

    until: datetime


def deliver_due(now: datetime, senders: Senders, report: TickReport) -> None:
    """Send the outbox's due messages, each claimed first so that no other job sends it.

    A run stops claiming after half a lease of real time (the rest waits for the next run),
    so a claim always outlives the sending it covers.
    """
    started = utcnow()
    due_ids = db.session.scalars(
        db.select(Notification.id)
        .where(
            Notification.status == NotificationStatus.PENDING, Notification.next_attempt_dt <= now
        )
        .where(
            or_(Notification.lease_until_dt.is_(None), Notification.lease_until_dt < _clock(now))
        )
        .order_by(Notification.next_attempt_dt, Notification.id)
        .limit(BATCH)
    ).all()
    db.session.commit()
    for notification_id in due_ids:
        if utcnow() - started > LEASE / 2:
            break
        clock = _clock(now)
        claimed = db.session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status == NotificationStatus.PENDING,
                or_(Notification.lease_until_dt.is_(None), Notification.lease_until_dt < clock),
            )
            .values(lease_until_dt=clock + LEASE)
        ).rowcount
        if claimed != 1:
            db.session.rollback()  # another job has it
            continue
        db.session.commit()
        notification = db.session.get(Notification, notification_id)
        try:
            outgoing = compose(notification, now)
        except Exception as exc:  # a message that cannot be written is retried like a failure
            db.session.rollback()
            current_app.logger.error(
                "outreach: notification %s: %s", notification_id, describe_failure(exc)
            )
            outgoing = f"{type(exc).__name__}: {exc}"
            notification = db.session.get(Notification, notification_id)
            _record_attempt(notification, now, outgoing)
            db.session.commit()
            report.failed += 1
            continue
        if isinstance(outgoing, Postponed):
            notification.next_attempt_dt = outgoing.until
            notification.lease_until_dt = None
            db.session.commit()
            continue
        if isinstance(outgoing, str):
            notification.status = NotificationStatus.CANCELLED.value
            notification.last_error = outgoing
            notification.lease_until_dt = None
            db.session.commit()
            report.cancelled += 1
            continue
        db.session.commit()  # no transaction stays open while the message travels
        error = _send(senders, outgoing)
        notification = db.session.get(Notification, notification_id)
        _record_attempt(notification, now, error)
        db.session.commit()
        if error is None:
            report.sent += 1
        else:
            report.failed += 1


def _send(senders: Senders, outgoing: Outgoing) -> str | None:
    """Send; the reason it failed, or None."""
    try:
        if outgoing.channel == NotificationChannel.EMAIL:
            senders.email(outgoing.to, outgoing.subject, outgoing.body)
        elif outgoing.channel == NotificationChannel.SMS:
            senders.text(outgoing.to, outgoing.body)
        else:
            senders.target(outgoing.to, outgoing.subject, outgoing.body)
    except SendError as exc:
        return str(exc) or "the message could not be sent"
    except Exception as exc:  # a sender's bug or a bad address must not stop the others
        current_app.logger.exception("sending notification failed")
        return f"{type(exc).__name__}: {exc}"[:1000]
    return None


def _record_attempt(notification: Notification, now: datetime, error: str | None) -> None:
    """Mark the message sent, or failed and when it will be tried again; its alert's history
    and the episode's timeline say so."""
    notification.attempts += 1
    notification.lease_until_dt = None
    if error is None:
        notification.status = NotificationStatus.SENT.value
        notification.sent_dt = now
        notification.last_error = ""
    else:
        notification.last_error = error[:1000]
        if notification.attempts >= MAX_ATTEMPTS:
            notification.status = NotificationStatus.FAILED.value
        else:
            notification.next_attempt_dt = now + backoff(notification.attempts)
    alert = notification.alert
    if alert is not None:
        if error is None:
            kind = (
                AlertEventKind.ESCALATION_SENT
                if notification.kind == NotificationKind.ESCALATION
                else AlertEventKind.NOTIFIED
            )
            detail = notification.target_label
        else:
            kind = AlertEventKind.NOTIFY_FAILED
            detail = _failure_text(notification)
        record_alert_event(alert, kind, now=now, detail=detail)
    elif error is None or notification.status == NotificationStatus.FAILED:
        window = notification.window
        channel = NotificationChannel(notification.channel)
        what = Message(
            N_("%(label)s check-in (%(channel)s)"),
            {"label": Message(window.label), "channel": channel.message},
        )
        if error is not None:
            what = Message("%(what)s: %(error)s", {"what": what, "error": error})
        record_event(
            "reminder_sent" if error is None else "reminder_failed",
            clinic_id=notification.clinic_id,
            episode=notification.episode,
            detail=str(what),
            detail_message=what,
        )


def _failure_text(notification: Notification) -> Message:
    """ "json://host/hook: HTTP 500 (attempt 2; next at 2026-06-10 10:04 UTC)", or "...
    (attempt 10; given up)"; the error is the sender's, in English."""
    values = {
        "target": notification.target_label,
        "error": notification.last_error,
        "attempt": notification.attempts,
    }
    if notification.status == NotificationStatus.FAILED:
        return Message(N_("%(target)s: %(error)s (attempt %(attempt)s; given up)"), values)
    values["next"] = f"{notification.next_attempt_dt:%Y-%m-%d %H:%M} UTC"
    return Message(N_("%(target)s: %(error)s (attempt %(attempt)s; next at %(next)s)"), values)


# Composing messages, in the reader's language, from the current state.


def compose(notification: Notification, now: datetime) -> Outgoing | Postponed | str:
    """The message to send now, when to try instead (quiet hours), or why it is no longer
    worth sending (a str)."""
    if notification.channel == NotificationChannel.TARGET:
        return _compose_alert(notification)
    return _compose_reminder(notification, now)


def _compose_reminder(notification: Notification, now: datetime) -> Outgoing | Postponed | str:
    episode = notification.episode
    patient = episode.patient
    window = notification.window
    if episode.status != "active":
        return "the follow-up is closed"
    if patient.reminders_stopped_dt is not None:
        return "the patient has stopped reminders"
    if episode.token_hash is None:
        return "the patient's link was revoked"
    if now >= window.end_dt:
        return "the check-in window has closed"
    answered = db.session.scalar(
        db.select(PainEntry.id)
        .where(PainEntry.episode_id == episode.id)
        .where(PainEntry.recorded_dt >= window.start_dt, PainEntry.recorded_dt <= window.end_dt)
        .limit(1)
    )
    if answered is not None:
        return "the patient has checked in"
    clinic = episode.clinic
    quiet_end = quiet_until(clinic, now)
    if quiet_end is not None:
        return Postponed(quiet_end)
    email = notification.channel == NotificationChannel.EMAIL
    to = patient.email if email else patient.phone
    if not to:
        return "no email address" if email else "no phone number"
    link = patient_url(reminder_token(episode))
    with force_locale(patient.preferred_language):
        label = translate(window.label)
        closes = format_day_time(window.end_dt, clinic_zone(clinic))
        values = {"clinic": clinic.name, "label": label, "closes": closes, "link": link}
        stop = _("To stop these reminders: %(link)s", link=f"{link}/reminders")
        if notification.kind == NotificationKind.REMINDER:
            subject = _("%(clinic)s: time for your %(label)s check-in", **values)
            ask = _(
                "It is time for your %(label)s pain check-in. It takes a minute: %(link)s",
                **values,
            )
        else:
            subject = _("%(clinic)s: your %(label)s check-in closes soon", **values)
            ask = _(
                "We have not had your %(label)s pain check-in yet. It is open until "
                "%(closes)s: %(link)s",
                **values,
            )
        if not email:
            return Outgoing(notification.channel, to, "", f"{clinic.name}: {ask} {stop}")
        lines = [ask]
        if notification.kind == NotificationKind.REMINDER:
            lines.append(_("You can answer until %(closes)s.", **values))
        if clinic.phone:
            lines.append(_("Questions? Call the clinic on %(phone)s.", phone=clinic.phone))
        lines += ["", stop, "", clinic.name]
    return Outgoing(notification.channel, to, subject, "\n".join(lines))


def initials(name: str) -> str:
    """ "Ann Smith" -> "A.S.": how a message names a patient."""
    return "".join(f"{part[0].upper()}." for part in name.split() if part[:1].isalpha()) or "?"


def _compose_alert(notification: Notification) -> Outgoing | str:
    alert = notification.alert
    episode = alert.episode
    clinic = episode.clinic
    outreach = outreach_settings(clinic)
    escalation = notification.kind == NotificationKind.ESCALATION
    targets = outreach.escalate if escalation else outreach.notify
    url = next((u for u in targets if target_key(u) == notification.target_key), None)
    if url is None:
        return "the target was removed from the clinic's settings"
    if alert.status != AlertStatus.OPEN:
        return f"the alert was {alert.status} before it was sent"
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        values = {
            "severity": words(Severity, alert.severity),
            "rule": words(Rule, alert.rule),
            "patient": initials(episode.patient.display_name),
            "clinic": clinic.name,
        }
        subject = _("[%(severity)s] %(rule)s: patient %(patient)s, %(clinic)s", **values)
        lines = [
            _("%(severity)s alert for patient %(patient)s at %(clinic)s: %(rule)s.", **values),
            render(alert.reason_message, alert.reason),
            _("Open: %(url)s", url=external_url(f"/staff/episodes/{episode.id}")),
        ]
        if escalation:
            minutes = outreach.escalate_after_minutes
            subject = _("Not acknowledged: %(subject)s", subject=subject)
            lines.insert(
                0,
                _("Not acknowledged within %(minutes)s minutes.", minutes=minutes),
            )
    return Outgoing(NotificationChannel.TARGET.value, url, subject, "\n".join(lines))
