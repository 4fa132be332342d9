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


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with its wildcards escaped (escape="\\")."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
