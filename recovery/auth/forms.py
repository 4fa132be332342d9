"""Sign-in form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..care.accounts import MIN_PASSWORD_LENGTH
from ..web.forms import StorableText


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField(_l("Email"), validators=[DataRequired(), StorableText(), Length(max=254)])
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), StorableText(), Length(max=200)]
    )
    remember = BooleanField(_l("Keep me signed in on this device"))


class PasswordForm(FlaskForm):
    """A new password for the signed-in staff member, confirmed by the current one."""

    current = PasswordField(
        _l("Current password"), validators=[DataRequired(), StorableText(), Length(max=200)]
    )
    new = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            StorableText(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=_l("Use %(min)d to %(max)d characters."),
            ),
        ],
        description=_l(
            "At least %(n)d characters; a few unrelated words are easy to remember.",
            n=MIN_PASSWORD_LENGTH,
        ),
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new", message=_l("The two new passwords differ."))],
    )


class CodeForm(FlaskForm):
    """A code from the authenticator app, or a recovery code."""

    code = StringField(
        _l("Code"),
        validators=[DataRequired(), StorableText(), Length(max=20)],
        description=_l("The 6 digits your authenticator app shows, or one of your recovery codes."),
    )


class SetupCodeForm(FlaskForm):
    """The first code from the app, which confirms it was set up right."""

    code = StringField(
        _l("Code from the app"),
        validators=[DataRequired(), StorableText(), Length(max=20)],
        description=_l("The 6 digits the app shows for Recovery."),
    )


class TurnOffForm(FlaskForm):
    """Turning the second factor off needs the password and a code."""

    password = PasswordField(
        _l("Password"), validators=[DataRequired(), StorableText(), Length(max=200)]
    )
    code = StringField(
        _l("Code"),
        validators=[DataRequired(), StorableText(), Length(max=20)],
        description=_l("The 6 digits your authenticator app shows, or one of your recovery codes."),
    )
