"""Secrets shown once: a new patient's or caregiver's link, a temporary password, an API token.

The page that makes one redirects to the page that shows it. The secret waits in between in
the database (`OneTimeSecret`), never in the session cookie, which is signed but readable by
anyone holding it (a shared computer, a backup of the browser's profile). What travels in
the session is a random key; only its hash is stored. The record belongs to the staff member
who made it: only they can read it, once (it is deleted by the read that shows it, so two
reads at once show it once), and only for `LIFETIME`; expired records are purged whenever
one is kept or read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..extensions import db
from .models import OneTimeSecret, StaffUser
from .tokens import hash_token, new_token

#: How long a secret waits to be shown.
LIFETIME = timedelta(minutes=10)

#: What a secret can be: its `kind`, and what its `subject_id` is the id of.
KINDS = {
    "patient_link": "episode",
    "caregiver_link": "episode",
    "password": "staff_user",
    "api_token": "staff_user",
}


@dataclass(frozen=True)
class Shown:
    """A secret taken to be shown: what it is, whose, and the secret itself."""

    kind: str
    subject_id: int
    secret: str


def keep_secret(staff: StaffUser, kind: str, subject_id: int, secret: str, *, now: datetime) -> str:
    """Keep `secret` for `staff` to see once; returns the key to find it (for the session)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of secret: {kind}")
    purge_expired(now)
    key = new_token()
    db.session.add(
        OneTimeSecret(
            key_hash=hash_token(key),
            staff_id=staff.id,
            clinic_id=staff.clinic_id,
            kind=kind,
            subject_id=subject_id,
            secret=secret,
            created_dt=now,
            expires_dt=now + LIFETIME,
        )
    )
    db.session.flush()
    return key


def take_secret(key: str | None, staff: StaffUser, *, now: datetime) -> Shown | None:
    """The secret kept under `key` for `staff`, deleted as it is read; None when there is
    none: the key unknown, taken already (also by a read at the same moment), expired, or
    another staff member's.

    One statement (DELETE ... RETURNING), so of two reads at once only one gets it.
    """
    if not key or not isinstance(key, str) or len(key) > 200:
        return None
    purge_expired(now)  # an expired secret is never shown, and one never read not kept long
    table = OneTimeSecret.__table__
    row = db.session.execute(
        table.delete()
        .where(
            table.c.key_hash == hash_token(key),
            table.c.staff_id == staff.id,
            table.c.clinic_id == staff.clinic_id,
        )
        .returning(table.c.kind, table.c.subject_id, table.c.secret)
    ).first()
    if row is None:
        return None
    return Shown(kind=row.kind, subject_id=row.subject_id, secret=row.secret)


def purge_expired(now: datetime) -> int:
    """Delete the secrets no longer to be shown; how many."""
    table = OneTimeSecret.__table__
    return db.session.execute(table.delete().where(table.c.expires_dt <= now)).rowcount
