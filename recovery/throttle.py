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

EXTENSION = "recovery.throttle"


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


def _keys(setting: str, key: str) -> tuple[str, str]:
    return setting.lower(), key


def seconds_to_wait(setting: str, key: str) -> int | None:
    """Seconds until `key` may try again under the limit in config `setting`, or None."""
    limiter: MovingWindowRateLimiter = current_app.extensions[EXTENSION]
    item = _limit(setting)
    try:
        if limiter.test(item, *_keys(setting, key)):
            return None
        reset_at, _remaining = limiter.get_window_stats(item, *_keys(setting, key))
    except Exception:  # noqa: BLE001 - any store failure: let the request through
        current_app.logger.warning("throttle store unavailable; %s not enforced", setting)
        return None
    return max(1, math.ceil(reset_at - time.time()))


def count(setting: str, key: str) -> None:
    """Count one failure of `key` against the limit in config `setting`."""
    limiter: MovingWindowRateLimiter = current_app.extensions[EXTENSION]
    try:
        limiter.hit(_limit(setting), *_keys(setting, key))
    except Exception:  # noqa: BLE001
        current_app.logger.warning("throttle store unavailable; %s not counted", setting)


def forget(setting: str, key: str) -> None:
    """Clear `key`'s failures (after a successful sign-in)."""
    limiter: MovingWindowRateLimiter = current_app.extensions[EXTENSION]
    try:
        limiter.clear(_limit(setting), *_keys(setting, key))
    except Exception:  # noqa: BLE001
        current_app.logger.warning("throttle store unavailable; %s not cleared", setting)
