"""Database models. Times are UTC (`..._dt`); the clinic's time zone is for display only."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    case,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from ..clinical.vocabulary import (
    AlertAction,
    AlertEventKind,
    AlertStatus,
    ContactOutcome,
    EntrySource,
    EpisodeStatus,
    Indication,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
    Role,
    Severity,
)
from ..extensions import db

#: The largest id a row can have: primary keys are INTEGER (32-bit) on PostgreSQL.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite keeps no zone, PostgreSQL keeps one; this makes both return aware UTC values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: times must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def one_of(column: str, codes: tuple[str, ...]) -> str:
    """The CHECK expression "column IN ('a', 'b')" for a vocabulary's codes (sorted, so the
    expression does not change when the vocabulary's display order does)."""
    return f"{column} IN ({', '.join(repr(code) for code in sorted(codes))})"


class Clinic(db.Model):
    """A tenant: one interventional radiology clinic and its settings."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    # The number patients are told to call about a red flag.
    phone: Mapped[str] = mapped_column(String(32), default="")
    # Curve parameters and check-in schedule overrides (recovery/clinical/curve.py, schedule.py).
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    staff: Mapped[list[StaffUser]] = relationship(back_populates="clinic")
    patients: Mapped[list[Patient]] = relationship(back_populates="clinic")


class StaffUser(UserMixin, db.Model):
    """A nurse or administrator of one clinic."""

    __table_args__ = (CheckConstraint(one_of("role", Role.codes()), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="nurse")
    is_active: Mapped[bool] = mapped_column(default=True)
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: A temporary password (a new account, a reset) must be replaced at the next sign-in.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    #: The TOTP secret (base32) once the second factor is set up; the one being set up.
    totp_secret: Mapped[str | None] = mapped_column(String(32))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(32))
    #: The last 30-second step whose code was accepted: a code is good once.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)

    clinic: Mapped[Clinic] = relationship(back_populates="staff")

    #: The server-side session this object was loaded for (`recovery.care.sessions`).
    #: (Plain attributes of the loaded object, not columns.)
    session_key = None
    staff_session = None

    def set_password(self, password: str) -> None:
        """Store a salted hash of `password`, made the configured way (scrypt unless a test
        configuration asks for a cheap one)."""
        method = current_app.config["PASSWORD_HASH_METHOD"]
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        """Whether `password` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def display_name(self) -> str:
        """The name to show, falling back to the email address."""
        return self.name or self.email

    @property
    def password_fingerprint(self) -> str:
        """Changes with the password: a sign-in waiting for its second factor remembers it."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    @property
    def has_second_factor(self) -> bool:
        """Whether signing in needs a code from an authenticator app."""
        return self.totp_secret is not None

    @property
    def session_remember(self) -> bool:
        """Whether this sign-in is "keep me signed in" (no idle timeout, no warning)."""
        return self.staff_session is not None and self.staff_session.remember

    def get_id(self) -> str | None:
        """Flask-Login's key in the cookies: the key of this sign-in's server-side session,
        never the account's id, so ending the session on the server ends the cookie."""
        return self.session_key


