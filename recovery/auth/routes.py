"""Sign-in (password, then the second factor where one is set up), sign-out, password change.

Signing in gives nothing away: a wrong password, an unknown email and a turned-off account get
the same answer after the same work (a password hash is checked every time, against a dummy
hash when there is no account), and failures are throttled with waits that grow, never with a
lockout that someone else could trigger (`recovery.web.throttle`, `recovery.auth.devices`).
"""

from __future__ import annotations

import secrets
import time

from flask import (
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from ..care import sessions, twofactor
from ..care.audit import record_event
from ..care.models import MAX_ID, StaffUser, utcnow
from ..clinical.message import N_, Message
from ..extensions import db
from ..web import throttle
from ..web.site import safe_next
from . import bp, devices
from .forms import CodeForm, LoginForm, PasswordForm

#: The Flask session's note of a sign-in whose password was right, waiting for its code.
PENDING = "pending_sign_in"
#: How long that note lasts.
PENDING_SECONDS = 300


def dummy_hash() -> str:
    """A hash made the configured way, checked when there is no account to check against, so
    that an unknown email costs what a known one does."""
    key = "recovery.auth.dummy_hash"
    if key not in current_app.extensions:
        method = current_app.config["PASSWORD_HASH_METHOD"]
        current_app.extensions[key] = generate_password_hash(secrets.token_hex(16), method=method)
    return current_app.extensions[key]


def password_matches(user: StaffUser | None, password: str) -> bool:
    """Whether `user` is an active account with this password, at the same cost either way."""
    if user is None:
        check_password_hash(dummy_hash(), password)
        return False
    return user.check_password(password) and user.is_active


def throttle_keys(user: StaffUser | None, email: str) -> list[tuple[str, str]]:
    """What a failure from this request counts against: the device alone if `user` signed in
    on it before, else the account and the network address."""
    device = devices.current_device()
    if device is not None and user is not None and device.knows(user.id):
        return [("LOGIN_FAILURES_PER_DEVICE", f"{device.id}:{user.id}")]
    return [
        ("LOGIN_FAILURES_PER_ACCOUNT", email),
        ("LOGIN_FAILURES_PER_ADDRESS", request.remote_addr or ""),
    ]


def signed_in_key(user: StaffUser) -> str:
    """The throttle's key for wrong passwords and codes given while signed in (the password
    and two-step pages): the account's own, apart from sign-in's, which anyone who knows the
    email can fill."""
    return f"signed-in:{user.id}"


def seconds_to_wait(keys: list[tuple[str, str]]) -> int | None:
    return max((w for s, k in keys if (w := throttle.seconds_to_wait(s, k))), default=None)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password; then the code, if the account has a second factor."""
    if current_user.is_authenticated:
        return redirect(url_for("staff.worklist"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(db.select(StaffUser).filter_by(email=email))
        keys = throttle_keys(user, email)
        wait = seconds_to_wait(keys)
        if wait:
            return throttled(form, form.password, "auth/login.html", wait)
        next_url = safe_next(request.args.get("next"))
        if password_matches(user, form.password.data):
            if user.has_second_factor:
                session[PENDING] = {
                    "id": user.id,
                    "password": user.password_fingerprint,
                    "remember": bool(form.remember.data),
                    "at": int(time.time()),
                    "next": next_url,
                }
                return redirect(url_for("auth.code"))
            return signed_in(user, bool(form.remember.data), next_url, keys, "password")
        failed(keys, user, "sign_in_failed")
        form.password.errors.append(_("Wrong email or password."))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 400


def failed(keys: list[tuple[str, str]], user: StaffUser | None, action: str) -> None:
    """Count a failed try against `keys`; audit it when it names an account."""
    for setting, key in keys:
        throttle.count(setting, key)
    if user is not None:
        record_event(action, clinic_id=user.clinic_id, staff=user, address=request.remote_addr)
        db.session.commit()


def signed_in(user: StaffUser, remember: bool, next_url, keys, how: str):
    """Open a server-side session for `user`, audited, and go on to `next_url`."""
    for setting, key in keys:
        throttle.forget(setting, key)
    session.pop(PENDING, None)
    sessions.open_session(
        user,
        remember=remember,
        now=utcnow(),
        address=request.remote_addr,
        user_agent=request.user_agent.string,
    )
    login_user(user, remember=remember)
    record_event(
        "signed_in",
        clinic_id=user.clinic_id,
        staff=user,
        detail="password and code" if how != "password" else "password",
        detail_message=Message(
            N_("with password and code") if how != "password" else N_("with password")
        ),
        address=request.remote_addr,
    )
    db.session.commit()
    response = redirect(next_url or url_for("staff.worklist"))
    devices.remember_device(response, user.id)
    return response


def pending_user() -> tuple[StaffUser | None, dict]:
    """The account whose password was given in this browser and still waits for its code."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("id"), int):
        return None, {}
    if not 0 <= time.time() - pending.get("at", 0) <= PENDING_SECONDS or pending["id"] > MAX_ID:
        return None, {}
    user = db.session.get(StaffUser, pending["id"])
    if (
        user is None
        or not user.is_active
        or not user.has_second_factor
        or user.password_fingerprint != pending.get("password")
    ):
        return None, {}
    return user, pending


@bp.route("/login/code", methods=["GET", "POST"])
def code():
    """The second step: a code from the authenticator app, or a recovery code."""
    user, pending = pending_user()
    if user is None:
        session.pop(PENDING, None)
        flash(_("Sign in again: the code must follow the password within 5 minutes."), "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        keys = throttle_keys(user, user.email)
        wait = seconds_to_wait(keys)
        if wait:
            return throttled(form, form.code, "auth/code.html", wait)
        how = twofactor.check_any(user, form.code.data, utcnow())
        if how is not None:
            if how == "recovery_code":
                record_event(
                    "recovery_code_used",
                    clinic_id=user.clinic_id,
                    staff=user,
                    address=request.remote_addr,
                )
            return signed_in(user, pending.get("remember", False), pending.get("next"), keys, how)
        db.session.rollback()
        failed(keys, user, "second_factor_failed")
        form.code.errors.append(_("That code is not right, or was used already."))
    return render_template("auth/code.html", form=form), 200 if not form.errors else 400


def throttled(form, field, template: str, seconds: int):
    """`form` refused for `seconds` after too many failed tries (429, Retry-After)."""
    if seconds < 60:
        message = ngettext(
            "Too many wrong tries. Wait %(num)d second and try again.",
            "Too many wrong tries. Wait %(num)d seconds and try again.",
            seconds,
        )
    else:
        minutes = -(-seconds // 60)
        message = ngettext(
            "Too many wrong tries. Wait %(num)d minute and try again, or ask an "
            "administrator to check your account.",
            "Too many wrong tries. Wait %(num)d minutes and try again, or ask an "
            "administrator to check your account.",
            minutes,
        )
    field.errors.append(message)
    response = make_response(render_template(template, form=form), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password, after giving the current one; other sessions end."""
    form = PasswordForm()
    if form.validate_on_submit():
        account = signed_in_key(current_user)
        wait = throttle.seconds_to_wait("LOGIN_FAILURES_PER_ACCOUNT", account)
        if wait:
            return throttled(form, form.current, "auth/password.html", wait)
        if current_user.check_password(form.current.data):
            if form.new.data == form.current.data:
                form.new.errors.append(_("Choose a password different from the current one."))
                return render_template("auth/password.html", form=form), 400
            user = current_user._get_current_object()
            user.set_password(form.new.data)
            user.must_change_password = False
            sessions.end_sessions(
                user, sessions.PASSWORD_CHANGED, utcnow(), keep=user.staff_session
            )
            record_event(
                "password_changed",
                clinic_id=user.clinic_id,
                staff=user,
                address=request.remote_addr,
            )
            db.session.commit()
            flash(_("Your password was changed. Your other sessions were signed out."), "info")
            return redirect(url_for("staff.worklist"))
        throttle.count("LOGIN_FAILURES_PER_ACCOUNT", account)
        form.current.errors.append(_("That is not your current password."))
    return render_template("auth/password.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
@login_required
def logout():
    """Sign out: the session ends on the server, so its cookies open nothing any more."""
    user = current_user._get_current_object()
    sessions.end_session(user.staff_session, sessions.SIGNED_OUT, utcnow())
    record_event("signed_out", clinic_id=user.clinic_id, staff=user, address=request.remote_addr)
    db.session.commit()
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))
