"""The check-in form, in plain words for patients."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectMultipleField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from ..episodes import IDEMPOTENCY_KEY_MAX, NOTE_MAX
from ..text import StorableText
from ..translation import choices
from ..vocabulary import RedFlag


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PainField(RadioField):
    """0-10 as radio buttons; a missing answer gets only the "please choose" message."""

    def pre_validate(self, form):
        if self.data is not None:
            super().pre_validate(form)


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


class RemindersForm(FlaskForm):
    """Stop or restart reminders: one button, whose value says which."""

    class Meta:
        csrf = False  # the link is the credential (see routes.reminders)

    wanted = HiddenField(validators=[AnyOf(("on", "off"))])
