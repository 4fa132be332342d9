"""Staff views: thin; the work is in services and recovery.care.episodes."""

import uuid
from dataclasses import dataclass
from functools import partial

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from ..care.alerts import (
    Acknowledged,
    AlertError,
    Contacted,
    acknowledge_alert,
    record_contact_attempt,
    resolve_alert,
)
from ..care.audit import VIEWED_PAGE, record_view
from ..care.clinics import clinic_zone
from ..care.episodes import (
    EntryError,
    answer_key,
    close_episode,
    correct_pain_entry,
    enrol_patient,
    is_corrected,
    issue_link,
    record_pain_entry,
    revoke_link,
)
from ..care.models import PainEntry, utcnow
from ..care.urls import patient_url
from ..clinical.vocabulary import EntrySource
from ..extensions import db, writes_database, writes_done
from ..web.handout import printable_handout
from ..web.shown_once import show_once, take_shown
from ..web.site import safe_next
from . import bp, presenters
from .access import alert_for_staff, episode_for_staff
from .forms import (
    AcknowledgeForm,
    ConfirmForm,
    ContactForm,
    CorrectionForm,
    EnrolForm,
    ResolveForm,
    StaffEntryForm,
    WorklistFilterForm,
)
from .services import (
    ALERT_PATIENTS_PER_PAGE,
    PER_PAGE,
    AlertSection,
    clinic_change_cursor,
    episode_detail,
    page_count,
    worklist_alerts,
    worklist_episodes,
)

#: The one-time secret's kind for a new link, by who holds it (recovery.care.secrets_once).
LINK_KINDS = {EntrySource.PATIENT: "patient_link", EntrySource.CAREGIVER: "caregiver_link"}


#: The worklist's page numbers in the query string: the alert sections' and the patients'.
PAGE_ARGS = ("open_page", "progress_page", "page")


def current_page(name: str = "page") -> int:
    """The page number in query argument `name`, at least 1."""
    page = request.args.get(name, 1, type=int) or 1
    return max(1, min(page, 100_000))


@bp.get("/")
def worklist():
    """Patients with open alerts by urgency, those with alerts in progress, then every active
    episode with its status."""
    filters = WorklistFilterForm(request.args)
    if not filters.validate():
        filters = WorklistFilterForm(MultiDict())
    open_page, progress_page, page = (current_page(name) for name in PAGE_ARGS)
    now = utcnow()
    clinic_id = current_user.clinic_id
    open_alerts = worklist_alerts(clinic_id, "open", open_page)
    in_progress = worklist_alerts(clinic_id, "acknowledged", progress_page)
    listed = partial(
        worklist_episodes,
        clinic_id,
        now,
        status=filters.status.data or None,
        indication=filters.indication.data or None,
        search=(filters.q.data or "").strip(),
    )
    episodes, total = listed(page=page)
    if page > page_count(total, PER_PAGE):
        # Past the end (the list shrank, an old link): its last page, as the alert lists do.
        page = page_count(total, PER_PAGE)
        episodes, total = listed(page=page)
    return render_template(
        "staff/worklist.html",
        filters=filters,
        open_alerts=presenters.patient_alert_rows(open_alerts.rows, now),
        open_total=open_alerts.alerts,
        open_patients=open_alerts.patients,
        open_pager=alert_pager("open_page", open_alerts),
        in_progress=presenters.patient_alert_rows(in_progress.rows, now),
        in_progress_total=in_progress.alerts,
        in_progress_patients=in_progress.patients,
        progress_pager=alert_pager("progress_page", in_progress),
        episodes=presenters.episode_rows(episodes, now),
        total=total,
        patients_pager=section_pager("page", page, total, PER_PAGE),
        cursor=clinic_change_cursor(clinic_id),
    )


@dataclass(frozen=True)
class Pager:
    """One paged list of the worklist: its page, page count and neighbours' URLs."""

    page: int
    pages: int
    prev_url: str | None
    next_url: str | None


def section_pager(name: str, page: int, total: int, per_page: int) -> Pager:
    """The pager of the list paged by query argument `name`; its links keep the filters and
    the other lists' pages."""
    return Pager(
        page,
        page_count(total, per_page),
        page_url(**{name: page - 1}) if page > 1 else None,
        page_url(**{name: page + 1}) if page * per_page < total else None,
    )


def alert_pager(name: str, section: AlertSection) -> Pager:
    """The pager of a worklist alert section."""
    return section_pager(name, section.page, section.patients, ALERT_PATIENTS_PER_PAGE)


def page_url(**pages: int) -> str:
    """This page's URL with the same filters and other page numbers."""
    keep = (*WorklistFilterForm.FIELDS, *PAGE_ARGS)
    args = {k: v for k, v in request.args.items() if k in keep}
    return url_for(request.endpoint, **(args | pages))


