"""Responses compressed by the app itself, since `make run` and small clinics have no proxy in
front to do it.

- **Pages and API answers** (HTML, JSON, FHIR JSON): Flask-Compress, in zstd, brotli or gzip,
  whichever the browser accepts, on every response.
- **Static files** (CSS, JS, SVG, the manifest): here, once per file version and encoding
  (brotli or gzip), kept in memory, so a phone gets plotly.js or app.css compressed without
  the server compressing it again for every visitor. Ranges are not offered for them: a
  range would count bytes of the uncompressed file.
- **CSV downloads** are not compressed: they stream to the client as they are written
  (recovery/interop/csv_export.py). Compression of other streams is off: none is of a
  compressed type.

Secrets and compression (BREACH): a page that reflects what an attacker sends beside a
secret could leak the secret through its compressed size. The patient's pages carry no
secret but the link the patient already holds; staff forms carry Flask-WTF's CSRF token,
whose signature changes every second and cannot be forged from its visible part
(docs/security.md, "Compression").
"""

from __future__ import annotations

import gzip

import brotli
from flask import Flask, request

from ..extensions import compress

#: Types compressed beside Flask-Compress's defaults.
EXTRA_TYPES = ("application/fhir+json",)
#: At most this many compressed static files are kept (there are a few dozen).
STATIC_CACHE_SIZE = 256


def _compressed(data: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return brotli.compress(data, quality=9)
    return gzip.compress(data, compresslevel=9, mtime=0)


def init_app(app: Flask) -> None:
    """Compress pages and answers (Flask-Compress) and static files (cached here)."""
    app.config.setdefault("COMPRESS_STREAMS", False)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "zstd", "gzip"])
    compress.init_app(app)
    compress.compress_mimetypes_set.update(EXTRA_TYPES)
    types = frozenset(compress.compress_mimetypes_set)
    min_size = app.config["COMPRESS_MIN_SIZE"]
    cache: dict[tuple[str, str, str], bytes] = {}

    # Registered after Flask-Compress's hook, so it runs before it (Flask runs them last
    # first); Flask-Compress leaves a response that already has a Content-Encoding alone.
    @app.after_request
    def compress_static_file(response):
        if not (
            request.endpoint == "static"
            and response.status_code == 200
            and response.mimetype in types
        ):
            return response
        # Read the file and close it now, not when the response ends: a development server
        # whose client hangs up mid-response never ends it, and the file would stay open.
        response.direct_passthrough = False
        source = response.response
        response.set_data(b"".join(response.iter_encoded()))
        if hasattr(source, "close"):
            source.close()
        response.headers.pop("Accept-Ranges", None)
        encoding = request.accept_encodings.best_match(["br", "gzip"])
        if encoding is None or (response.content_length or 0) < min_size:
            return response
        etag, _weak = response.get_etag()
        key = (request.path, etag or "", encoding)
        body = cache.get(key)
        if body is None:
            body = _compressed(response.get_data(), encoding)
            if len(cache) < STATIC_CACHE_SIZE:
                cache[key] = body
        response.set_data(body)
        response.headers["Content-Encoding"] = encoding
        response.vary.add("Accept-Encoding")
        if etag:
            response.set_etag(f"{etag}:{encoding}")
        return response.make_conditional(request)
