"""Responses compressed by the app itself (Flask-Compress: zstd, brotli or gzip, whichever the
browser accepts), since `make run` and small clinics have no proxy in front to do it.

Pages, JSON, CSS, JS and SVG are compressed; CSV downloads are not (they stream to the
client as they are written, recovery/interop/csv_export.py). A static file is sent as a
stream of its file; it is read into memory first (the files are small), so it is compressed
like a page and its file closed as the response ends. Compression of other streams is off:
none of them is of a compressed type, and a stream handed to Flask-Compress would not be closed.

Secrets and compression (BREACH): a page that reflects what an attacker sends beside a
secret could leak the secret through its compressed size. The patient's pages carry no
secret but the link the patient already holds; staff forms carry Flask-WTF's CSRF token,
whose signature changes every second and cannot be forged from its visible part
(docs/security.md, "Compression").
"""

from __future__ import annotations

from flask import Flask, request

from ..extensions import compress


def init_app(app: Flask) -> None:
    """Compress responses; read static files into memory so they are compressed too."""
    app.config.setdefault("COMPRESS_STREAMS", False)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "zstd", "gzip"])
    compress.init_app(app)
    types = frozenset(app.config["COMPRESS_MIMETYPES"])

    # Registered after Flask-Compress's hook, so it runs before it (Flask runs them last first).
    @app.after_request
    def buffer_static_file(response):
        if (
            request.endpoint == "static"
            and response.status_code == 200
            and response.mimetype in types
            and response.is_streamed
        ):
            response.direct_passthrough = False
            response.make_sequence()
        return response