@bp.get("/changes")
def changes():
    """A cheap poll: has anything in the clinic changed since `cursor`?"""
    cursor = clinic_change_cursor(current_user.clinic_id)
    return jsonify({"cursor": cursor, "changed": cursor != request.args.get("cursor", "")})


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
                no_phone_reason=form.no_phone_reason.data,
                preferred_language=form.preferred_language.data,
                staff=current_user,
                address=request.remote_addr,
            )
        except EntryError as exc:
            getattr(form, exc.field, form.display_name).errors.append(exc.message)
        else:
            show_once("patient_link", result.episode.id, result.token)
            db.session.commit()
            return redirect(url_for("staff.show_link", episode_id=result.episode.id))
    status = 400 if form.errors else 200
    return render_template("staff/enrol.html", form=form), status


@bp.get("/episodes/<int:episode_id>/link")
@writes_database  # reading the new link deletes it
def show_link(episode_id: int):
    """A new link (the patient's or the caregiver's) and its QR code, shown once right after
    it is issued."""
    episode = episode_for_staff(episode_id, current_user)
    new_link = take_shown(*LINK_KINDS.values(), subject_id=episode.id)
    url = sheet = holder = None
    if new_link is not None:
        url = patient_url(new_link.secret, request.host_url)
        sheet = printable_handout(episode, url)
        holder = next(h for h, kind in LINK_KINDS.items() if kind == new_link.kind)
    page = render_template(
        "staff/link.html",
        episode=episode,
        url=url,
        handout=sheet,
        holder=holder,
        form=ConfirmForm(),
    )
    db.session.commit()
    return page


@bp.post("/episodes/<int:episode_id>/link/reissue")
def reissue_link(episode_id: int):
    """Issue a new link; the old one stops working."""
    episode = episode_for_staff(episode_id, current_user)
    if ConfirmForm().validate_on_submit():
        try:
            token = issue_link(episode, staff=current_user, address=request.remote_addr)
        except EntryError:
            db.session.rollback()
            flash(_("This follow-up is closed; its link cannot be re-issued."), "error")
            return redirect(url_for("staff.show_link", episode_id=episode.id))
        show_once("patient_link", episode.id, token)
        db.session.commit()
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


@bp.post("/episodes/<int:episode_id>/caregiver-link/issue")
def issue_caregiver_link(episode_id: int):
    """Issue a link for the patient's caregiver; an earlier caregiver link stops working, the
    patient's own link keeps working."""
    episode = episode_for_staff(episode_id, current_user)
    if ConfirmForm().validate_on_submit():
        try:
            token = issue_link(
                episode,
                holder=EntrySource.CAREGIVER,
                staff=current_user,
                address=request.remote_addr,
            )
        except EntryError:
            db.session.rollback()
            flash(_("This follow-up is closed; a caregiver link cannot be issued."), "error")
            return redirect(url_for("staff.episode", episode_id=episode.id))
        show_once("caregiver_link", episode.id, token)
        db.session.commit()
        flash(_("A caregiver link was issued. The patient's own link still works."), "info")
        return redirect(url_for("staff.show_link", episode_id=episode.id))
    return redirect(url_for("staff.episode", episode_id=episode.id))


@bp.post("/episodes/<int:episode_id>/caregiver-link/revoke")
def revoke_caregiver_link(episode_id: int):
    """Revoke the caregiver's link; the patient's own link keeps working."""
    episode = episode_for_staff(episode_id, current_user)
    if ConfirmForm().validate_on_submit():
        revoke_link(
            episode, holder=EntrySource.CAREGIVER, staff=current_user, address=request.remote_addr
        )
        db.session.commit()
        flash(_("The caregiver link was revoked. The patient's own link still works."), "info")
    return redirect(url_for("staff.episode", episode_id=episode.id))


def correction_form(entry: PainEntry) -> CorrectionForm:
    """The blank correction form of an entry, filled with its current values."""
    form = CorrectionForm(formdata=None, prefix=f"correct-{entry.id}")
    form.pain.data = entry.pain
    form.red_flags.data = list(entry.red_flags or [])
    form.analgesic.data = entry.is_analgesic_taken
    form.note.data = entry.note
    return form


