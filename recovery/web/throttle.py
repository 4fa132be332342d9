"""Throttling of failed sign-ins: progressive waits, per account, address and known device.

Each setting is a list of limits, such as "5 per minute; 10 per 15 minutes; 20 per hour": a
few failures cost nothing, more make the next try wait until the oldest of them leaves its
window, and the wait grows with the count, so an account is never simply locked. Failures from
a device that signed in to the account before count only against that device
(`recovery.auth.devices`), so guesses from elsewhere cannot keep a nurse out on her own device.

Counters live in the store named by RATELIMIT_STORAGE_URL: `memory://` (the default) keeps
them in each server process; `redis://host:6379/0` shares them between processes and servers,
which a deployment with several gunicorn workers needs (RECOVERY_ENV=production refuses
memory:// unless ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION=1). When the store does not answer, the
throttle lets the request through and logs a warning: staff must still be able to sign in.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

EXTENSION = "recovery.web.throttle"
SETTINGS = ("LOGIN_FAILURES_PER_ACCOUNT", "LOGIN_FAILURES_PER_ADDRESS", "LOGIN_FAILURES_PER_DEVICE")


def init_app(app: Flask) -> None:
    """Connect the counters' store; a malformed limit or store URL stops the app here."""
    for name in SETTINGS:
        try:
            parse_many(app.config[name])
        except ValueError:
            raise RuntimeError(
                f"{name} must read like '5 per minute; 10 per 15 minutes; 20 per hour'"
            ) from None
    storage = storage_from_string(app.config["RATELIMIT_STORAGE_URL"])
    app.extensions[EXTENSION] = MovingWindowRateLimiter(storage)


def _limits(setting: str) -> list[RateLimitItem]:
    return parse_many(current_app.config[setting])


def _ask(method: str, limit: RateLimitItem, setting: str, key: str, otherwise: str):
    """Call the limiter's `method` for `key` under one `limit` of config `setting`.

    Any failure of the store is logged ("... not `otherwise`") and gives None: the throttle
    then lets the request through.
    """
    limiter: MovingWindowRateLimiter = current_app.extensions[EXTENSION]
    try:
        return getattr(limiter, method)(limit, setting.lower(), key)
    except Exception:  # noqa: BLE001 - any store failure: let the request through
        current_app.logger.warning("throttle store unavailable; %s not %s", setting, otherwise)
        return None


def seconds_to_wait(setting: str, key: str) -> int | None:
    """Seconds until `key` may try again under the limits in config `setting`, or None:
    the longest wait of the limits it has reached."""
    waits = []
    for limit in _limits(setting):
        if _ask("test", limit, setting, key, "enforced") is not False:
            continue
        stats = _ask("get_window_stats", limit, setting, key, "enforced")
        if stats is not None:
            waits.append(max(1, math.ceil(stats.reset_time - time.time())))
    return max(waits, default=None)


def count(setting: str, key: str) -> None:
    """Count one failure of `key` against the limits in config `setting`."""
    for limit in _limits(setting):
        _ask("hit", limit, setting, key, "counted")


def forget(setting: str, key: str) -> None:
    """Clear `key`'s failures (after a successful sign-in)."""
    for limit in _limits(setting):
        _ask("clear", limit, setting, key, "cleared")
