"""Words of the pure modules (`recovery.message`) in the reader's language, via Flask-Babel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext

from .message import Message


def translate(text: str) -> str:
    """`text`, a message id marked with N_ (or any text), in the reader's language."""
    return gettext(text) if text else text


def render(message: Message | Mapping[str, Any] | None, fallback: str = "") -> str:
    """A Message, or its stored JSON form, in the reader's language; `fallback` without one.

    A stored form that no longer reads as a message (edited by hand, an older format) also
    gives `fallback`: the English text stored beside it.
    """
    if message is None:
        return fallback
    try:
        if not isinstance(message, Message):
            message = Message.from_json(message)
        return message.render(translate)
    except (KeyError, TypeError, ValueError, AttributeError):
        return fallback