class StaffSession(db.Model):
    """One sign-in of a staff member, on one device, until it ends.

    The browser holds a random key; only its SHA-256 hash is stored. A session ends when its
    owner signs out, changes the password or signs out everywhere, when the account is
    turned off or given a new password, after `IDLE_TIMEOUT_MINUTES` without activity (not
    for "keep me signed in"), or at `expires_dt`.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    remember: Mapped[bool] = mapped_column(default=False)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200), default="")

    staff: Mapped[StaffUser] = relationship()


class RecoveryCode(db.Model):
    """A single-use code that stands in for the authenticator app (a lost phone); hashed."""

    __table_args__ = (UniqueConstraint("staff_user_id", "code_hash", name="one_code_per_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Patient(db.Model):
    """A person followed by a clinic."""

    __table_args__ = (UniqueConstraint("clinic_id", "mrn", name="uq_patient_clinic_mrn"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    mrn: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    preferred_language: Mapped[str] = mapped_column(String(16), default="en")
    # Why no phone number was taken at enrolment ("no phone", "declined"), said explicitly.
    no_phone_reason: Mapped[str | None] = mapped_column(String(200))
    # When the patient asked for no more reminders (None: reminders go out).
    reminders_stopped_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    clinic: Mapped[Clinic] = relationship(back_populates="patients")

    @property
    def has_reminder_channel(self) -> bool:
        """Whether a reminder can reach the patient at all (an email address or a phone)."""
        return bool(self.email or self.phone)

    episodes: Mapped[list[Episode]] = relationship(back_populates="patient")


class Episode(db.Model):
    """One procedure and the follow-up after it."""

    __table_args__ = (
        CheckConstraint(one_of("indication", Indication.codes()), name="indication"),
        CheckConstraint(one_of("status", EpisodeStatus.codes()), name="status"),
        CheckConstraint("baseline_pain BETWEEN 0 AND 10", name="baseline_pain_range"),
        CheckConstraint("open_alerts >= 0 AND acknowledged_alerts >= 0", name="alert_counts"),
        Index("ix_episode_clinic_status", "clinic_id", "status"),
        Index("ix_episode_clinic_updated", "clinic_id", "updated_dt"),
        Index("ix_episode_status_outreach_due", "status", "outreach_due_dt"),
        Index("uq_episode_caregiver_token_hash", "caregiver_token_hash", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    procedure_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    levels: Mapped[str] = mapped_column(String(100), default="")
    indication: Mapped[str] = mapped_column(String(16), default="osteoporosis")
    baseline_pain: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Only a hash of the patient's link is kept; None means the link is revoked.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_issued_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The caregiver's own link, beside the patient's and independent of it (None: none issued,
    # or revoked; `caregiver_token_issued_dt` tells which). Unique through an index, which a
    # migration can add to SQLite's `episode` without rebuilding the table.
    caregiver_token_hash: Mapped[str | None] = mapped_column(String(64))
    caregiver_token_issued_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped by every entry and alert change, so a dashboard can ask "what changed since".
    updated_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Summary of the entries, kept by recovery.care.episodes.refresh_summary on every entry, so the
    # worklist can filter and sort 10,000 episodes in SQL: the latest score and the curve
    # values at its time, and the next check-in window after it (overdue once it has closed).
    last_pain: Mapped[int | None] = mapped_column(Integer)
    last_entry_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_expected: Mapped[float | None] = mapped_column(Float)
    last_amber: Mapped[float | None] = mapped_column(Float)
    due_label: Mapped[str | None] = mapped_column(String(32))
    due_start_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_end_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the outreach job (recovery.care.outreach) should next look at this episode: a window
    # opens or closes, a reminder falls due. None: never again (the protocol is over).
    outreach_due_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many of its alerts are open and acknowledged (unresolved, not yet closed), kept on
    # every alert change (`_count_alert_changes`), so the worklist's status of an episode
    # reads its own row, not every alert of the clinic.
    open_alerts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    acknowledged_alerts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The running state of the entries in force, kept by recovery.care.summary on every entry,
    # so a check-in reads none of the earlier entries: what the rules need of the past (the
    # lowest score from the end of the quiet hours, the first score above the persistent
    # threshold from the 1-week window, each with its hours since procedure), the latest score
    # before the procedure (the baseline when none was enrolled) and the labels of the
    # check-in windows an entry fills; the latest entry is `last_pain` and `last_entry_dt`
    # above. `state_fingerprint` is the clinic's settings it was computed under
    # (recovery.care.clinics.ClinicRules): None, or other settings, and the next entry rebuilds
    # it from the entries.
    state_fingerprint: Mapped[str | None] = mapped_column(String(16))
    lowest_pain: Mapped[int | None] = mapped_column(Integer)
    lowest_hours: Mapped[float | None] = mapped_column(Float)
    high_after_week_pain: Mapped[int | None] = mapped_column(Integer)
    high_after_week_hours: Mapped[float | None] = mapped_column(Float)
    pre_procedure_pain: Mapped[int | None] = mapped_column(Integer)
    filled_windows: Mapped[list[str] | None] = mapped_column(JSON)

    clinic: Mapped[Clinic] = relationship()
    patient: Mapped[Patient] = relationship(back_populates="episodes")
    entries: Mapped[list[PainEntry]] = relationship(
        back_populates="episode", order_by="PainEntry.recorded_dt"
    )
    alerts: Mapped[list[Alert]] = relationship(back_populates="episode", order_by="Alert.opened_dt")

    def hours_since_procedure(self, when: datetime) -> float:
        """Hours from the end of the procedure to `when` (negative before it)."""
        return (when - self.procedure_dt).total_seconds() / 3600.0

    def at_hours(self, hours: float) -> datetime:
        """The moment `hours` after the end of the procedure (`hours_since_procedure` back)."""
        return self.procedure_dt + timedelta(hours=hours)


class RetiredLink(db.Model):
    """A patient's or caregiver's link that stopped working (replaced, revoked or its episode
    closed).

    Only its hash is kept, as for live links, so that whoever opens an old link is told
    which clinic to call instead of meeting a dead end.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episode.id"), index=True)
    retired_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    episode: Mapped[Episode] = relationship()


