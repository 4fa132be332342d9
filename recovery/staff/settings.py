"""The clinic's settings page, for its administrators: who is told of alerts (on-call and
escalation targets, as Apprise URLs), when an unacknowledged alert escalates, the quiet hours
for reminders, and the response time patients are promised.

Targets are shown with their passwords and tokens masked and are removed by fingerprint, so a
secret typed once never comes back to a page. The same settings are on the command line
(`flask recovery settings`).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..care.audit import record_event
from ..care.clinics import SetupError, outreach_settings, update_clinic_settings
from ..care.senders import masked_target, target_key
from ..extensions import db
from . import bp
from .forms import ConfirmForm, TargetForm, TimingForm
from .team import require_admin

#: The two lists of targets, by their name in the clinic's settings.
TARGET_LISTS = ("notify", "escalate")


def settings_page(target_form=None, timing_form=None, status: int = 200):
    clinic = current_user.clinic
    outreach = outreach_settings(clinic)
    if timing_form is None:
        timing_form = TimingForm(
            formdata=None,
            escalate_after_minutes=outreach.escalate_after_minutes,
            quiet_hours=outreach.quiet_hours_text,
            response_hours=outreach.response_hours,
        )
    lists = {
        name: [
            {"key": target_key(url), "label": masked_target(url)} for url in getattr(outreach, name)
        ]
        for name in TARGET_LISTS
    }
    return render_template(
        "staff/settings.html",
        lists=lists,
        target_form=target_form or TargetForm(formdata=None),
        timing_form=timing_form,
        confirm=ConfirmForm(),
    ), status


def audit(detail: str) -> None:
    record_event(
        "settings_changed",
        clinic_id=current_user.clinic_id,
        staff=current_user,
        detail=detail,
        address=request.remote_addr,
    )


@bp.get("/settings")
def settings():
    """The clinic's notification targets and outreach timings."""
    require_admin()
    return settings_page()


@bp.post("/settings/targets")
def add_target():
    """Add an on-call or escalation target (an Apprise URL)."""
    require_admin()
    form = TargetForm()
    if not form.validate_on_submit():
        return settings_page(target_form=form, status=400)
    clinic = current_user.clinic
    current = list(getattr(outreach_settings(clinic), form.kind.data))
    try:
        update_clinic_settings(clinic, **{form.kind.data: [*current, form.url.data]})
    except SetupError as exc:
        form.url.errors = [str(exc).removeprefix("invalid setting: ")]
        db.session.rollback()
        return settings_page(target_form=form, status=400)
    audit(f"{form.kind.data} target added: {masked_target(form.url.data)}")
    db.session.commit()
    flash(_("Target added."))
    return redirect(url_for("staff.settings"))


@bp.post("/settings/targets/<kind>/<key>/remove")
def remove_target(kind: str, key: str):
    """Remove a target, named by its fingerprint."""
    require_admin()
    if kind not in TARGET_LISTS or not ConfirmForm().validate_on_submit():
        abort(404 if kind not in TARGET_LISTS else 400)
    clinic = current_user.clinic
    current = list(getattr(outreach_settings(clinic), kind))
    kept = [url for url in current if target_key(url) != key]
    if len(kept) == len(current):
        abort(404)
    removed = next(url for url in current if target_key(url) == key)
    update_clinic_settings(clinic, **{kind: kept})
    audit(f"{kind} target removed: {masked_target(removed)}")
    db.session.commit()
    flash(_("Target removed."))
    return redirect(url_for("staff.settings"))


@bp.post("/settings/timing")
def save_timing():
    """Change the escalation delay, the quiet hours and the promised response time."""
    require_admin()
    form = TimingForm()
    if not form.validate_on_submit():
        return settings_page(timing_form=form, status=400)
    values = {
        "escalate_after_minutes": form.escalate_after_minutes.data,
        "quiet_hours": form.quiet_hours.data or "none",
        "response_hours": form.response_hours.data,
    }
    try:
        update_clinic_settings(current_user.clinic, values)
    except SetupError as exc:
        form.quiet_hours.errors = [str(exc).removeprefix("invalid setting: ")]
        db.session.rollback()
        return settings_page(timing_form=form, status=400)
    audit(", ".join(f"{name}={value}" for name, value in values.items()))
    db.session.commit()
    flash(_("Settings saved."))
    return redirect(url_for("staff.settings"))
