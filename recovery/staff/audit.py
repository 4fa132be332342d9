"""The audit page, for the clinic's administrators: who did what and who saw which patient's
record, filtered by patient, staff member, action and days, newest first; and the same events
as CSV (itself audited)."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional

from ..care.accounts import clinic_staff
from ..care.audit import AuditFilter, audit_page
from ..care.clinics import clinic_zone
from ..care.models import MAX_ID
from ..extensions import db, writes_database
from ..interop.audit_export import export_audit_csv
from ..interop.csv_export import local_day_bounds
from ..web.forms import StorableText
from ..web.site import csv_attachment
from . import bp, presenters
from .forms import exportable_day, not_before_start
from .routes import current_page
from .services import page_count
from .team import require_admin

PER_PAGE = 50


class AuditFilterForm(FlaskForm):
    """The audit page's filters, read from the query string; every one optional."""

    class Meta:
        csrf = False  # a GET that changes nothing

    FIELDS = ("patient", "episode", "staff", "action", "start", "end")

    patient = StringField(
        _l("Patient"),
        validators=[Optional(), StorableText(), Length(max=200)],
        description=_l("Part of the name or hospital number (MRN)."),
    )
    episode = IntegerField(
        _l("Follow-up number"),
        validators=[
            Optional(),
            NumberRange(1, MAX_ID, _l("Enter the number shown in the follow-up's address.")),
        ],
    )
    staff = SelectField(_l("Staff member"), validators=[Optional()])
    action = SelectField(_l("Action"), validators=[Optional()])
    start = DateField(_l("From"), validators=[Optional(), exportable_day])
    end = DateField(
        _l("To"),
        validators=[Optional(), exportable_day, not_before_start],
        description=_l("Both days are included."),
    )

    def __init__(self, *args, staff_choices=(), action_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.staff.choices = [("", _("Anyone")), *staff_choices]
        self.action.choices = [("", _("Any action")), *action_choices]

    def audit_filter(self, zone) -> AuditFilter:
        """The filters for the audit service: the days as UTC instants in the clinic's zone."""
        start = end = None
        if self.start.data:
            start, _after = local_day_bounds(self.start.data, self.start.data, zone)
        if self.end.data:
            _first, end = local_day_bounds(self.end.data, self.end.data, zone)
        return AuditFilter(
            episode_id=self.episode.data,
            patient=(self.patient.data or "").strip(),
            staff_id=int(self.staff.data) if self.staff.data else None,
            action=self.action.data or None,
            start=start,
            end=end,
        )


def filter_form() -> AuditFilterForm:
    """The filters from the query string, with the clinic's staff and the known actions."""
    staff_choices = [(str(m.id), m.display_name) for m in clinic_staff(current_user.clinic_id)]
    labels = presenters.event_labels()
    action_choices = sorted(labels.items(), key=lambda item: item[1].casefold())
    return AuditFilterForm(
        formdata=request.args, staff_choices=staff_choices, action_choices=action_choices
    )


def filter_args() -> dict[str, str]:
    """The query string's filters (for the other pages' links and the CSV link)."""
    return {k: v for k, v in request.args.items() if k in AuditFilterForm.FIELDS and v}


def refused(form: AuditFilterForm):
    """The page with the filters' errors and no events: 400."""
    return audit_page_html(form, rows=[], total=0, page=1), 400


def audit_page_html(form: AuditFilterForm, *, rows, total: int, page: int) -> str:
    args = filter_args()
    return render_template(
        "staff/audit.html",
        form=form,
        rows=rows,
        total=total,
        page=page,
        pages=page_count(total, PER_PAGE),
        prev_url=url_for("staff.audit", **args, page=page - 1) if page > 1 else None,
        next_url=(
            url_for("staff.audit", **args, page=page + 1) if page * PER_PAGE < total else None
        ),
        csv_url=None if form.errors else url_for("staff.audit_csv", **args),
        timezone=current_user.clinic.timezone,
    )


@bp.get("/audit")
def audit():
    """The clinic's audit trail, newest first; 400 with the form's errors for bad filters."""
    require_admin()
    form = filter_form()
    if not form.validate():
        return refused(form)
    page = current_page()
    rows, total = audit_page(
        current_user.clinic_id,
        form.audit_filter(clinic_zone(current_user.clinic)),
        page=page,
        per_page=PER_PAGE,
    )
    return audit_page_html(form, rows=presenters.audit_rows(rows), total=total, page=page)


@bp.get("/audit.csv")
@writes_database  # the download is audited
def audit_csv():
    """The filtered events as CSV, streamed; the download is itself in the audit trail."""
    require_admin()
    form = filter_form()
    if not form.validate():
        return refused(form)
    export = export_audit_csv(
        current_user,
        form.audit_filter(clinic_zone(current_user.clinic)),
        address=request.remote_addr,
    )
    db.session.commit()
    return csv_attachment(export.lines, export.filename)