class PainEntry(db.Model):
    """One pain report: a 0-10 score, red flags and context, from the patient, their caregiver
    or staff."""

    __table_args__ = (
        CheckConstraint("pain BETWEEN 0 AND 10", name="pain_range"),
        CheckConstraint(one_of("source", EntrySource.codes()), name="source"),
        UniqueConstraint("episode_id", "idempotency_key", name="uq_pain_entry_idempotency"),
        Index("ix_pain_entry_episode_recorded", "episode_id", "recorded_dt"),
        # The entry limit counts an episode's entries received in the last hour.
        Index("ix_pain_entry_episode_received", "episode_id", "received_dt"),
        # An entry is corrected at most once: of two corrections at once, one is stored.
        Index("uq_pain_entry_supersedes_id", "supersedes_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episode.id"))
    pain: Mapped[int] = mapped_column(Integer)
    recorded_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    received_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    red_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_analgesic_taken: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(String(1000), default="")
    source: Mapped[str] = mapped_column(String(16), default=EntrySource.PATIENT.value)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    # A correction: the entry this one replaces (never deleted; shown as "corrected") and why.
    # Entries no other entry supersedes are "in force": the rules, the chart and the worklist
    # read only those (recovery.care.episodes.in_force).
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("pain_entry.id"))
    correction_reason: Mapped[str | None] = mapped_column(String(1000))

    episode: Mapped[Episode] = relationship(back_populates="entries")
    recorded_by: Mapped[StaffUser | None] = relationship()


def entry_in_force(entry=PainEntry):
    """SQL: `entry` (PainEntry or an alias of it) is in force: no correction supersedes it."""
    successor = aliased(PainEntry)
    return ~db.select(successor.id).where(successor.supersedes_id == entry.id).exists()


def entries_in_force(entries: Sequence[PainEntry]) -> list[PainEntry]:
    """`entries` without those that another of them supersedes (order kept)."""
    superseded = {e.supersedes_id for e in entries if e.supersedes_id is not None}
    return [e for e in entries if e.id not in superseded]


