"""Staff downloads: the clinic's entries or alerts over a date range, and one episode's, as CSV."""

from __future__ import annotations

from datetime import timedelta

from flask import redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, ValidationError

from ..care.clinics import clinic_zone
from ..care.models import utcnow
from ..extensions import db, writes_database
from ..interop.csv_export import (
    MAX_RANGE_DAYS,
    CsvExport,
    export_clinic_csv,
    export_episode_csv,
)
from ..web.site import csv_attachment
from . import bp
from .access import episode_for_staff
from .forms import exportable_day, not_before_start

# The blank form offers the last 30 days.
DEFAULT_DAYS = 30


class ExportForm(FlaskForm):
    """A date range in the clinic's time zone and what to export (read from the query string)."""

    class Meta:
        csrf = False  # a GET that changes nothing

    start = DateField(
        _l("From"), validators=[InputRequired(_l("Enter the first day.")), exportable_day]
    )
    end = DateField(
        _l("To"),
        validators=[InputRequired(_l("Enter the last day.")), exportable_day, not_before_start],
        description=_l("Both days are included; at most %(days)d days.", days=MAX_RANGE_DAYS),
    )
    kind = SelectField(
        _l("Export"),
        choices=[
            SelectChoice("entries", _l("Pain entries (one row per entry)")),
            SelectChoice("alerts", _l("Alerts (one row per alert opened)")),
        ],
        default="entries",
    )

    def validate_end(self, field):
        """Not too far from the start."""
        start = self.start.data
        if field.errors or not (field.data and start):
            return
        if (field.data - start).days + 1 > MAX_RANGE_DAYS:
            raise ValidationError(
                _l("Export at most %(days)d days at a time.", days=MAX_RANGE_DAYS)
            )


def blank_form() -> ExportForm:
    """The form with the last DEFAULT_DAYS days, in the clinic's time zone, filled in."""
    today = utcnow().astimezone(clinic_zone(current_user.clinic)).date()
    return ExportForm(
        formdata=None, data={"start": today - timedelta(days=DEFAULT_DAYS - 1), "end": today}
    )


def form_page(form: ExportForm, status: int = 200):
    """The export page, with the form's errors if any."""
    return render_template(
        "staff/exports.html", form=form, timezone=current_user.clinic.timezone
    ), status


@bp.get("/exports")
def exports():
    """The export form; a filled-in form goes to its CSV, a wrong one comes back with errors."""
    if not request.args:
        return form_page(blank_form())
    form = ExportForm(formdata=request.args)
    if not form.validate():
        return form_page(form, 400)
    return redirect(
        url_for(
            f"staff.export_clinic_{form.kind.data}",
            start=form.start.data.isoformat(),
            end=form.end.data.isoformat(),
        )
    )


def clinic_export(kind: str):
    """The clinic's CSV of `kind` for the range in the query string, or the form with errors."""
    form = ExportForm(formdata=request.args)
    form.kind.data = kind
    if not form.validate():
        return form_page(form, 400)
    start, end = form.start.data, form.end.data
    return download(export_clinic_csv(kind, current_user, start, end, address=request.remote_addr))


def download(export: CsvExport):
    """Commit the export's audit row, then stream the file."""
    db.session.commit()
    return csv_attachment(export.lines, export.filename)


@bp.get("/exports/entries.csv")
@writes_database  # the download is audited
def export_clinic_entries():
    """The clinic's pain entries recorded in a date range, as CSV."""
    return clinic_export("entries")


@bp.get("/exports/alerts.csv")
@writes_database  # the download is audited
def export_clinic_alerts():
    """The clinic's alerts opened in a date range, as CSV."""
    return clinic_export("alerts")


def episode_export(episode_id: int, kind: str):
    """One episode's CSV of `kind`; 404 for another clinic's episode."""
    episode = episode_for_staff(episode_id, current_user)
    return download(export_episode_csv(kind, episode, current_user, address=request.remote_addr))


@bp.get("/episodes/<int:episode_id>/entries.csv")
@writes_database  # the download is audited
def export_episode_entries(episode_id: int):
    """Every pain entry of one episode, as CSV."""
    return episode_export(episode_id, "entries")


@bp.get("/episodes/<int:episode_id>/alerts.csv")
@writes_database  # the download is audited
def export_episode_alerts(episode_id: int):
    """Every alert of one episode, as CSV."""
    return episode_export(episode_id, "alerts")
