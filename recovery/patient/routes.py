"""Patient views at /p/<token>: the link is the key, so every view starts from it."""

import uuid

from flask import abort, redirect, render_template, request, url_for

from ..care.clinics import emergency_number
from ..care.episodes import (
    EntryError,
    EntryLimitError,
    answer_key,
    assess_entry,
    episode_for_retired_token,
    episode_for_token,
    link_for_token,
    record_pain_entry,
)
from ..care.models import PainEntry, utcnow
from ..care.outreach import set_reminders
from ..care.urls import patient_url
from ..clinical.vocabulary import EntrySource
from ..extensions import csrf, db
from ..web.forms import CheckInForm
from ..web.handout import handout
from ..web.results import checkin_intro, entry_limit_text, patient_chart, result_view
from ..web.site import speak_to_patient
from . import bp
from .forms import RemindersForm


def link_or_invalid(token: str):
    """The live link `token` (the patient's or their caregiver's) of an active episode, or the
    "link not valid" page (404)."""
    link = link_for_token(token)
    if link is None or link.episode.status != "active":
        abort(404)
    speak_to_patient(link.episode)
    return link


def episode_or_invalid(token: str):
    """The active episode behind `token`, or the "link not valid" page (404)."""
    return link_or_invalid(token).episode


@bp.errorhandler(404)
def invalid_link(_exc):
    """A patient whose link does not work is told what to do, not shown a bare 404.

    Where the link was once real (replaced, revoked, the follow-up closed), the page names the
    clinic and offers its phone number, in the patient's language.
    """
    token = (request.view_args or {}).get("token", "")
    episode = episode_for_token(token) or episode_for_retired_token(token)
    clinic = None
    if episode is not None:
        speak_to_patient(episode)
        clinic = episode.clinic
    return render_template(
        "patient/invalid.html",
        clinic=clinic,
        emergency_number=emergency_number(clinic) if clinic else None,
    ), 404


@bp.route("/<token>", methods=["GET", "POST"])
@csrf.exempt
def checkin(token: str):
    """The check-in form; a valid answer is stored and the result page follows.

    No cookie is needed (so no CSRF token): the secret link is the credential, a forged
    request would have to know it, and a patient whose browser dropped its cookies keeps
    their answer. The page's idempotency key makes a re-sent answer count once.
    """
    link = link_or_invalid(token)
    episode = link.episode
    form = CheckInForm()
    if request.method == "GET":
        form.idempotency_key.data = uuid.uuid4().hex
    limited = None
    if form.validate_on_submit():
        answer = form.answer()
        try:
            result = record_pain_entry(
                episode,
                idempotency_key=answer_key(form.idempotency_key.data, **answer),
                source=link.holder,
                address=request.remote_addr,
                **answer,
            )
        except EntryLimitError as exc:
            # The page comes back with the answer as typed and the same key, to send later.
            limited = exc
        except EntryError as exc:
            getattr(form, exc.field, form.pain).errors.append(exc.message)
        else:
            entry_id = result.entry.id
            db.session.commit()
            return redirect(url_for("patient.result", token=token, entry_id=entry_id))
    status = 429 if limited else 400 if form.errors else 200
    page = render_template(
        "patient/checkin.html",
        form=form,
        episode=episode,
        token=token,
        intro=checkin_intro(episode),
        caregiver=link.holder == EntrySource.CAREGIVER,
        limited=entry_limit_text(limited.retry_after) if limited else None,
    )
    headers = {"Retry-After": str(limited.retry_after)} if limited else {}
    return page, status, headers


@bp.route("/<token>/reminders", methods=["GET", "POST"])
@csrf.exempt
def reminders(token: str):
    """Stop or restart reminders: the page every reminder links to.

    Stopping takes a button press (a POST), so a mail scanner opening the link stops nothing.
    Exempt from CSRF for the reason the check-in is: the link is the credential.
    """
    link = link_or_invalid(token)
    episode = link.episode
    if link.holder != EntrySource.PATIENT:
        # Reminders go to the patient, and only the patient stops them: a caregiver is told
        # so (403), not that their link does not work.
        return render_template(
            "patient/reminders.html", episode=episode, token=token, caregiver=True
        ), 403
    form = RemindersForm()
    changed = False
    if form.validate_on_submit():
        set_reminders(episode, form.wanted.data == "on", now=utcnow(), address=request.remote_addr)
        db.session.commit()
        changed = True
    patient = episode.patient
    return render_template(
        "patient/reminders.html",
        episode=episode,
        form=form,
        token=token,
        stopped=patient.reminders_stopped_dt is not None,
        changed=changed,
    ), 400 if form.errors else 200


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
        chart=patient_chart(episode),
    )


@bp.get("/<token>/handout")
def handout_page(token: str):
    """The printable handout for this link: how to check in, when, and the warning signs."""
    episode = episode_or_invalid(token)
    sheet = handout(episode, patient_url(token, request.host_url), utcnow())
    return render_template("patient/handout.html", h=sheet, token=token, episode=episode)
