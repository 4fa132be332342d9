"""A staff member's own account: sessions (sign out one, or everywhere), two-step sign-in
(set up with a QR code, recovery codes, turn off), and the idle page's "stay signed in"."""

from __future__ import annotations

import segno
from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from ..care import sessions, twofactor
from ..care.audit import record_event
from ..care.models import MAX_ID, utcnow
from ..clinical.vocabulary import Role
from ..extensions import db
from ..translation import format_day_time
from ..web import throttle
from ..web.forms import ConfirmForm
from . import bp
from .forms import SetupCodeForm, TurnOffForm
from .gate import idle_message
from .routes import signed_in_key


def _audit(action: str) -> None:
    record_event(
        action,
        clinic_id=current_user.clinic_id,
        staff=current_user._get_current_object(),
        address=request.remote_addr,
    )


#: Browsers and systems named in a session's list, as found in the User-Agent (first match).
BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS", "Mac"),
    ("Linux", "Linux"),
)


def device_name(user_agent: str) -> str:
    """ "Chrome on Android", or a shortened User-Agent when neither is recognised."""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in SYSTEMS if mark in user_agent), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or (user_agent[:40] or _("Unknown device"))


@bp.get("/account")
@login_required
def account():
    """The member's sessions, with their devices, and the state of two-step sign-in."""
    user = current_user._get_current_object()
    rows = [
        {
            "id": s.id,
            "device": device_name(s.user_agent),
            "address": s.address or "",
            "remember": s.remember,
            "signed_in": format_day_time(s.created_dt),
            "last_active": format_day_time(s.last_seen_dt),
        }
        for s in sessions.live_sessions(user, utcnow())
    ]
    return render_template(
        "auth/account.html",
        sessions=rows,
        current_id=user.staff_session.id,
        confirm=ConfirmForm(),
    )


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    """Sign out one of one's other sessions (a computer left signed in)."""
    if ConfirmForm().validate_on_submit() and session_id <= MAX_ID:
        user = current_user._get_current_object()
        if sessions.end_own_session(user, session_id, utcnow()):
            _audit("session_ended")
            db.session.commit()
            flash(_("That session is signed out."), "info")
    return redirect(url_for("auth.account"))


