"""Who is signed in: the server-side session behind the cookie, and what it may open.

Flask-Login's cookies (the session, and "keep me signed in") carry only the key of a
`StaffSession`; `load_user` turns it into the staff member while that session is live
(`recovery.care.sessions`). A signed-in member with a temporary password, or an administrator
without the second factor the clinic requires, can open only the pages that put it right.
"""

from __future__ import annotations

from flask import current_app, flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_login.utils import login_url

from ..care import sessions
from ..care.models import StaffUser, utcnow
from ..clinical.vocabulary import Role
from ..extensions import login_manager
from . import bp

#: Requests the live worklist makes on its own send this header; they are not activity.
BACKGROUND_HEADER = "X-Recovery-Background"

#: Pages open to a member who must first change a temporary password.
PASSWORD_PAGES = frozenset({"auth.change_password", "auth.logout", "auth.keepalive", "auth.idle"})
#: Pages open to an administrator who must first set up the second factor.
SECOND_FACTOR_PAGES = PASSWORD_PAGES | {
    "auth.two_factor",
    "auth.two_factor_start",
    "auth.two_factor_confirm",
}


@login_manager.user_loader
def load_user(session_key: str) -> StaffUser | None:
    """The active staff member whose live session has this key; its activity recorded."""
    now = utcnow()
    found = sessions.find_session(session_key, now)
    if found.user is None:
        g.signed_out_idle = found.idle
        return None
    if request.headers.get(BACKGROUND_HEADER) != "1":
        sessions.touch(found.session, now)
    return found.user


@login_manager.unauthorized_handler
def unauthorized():
    """To the sign-in page, saying so when the session ended for want of activity; the live
    worklist's own requests get 401 (and no message: no page of theirs shows it)."""
    if request.headers.get(BACKGROUND_HEADER) == "1":
        return jsonify(error="signed_out"), 401
    if g.get("signed_out_idle"):
        flash(idle_message(), "info")
    return redirect(login_url("auth.login", next_url=request.url))


@bp.app_context_processor
def idle_page() -> dict:
    """For the idle warning of staff pages (templates/base.html, static/js/idle.js)."""
    return {"idle_seconds": sessions.page_idle_seconds()}


def idle_message() -> str:
    return _(
        "You were signed out after %(num)d minutes without activity. Sign in again.",
        num=current_app.config["IDLE_TIMEOUT_MINUTES"],
    )


def needs_second_factor(user: StaffUser) -> bool:
    """Whether `user` must set up a second factor before anything else."""
    return (
        current_app.config["REQUIRE_ADMIN_2FA"]
        and user.role == Role.ADMIN.value
        and not user.has_second_factor
    )


@bp.before_app_request
def require_account_in_order():
    """Send a member with a temporary password, or an administrator without a required second
    factor, to the page that puts it right before any staff page opens."""
    if request.blueprint not in ("staff", "auth") or not current_user.is_authenticated:
        return None
    if current_user.must_change_password and request.endpoint not in PASSWORD_PAGES:
        flash(_("Choose your own password before you go on."), "info")
        return redirect(url_for("auth.change_password"))
    if needs_second_factor(current_user) and request.endpoint not in SECOND_FACTOR_PAGES:
        flash(
            _("Your clinic asks administrators to set up two-step sign-in before going on."),
            "info",
        )
        return redirect(url_for("auth.two_factor"))
    return None
