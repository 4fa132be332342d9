"""Text hygiene shared by forms, the API and services."""


def storable_text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text (NUL bytes, lone surrogates), or None if it can.

    PostgreSQL refuses NUL characters and UTF-8 cannot encode lone surrogates; both would
    otherwise surface as a server error instead of a clear message.
    """
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


class StorableText:
    """WTForms validator: refuse text the database cannot store."""

    def __call__(self, form, field):
        from flask_babel import lazy_gettext as _l
        from wtforms.validators import ValidationError

        if isinstance(field.data, str) and storable_text_problem(field.data):
            raise ValidationError(_l("This text contains characters that cannot be stored."))
