"""Absolute links that leave the app: in messages, printed pages and the command line."""

from flask import current_app

DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000/"


def external_url(path: str, host_url: str | None = None) -> str:
    """The absolute URL of `path` ("/p/...", "/staff/..."), for links that leave the app.

    PUBLIC_BASE_URL wins (behind a proxy, and for the command line and the job); else
    `host_url`, the address the current request came to (a page passes `request.host_url`);
    else the development server's address.
    """
    base = current_app.config.get("PUBLIC_BASE_URL") or host_url or DEVELOPMENT_BASE_URL
    return base.rstrip("/") + path


def patient_url(token: str, host_url: str | None = None) -> str:
    """The absolute URL of a patient's personal check-in link."""
    return external_url("/p/" + token, host_url)
