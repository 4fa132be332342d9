"""Security headers: a strict Content-Security-Policy and friends on every response."""

from flask import Flask, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


def init_app(app: Flask) -> None:
    """Add the security headers to every response."""

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        # The origin only, never the path: patients' links carry their token in the path, and
        # that must not reach other sites nor our own access logs (which record the Referer).
        # Not no-referrer: over HTTPS Flask-WTF (WTF_CSRF_SSL_STRICT) refuses a form posted
        # without a Referer, and its same-origin check compares only scheme, host and port,
        # which the origin carries. "strict" sends nothing from HTTPS to plain HTTP.
        headers.setdefault("Referrer-Policy", "strict-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.endpoint != "static":
            # Pages and API answers carry patient data and personal links: keep them out of
            # every cache (static files have their own rules, recovery/web/assets.py).
            headers.setdefault("Cache-Control", "no-store")
        max_age = app.config["HSTS_MAX_AGE"]
        # Only over HTTPS (browsers ignore it over HTTP), and not in debug: a developer who
        # tried HTTPS on localhost would find plain http://localhost refused for a year.
        if max_age and request.is_secure and not app.debug:
            headers.setdefault("Strict-Transport-Security", f"max-age={max_age}")
        return response
