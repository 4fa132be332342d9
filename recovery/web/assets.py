"""Static files with a fingerprint of their content in the URL, cached by browsers for a year.

`url_for('static', filename=...)` adds `?v=<first 12 hex digits of the file's SHA-256>`. A
request whose `v` matches the file as it is now gets `Cache-Control: public, max-age=<1 year>,
immutable`, so a patient's phone downloads plotly.js once per version instead of asking again
on every page; any other request for a static file is revalidated as before. Fingerprints are
recomputed when a file's size or modification time changes.
"""

from __future__ import annotations

import hashlib
import os

from flask import Flask, request
from werkzeug.security import safe_join

ONE_YEAR = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    """Fingerprint static URLs and cache fingerprinted responses."""
    known: dict[str, tuple[tuple[int, int], str]] = {}

    def fingerprint(filename: str) -> str | None:
        path = safe_join(app.static_folder or "", filename)
        if path is None:
            return None
        try:
            stat = os.stat(path)
        except OSError:
            return None
        version = (stat.st_mtime_ns, stat.st_size)
        cached = known.get(filename)
        if cached is None or cached[0] != version:
            with open(path, "rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()[:12]
            known[filename] = cached = (version, digest)
        return cached[1]

    @app.url_defaults
    def add_fingerprint(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values and "filename" in values:
            digest = fingerprint(values["filename"])
            if digest:
                values["v"] = digest

    @app.after_request
    def cache_fingerprinted(response):
        if (
            request.endpoint == "static"
            and response.status_code in (200, 304)
            and request.args.get("v")
            and request.args["v"] == fingerprint((request.view_args or {}).get("filename", ""))
        ):
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = ONE_YEAR
            response.cache_control.immutable = True
        return response