class Alert(db.Model):
    """An outlier finding for staff to act on; at most one open per episode and rule."""

    __table_args__ = (
        CheckConstraint(one_of("severity", Severity.codes()), name="severity"),
        CheckConstraint(one_of("status", AlertStatus.codes()), name="status"),
        # One unresolved alert per episode and rule, enforced by the database itself.
        Index(
            "uq_alert_episode_rule_unresolved",
            "episode_id",
            "rule",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        Index("ix_alert_status_severity", "status", "severity"),
        # The worklist reads one clinic's alerts of one status and counts them per episode.
        Index("ix_alert_clinic_status_episode", "clinic_id", "status", "episode_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The episode's clinic, kept on the alert so that a clinic's alerts are read without the
    #: others' (set from the episode when the alert is first written).
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    episode_id: Mapped[int] = mapped_column(ForeignKey("episode.id"), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    # The status an alert had is always known when it changes (active history), so that
    # its episode's counts (`_count_alert_changes`) move from the right one.
    status: Mapped[str] = mapped_column(String(16), default="open", active_history=True)
    # Unbounded: an open red-flag alert keeps every red flag reported while it is open.
    reason: Mapped[str] = mapped_column(Text)
    # The reason as a message (recovery.clinical.message), shown in the reader's language; `reason`
    # keeps the English for the API and exports.
    reason_message: Mapped[dict | None] = mapped_column(JSON)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("pain_entry.id"))
    opened_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    resolved_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))

    episode: Mapped[Episode] = relationship(back_populates="alerts")
    entry: Mapped[PainEntry | None] = relationship()
    acknowledged_by: Mapped[StaffUser | None] = relationship(foreign_keys=[acknowledged_by_id])
    resolved_by: Mapped[StaffUser | None] = relationship(foreign_keys=[resolved_by_id])
    #: What happened to the alert, oldest first (recovery.care.alerts writes it).
    events: Mapped[list[AlertEvent]] = relationship(
        back_populates="alert", order_by="[AlertEvent.created_dt, AlertEvent.id]"
    )

    @validates("episode")
    def _takes_episode_clinic(self, _key: str, episode: Episode | None) -> Episode | None:
        """An alert belongs to its episode's clinic."""
        if episode is not None:
            self.clinic_id = episode.clinic_id or episode.clinic.id
        return episode


#: The episode column that counts its alerts of each unresolved status.
_ALERT_COUNTERS = {"open": "open_alerts", "acknowledged": "acknowledged_alerts"}


@event.listens_for(Session, "before_flush")
def _count_alert_changes(session: Session, _context, _instances) -> None:
    """Keep `Episode.open_alerts` and `Episode.acknowledged_alerts` true as alerts are
    written: each alert added, changing status or deleted moves its episode's counts.

    Every change to an episode's alerts is made holding the episode's lock (a check-in, a
    nurse, the outreach job: recovery.care.episodes.lock_episode), with the episode and the
    alert as they are now, so the counts move from what the last change left.
    """
    for alert in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(alert, Alert):
            continue
        if alert in session.new:
            before, after = (), (alert.status or "open",)
        elif alert in session.deleted:
            before, after = (alert.status,), ()
        else:
            history = inspect(alert).attrs.status.history
            if not history.has_changes():
                continue
            before, after = history.deleted, history.added
        with session.no_autoflush:
            episode = alert.episode or session.get(Episode, alert.episode_id)
        for status, step in [*((s, -1) for s in before), *((s, 1) for s in after)]:
            if status in _ALERT_COUNTERS:
                column = _ALERT_COUNTERS[status]
                setattr(episode, column, (getattr(episode, column) or 0) + step)


class AlertEvent(db.Model):
    """One line of an alert's history: opened, a new finding, escalated, acknowledged...

    `staff_id` is None for the system (the alert rules). A finding (opened, updated,
    escalated) keeps its reason in `detail` (English) and `detail_message`; an acknowledgement
    keeps what was done (`action`) and the nurse's `note`. `severity` is the alert's severity
    after the event.
    """

    __table_args__ = (
        CheckConstraint(one_of("kind", AlertEventKind.codes()), name="kind"),
        # What a nurse did (an acknowledgement) or how a contact attempt went.
        CheckConstraint(
            one_of("action", AlertAction.codes() + ContactOutcome.codes()), name="action"
        ),
        CheckConstraint(one_of("severity", Severity.codes()), name="severity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    action: Mapped[str | None] = mapped_column(String(32))
    severity: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    detail_message: Mapped[dict | None] = mapped_column(JSON)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("pain_entry.id"))

    alert: Mapped[Alert] = relationship(back_populates="events")
    staff: Mapped[StaffUser | None] = relationship()
    entry: Mapped[PainEntry | None] = relationship()


class CheckinWindow(db.Model):
    """A check-in window of one episode as the job (recovery.care.outreach) has dealt with it.

    A row appears when the job first sees the window open (or closed): when the patient was
    reminded, reminded again near its end, and when it was found missed. Each is done once.
    """

    __table_args__ = (
        UniqueConstraint("episode_id", "start_dt", name="uq_checkin_window_episode_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episode.id"))
    label: Mapped[str] = mapped_column(String(32))
    start_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    end_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    reminded_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_reminded_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    missed_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)

    episode: Mapped[Episode] = relationship()

    def contains(self, when: datetime) -> bool:
        """Whether an entry recorded at `when` falls in this window (ends included)."""
        return self.start_dt <= when <= self.end_dt


class Notification(db.Model):
    """One message for the job to send (the outbox): a reminder to a patient, or an alert to
    one of the clinic's notification targets.

    `dedupe_key` is unique, so a message decided twice (two jobs at once, a job run twice) is
    stored, and sent, once. The message is written when it is sent, from the current state,
    so no link or patient data waits in this table. A failed attempt stays pending with a
    later `next_attempt_dt`; `lease_until_dt` marks a message a job is sending now.
    """

    __table_args__ = (
        CheckConstraint(one_of("kind", NotificationKind.codes()), name="kind"),
        CheckConstraint(one_of("channel", NotificationChannel.codes()), name="channel"),
        CheckConstraint(one_of("status", NotificationStatus.codes()), name="status"),
        Index("ix_notification_status_next_attempt", "status", "next_attempt_dt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episode.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"), index=True)
    window_id: Mapped[int | None] = mapped_column(ForeignKey("checkin_window.id"))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    # A target's fingerprint (recovery.care.outreach.target_key), never the URL and its secrets.
    target_key: Mapped[str | None] = mapped_column(String(64))
    # Shown in place of the target: its URL with passwords and tokens masked.
    target_label: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)

    episode: Mapped[Episode | None] = relationship()
    alert: Mapped[Alert | None] = relationship()
    window: Mapped[CheckinWindow | None] = relationship()


