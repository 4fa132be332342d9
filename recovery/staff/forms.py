"""Staff forms: enrolment, links, alerts, the team and the clinic's settings."""

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..care.episodes import CORRECTION_REASON_MAX, NOTE_MAX
from ..clinical.vocabulary import AlertAction, ContactOutcome, Indication, RedFlag
from ..interop.csv_export import EARLIEST_EXPORT_DATE, LATEST_EXPORT_DATE
from ..translation import choices, language_choices
from ..web.forms import CheckInForm, MultiCheckboxField, StorableText
from ..web.forms import ConfirmForm as ConfirmForm  # shared with the account pages

INDICATION_CHOICES = choices(Indication)
# Enrolment may come a few weeks before the procedure or be entered late, not a year out.
PROCEDURE_WINDOW = timedelta(days=90)


class EnrolForm(FlaskForm):
    """A new patient and their procedure."""

    display_name = StringField(
        _l("Patient name"), validators=[DataRequired(), StorableText(), Length(max=200)]
    )
    mrn = StringField(
        _l("Hospital number (MRN)"), validators=[Optional(), StorableText(), Length(max=64)]
    )
    email = EmailField(
        _l("Email"), validators=[Optional(), Email(), StorableText(), Length(max=254)]
    )
    phone = StringField(
        _l("Mobile phone"),
        validators=[Optional(), StorableText(), Length(max=32)],
        description=_l(
            "So a nurse can call the patient back about an alert, and for text reminders."
        ),
    )
    no_phone_reason = StringField(
        _l("No phone number? Say why"),
        validators=[Optional(), StorableText(), Length(max=200)],
        description=_l('Only without a number: for example "no phone" or "declined".'),
    )
    preferred_language = SelectField(
        _l("Language"),
        description=_l("For the patient's pages and reminders; the patient can change it."),
    )
    procedure_date = DateField(_l("Procedure date"), validators=[DataRequired()])
    procedure_time = TimeField(_l("Procedure end time"), validators=[DataRequired()])
    levels = StringField(
        _l("Levels treated"),
        validators=[Optional(), StorableText(), Length(max=100)],
        description=_l("For example: T12, L1"),
    )
    indication = SelectField(_l("Indication"), choices=INDICATION_CHOICES, default="osteoporosis")
    baseline_pain = IntegerField(
        _l("Pain before the procedure (0-10)"),
        validators=[Optional(), NumberRange(0, 10)],
        description=_l("Leave empty if unknown: the chart then assumes 8."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The languages the app offers (LANGUAGES), each named in its own language.
        self.preferred_language.choices = language_choices(current_app.config["LANGUAGES"])
        if self.preferred_language.data is None and not self.is_submitted():
            self.preferred_language.data = current_app.config["LANGUAGES"][0]

    def procedure_dt(self, zone) -> datetime:
        """The procedure end time as an aware datetime in `zone`."""
        return datetime.combine(self.procedure_date.data, self.procedure_time.data, tzinfo=zone)

    def check_procedure_window(self, zone, now: datetime) -> bool:
        """Refuse a procedure time implausibly far from today; True when it is fine."""
        when = self.procedure_dt(zone)
        if abs(when - now) > PROCEDURE_WINDOW:
            self.procedure_date.errors = list(self.procedure_date.errors) + [
                _l("The procedure must be within 90 days of today.")
            ]
            return False
        return True

    def validate_phone(self, field):
        """Digits, spaces and + ( ) - only."""
        if field.data and not all(c.isdigit() or c in " +()-" for c in field.data):
            raise ValidationError(_l("Use digits, spaces and + ( ) - only."))

    def validate(self, extra_validators=None) -> bool:
        """The fields' own checks, then: a phone number, or an explicit reason for none (so a
        nurse knows whether to look for one). With a number, the reason is not kept."""
        valid = super().validate(extra_validators)
        if not (self.phone.data or "").strip() and not (self.no_phone_reason.data or "").strip():
            self.phone.errors = list(self.phone.errors) + [
                _l('Enter a phone number, or say why there is none (for example "no phone").')
            ]
            return False
        return valid


STATUS_CHOICES = [
    SelectChoice("", _l("All statuses")),
    SelectChoice("alert", _l("Alert")),
    SelectChoice("overdue", _l("Overdue")),
    SelectChoice("watch", _l("Watch")),
    SelectChoice("on_track", _l("On track")),
]
ACTION_CHOICES = choices(AlertAction)


class WorklistFilterForm(FlaskForm):
    """Filters in the query string (a GET form, so no CSRF token)."""

    class Meta:
        csrf = False

    #: The query parameters this form reads (and page links carry along).
    FIELDS = ("status", "indication", "q")

    status = SelectField(_l("Status"), choices=STATUS_CHOICES, default="")
    indication = SelectField(
        _l("Indication"),
        choices=[SelectChoice("", _l("All indications")), *INDICATION_CHOICES],
        default="",
    )
    q = StringField(_l("Name or MRN"), validators=[Optional(), StorableText(), Length(max=100)])


class AcknowledgeForm(FlaskForm):
    """What the nurse did about an alert."""

    # Nothing preselected: "Called the patient" must never be recorded by one click.
    action = SelectField(
        _l("What was done"),
        choices=[SelectChoice("", _l("Choose what was done")), *ACTION_CHOICES],
        default="",
        validators=[DataRequired(_l("Choose what was done."))],
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), StorableText(), Length(max=1000)])


