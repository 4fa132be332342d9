"""Throttling of failed sign-ins, per account and per network address.

Counters live in the store named by RATELIMIT_STORAGE_URL: `memory://` (the default) keeps
them in each server process; `redis://host:6379/0` shares them between processes and servers,
which a deployment with several gunicorn workers needs. When the store does not answer, the
throttle lets the request through and logs a warning: staff must still be able to sign in.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

EXTENSION = "recovery.web.throttle"


def init_app(app: Flask) -> None:
    """Connect the counters' store; a malformed limit or store URL stops the app here."""
    for name in ("LOGIN_FAILURES_PER_ACCOUNT", "LOGIN_FAILURES_PER_ADDRESS"):
        try:
            parse(app.config[name])
        except ValueError:
            raise RuntimeError(f"{name} must read like '5 per 15 minutes'") from None
    storage = storage_from_string(app.config["RATELIMIT_STORAGE_URL"])
    app.extensions[EXTENSION] = MovingWindowRateLimiter(storage)


def _limit(setting: str) -> RateLimitItem:
    return parse(current_app.config[setting])


def _ask(method: str, setting: str, key: str, otherwise: str):
    """Call the limiter's `method` for `key` under the limit in config `setting`.

    Any failure of the store is logged ("... not `otherwise`") and gives None: the throttle
    then lets the request through.
    """
    limiter: MovingWindowRateLimiter = current_app.extensions[EXTENSION]
    try:
        return getattr(limiter, method)(_limit(setting), setting.lower(), key)
    except Exception:  # noqa: BLE001 - any store failure: let the request through
        current_app.logger.warning("throttle store unavailable; %s not %s", setting, otherwise)
        return None


def seconds_to_wait(setting: str, key: str) -> int | None:
    """Seconds until `key` may try again under the limit in config `setting`, or None."""
    if _ask("test", setting, key, "enforced") is not False:
        return None
    stats = _ask("get_window_stats", setting, key, "enforced")
    if stats is None:
        return None
    return max(1, math.ceil(stats.reset_time - time.time()))


def count(setting: str, key: str) -> None:
    """Count one failure of `key` against the limit in config `setting`."""
    _ask("hit", setting, key, "counted")


def forget(setting: str, key: str) -> None:
    """Clear `key`'s failures (after a successful sign-in)."""
    _ask("clear", setting, key, "cleared")
