"""Devices a staff member has signed in from before, remembered in a signed cookie.

After a successful sign-in the browser keeps `recovery_device`: a random device id and the
accounts that signed in on it, signed with SECRET_KEY (it holds no secret and cannot be forged).
Failed sign-ins from a device an account has used before count only against that device and
account, so someone guessing a nurse's password from elsewhere cannot lock her out on her own
ward computer; every other attempt counts against the account and the network address
(`recovery.web.throttle`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "recovery_device"
#: How long a device is remembered after its last successful sign-in.
MAX_AGE = 180 * 24 * 3600
#: Accounts remembered per device (a shared ward computer); the most recent are kept.
MAX_ACCOUNTS = 20


@dataclass(frozen=True)
class Device:
    id: str
    staff_ids: tuple[int, ...]

    def knows(self, staff_id: int | None) -> bool:
        return staff_id is not None and staff_id in self.staff_ids


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="known-device")


def current_device() -> Device | None:
    """The device this request comes from, if it signed in successfully before."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 1000:
        return None
    try:
        data = _serializer().loads(raw, max_age=MAX_AGE)
        ids = tuple(int(i) for i in data["s"])
        return Device(str(data["d"]), ids)
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def remember_device(response, staff_id: int) -> None:
    """Set the cookie on `response`: this device signed in successfully as `staff_id`."""
    device = current_device()
    device_id = device.id if device else secrets.token_urlsafe(16)
    others = [i for i in (device.staff_ids if device else ()) if i != staff_id]
    ids = (others + [staff_id])[-MAX_ACCOUNTS:]
    config = current_app.config
    response.set_cookie(
        COOKIE,
        _serializer().dumps({"d": device_id, "s": ids}),
        max_age=MAX_AGE,
        httponly=True,
        secure=config["SESSION_COOKIE_SECURE"],
        samesite="Lax",
    )
