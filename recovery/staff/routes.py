"""Staff views: thin; the work is in services and recovery.episodes."""

import segno
from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..clinics import clinic_zone
from ..episodes import EntryError, enrol_patient, issue_link, revoke_link
from ..extensions import db
from ..models import utcnow
from ..rules import format_hours
from ..web import patient_url
from . import bp
from .forms import ConfirmForm, EnrolForm
from .services import episode_for_staff, patient_rows

NEW_LINK_KEY = "new_patient_link"


def current_page() -> int:
    """The `page` query argument, at least 1."""
    page = request.args.get("page", 1, type=int) or 1
    return max(1, min(page, 100_000))


@bp.get("/")
def worklist():
    """The clinic's active patients."""
    page = current_page()
    rows, total = patient_rows(current_user.clinic_id, utcnow(), page=page)
    shown = [
        {
            "episode_id": row.episode_id,
            "name": row.name,
            "mrn": row.mrn,
            "since": format_hours(row.hours_since),
            "last_score": "—" if row.last_pain is None else f"{row.last_pain}/10",
            "open_alerts": row.open_alerts,
        }
        for row in rows
    ]
    return render_template(
        "staff/worklist.html",
        rows=shown,
        total=total,
        page=page,
        has_next=page * 50 < total,
    )


@bp.route("/enrol", methods=["GET", "POST"])
def enrol():
    """Enrol a patient: create the patient and episode, then show their link once."""
    form = EnrolForm()
    zone = clinic_zone(current_user.clinic)
    if form.validate_on_submit() and form.check_procedure_window(zone, utcnow()):
        try:
            result = enrol_patient(
                current_user.clinic,
                display_name=form.display_name.data,
                procedure_dt=form.procedure_dt(zone),
                baseline_pain=form.baseline_pain.data,
                levels=form.levels.data or "",
                indication=form.indication.data,
                mrn=form.mrn.data,
                email=form.email.data,
                phone=form.phone.data,
                preferred_language=form.preferred_language.data,
                staff=current_user,
                address=request.remote_addr,
            )
        except EntryError as exc:
            getattr(form, exc.field, form.display_name).errors.append(exc.message)
        else:
            db.session.commit()
            session[NEW_LINK_KEY] = {"episode_id": result.episode.id, "token": result.token}
            return redirect(url_for("staff.show_link", episode_id=result.episode.id))
    status = 400 if form.errors else 200
    return render_template("staff/enrol.html", form=form), status


@bp.get("/episodes/<int:episode_id>/link")
def show_link(episode_id: int):
    """The patient's new link and QR code, shown once right after it is issued."""
    episode = episode_for_staff(episode_id, current_user)
    new_link = session.pop(NEW_LINK_KEY, None)
    url = qr = None
    if new_link and new_link.get("episode_id") == episode.id:
        url = patient_url(new_link["token"])
        qr = segno.make(url, error="m").svg_data_uri(scale=6, border=2)
    return render_template("staff/link.html", episode=episode, url=url, qr=qr, form=ConfirmForm())


@bp.post("/episodes/<int:episode_id>/link/reissue")
def reissue_link(episode_id: int):
    """Issue a new link; the old one stops working."""
    episode = episode_for_staff(episode_id, current_user)
    if ConfirmForm().validate_on_submit():
        if episode.status != "active":
            flash(_("This follow-up is closed; its link cannot be re-issued."), "error")
            return redirect(url_for("staff.show_link", episode_id=episode.id))
        token = issue_link(episode, staff=current_user, address=request.remote_addr)
        db.session.commit()
        session[NEW_LINK_KEY] = {"episode_id": episode.id, "token": token}
        flash(_("A new link was issued. The old link no longer works."), "info")
    return redirect(url_for("staff.show_link", episode_id=episode.id))


@bp.post("/episodes/<int:episode_id>/link/revoke")
def revoke(episode_id: int):
    """Revoke the patient's link."""
    episode = episode_for_staff(episode_id, current_user)
    if ConfirmForm().validate_on_submit():
        revoke_link(episode, staff=current_user, address=request.remote_addr)
        db.session.commit()
        flash(_("The link was revoked. The patient can no longer check in with it."), "info")
    return redirect(url_for("staff.show_link", episode_id=episode.id))