def episode_page(episode, *, entry_form=None, status=200, page=1):
    """Render the episode page (also after an invalid staff entry, with its errors), with
    page `page` of its entries table; an entry in force of an active follow-up links to its
    correction page."""
    detail = episode_detail(episode, page)
    entries = presenters.entry_rows(detail)
    if episode.status == "active":
        for row in entries:
            if row["in_force"]:
                row["correct_url"] = url_for(
                    "staff.correct_entry", episode_id=episode.id, entry_id=row["id"]
                )
    now = utcnow()
    if entry_form is None:
        entry_form = StaffEntryForm(formdata=None)
        local_now = now.astimezone(clinic_zone(episode.clinic))
        entry_form.recorded_date.data = local_now.date()
        entry_form.recorded_time.data = local_now.time().replace(second=0, microsecond=0)
        entry_form.idempotency_key.data = uuid.uuid4().hex
    return render_template(
        "staff/episode.html",
        episode=episode,
        summary=presenters.episode_summary(detail, now),
        figure=presenters.episode_chart(detail),
        entries=entries,
        entry_total=detail.entry_total,
        chart_entries=len(detail.entries),
        entry_page=detail.page,
        entry_pages=detail.pages,
        newer_url=entries_page_url(episode, detail.page - 1) if detail.page > 1 else None,
        older_url=(
            entries_page_url(episode, detail.page + 1) if detail.page < detail.pages else None
        ),
        alerts=presenters.alert_cards(detail.alerts, now),
        events=presenters.timeline(detail.events, detail.alerts),
        entry_form=entry_form,
        ack_form=AcknowledgeForm(formdata=None),
        contact_form=ContactForm(formdata=None),
        resolve_form=ResolveForm(formdata=None),
        confirm_form=ConfirmForm(formdata=None),
    ), status


def entries_page_url(episode, page: int) -> str:
    """The episode page showing page `page` of its entries, scrolled to the table."""
    return url_for(
        "staff.episode",
        episode_id=episode.id,
        page=page if page > 1 else None,
        _anchor="entries-heading",
    )


@bp.get("/episodes/<int:episode_id>")
@writes_database  # the view is audited
def episode(episode_id: int):
    """One patient's course: chart, entries (`?page=N`, newest first), alerts and timeline.
    Each view is in the audit trail (`episode_viewed`), committed before the page is read, so
    the page itself reads as a reader (on SQLite it holds no write lock while it renders)."""
    episode = episode_for_staff(episode_id, current_user)
    record_view(episode, current_user, VIEWED_PAGE, address=request.remote_addr)
    db.session.commit()
    writes_done()
    return episode_page(episode, page=current_page())


@bp.post("/episodes/<int:episode_id>/entries")
def record_entry(episode_id: int):
    """Record a score on the patient's behalf (for example during a phone call); the entry
    limit does not apply to staff (`episodes.record_pain_entry`)."""
    episode = episode_for_staff(episode_id, current_user)
    form = StaffEntryForm()
    if form.validate_on_submit():
        answer = {**form.answer(), "recorded_dt": form.recorded_dt(clinic_zone(episode.clinic))}
        try:
            record_pain_entry(
                episode,
                idempotency_key=answer_key(form.idempotency_key.data, **answer),
                source="staff",
                staff=current_user,
                address=request.remote_addr,
                **answer,
            )
        except EntryError as exc:
            field = {"recorded_at": "recorded_date"}.get(exc.field, exc.field)
            getattr(form, field, form.pain).errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("The entry was recorded."), "info")
            return redirect(url_for("staff.episode", episode_id=episode.id))
    return episode_page(episode, entry_form=form, status=400)


@bp.route("/episodes/<int:episode_id>/entries/<int:entry_id>/correct", methods=["GET", "POST"])
def correct_entry(episode_id: int, entry_id: int):
    """Correct an entry on a page of its own: a new entry supersedes it, with a reason; both
    stay on the episode page. (One form per entry on the episode page would weigh 4 KB a row.)

    400 with a clear message for a correction of an entry already corrected (a second nurse
    at the same moment, an old page): the first correction stays the one in force.
    """
    episode = episode_for_staff(episode_id, current_user)
    entry = db.session.get(PainEntry, entry_id)
    if entry is None or entry.episode_id != episode.id:
        abort(404)
    if request.method == "GET":
        return correction_page(episode, entry, correction_form(entry))
    form = CorrectionForm(prefix=f"correct-{entry.id}")
    if form.validate_on_submit():
        try:
            correct_pain_entry(
                entry, staff=current_user, address=request.remote_addr, **form.answer()
            )
            db.session.commit()
        except EntryError as exc:
            db.session.rollback()
            if exc.code in ("already_corrected", "closed"):
                return correction_refused(episode, exc.code)
            getattr(form, exc.field, form.pain).errors.append(exc.message)
        except IntegrityError:
            # The unique index on `supersedes_id`: another correction of it was stored first.
            db.session.rollback()
            return correction_refused(episode, "already_corrected")
        else:
            flash(
                _("The entry was corrected. The earlier entry is kept, marked corrected."), "info"
            )
            return redirect(url_for("staff.episode", episode_id=episode.id, _anchor="entries"))
    return correction_page(episode, entry, form, status=400)


