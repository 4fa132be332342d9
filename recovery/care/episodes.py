"""Episodes: enrolment, the personal links (the patient's and a caregiver's), pain entries and
the alerts they raise.

Every way an entry arrives (the phone form, the JSON API, staff on the phone) goes through
`record_pain_entry`, so the rules are evaluated once, in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, inspect, or_
from sqlalchemy.orm import joinedload

from ..clinical.message import N_, Message, join, joined_parts
from ..clinical.rules import (
    RED_FLAG,
    Assessment,
    Finding,
    Reading,
    Severity,
    apply_findings,
    assess,
    assess_with_history,
)
from ..clinical.vocabulary import AlertEventKind, EntrySource, Indication, RedFlag, Rule
from ..extensions import db
from .audit import record_alert_event, record_event
from .clinics import clinic_rules
from .models import (
    Alert,
    CheckinWindow,
    Clinic,
    Episode,
    PainEntry,
    Patient,
    RetiredLink,
    StaffUser,
    entry_in_force,
    utcnow,
)
from .summary import save_state, state_from_entries, stored_state
from .text import storable_text_problem
from .tokens import hash_token, new_token

# A phone's clock may run a little ahead of the server's.
FUTURE_TOLERANCE = timedelta(minutes=5)
# Pre-procedure (baseline) entries are accepted up to a week before the procedure.
EARLIEST_BEFORE_PROCEDURE = timedelta(days=7)
NOTE_MAX = 1000
IDEMPOTENCY_KEY_MAX = 64
#: The window of the per-episode entry limit (ENTRIES_PER_EPISODE_PER_HOUR).
ENTRY_LIMIT_WINDOW = timedelta(hours=1)
CORRECTION_REASON_MAX = 1000


class EntryError(ValueError):
    """An entry was refused; `field` names the input at fault, `code` is machine-readable."""

    def __init__(self, field: str, code: str, message: str):
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


class EntryLimitError(EntryError):
    """The episode has taken as many new entries in the last hour as it may
    (ENTRIES_PER_EPISODE_PER_HOUR); `retry_after` is the seconds until it takes one more."""

    def __init__(self, limit: int, retry_after: int):
        super().__init__(
            "episode",
            "too_many_entries",
            f"this follow-up has taken {limit} entries in the last hour; "
            f"try again in {retry_after} seconds",
        )
        self.limit = limit
        self.retry_after = retry_after


@dataclass(frozen=True)
class CheckinResult:
    """What recording an entry did: the entry, whether it is new, and its assessment."""

    entry: PainEntry
    created: bool
    assessment: Assessment


@dataclass(frozen=True)
class EnrolmentResult:
    """A new episode and its patient link token (shown once, never stored)."""

    episode: Episode
    token: str


def enrol_patient(
    clinic: Clinic,
    *,
    display_name: str,
    procedure_dt: datetime,
    baseline_pain: int | None = None,
    levels: str = "",
    indication: str = "osteoporosis",
    mrn: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    no_phone_reason: str | None = None,
    preferred_language: str = "en",
    staff: StaffUser | None = None,
    address: str | None = None,
) -> EnrolmentResult:
    """Create a patient and an active episode, and issue the patient's personal link.

    `no_phone_reason` says why there is no phone number ("no phone", "declined"); the forms
    and the command line ask for one or the other, so a nurse knows whether to look for it.
    """
    if indication not in Indication.codes():
        raise EntryError(
            "indication", "invalid", f"indication must be one of {', '.join(Indication.codes())}"
        )
    if baseline_pain is not None and not 0 <= baseline_pain <= 10:
        raise EntryError("baseline_pain", "out_of_range", "baseline pain must be 0 to 10")
    if procedure_dt.tzinfo is None:
        raise EntryError("procedure_at", "invalid", "the procedure time needs a time zone")
    email = (email or "").strip() or None
    if email and (any(c.isspace() for c in email) or email.count("@") != 1 or len(email) > 254):
        raise EntryError("email", "invalid", f"{email!r} is not an email address")
    mrn = (mrn or "").strip() or None
    if mrn and db.session.scalar(db.select(Patient.id).filter_by(clinic_id=clinic.id, mrn=mrn)):
        raise EntryError("mrn", "duplicate", "a patient with this MRN is already enrolled")
    patient = Patient(
        clinic=clinic,
        display_name=display_name.strip(),
        mrn=mrn,
        email=email,
        phone=(phone or "").strip() or None,
        no_phone_reason=None if (phone or "").strip() else (no_phone_reason or "").strip() or None,
        preferred_language=preferred_language,
    )
    episode = Episode(
        clinic=clinic,
        patient=patient,
        procedure_dt=procedure_dt,
        baseline_pain=baseline_pain,
        levels=levels.strip(),
        indication=indication,
        status="active",
        # The outreach job looks at a new episode at its next run.
        outreach_due_dt=procedure_dt,
    )
    db.session.add_all([patient, episode])
    db.session.flush()
    refresh_summary(episode, [])
    token = issue_link(episode, staff=staff, address=address, action="enrolled")
    return EnrolmentResult(episode=episode, token=token)


#: A personal link's columns on `Episode` and its audit actions, by who holds it.
_LINK_HOLDERS = {
    EntrySource.PATIENT: ("token_hash", "token_issued_dt", "link_issued", "link_revoked"),
    EntrySource.CAREGIVER: (
        "caregiver_token_hash",
        "caregiver_token_issued_dt",
        "caregiver_link_issued",
        "caregiver_link_revoked",
    ),
}


@dataclass(frozen=True)
class PersonalLink:
    """A live personal link: its episode and who holds it (`EntrySource.PATIENT` or
    `EntrySource.CAREGIVER`), which is also the source of the entries made through it."""

    episode: Episode
    holder: EntrySource


def issue_link(
    episode: Episode,
    *,
    holder: EntrySource = EntrySource.PATIENT,
    staff: StaffUser | None = None,
    address: str | None = None,
    action: str | None = None,
) -> str:
    """Give the patient (or, `holder`, their caregiver) a new personal link; that holder's
    earlier link stops working, the other holder's link is left as it is.

    Only an active episode takes a new link: EntryError ("episode", "closed") otherwise,
    whoever asks (a page, the command line). The episode is locked first, so a nurse closing
    it at the same moment is taken before or after, never in between.
    """
    hash_column, issued_column, issued_action, _revoked = _LINK_HOLDERS[holder]
    lock_episode(episode)
    require_active(episode)
    token = new_token()
    _retire_link(episode, holder)
    setattr(episode, hash_column, hash_token(token))
    setattr(episode, issued_column, utcnow())
    record_event(
        action or issued_action,
        clinic_id=episode.clinic_id,
        episode=episode,
        staff=staff,
        address=address,
    )
    db.session.flush()
    return token


def revoke_link(
    episode: Episode,
    *,
    holder: EntrySource = EntrySource.PATIENT,
    staff: StaffUser | None = None,
    address: str | None = None,
):
    """Make the patient's (or, `holder`, the caregiver's) link stop working; the other
    holder's link keeps working, and a link already revoked is left as it is.

    Under the episode's lock, as a re-issue or a closing is: a second nurse (or a double
    click) then finds the link already revoked, instead of retiring it twice.
    """
    hash_column, _issued, _issued_action, revoked_action = _LINK_HOLDERS[holder]
    lock_episode(episode)
    if getattr(episode, hash_column) is None:
        return
    _retire_link(episode, holder)
    record_event(
        revoked_action, clinic_id=episode.clinic_id, episode=episode, staff=staff, address=address
    )
    db.session.flush()


def require_active(episode: Episode) -> None:
    """EntryError ("episode", "closed") unless the episode is active: a closed follow-up takes
    no entry, no new link, and is not closed twice."""
    if episode.status != "active":
        raise EntryError("episode", "closed", "this follow-up has been closed")


def _retire_link(episode: Episode, holder: EntrySource) -> None:
    """Stop `holder`'s live link, keeping its hash to recognise it later (no-op if none)."""
    hash_column = _LINK_HOLDERS[holder][0]
    token_hash = getattr(episode, hash_column)
    if token_hash is None:
        return
    db.session.add(RetiredLink(token_hash=token_hash, episode_id=episode.id))
    setattr(episode, hash_column, None)
    # The old hash must be gone from `episode` before a new one can take its unique slot.
    db.session.flush()