class ContactForm(FlaskForm):
    """An attempt to reach the patient about an alert, and how it went."""

    # Nothing preselected, as for an acknowledgement: "reached" also acknowledges the alert.
    outcome = RadioField(
        _l("How did the call go?"),
        choices=choices(ContactOutcome),
        validators=[DataRequired(_l("Choose how the call went."))],
    )
    note = TextAreaField(
        _l("Note about the call"), validators=[Optional(), StorableText(), Length(max=1000)]
    )


class ResolveForm(FlaskForm):
    """Closing an alert, with an optional note."""

    note = TextAreaField(_l("Note"), validators=[Optional(), StorableText(), Length(max=1000)])


class StaffEntryForm(CheckInForm):
    """An entry taken on the patient's behalf (a phone call): the check-in plus its time."""

    class Meta:
        # The patient's form goes without a CSRF token (the link is the credential); this one
        # rides on a signed-in session, so it needs one like every other staff form.
        csrf = FlaskForm.Meta.csrf

    # Staff pages use the clinician's words for red flags; the patient's form, the patient's.
    red_flags = MultiCheckboxField(_l("Red flags reported"), choices=choices(RedFlag))
    recorded_date = DateField(_l("Date of the score"), validators=[DataRequired()])
    recorded_time = TimeField(_l("Time of the score"), validators=[DataRequired()])

    def recorded_dt(self, zone) -> datetime:
        """The time of the score as an aware datetime in `zone`."""
        return datetime.combine(self.recorded_date.data, self.recorded_time.data, tzinfo=zone)


class CorrectionForm(FlaskForm):
    """A correction of one entry: its new values, as the entry form takes them, and why.

    One per entry on the episode page, each with its own `prefix` ("correct-<id>"), so their
    fields' ids differ."""

    pain = SelectField(
        _l("Pain (0-10)"),
        choices=[SelectChoice(n, str(n)) for n in range(11)],
        coerce=int,
        validators=[InputRequired(_l("Please choose a number from 0 to 10."))],
    )
    red_flags = MultiCheckboxField(_l("Red flags reported"), choices=choices(RedFlag))
    analgesic = BooleanField(_l("Took pain medicine"))
    note = TextAreaField(_l("Note"), validators=[Optional(), StorableText(), Length(max=NOTE_MAX)])
    reason = TextAreaField(
        _l("Reason for the correction"),
        validators=[
            DataRequired(_l("Say why the entry is corrected.")),
            StorableText(),
            Length(max=CORRECTION_REASON_MAX),
        ],
        description=_l("For example: the patient meant 3, not 8. Kept with both entries."),
    )

    def answer(self) -> dict:
        """The corrected values as `episodes.correct_pain_entry` takes them."""
        return {
            "pain": self.pain.data,
            "red_flags": self.red_flags.data or [],
            "is_analgesic_taken": self.analgesic.data,
            "note": self.note.data or "",
            "reason": self.reason.data or "",
        }


class StaffMemberForm(FlaskForm):
    """A new member of the clinic's team."""

    name = StringField(_l("Name"), validators=[Optional(), StorableText(), Length(max=200)])
    email = EmailField(
        _l("Email"), validators=[DataRequired(), Email(), StorableText(), Length(max=254)]
    )
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice("nurse", _l("Nurse")),
            SelectChoice("admin", _l("Administrator (also manages the team)")),
        ],
        default="nurse",
    )


class TargetForm(FlaskForm):
    """Add a notification target."""

    url = StringField(
        _l("Notification URL"),
        validators=[DataRequired(_l("Enter a notification URL.")), Length(max=1000)],
        description=_l(
            "In Apprise's syntax: mailto://user:password@example.com, "
            "msteams://..., slack://..., ntfy://topic, json://host/path..."
        ),
    )
    kind = RadioField(
        _l("Send it"),
        choices=[
            SelectChoice("notify", _l("Every emergency, urgent and high alert (on call)")),
            SelectChoice(
                "escalate", _l("Emergency and urgent alerts not acknowledged in time (escalation)")
            ),
        ],
        default="notify",
        validators=[DataRequired()],
    )


class TimingForm(FlaskForm):
    """When alerts escalate, when reminders wait, what patients are promised."""

    escalate_after_minutes = IntegerField(
        _l("Escalate after (minutes)"),
        validators=[DataRequired(_l("Enter a number of minutes.")), NumberRange(1, 24 * 60)],
        description=_l("An emergency or urgent alert not acknowledged by then is escalated."),
    )
    quiet_hours = StringField(
        _l("Quiet hours for reminders"),
        validators=[Optional(), Length(max=11)],
        description=_l("Local time, such as 21:00-08:00; leave empty to remind at any hour."),
    )
    response_hours = IntegerField(
        _l("We contact a patient whose answer raised an alert within (hours)"),
        validators=[DataRequired(_l("Enter a number of hours.")), NumberRange(1, 14 * 24)],
    )


def exportable_day(form, field) -> None:
    """A date field's validator: a day the clinic could have data for (the exports' and the
    audit page's ranges)."""
    if field.data and not EARLIEST_EXPORT_DATE <= field.data <= LATEST_EXPORT_DATE:
        raise ValidationError(_l("Use a date from 2000 to 2099."))


def not_before_start(form, field) -> None:
    """The last day of a range's validator: not before the form's `start`."""
    if field.data and form.start.data and field.data < form.start.data:
        raise ValidationError(_l("The last day is before the first day."))
