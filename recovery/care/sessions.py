"""Staff sessions kept on the server, so that ending one ends it for whoever holds its cookie.

A sign-in opens a `StaffSession`; the browser's cookies carry only its random key (the session
cookie, and the "keep me signed in" cookie for a remembered one). A session is live until it
is ended (sign-out, a password change, "sign out everywhere", the account turned off or given a
new password), until `expires_dt` (`SESSION_HOURS` after sign-in, or `REMEMBER_DAYS` for a
remembered one) and, unless remembered, while it has been used in the last
`IDLE_TIMEOUT_MINUTES`. Times come in as `now`, so callers and tests choose the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from ..extensions import db, request_writes
from .models import MAX_ID, StaffSession, StaffUser
from .tokens import hash_token, new_token

#: Why a session ended, as stored in `StaffSession.ended_reason`.
SIGNED_OUT = "signed_out"
PASSWORD_CHANGED = "password_changed"
PASSWORD_RESET = "password_reset"
DEACTIVATED = "deactivated"
SECOND_FACTOR_RESET = "second_factor_reset"
SECOND_FACTOR_ENABLED = "second_factor_enabled"
EVERYWHERE = "signed_out_everywhere"
ENDED_BY_OWNER = "ended_by_owner"
IDLE = "idle"

#: A session's last activity is written at most this often (a write per page would be waste).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Lookup:
    """What a session key found: the live session and its user, or why there is none
    (`idle` when it timed out for want of activity, which the sign-in page says)."""

    session: StaffSession | None
    user: StaffUser | None
    idle: bool = False


def idle_timeout() -> timedelta:
    return timedelta(minutes=current_app.config["IDLE_TIMEOUT_MINUTES"])


def open_session(
    user: StaffUser, *, remember: bool, now: datetime, address: str | None, user_agent: str
) -> str:
    """Open a session for `user` and return its key (for the cookies; stored hashed)."""
    key = new_token()
    config = current_app.config
    lifetime = (
        timedelta(days=config["REMEMBER_DAYS"])
        if remember
        else timedelta(hours=config["SESSION_HOURS"])
    )
    staff_session = StaffSession(
        key_hash=hash_token(key),
        staff_user_id=user.id,
        remember=remember,
        created_dt=now,
        last_seen_dt=now,
        expires_dt=now + lifetime,
        address=(address or None) and address[:64],
        user_agent=(user_agent or "")[:200],
    )
    db.session.add(staff_session)
    db.session.flush()
    user.session_key, user.staff_session = key, staff_session
    return key


def is_live(staff_session: StaffSession, now: datetime) -> bool:
    """Whether `staff_session` still lets its holder in at `now`."""
    return (
        staff_session.ended_dt is None
        and now < staff_session.expires_dt
        and (staff_session.remember or now < staff_session.last_seen_dt + idle_timeout())
    )


def find_session(key: str, now: datetime) -> Lookup:
    """The live session whose key is `key`, with its active user, in one query."""
    if not key or len(key) > 100:
        return Lookup(None, None)
    row = db.session.execute(
        db.select(StaffSession, StaffUser)
        .join(StaffUser, StaffSession.staff_user_id == StaffUser.id)
        .where(StaffSession.key_hash == hash_token(key))
    ).first()
    if row is None:
        return Lookup(None, None)
    staff_session, user = row
    if not user.is_active or not is_live(staff_session, now):
        idle = staff_session.ended_dt is None and now < staff_session.expires_dt
        return Lookup(None, None, idle=idle and user.is_active)
    user.session_key, user.staff_session = key, staff_session
    return Lookup(staff_session, user)


def touch(staff_session: StaffSession, now: datetime) -> None:
    """Record activity on `staff_session`, at most once a `TOUCH_EVERY`.

    A request that writes does it in its own transaction, committed with its work (on SQLite
    it holds the write lock already, which a second connection would wait for in vain). A
    request that only reads does it in a short transaction of its own, so that it stays a
    reader and holds a write lock for one statement only.
    """
    if now - staff_session.last_seen_dt < TOUCH_EVERY:
        return
    statement = (
        db.update(StaffSession)
        .where(StaffSession.id == staff_session.id, StaffSession.ended_dt.is_(None))
        .values(last_seen_dt=now)
        .execution_options(synchronize_session=False)
    )
    if request_writes():
        db.session.execute(statement)
    else:
        with db.engine.begin() as connection:
            connection.execute(statement)
    db.session.expire(staff_session, ["last_seen_dt"])


def keep_alive(staff_session: StaffSession, now: datetime) -> None:
    """Record activity now, however recent the last record ("Stay signed in")."""
    staff_session.last_seen_dt = now


def page_idle_seconds() -> int:
    """How long a page may sit unused before the browser treats its session as ended: the
    idle timeout less `TOUCH_EVERY`, since the last activity recorded may be that much older
    than the page."""
    return max(60, int((idle_timeout() - TOUCH_EVERY).total_seconds()))


def end_session(staff_session: StaffSession, reason: str, now: datetime) -> None:
    """End one session (sign-out, idleness)."""
    staff_session.ended_dt, staff_session.ended_reason = now, reason


def end_sessions(
    user: StaffUser, reason: str, now: datetime, *, keep: StaffSession | None = None
) -> int:
    """End every live session of `user`, except `keep` (the one making the change); how
    many."""
    statement = db.update(StaffSession).where(
        StaffSession.staff_user_id == user.id, StaffSession.ended_dt.is_(None)
    )
    if keep is not None:
        statement = statement.where(StaffSession.id != keep.id)
    result = db.session.execute(statement.values(ended_dt=now, ended_reason=reason))
    return result.rowcount


def end_own_session(user: StaffUser, session_id: int, now: datetime) -> bool:
    """End one of `user`'s own sessions by its id (the account page's list); False if it is
    not theirs or has ended."""
    if session_id > MAX_ID:
        return False
    result = db.session.execute(
        db.update(StaffSession)
        .where(
            StaffSession.id == session_id,
            StaffSession.staff_user_id == user.id,
            StaffSession.ended_dt.is_(None),
        )
        .values(ended_dt=now, ended_reason=ENDED_BY_OWNER)
    )
    return result.rowcount == 1


def live_sessions(user: StaffUser, now: datetime) -> list[StaffSession]:
    """`user`'s live sessions, the most recently used first."""
    sessions = db.session.scalars(
        db.select(StaffSession)
        .where(
            StaffSession.staff_user_id == user.id,
            StaffSession.ended_dt.is_(None),
            StaffSession.expires_dt > now,
        )
        .order_by(StaffSession.last_seen_dt.desc(), StaffSession.id.desc())
    )
    return [s for s in sessions if is_live(s, now)]