def _reminder_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(
        current_app.config["SECRET_KEY"],
        salt="recovery.reminder-link",
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def reminder_token(episode: Episode) -> str:
    """A link token for a message to the patient, opening the same pages as their link.

    Only a hash of the personal link is kept, so a reminder cannot repeat it; it carries a
    signed reference to the episode and to the live link instead (its hash's first 16 hex
    digits). It works exactly as long as that link does: replacing or revoking the link, or
    closing the episode, stops it too (docs/security.md, "Reminder links").
    """
    if episode.token_hash is None:
        raise ValueError("the episode has no live link")
    return _reminder_serializer().dumps([episode.id, episode.token_hash[:16]])


def _reminder_reference(token: str) -> tuple[Episode, bool] | None:
    """(episode, whether the link it was made from is still live) for a reminder token,
    or None when `token` is not one this app signed."""
    try:
        episode_id, link_hash = _reminder_serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(episode_id, int) or not isinstance(link_hash, str):
        return None
    episode = db.session.get(Episode, episode_id)
    if episode is None:
        return None
    live = episode.token_hash is not None and episode.token_hash[:16] == link_hash
    return episode, live


def link_for_token(token: str) -> PersonalLink | None:
    """The live link `token` is (the patient's, the caregiver's, or a reminder token made from
    the patient's), or None (unknown or revoked)."""
    if not token or len(token) > 200:
        return None
    if "." in token:
        reference = _reminder_reference(token)
        if reference and reference[1]:
            return PersonalLink(reference[0], EntrySource.PATIENT)
        return None
    token_hash = hash_token(token)
    episode = db.session.scalar(
        db.select(Episode)
        .where(or_(Episode.token_hash == token_hash, Episode.caregiver_token_hash == token_hash))
        # Every page and answer behind a link speaks the patient's language in the clinic's
        # time zone (`web.site.speak_to_patient`): both come with the episode, in one query.
        .options(joinedload(Episode.patient), joinedload(Episode.clinic))
    )
    if episode is None:
        return None
    if episode.token_hash == token_hash:
        return PersonalLink(episode, EntrySource.PATIENT)
    return PersonalLink(episode, EntrySource.CAREGIVER)


def episode_for_token(token: str) -> Episode | None:
    """The episode whose live link (the patient's or the caregiver's, or a reminder token) is
    `token`, or None (unknown or revoked)."""
    link = link_for_token(token)
    return link.episode if link else None


def episode_for_retired_token(token: str) -> Episode | None:
    """The episode a link that no longer works belonged to, or None if never seen."""
    if not token or len(token) > 200:
        return None
    if "." in token:
        reference = _reminder_reference(token)
        return reference[0] if reference else None
    return db.session.scalar(
        db.select(Episode).join(RetiredLink).where(RetiredLink.token_hash == hash_token(token))
    )


def close_episode(episode: Episode, *, staff: StaffUser, address: str | None = None) -> None:
    """Close an episode: its links stop working and it leaves the worklist.

    EntryError ("episode", "closed") if it is closed already (a second nurse, a double
    click): the first closing stays the one on record.
    """
    lock_episode(episode)
    require_active(episode)
    episode.status = "closed"
    episode.closed_dt = utcnow()
    for holder in _LINK_HOLDERS:
        _retire_link(episode, holder)
    episode.updated_dt = utcnow()
    record_event(
        "closed", clinic_id=episode.clinic_id, episode=episode, staff=staff, address=address
    )
    db.session.flush()


def validate_entry(
    episode: Episode,
    *,
    pain: object,
    recorded_dt: datetime,
    red_flags: Sequence[str],
    note: str,
    idempotency_key: str | None,
    now: datetime,
) -> None:
    """Raise EntryError unless the entry can be stored as given."""
    if isinstance(pain, bool) or not isinstance(pain, int) or not 0 <= pain <= 10:
        raise EntryError("pain", "out_of_range", "pain must be a whole number from 0 to 10")
    if recorded_dt.tzinfo is None:
        raise EntryError("recorded_at", "invalid", "the time needs a UTC offset")
    if recorded_dt > now + FUTURE_TOLERANCE:
        raise EntryError("recorded_at", "in_future", "the time is in the future")
    if recorded_dt < episode.procedure_dt - EARLIEST_BEFORE_PROCEDURE:
        raise EntryError(
            "recorded_at", "too_early", "the time is more than 7 days before the procedure"
        )
    unknown = sorted(set(red_flags) - set(RedFlag.codes()))
    if unknown:
        raise EntryError("red_flags", "unknown_code", f"unknown red flag: {', '.join(unknown)}")
    if len(note) > NOTE_MAX:
        raise EntryError("note", "too_long", f"the note is longer than {NOTE_MAX} characters")
    if problem := storable_text_problem(note):
        raise EntryError("note", "invalid_text", f"the note {problem}")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        raise EntryError(
            "idempotency_key", "invalid", f"the key must be 1 to {IDEMPOTENCY_KEY_MAX} characters"
        )
    require_active(episode)


def record_pain_entry(
    episode: Episode,
    *,
    pain: int,
    recorded_dt: datetime | None = None,
    red_flags: Sequence[str] = (),
    is_analgesic_taken: bool = False,
    note: str = "",
    idempotency_key: str | None = None,
    source: str = EntrySource.PATIENT,
    staff: StaffUser | None = None,
    address: str | None = None,
    now: datetime | None = None,
) -> CheckinResult:
    """Store one pain entry, evaluate the rules at its recorded time and open or update alerts.

    The same idempotency key with the same answer returns the first entry unchanged
    (`created` False); with a different answer it is refused (code "idempotency_conflict").
    `source` is who reported it (`EntrySource`): the holder of the link it came through, or
    staff; the rules treat every source alike, as the patient's report.
    Raises EntryError, having stored nothing, when the entry is refused; EntryLimitError when
    the episode has taken its ENTRIES_PER_EPISODE_PER_HOUR new entries in the hour before
    `now` (a retry of a stored entry is answered as above, not counted). Check-ins to one
    episode are serialised (`lock_episode`), so simultaneous ones each see the one before,
    and of two at once at the limit exactly one is taken.
    """
    now = now or utcnow()
    flags = list(dict.fromkeys(red_flags))  # de-duplicated, order kept
    note = note.strip()
    lock_episode(episode)
    if idempotency_key:
        existing = db.session.scalar(
            db.select(PainEntry).filter_by(episode_id=episode.id, idempotency_key=idempotency_key)
        )
        if existing is not None:
            if not _same_answer(
                existing,
                pain=pain,
                recorded_dt=recorded_dt,
                red_flags=flags,
                is_analgesic_taken=bool(is_analgesic_taken),
                note=note,
            ):
                raise EntryError(
                    "idempotency_key",
                    "idempotency_conflict",
                    "this idempotency key was already used for a different check-in",
                )
            return CheckinResult(existing, False, assess_entry(existing))
    recorded_dt = recorded_dt or now
    validate_entry(
        episode,
        pain=pain,
        recorded_dt=recorded_dt,
        red_flags=flags,
        note=note,
        idempotency_key=idempotency_key,
        now=now,
    )
    if not flags and source != EntrySource.STAFF:
        # Staff and red flags always get through: a flood through a leaked link must not
        # silence a red flag, nor stop a nurse recording a call (docs/security.md).
        check_entry_limit(episode, now)
    entry = PainEntry(
        episode_id=episode.id,
        pain=pain,
        recorded_dt=recorded_dt,
        received_dt=now,
        red_flags=flags,
        is_analgesic_taken=bool(is_analgesic_taken),
        note=note,
        source=source,
        recorded_by_id=staff.id if staff is not None else None,
        idempotency_key=idempotency_key or None,
    )
    db.session.add(entry)
    rules = clinic_rules(episode.clinic)
    state = stored_state(episode, rules)
    entries = None
    if state is not None and state.takes(entry):
        # The usual check-in, after every entry before it: the running state holds what the
        # rules and the summary need of those (recovery.care.summary), none is read.
        after = state.after(episode, entry)
        reading = to_reading(episode, entry)
        assessment = assess_with_history(reading, state.history, after.baseline(episode))
    else:
        # An entry dated before the latest, or no state for the clinic's current settings:
        # judged against the entries read whole, and the state rebuilt from them.
        db.session.flush()
        entries = episode_entries(episode)
        assessment = assess_entry(entry, entries)
        after = state_from_entries(episode, entries, rules)
    apply_alerts(episode, entry, assessment.findings, now=now)
    _answered_late(episode, entry, entries, now=now)
    save_state(episode, after, rules)
    episode.updated_dt = now
    record_event(
        "entry_recorded",
        clinic_id=episode.clinic_id,
        episode=episode,
        staff=staff,
        # "patient" or "caregiver": who reported it through their link.
        actor=None if staff else source,
        detail=_entry_text(pain, flags),
        detail_message=_entry_words(pain, flags),
        address=address,
    )
    db.session.flush()
    return CheckinResult(entry, True, assessment)


def check_entry_limit(episode: Episode, now: datetime) -> None:
    """EntryLimitError if the episode received ENTRIES_PER_EPISODE_PER_HOUR entries (or more)
    in the hour before `now`; 0 is no limit. Reads at most that many rows, through the
    (episode_id, received_dt) index; the caller holds the episode's lock."""
    limit = current_app.config.get("ENTRIES_PER_EPISODE_PER_HOUR") or 0
    if limit <= 0:
        return
    recent = db.session.scalars(
        db.select(PainEntry.received_dt)
        .where(
            PainEntry.episode_id == episode.id,
            PainEntry.received_dt > now - ENTRY_LIMIT_WINDOW,
        )
        .order_by(PainEntry.received_dt.desc())
        .limit(limit)
    ).all()
    if len(recent) < limit:
        return
    # One more is taken once the oldest of the last `limit` entries leaves the window.
    wait = (recent[-1] + ENTRY_LIMIT_WINDOW - now).total_seconds()
    raise EntryLimitError(limit, max(1, math.ceil(wait)))


def correct_pain_entry(
    entry: PainEntry,
    *,
    pain: int,
    red_flags: Sequence[str] = (),
    is_analgesic_taken: bool = False,
    note: str = "",
    reason: str,
    staff: StaffUser,
    address: str | None = None,
    now: datetime | None = None,
) -> CheckinResult:
    """Correct `entry`: record a new entry at the same recorded time that supersedes it, with
    the staff member's `reason`. Nothing is deleted: both stay on the episode page, in the
    exports and the API; the corrected one no longer counts for the rules, the chart and the
    worklist.

    The new entry is evaluated as a new staff entry is (`assess_entry` against the entries in
    force, then `apply_alerts`). Alerts the corrected entry raised stay for staff to resolve;
    it raises no new ones (docs/clinical.md, "Corrections").

    Under the episode's lock, so of two staff members correcting the same entry at once the
    first wins and the second is refused (EntryError "entry", "already_corrected"), also
    enforced by a unique index on `supersedes_id`. Refuses a closed follow-up, a missing or
    over-long reason, and bad values, as `record_pain_entry` does, having stored nothing.
    """
    now = now or utcnow()
    episode = entry.episode
    flags = list(dict.fromkeys(red_flags))
    note = note.strip()
    reason = reason.strip()
    lock_episode(episode)
    if is_corrected(entry):
        raise EntryError(
            "entry",
            "already_corrected",
            "this entry has already been corrected; correct the entry that replaced it instead",
        )
    if not reason:
        raise EntryError("reason", "required", "say why the entry is corrected")
    if len(reason) > CORRECTION_REASON_MAX:
        raise EntryError(
            "reason", "too_long", f"the reason is longer than {CORRECTION_REASON_MAX} characters"
        )
    if problem := storable_text_problem(reason):
        raise EntryError("reason", "invalid_text", f"the reason {problem}")
    validate_entry(
        episode,
        pain=pain,
        recorded_dt=entry.recorded_dt,
        red_flags=flags,
        note=note,
        idempotency_key=None,
        now=now,
    )
    correction = PainEntry(
        episode_id=episode.id,
        pain=pain,
        recorded_dt=entry.recorded_dt,
        received_dt=now,
        red_flags=flags,
        is_analgesic_taken=bool(is_analgesic_taken),
        note=note,
        source=EntrySource.STAFF.value,
        recorded_by_id=staff.id,
        supersedes_id=entry.id,
        correction_reason=reason,
    )
    db.session.add(correction)
    db.session.flush()
    entries = episode_entries(episode)
    assessment = assess_entry(correction, entries)
    apply_alerts(episode, correction, assessment.findings, now=now)
    refresh_summary(episode, entries)
    episode.updated_dt = now
    before, after = _entry_text(entry.pain, entry.red_flags or []), _entry_text(pain, flags)
    record_event(
        "entry_corrected",
        clinic_id=episode.clinic_id,
        episode=episode,
        staff=staff,
        detail=f"entry {entry.id}: {before} -> {after}; reason: {reason}",
        detail_message=Message(
            N_("%(before)s corrected to %(after)s; reason: %(reason)s"),
            {
                "before": _entry_words(entry.pain, entry.red_flags or []),
                "after": _entry_words(pain, flags),
                "reason": reason,
            },
        ),
        address=address,
    )
    db.session.flush()
    return CheckinResult(correction, True, assessment)


def _answered_late(
    episode: Episode, entry: PainEntry, entries: Sequence[PainEntry] | None, *, now: datetime
) -> None:
    """An entry dated into a window already reported missed (a phone that was offline, an
    entry staff type in afterwards): once every window its open `missed_checkin` alert
    reported is filled, the alert is no longer true, and the system resolves it, saying why,
    so that no nurse calls a patient who did answer. `entries`: the episode's entries in
    force if already read (they are read here only when such an alert is open)."""
    if entry.recorded_dt >= now:
        # Taken now: a window reported missed had already closed. A live check-in, the
        # usual kind, costs no query here.
        return
    reported = db.session.scalars(
        db.select(CheckinWindow).where(
            CheckinWindow.episode_id == episode.id, CheckinWindow.missed_dt.is_not(None)
        )
    ).all()
    if not any(row.contains(entry.recorded_dt) for row in reported):
        return
    alert = db.session.scalar(
        db.select(Alert).where(
            Alert.episode_id == episode.id,
            Alert.rule == Rule.MISSED_CHECKIN,
            Alert.status != "resolved",
        )
    )
    if alert is None:
        return
    covered = [row for row in reported if row.missed_dt >= alert.opened_dt]
    if entries is None:
        entries = episode_entries(episode)
    if not all(any(row.contains(e.recorded_dt) for e in entries) for row in covered):
        return
    alert.status = "resolved"
    alert.resolved_dt = alert.updated_dt = now
    words = Message(N_("every check-in this alert reported missed has since been answered"))
    record_alert_event(alert, AlertEventKind.RESOLVED, now=now, detail=words, entry=entry)
    record_event(
        "alert_resolved",
        clinic_id=episode.clinic_id,
        episode=episode,
        actor="system",
        detail=f"{Rule.MISSED_CHECKIN}: {words}",
        detail_message=Message(
            N_("%(rule)s: %(reason)s"), {"rule": Rule.MISSED_CHECKIN.message, "reason": words}
        ),
    )


def answer_key(
    page_key: str,
    *,
    pain: int,
    red_flags: Sequence[str],
    is_analgesic_taken: bool,
    note: str,
    recorded_dt: datetime | None = None,
) -> str:
    """The idempotency key of an answer sent from a form: the page's own key and the answer.

    A double tap or a form sent again repeats the answer and is stored once; going back and
    changing the answer is a new entry, not a conflict the person filling the form cannot see.
    """
    answer = [
        page_key,
        pain,
        sorted(set(red_flags)),
        bool(is_analgesic_taken),
        note.strip(),
        recorded_dt.isoformat() if recorded_dt else None,
    ]
    return hashlib.sha256(json.dumps(answer).encode()).hexdigest()[:IDEMPOTENCY_KEY_MAX]


_EPISODE_COLUMNS = [column.key for column in inspect(Episode).column_attrs]


def lock_episode(episode: Episode) -> None:
    """Make this transaction the only one changing `episode` until it ends, and reload it.

    Two check-ins at once (a patient and a caregiver, a phone re-sending its queue) would
    otherwise both decide to open the same alert, or both miss the other's idempotency key.
    PostgreSQL locks the episode's row (SELECT ... FOR UPDATE); the second waits for the first
    to commit, then sees its entry and alerts. On SQLite the writing request's transaction
    already holds the database's write lock (recovery.extensions), and FOR UPDATE is dropped.
    """
    # Its columns are read again with the lock, for what the transaction we waited for
    # committed (its status, its link, its running state); the clinic and the patient it
    # belongs to stay as loaded, and its lists of entries and alerts are read again if used.
    # What this transaction changed is written first, not lost to the reload.
    db.session.flush()
    db.session.refresh(episode, _EPISODE_COLUMNS, with_for_update=True)
    db.session.expire(episode, ["entries", "alerts"])


def _same_answer(
    entry: PainEntry,
    *,
    pain: object,
    recorded_dt: datetime | None,
    red_flags: Sequence[str],
    is_analgesic_taken: bool,
    note: str,
) -> bool:
    """Whether a retry carries the answer `entry` stored (a time left out is the first one's)."""
    return (
        entry.pain == pain
        and (recorded_dt is None or entry.recorded_dt == recorded_dt)
        and set(entry.red_flags or []) == set(red_flags)
        and entry.is_analgesic_taken == is_analgesic_taken
        and entry.note == note
    )


def _entry_text(pain: int, flags: Sequence[str]) -> str:
    """The audit trail's words for an entry, as kept (English, codes): "7/10, red flags: fever"."""
    return f"{pain}/10" + (f", red flags: {', '.join(flags)}" if flags else "")


def _entry_words(pain: int, flags: Sequence[str]) -> Message:
    """The timeline's words for an entry: the score and any red flags."""
    if not flags:
        return Message("%(pain)s/10", {"pain": pain})
    return Message(
        N_("%(pain)s/10, red flags: %(flags)s"),
        {"pain": pain, "flags": join([RedFlag(f).message for f in flags], ", ")},
    )


def _finding_words(finding: Finding) -> tuple[str, Message]:
    """The audit trail's words for a finding an alert took: as kept (English) and as shown."""
    return f"{finding.rule} ({finding.severity.code}): {finding.reason}", Message(
        N_("%(rule)s (%(severity)s): %(reason)s"),
        {
            "rule": Rule(finding.rule).message,
            "severity": finding.severity.message,
            "reason": finding.message,
        },
    )


def _alert_message(alert: Alert) -> Message | str:
    """The alert's reason as stored: its Message, or the English text of an older row."""
    if alert.reason_message:
        return Message.from_json(alert.reason_message)
    return alert.reason


def episode_baseline(episode: Episode, entries: Sequence[PainEntry]) -> int | None:
    """The baseline score: as enrolled, else the latest pre-procedure entry, else None."""
    if episode.baseline_pain is not None:
        return episode.baseline_pain
    before = [e for e in entries if e.recorded_dt <= episode.procedure_dt]
    return max(before, key=lambda e: (e.recorded_dt, e.id)).pain if before else None


def is_corrected(entry: PainEntry) -> bool:
    """Whether a correction has replaced `entry` (one query)."""
    successor = db.select(PainEntry.id).where(PainEntry.supersedes_id == entry.id).limit(1)
    return db.session.scalar(successor) is not None


def baseline_score(episode: Episode) -> int | None:
    """`episode_baseline` without reading every entry: as enrolled, else the latest entry in
    force recorded before the procedure (one query), else None."""
    if episode.baseline_pain is not None:
        return episode.baseline_pain
    return db.session.scalar(
        db.select(PainEntry.pain)
        .where(
            PainEntry.episode_id == episode.id,
            PainEntry.recorded_dt <= episode.procedure_dt,
            entry_in_force(),
        )
        .order_by(PainEntry.recorded_dt.desc(), PainEntry.id.desc())
        .limit(1)
    )


def corrected_by(entries: Sequence[PainEntry]) -> dict[int, int]:
    """Which of `entries` a correction replaced: entry id -> the correction's id (one query;
    the correction may be on another page)."""
    ids = [e.id for e in entries]
    if not ids:
        return {}
    rows = db.session.execute(
        db.select(PainEntry.supersedes_id, PainEntry.id).where(PainEntry.supersedes_id.in_(ids))
    )
    return dict(rows.all())


#: Where a page of an episode's entries ends: the (recorded_dt, id) of its oldest entry.
EntryCursor = tuple[datetime, int]


def entries_page(
    episode: Episode, *, limit: int, before: EntryCursor | None = None
) -> tuple[list[PainEntry], EntryCursor | None]:
    """The newest `limit` entries of the episode (before `before`, if given), in recorded
    order, and the cursor of the page of older ones (None when there are none). Keyset
    paging, newest page first: one query whatever the episode holds."""
    statement = (
        db.select(PainEntry)
        .where(PainEntry.episode_id == episode.id)
        .order_by(PainEntry.recorded_dt.desc(), PainEntry.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        before_dt, before_id = before
        statement = statement.where(
            or_(
                PainEntry.recorded_dt < before_dt,
                and_(PainEntry.recorded_dt == before_dt, PainEntry.id < before_id),
            )
        )
    newest = list(db.session.scalars(statement))
    cursor = None
    if len(newest) > limit:
        newest = newest[:limit]
        cursor = (newest[-1].recorded_dt, newest[-1].id)
    return newest[::-1], cursor


def to_reading(episode: Episode, entry: PainEntry) -> Reading:
    """The pure rules' view of an entry."""
    return Reading(
        hours=episode.hours_since_procedure(entry.recorded_dt),
        pain=entry.pain,
        red_flags=tuple(entry.red_flags or ()),
    )


def episode_entries(episode: Episode) -> list[PainEntry]:
    """The episode's entries in force (none a correction replaced), in recorded order (one
    query): what the rules, the summary and the charts read."""
    return list(
        db.session.scalars(
            db.select(PainEntry)
            .filter_by(episode_id=episode.id)
            .where(entry_in_force())
            .order_by(PainEntry.recorded_dt, PainEntry.id)
        )
    )


def refresh_summary(episode: Episode, entries: Sequence[PainEntry]) -> None:
    """Rebuild the episode's running state, its latest-score summary and next check-in window
    from `entries` (its entries in force), read whole (`recovery.care.summary`)."""
    rules = clinic_rules(episode.clinic)
    save_state(episode, state_from_entries(episode, entries, rules), rules)


def assess_entry(entry: PainEntry, entries: Sequence[PainEntry] | None = None) -> Assessment:
    """Evaluate the rules for `entry` at its recorded time, against the entries before it."""
    episode = entry.episode
    if entries is None:
        entries = episode_entries(episode)
    earlier = [
        e
        for e in entries
        if e is not entry and (e.recorded_dt, e.id or 0) < (entry.recorded_dt, entry.id or 0)
    ]
    rules = clinic_rules(episode.clinic)
    return assess(
        to_reading(episode, entry),
        [to_reading(episode, e) for e in earlier],
        episode_baseline(episode, entries),
        rules.params,
        schedule=rules.schedule,
    )


def apply_alerts(
    episode: Episode, entry: PainEntry | None, findings: Sequence[Finding], *, now: datetime
) -> list[tuple[str, Alert]]:
    """Open, escalate or refresh the episode's alerts for `findings` (one open per rule).

    Every finding is a line of its alert's history (opened, updated or escalated, with its
    time, reason and entry). An escalation reopens an acknowledged alert, so a worse course is
    seen again; the history records it ("reopened") and keeps the earlier acknowledgement.
    """
    if not findings:
        return []
    unresolved = {
        a.rule: a
        for a in db.session.scalars(
            db.select(Alert).where(Alert.episode_id == episode.id, Alert.status != "resolved")
        )
    }
    severities = {rule: Severity.from_code(a.severity) for rule, a in unresolved.items()}
    changes = []
    for event, finding in apply_findings(severities, findings):
        alert = unresolved.get(finding.rule)
        reopened = False
        if event == "opened" or alert is None:
            alert = Alert(
                episode=episode,
                rule=finding.rule,
                severity=finding.severity.code,
                status="open",
                reason=finding.reason,
                reason_message=finding.message.to_json(),
                entry=entry,
                opened_dt=now,
                updated_dt=now,
            )
            db.session.add(alert)
            event = "opened"
        else:
            if event == "escalated":
                reopened = alert.status == "acknowledged"
                alert.severity = finding.severity.code
                alert.status = "open"
            message = finding.message
            if finding.rule == RED_FLAG:
                # The one-line reason keeps every red flag reported while the alert is open;
                # the history holds each of them, with its time, as its own event.
                message = join([*joined_parts(_alert_message(alert), " | "), message], " | ")
            alert.reason = str(message)
            alert.reason_message = message.to_json()
            alert.entry = entry
            alert.updated_dt = now
        record_alert_event(alert, event, now=now, finding=finding.message, entry=entry)
        if reopened:
            record_alert_event(alert, AlertEventKind.REOPENED, now=now)
        changes.append((event, alert))
        detail, detail_message = _finding_words(finding)
        record_event(
            f"alert_{event}",
            clinic_id=episode.clinic_id,
            episode=episode,
            actor="system",
            detail=detail,
            detail_message=detail_message,
        )
    if changes:
        episode.updated_dt = now
    db.session.flush()
    return changes