def correction_page(episode, entry: PainEntry, form: CorrectionForm, status: int = 200):
    """The entry as it stands and the form that corrects it; an entry already corrected, or
    of a closed follow-up, gets the episode page with why not."""
    if episode.status != "active":
        return correction_refused(episode, "closed")
    if is_corrected(entry):
        return correction_refused(episode, "already_corrected")
    row = presenters.entry_row(episode, entry)
    return render_template("staff/correct.html", episode=episode, entry=row, form=form), status


def correction_refused(episode, code: str):
    """The episode page (400) saying why an entry cannot be corrected: `code` "closed" (the
    follow-up) or "already_corrected" (by a colleague a moment ago, or from an old page)."""
    if code == "closed":
        message = _("This follow-up is closed; its entries cannot be corrected.")
    else:
        message = _(
            "This entry had already been corrected, so your correction was not recorded. "
            "Check the newer entry and correct that one if needed."
        )
    flash(message, "error")
    return episode_page(episode, status=400)


@bp.post("/alerts/<int:alert_id>/acknowledge")
def acknowledge(alert_id: int):
    """Acknowledge an alert with what was done."""
    alert = alert_for_staff(alert_id, current_user)
    form = AcknowledgeForm()
    if form.validate_on_submit():
        try:
            outcome = acknowledge_alert(
                alert,
                current_user,
                action=form.action.data,
                note=form.note.data or "",
                address=request.remote_addr,
            )
        except AlertError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(acknowledged_text(outcome, alert), "info")
    else:
        flash(_("The alert was not changed: %(errors)s", errors=form_error_text(form)), "error")
    return redirect(
        safe_next(request.form.get("next")) or url_for("staff.episode", episode_id=alert.episode_id)
    )


def acknowledged_text(outcome: Acknowledged, alert) -> str:
    """What the nurse is told after acknowledging: the second of two nurses learns that
    someone was first, and that their own action and note are kept too."""
    if outcome is Acknowledged.FIRST:
        return _("Alert acknowledged.")
    if outcome is Acknowledged.REPEATED:
        return _("This acknowledgement was already recorded.")
    return _(
        "%(name)s had already acknowledged this alert; your acknowledgement was added to its "
        "history.",
        name=alert.acknowledged_by.display_name if alert.acknowledged_by else _("Someone"),
    )


@bp.post("/alerts/<int:alert_id>/contact")
def contact(alert_id: int):
    """Record an attempt to reach the patient about an alert and how it went."""
    alert = alert_for_staff(alert_id, current_user)
    form = ContactForm()
    if form.validate_on_submit():
        try:
            outcome = record_contact_attempt(
                alert,
                current_user,
                outcome=form.outcome.data,
                note=form.note.data or "",
                address=request.remote_addr,
            )
        except AlertError:
            flash(
                _("This alert is already resolved; the contact attempt was not recorded."), "error"
            )
        else:
            db.session.commit()
            flash(contacted_text(outcome), "info")
    else:
        flash(_("The alert was not changed: %(errors)s", errors=form_error_text(form)), "error")
    return redirect(url_for("staff.episode", episode_id=alert.episode_id))


def contacted_text(outcome: Contacted) -> str:
    """What the nurse is told after recording a contact attempt."""
    if outcome is Contacted.ACKNOWLEDGED:
        return _("Contact attempt recorded. The alert is now acknowledged.")
    if outcome is Contacted.REPEATED:
        return _("This contact attempt was already recorded.")
    return _("Contact attempt recorded.")


@bp.post("/alerts/<int:alert_id>/resolve")
def resolve(alert_id: int):
    """Resolve an alert."""
    alert = alert_for_staff(alert_id, current_user)
    form = ResolveForm()
    if form.validate_on_submit():
        try:
            resolve_alert(
                alert, current_user, note=form.note.data or "", address=request.remote_addr
            )
        except AlertError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Alert resolved."), "info")
    else:
        flash(_("The alert was not changed: %(errors)s", errors=form_error_text(form)), "error")
    return redirect(url_for("staff.episode", episode_id=alert.episode_id))


@bp.post("/episodes/<int:episode_id>/close")
def close(episode_id: int):
    """Close the episode: it leaves the worklist and the patient's link stops working."""
    episode = episode_for_staff(episode_id, current_user)
    if ConfirmForm().validate_on_submit():
        try:
            close_episode(episode, staff=current_user, address=request.remote_addr)
        except EntryError:
            db.session.rollback()
            flash(_("This follow-up was already closed."), "info")
        else:
            db.session.commit()
            flash(_("The follow-up was closed."), "info")
    return redirect(url_for("staff.episode", episode_id=episode.id))


def form_error_text(form) -> str:
    """All of a form's errors on one line."""
    return "; ".join(
        f"{form[name].label.text}: {' '.join(str(e) for e in errs)}"
        for name, errs in form.errors.items()
    )
