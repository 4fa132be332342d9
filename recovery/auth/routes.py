"""Sign-in and sign-out views."""

import hmac

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user

from ..care.audit import record_event
from ..care.models import MAX_ID, StaffUser
from ..extensions import db, login_manager
from ..web import throttle
from ..web.site import safe_next
from . import bp
from .forms import LoginForm, PasswordForm


@login_manager.user_loader
def load_user(session_id: str) -> StaffUser | None:
    """Flask-Login's loader: the active staff user of this session, if their password is still
    the one the session was opened with (`StaffUser.get_id`)."""
    user_id, _sep, fingerprint = session_id.partition(".")
    if not user_id.isdigit() or int(user_id) > MAX_ID:
        return None
    user = db.session.get(StaffUser, int(user_id))
    if user is None or not user.is_active:
        return None
    return user if hmac.compare_digest(user.session_fingerprint, fingerprint) else None


login_manager.login_view = "auth.login"
login_manager.login_message = None


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("staff.worklist"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        address = request.remote_addr or ""
        wait = throttle.seconds_to_wait(
            "LOGIN_FAILURES_PER_ACCOUNT", email
        ) or throttle.seconds_to_wait("LOGIN_FAILURES_PER_ADDRESS", address)
        if wait:
            return throttled(form, form.password, "auth/login.html", wait)
        user = db.session.scalar(db.select(StaffUser).filter_by(email=email))
        if user is not None and user.is_active and user.check_password(form.password.data):
            throttle.forget("LOGIN_FAILURES_PER_ACCOUNT", email)
            login_user(user, remember=form.remember.data)
            record_event("signed_in", clinic_id=user.clinic_id, staff=user, address=address)
            db.session.commit()
            return redirect(safe_next(request.args.get("next")) or url_for("staff.worklist"))
        throttle.count("LOGIN_FAILURES_PER_ACCOUNT", email)
        throttle.count("LOGIN_FAILURES_PER_ADDRESS", address)
        if user is not None:
            record_event("sign_in_failed", clinic_id=user.clinic_id, staff=user, address=address)
            db.session.commit()
        form.password.errors.append(_("Wrong email or password."))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 400


def throttled(form, field, template: str, seconds: int):
    """`form` refused for `seconds` after too many wrong passwords (429, Retry-After)."""
    minutes = max(1, -(-seconds // 60))
    field.errors.append(
        ngettext(
            "Too many wrong passwords. Wait %(num)d minute and try again, or ask an "
            "administrator to check your account.",
            "Too many wrong passwords. Wait %(num)d minutes and try again, or ask an "
            "administrator to check your account.",
            minutes,
        )
    )
    response = make_response(render_template(template, form=form), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password, after giving the current one."""
    form = PasswordForm()
    if form.validate_on_submit():
        account = current_user.email
        wait = throttle.seconds_to_wait("LOGIN_FAILURES_PER_ACCOUNT", account)
        if wait:
            return throttled(form, form.current, "auth/password.html", wait)
        if current_user.check_password(form.current.data):
            current_user.set_password(form.new.data)
            login_user(current_user._get_current_object())  # this session stays signed in
            record_event(
                "password_changed",
                clinic_id=current_user.clinic_id,
                staff=current_user,
                address=request.remote_addr,
            )
            db.session.commit()
            flash(_("Your password was changed."), "info")
            return redirect(url_for("staff.worklist"))
        throttle.count("LOGIN_FAILURES_PER_ACCOUNT", account)
        form.current.errors.append(_("That is not your current password."))
    return render_template("auth/password.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
@login_required
def logout():
    """Sign out."""
    record_event(
        "signed_out",
        clinic_id=current_user.clinic_id,
        staff=current_user,
        address=request.remote_addr,
    )
    db.session.commit()
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))