@bp.post("/account/sessions/end-all")
@login_required
def end_all_sessions():
    """Sign out everywhere, this browser included."""
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("auth.account"))
    user = current_user._get_current_object()
    sessions.end_sessions(user, sessions.EVERYWHERE, utcnow())
    _audit("signed_out_everywhere")
    db.session.commit()
    logout_user()
    flash(_("You are signed out everywhere."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/account/keepalive")
@login_required
def keepalive():
    """Under the idle warning, "Stay signed in": activity recorded now."""
    sessions.keep_alive(current_user.staff_session, utcnow())
    db.session.commit()
    return "", 204


@bp.post("/account/idle")
@login_required
def idle():
    """A page's idle timer ran out (static/js/idle.js, which sends this as a background
    request, so it counts as no activity). If no other page of the session was used since,
    the session ends now (`{"ended": true}`) and the sign-in page says why; otherwise the
    answer is how many seconds the session has left (another tab was in use)."""
    user = current_user._get_current_object()
    now = utcnow()
    left = sessions.idle_timeout() - (now - user.staff_session.last_seen_dt)
    if left > sessions.TOUCH_EVERY:
        return jsonify(ended=False, remaining=int(left.total_seconds()))
    sessions.end_session(user.staff_session, sessions.IDLE, now)
    db.session.commit()
    logout_user()
    flash(idle_message(), "info")
    return jsonify(ended=True, login=url_for("auth.login"))


def required_for(user) -> bool:
    """Whether the clinic requires `user` to keep two-step sign-in on."""
    return current_app.config["REQUIRE_ADMIN_2FA"] and user.role == Role.ADMIN.value


def wait_after_failures(field) -> bool:
    """Whether wrong passwords or codes on this account must wait (the field says how long);
    these pages are throttled as sign-in is, so a signed-in browser left open cannot guess."""
    wait = throttle.seconds_to_wait("LOGIN_FAILURES_PER_ACCOUNT", signed_in_key(current_user))
    if wait:
        field.errors.append(
            _("Too many wrong tries. Wait %(num)d seconds and try again.", num=wait)
        )
    return bool(wait)


def count_failure() -> None:
    throttle.count("LOGIN_FAILURES_PER_ACCOUNT", signed_in_key(current_user))


def two_factor_page(*, setup_form=None, off_form=None, codes_form=None, status=200):
    user = current_user._get_current_object()
    secret = user.totp_pending_secret
    uri = twofactor.provisioning_uri(user, secret) if secret else None
    return render_template(
        "auth/two_factor.html",
        secret=secret,
        uri=uri,
        qr=segno.make(uri, error="m").svg_data_uri(scale=5, border=2) if uri else None,
        codes_left=twofactor.recovery_codes_left(user) if user.has_second_factor else 0,
        required=required_for(user),
        setup_form=setup_form or SetupCodeForm(formdata=None),
        off_form=off_form or TurnOffForm(formdata=None),
        codes_form=codes_form or SetupCodeForm(formdata=None),
        confirm=ConfirmForm(),
    ), status


@bp.get("/account/2fa")
@login_required
def two_factor():
    """Two-step sign-in: its state, and setting it up."""
    return two_factor_page()


@bp.post("/account/2fa/start")
@login_required
def two_factor_start():
    """Make a new secret for the app to scan; it counts once a code confirms it."""
    if ConfirmForm().validate_on_submit() and not current_user.has_second_factor:
        twofactor.start_setup(current_user._get_current_object())
        db.session.commit()
    return redirect(url_for("auth.two_factor"))


@bp.post("/account/2fa/confirm")
@login_required
def two_factor_confirm():
    """The first code from the app turns two-step sign-in on; the recovery codes, once."""
    user = current_user._get_current_object()
    if user.has_second_factor:
        return redirect(url_for("auth.two_factor"))
    form = SetupCodeForm()
    if not form.validate_on_submit():
        return two_factor_page(setup_form=form, status=400)
    codes = twofactor.confirm_setup(user, form.code.data, utcnow())
    if codes is None:
        form.code.errors.append(_("That code does not match. Check the app and try again."))
        return two_factor_page(setup_form=form, status=400)
    # Sessions opened with the password alone end: from now on that is not enough.
    sessions.end_sessions(user, sessions.SECOND_FACTOR_ENABLED, utcnow(), keep=user.staff_session)
    _audit("second_factor_enabled")
    db.session.commit()
    return render_template("auth/recovery_codes.html", codes=codes)


@bp.post("/account/2fa/recovery-codes")
@login_required
def two_factor_codes():
    """New recovery codes (the old ones stop working), after a code from the app."""
    user = current_user._get_current_object()
    form = SetupCodeForm()
    if not user.has_second_factor:
        return redirect(url_for("auth.two_factor"))
    if not form.validate_on_submit():
        return two_factor_page(codes_form=form, status=400)
    if wait_after_failures(form.code):
        return two_factor_page(codes_form=form, status=429)
    if not twofactor.check_code(user, form.code.data, utcnow()):
        count_failure()
        form.code.errors.append(_("That code is not right, or was used already."))
        return two_factor_page(codes_form=form, status=400)
    codes = twofactor.new_recovery_codes(user)
    _audit("recovery_codes_renewed")
    db.session.commit()
    return render_template("auth/recovery_codes.html", codes=codes)


@bp.post("/account/2fa/off")
@login_required
def two_factor_off():
    """Turn two-step sign-in off, with the password and a code; not where it is required."""
    user = current_user._get_current_object()
    if not user.has_second_factor:
        return redirect(url_for("auth.two_factor"))
    form = TurnOffForm()
    if required_for(user):
        form.password.errors = [_("Your clinic requires two-step sign-in for administrators.")]
        return two_factor_page(off_form=form, status=403)
    if form.validate_on_submit():
        if wait_after_failures(form.code):
            return two_factor_page(off_form=form, status=429)
        if user.check_password(form.password.data) and twofactor.check_any(
            user, form.code.data, utcnow()
        ):
            twofactor.turn_off(user)
            _audit("second_factor_disabled")
            db.session.commit()
            flash(_("Two-step sign-in is off."), "info")
            return redirect(url_for("auth.two_factor"))
        db.session.rollback()
        count_failure()
        form.code.errors.append(_("The password or the code is not right."))
    return two_factor_page(off_form=form, status=400)