def severity_value(column):
    """A severity column as its `Severity` value in SQL (higher is more urgent; unknown 0)."""
    return case({s.code: int(s) for s in Severity}, value=column, else_=0)


class AuditEvent(db.Model):
    """Who did what, when and from where: the episode's timeline and the audit trail."""

    # The audit page lists a clinic's events newest first.
    __table_args__ = (Index("ix_audit_event_clinic_created", "clinic_id", "created_dt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinic.id"), index=True)
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episode.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(1000), default="")
    # The detail as a message, for the timeline in the reader's language (None: show `detail`).
    detail_message: Mapped[dict | None] = mapped_column(JSON)
    address: Mapped[str | None] = mapped_column(String(64))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    staff: Mapped[StaffUser | None] = relationship()


class OneTimeSecret(db.Model):
    """A secret to show once to the staff member who made it (a new link, a temporary
    password, an API token), kept here for the page after the redirect instead of in the
    session cookie, which the browser can read (recovery/care/secrets_once.py).

    Only the hash of its key is stored; the key travels in the staff member's session. It is
    deleted as it is read, and never shown after `expires_dt`.
    """

    __table_args__ = (Index("ix_one_time_secret_expires", "expires_dt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    # What it is (secrets_once.KINDS) and whose: an episode's id for a link, a staff
    # member's for a password or a token.
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column(Integer)
    secret: Mapped[str] = mapped_column(String(200))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_dt: Mapped[datetime] = mapped_column(UTCDateTime)
