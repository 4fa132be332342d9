"""A secret shown once on the page after a redirect, for the signed-in staff member: the
session carries only the key of its server-side record (recovery.care.secrets_once).

The team page (passwords, API tokens) and the link page (patients' and caregivers' links)
share it; one key in the session, so a newer secret replaces an older one not yet shown.
"""

from __future__ import annotations

from flask import session
from flask_login import current_user

from ..care.models import utcnow
from ..care.secrets_once import Shown, keep_secret, take_secret

#: The session's key for the one-time record's key.
SESSION_KEY = "one_time_secret"


def show_once(kind: str, subject_id: int, secret: str) -> None:
    """Keep `secret` for the next page the signed-in staff member opens (the caller commits)."""
    session[SESSION_KEY] = keep_secret(current_user, kind, subject_id, secret, now=utcnow())


def take_shown(*kinds: str, subject_id: int | None = None) -> Shown | None:
    """The secret waiting for this page, if it is one of `kinds` (and for `subject_id`), taken
    (the caller commits, so it is never shown again); else None. A secret waiting for another
    page is dropped, as it would have been left unseen."""
    shown = take_secret(session.pop(SESSION_KEY, None), current_user, now=utcnow())
    if shown is None or shown.kind not in kinds:
        return None
    if subject_id is not None and shown.subject_id != subject_id:
        return None
    return shown
