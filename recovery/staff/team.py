"""The clinic's team, for its administrators: add staff, turn accounts off and on, reset a
forgotten password, API tokens.

A new account or a reset gets a random temporary password, and an API token is issued: each
is shown once,
on the next page, and stored only as a hash. An administrator cannot turn off their own account
(someone must be left who can turn accounts on).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..care.accounts import (
    AccountError,
    add_staff,
    clinic_staff,
    deactivate_staff,
    issue_staff_token,
    reactivate_staff,
    reset_second_factor,
    reset_staff_password,
    revoke_staff_token,
    staff_in_clinic,
)
from ..care.clinics import SetupError
from ..care.models import StaffUser
from ..extensions import db, writes_database
from ..web.shown_once import show_once, take_shown
from . import bp
from .forms import ConfirmForm, StaffMemberForm


def require_admin() -> None:
    """Only the clinic's administrators manage its team (403 for anyone else)."""
    if current_user.role != "admin":
        abort(403)


def member_or_404(staff_id: int) -> StaffUser:
    """A member of the signed-in administrator's clinic, else 404."""
    require_admin()
    member = staff_in_clinic(staff_id, current_user.clinic_id)
    if member is None:
        abort(404)
    return member


def team_page(form: StaffMemberForm, status: int = 200):
    """The team list, the secret to show once (if any), and the form to add someone."""
    secret = take_shown("password", "api_token")
    rows = [
        {
            "id": member.id,
            "name": member.display_name,
            "email": member.email,
            "role": _("Administrator") if member.role == "admin" else _("Nurse"),
            "active": member.is_active,
            "status": _("active") if member.is_active else _("turned off"),
            "has_token": member.api_token_hash is not None,
            "two_step": member.has_second_factor,
            "is_me": member.id == current_user.id,
        }
        for member in clinic_staff(current_user.clinic_id)
    ]
    shown = None
    if secret is not None:
        member = staff_in_clinic(secret.subject_id, current_user.clinic_id)
        if member is not None:
            kind = "password" if secret.kind == "password" else "token"
            shown = {"email": member.email, "kind": kind, "secret": secret.secret}
    page = render_template(
        "staff/team.html", rows=rows, form=form, confirm=ConfirmForm(), shown=shown
    )
    db.session.commit()  # the secret shown is gone
    return page, status


@bp.get("/team")
@writes_database  # showing a new password or token deletes it
def team():
    """The clinic's staff accounts."""
    require_admin()
    return team_page(StaffMemberForm(formdata=None))


@bp.post("/team")
def add_member():
    """Add a nurse or administrator with a temporary password, shown once."""
    require_admin()
    form = StaffMemberForm()
    if not form.validate_on_submit():
        return team_page(form, 400)
    try:
        member, password = add_staff(
            current_user.clinic,
            form.email.data,
            form.role.data,
            form.name.data or "",
            by=current_user,
            address=request.remote_addr,
        )
    except SetupError:
        form.email.errors.append(_("There is already an account with this email address."))
        db.session.rollback()
        return team_page(form, 400)
    show_once("password", member.id, password)
    db.session.commit()
    flash(_("The account was created."), "info")
    return redirect(url_for("staff.team"))


@bp.post("/team/<int:staff_id>/deactivate")
def deactivate_member(staff_id: int):
    """Turn an account off: it cannot sign in, its sessions and API token stop working."""
    member = member_or_404(staff_id)
    if ConfirmForm().validate_on_submit():
        try:
            changed = deactivate_staff(member, by=current_user, address=request.remote_addr)
        except AccountError:
            db.session.rollback()
            flash(_("You cannot turn off your own account."), "error")
        else:
            if changed:
                db.session.commit()
                flash(_("%(email)s can no longer sign in.", email=member.email), "info")
    return redirect(url_for("staff.team"))


@bp.post("/team/<int:staff_id>/reactivate")
def reactivate_member(staff_id: int):
    """Turn an account back on."""
    member = member_or_404(staff_id)
    if ConfirmForm().validate_on_submit() and reactivate_staff(
        member, by=current_user, address=request.remote_addr
    ):
        db.session.commit()
        flash(_("%(email)s can sign in again.", email=member.email), "info")
    return redirect(url_for("staff.team"))


@bp.post("/team/<int:staff_id>/password")
def reset_member_password(staff_id: int):
    """Give an account a new temporary password (shown once); its sessions end."""
    member = member_or_404(staff_id)
    if ConfirmForm().validate_on_submit():
        try:
            password = reset_staff_password(member, by=current_user, address=request.remote_addr)
        except AccountError:
            db.session.rollback()
            flash(_("Change your own password from your Account page."), "error")
            return redirect(url_for("staff.team"))
        show_once("password", member.id, password)
        db.session.commit()
    return redirect(url_for("staff.team"))


@bp.post("/team/<int:staff_id>/api-token")
def issue_member_token(staff_id: int):
    """Give an account a new integration API token (shown once); the old one stops working."""
    member = member_or_404(staff_id)
    if ConfirmForm().validate_on_submit():
        token = issue_staff_token(member, by=current_user, address=request.remote_addr)
        show_once("api_token", member.id, token)
        db.session.commit()
    return redirect(url_for("staff.team"))


@bp.post("/team/<int:staff_id>/api-token/revoke")
def revoke_member_token(staff_id: int):
    """Stop an account's integration API token from working."""
    member = member_or_404(staff_id)
    if ConfirmForm().validate_on_submit() and revoke_staff_token(
        member, by=current_user, address=request.remote_addr
    ):
        db.session.commit()
        flash(_("The API token of %(email)s no longer works.", email=member.email), "info")
    return redirect(url_for("staff.team"))


@bp.post("/team/<int:staff_id>/two-step/reset")
def reset_member_second_factor(staff_id: int):
    """Turn off a colleague's two-step sign-in (a lost phone); they set it up again."""
    member = member_or_404(staff_id)
    if ConfirmForm().validate_on_submit():
        try:
            changed = reset_second_factor(member, by=current_user, address=request.remote_addr)
        except AccountError:
            flash(_("Change your own two-step sign-in from your Account page."), "error")
            return redirect(url_for("staff.team"))
        if changed:
            db.session.commit()
            flash(
                _(
                    "Two-step sign-in of %(email)s is off; they set it up again.",
                    email=member.email,
                ),
                "info",
            )
    return redirect(url_for("staff.team"))
