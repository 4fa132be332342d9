"""Sign-in form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ..text import StorableText


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField(_l("Email"), validators=[DataRequired(), StorableText(), Length(max=254)])
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), StorableText(), Length(max=200)]
    )
    remember = BooleanField(_l("Keep me signed in on this device"))
