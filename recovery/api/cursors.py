"""Opaque page cursors: a short JSON list in URL-safe base64, read back strictly.

The alert feed and the patient's entries page by keyset; each says what its list holds
(`check`), and anything else a client sends (not base64, not JSON, the wrong shape, a naive
time, an id past what a column holds) is 400 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import TypeVar

from .errors import ApiError

T = TypeVar("T")


def encode(values: list) -> str:
    """An opaque, URL-safe cursor holding `values` (JSON-serialisable)."""
    raw = json.dumps(values).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, check: Callable[[list], T]) -> T:
    """What `check` makes of the cursor's values; `check` raises ValueError or TypeError for
    values that do not belong. ApiError 400 `invalid_cursor` for any cursor not made here."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return check(json.loads(raw))
    except (
        binascii.Error,
        ValueError,
        TypeError,
        UnicodeDecodeError,
        RecursionError,
        OverflowError,
    ):
        raise ApiError(
            400, "invalid_cursor", "use the next_cursor of a previous page", "cursor"
        ) from None
