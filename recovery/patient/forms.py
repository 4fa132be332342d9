"""The patient's own forms (the check-in form is shared with staff: recovery.web.forms)."""

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf


class RemindersForm(FlaskForm):
    """Stop or restart reminders: one button, whose value says which."""

    class Meta:
        csrf = False  # the link is the credential (see routes.reminders)

    wanted = HiddenField(validators=[AnyOf(("on", "off"))])
