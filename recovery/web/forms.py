"""Forms and fields two blueprints share: the check-in form (the patient's, and a nurse's
entry for a patient, recovery.staff.forms) and text the database can store."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectMultipleField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..care.episodes import IDEMPOTENCY_KEY_MAX, NOTE_MAX
from ..care.text import storable_text_problem
from ..clinical.vocabulary import RedFlag
from ..translation import choices


class StorableText:
    """WTForms validator: refuse text the database cannot store."""

    def __call__(self, form, field):
        if isinstance(field.data, str) and storable_text_problem(field.data):
            raise ValidationError(_l("This text contains characters that cannot be stored."))


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PainField(RadioField):
    """0-10 as radio buttons; a missing answer gets only the "please choose" message."""

    def pre_validate(self, form):
        if self.data is not None:
            super().pre_validate(form)


class ConfirmForm(FlaskForm):
    """An empty form: a button guarded by CSRF (revoke, re-issue, close, sign out)."""


class CheckInForm(FlaskForm):
    """Pain 0-10 (nothing preselected), red flags, pain medicine, a note.

    No CSRF token: the personal link is the credential (see `patient.routes.checkin`).
    """

    class Meta:
        csrf = False

    pain = PainField(
        _l("How bad is your pain right now?"),
        choices=[SelectChoice(n, str(n)) for n in range(11)],
        coerce=int,
        validators=[InputRequired(_l("Please choose a number from 0 to 10."))],
    )
    red_flags = MultiCheckboxField(
        _l("Since your last check-in, have you noticed any of these?"),
        choices=choices(RedFlag, "patient_label"),
    )
    analgesic = BooleanField(_l("I took pain medicine since my last check-in"))
    note = TextAreaField(
        _l("Anything else you want the clinic to know? (optional)"),
        validators=[StorableText(), Length(max=NOTE_MAX)],
    )
    idempotency_key = HiddenField(
        validators=[DataRequired(), StorableText(), Length(max=IDEMPOTENCY_KEY_MAX)]
    )

    def answer(self) -> dict:
        """The answer as `episodes.record_pain_entry` (and `answer_key`) take it."""
        return {
            "pain": self.pain.data,
            "red_flags": self.red_flags.data or [],
            "is_analgesic_taken": self.analgesic.data,
            "note": self.note.data or "",
        }
