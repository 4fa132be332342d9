"""Patient views at /p/<token>: the link is the key, so every view starts from it."""

import uuid

from flask import abort, g, redirect, render_template, request, url_for

from ..episodes import EntryError, assess_entry, episode_for_token, record_pain_entry
from ..extensions import db
from ..models import PainEntry
from . import bp
from .forms import CheckInForm
from .services import patient_chart, result_view


def episode_or_invalid(token: str):
    """The active episode behind `token`, or the "link not valid" page (404)."""
    episode = episode_for_token(token)
    if episode is None or episode.status != "active":
        abort(404)
    g.locale = episode.patient.preferred_language
    g.timezone = episode.clinic.timezone
    return episode


@bp.errorhandler(404)
def invalid_link(_exc):
    """A patient whose link does not work is told what to do, not shown a bare 404."""
    return render_template("patient/invalid.html"), 404


@bp.route("/<token>", methods=["GET", "POST"])
def checkin(token: str):
    """The check-in form; a valid answer is stored and the result page follows."""
    episode = episode_or_invalid(token)
    form = CheckInForm()
    if request.method == "GET":
        form.idempotency_key.data = uuid.uuid4().hex
    if form.validate_on_submit():
        try:
            result = record_pain_entry(
                episode,
                pain=form.pain.data,
                red_flags=form.red_flags.data or [],
                is_analgesic_taken=form.analgesic.data,
                note=form.note.data or "",
                idempotency_key=form.idempotency_key.data,
                address=request.remote_addr,
            )
        except EntryError as exc:
            getattr(form, exc.field, form.pain).errors.append(exc.message)
        else:
            db.session.commit()
            return redirect(url_for("patient.result", token=token, entry_id=result.entry.id))
    status = 400 if form.errors else 200
    return render_template("patient/checkin.html", form=form, episode=episode), status


@bp.get("/<token>/entries/<int:entry_id>")
def result(token: str, entry_id: int):
    """What the patient's answer means and what to do now."""
    episode = episode_or_invalid(token)
    entry = db.session.get(PainEntry, entry_id)
    if entry is None or entry.episode_id != episode.id:
        abort(404)
    view = result_view(episode, entry, assess_entry(entry))
    return render_template(
        "patient/result.html",
        episode=episode,
        view=view,
        token=token,
        figure=patient_chart(episode),
    )
