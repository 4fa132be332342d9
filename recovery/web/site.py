"""App-wide web pieces: locale and time zone selection, error pages, health check, home."""

from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from ..care.models import MAX_ID
from ..extensions import db, describe_failure, writes_done
from ..translation import language_name


def select_locale() -> str | None:
    """The patient's own language on patient pages, else the browser's best match.

    A patient page asked for with `?lang=` (the buttons of the "link does not work" page,
    which has no patient to keep a choice) is shown in that language, if offered.
    """
    languages = current_app.config["LANGUAGES"]
    if request.path.startswith("/p/") and request.args.get("lang") in languages:
        return request.args["lang"]
    if g.get("locale") in languages:
        return g.locale
    return request.accept_languages.best_match(languages)


def speak_to_patient(episode) -> None:
    """Words, dates and times of this request in the patient's language and the clinic's time
    zone: their pages, and the API their phone (or a clinic's app) calls with their link."""
    g.locale = episode.patient.preferred_language
    g.timezone = episode.clinic.timezone


def language_options() -> list[dict[str, str]]:
    """The offered languages other than the page's, each named in its own language: what a
    patient page's language buttons offer (templates/patient/_language.html)."""
    current = str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])
    return [
        {"code": code, "name": language_name(code)}
        for code in current_app.config["LANGUAGES"]
        if code != current
    ]


def select_timezone() -> str | None:
    """Show times in the clinic's time zone (the patient's, or the signed-in staff member's)."""
    if g.get("timezone"):
        return g.timezone
    if current_user and current_user.is_authenticated:
        return current_user.clinic.timezone
    return None


def wants_json() -> bool:
    """Whether this request should get JSON errors (the API, or a JSON client)."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, code: str, message: str, field: str | None = None):
    """A JSON error body in the API's one shape."""
    body = {"error": {"code": code, "message": message, "field": field}}
    return jsonify(body), status


def error_title(exc: HTTPException) -> str:
    """The error page's heading in the reader's language."""
    return {
        400: _("Bad request"),
        403: _("Forbidden"),
        404: _("Page not found"),
        405: _("Method not allowed"),
        413: _("Too large"),
        415: _("Unsupported content"),
        429: _("Too many requests"),
        500: _("Something went wrong"),
    }.get(exc.code or 500, exc.name)


def patient_link_in_path() -> str | None:
    """The patient's check-in page when this request is under /p/<token>, else None."""
    parts = request.path.split("/")
    if len(parts) >= 3 and parts[1] == "p" and parts[2]:
        return f"/p/{parts[2]}"
    return None


def error_page(status: int, title: str, message: str | None = None):
    """An error page in the reader's language; a patient's leads back to their check-in.

    A patient must never be sent to the staff sign-in, nor shown the staff header.
    """
    return render_template(
        "error.html",
        status=status,
        title=title,
        message=message,
        patient_link=patient_link_in_path(),
    ), status


class IdConverter(IntegerConverter):
    """`<int:...>` in URLs: a whole number no larger than an id can be (else 404, not 500)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Register the id converter, error handlers, `/`, and `/healthz` (before the blueprints)."""
    app.url_map.converters["int"] = IdConverter

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        # A 405 says which methods the address takes (RFC 9110, 15.5.6), as werkzeug's own does.
        headers = [(name, value) for name, value in exc.get_headers() if name == "Allow"]
        if wants_json():
            code = (exc.name or "error").lower().replace(" ", "_")
            body, status = error_response(exc.code or 500, code, exc.description or exc.name)
            return body, status, headers
        message = {
            403: _("This page is for the clinic's administrators."),
            404: _("There is no page at this address. Check the link, or start again below."),
        }.get(exc.code or 500)
        page, status = error_page(exc.code or 500, error_title(exc), message)
        return page, status, headers

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        if wants_json():
            return error_response(400, "csrf", exc.description)
        message = _(
            "This form could not be sent because the page was open for too long or cookies "
            "are blocked. Please go back, reload the page and try again."
        )
        return error_page(400, _("Please try again"), message)

    @app.errorhandler(SQLAlchemyError)
    def database_error(exc: SQLAlchemyError):
        db.session.rollback()
        log_database_error(app, exc)
        if wants_json():
            return error_response(503, "unavailable", "the service is unavailable, retry later")
        return error_page(503, _("Service unavailable"))

    @app.context_processor
    def page_globals():
        return {"html_lang": str(get_locale() or "en"), "language_options": language_options}

    @app.get("/")
    def index():
        if current_user.is_authenticated:
            return redirect(url_for("staff.worklist"))
        return redirect(url_for("auth.login"))

    @app.get("/healthz")
    def healthz():
        try:
            db.session.execute(db.select(1))
        except SQLAlchemyError:
            db.session.rollback()
            return jsonify({"status": "unavailable"}), 503
        return jsonify({"status": "ok"})


def commit_keeping_loaded() -> None:
    """Commit the request's transaction, keeping what it loaded and wrote as it stands instead
    of expiring it: an answer built after a write (a check-in's result) then comes from the
    rows just written, without reading them back."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def log_database_error(app: Flask, exc: SQLAlchemyError) -> None:
    """Log a failed statement without its values or the database's message
    (`extensions.describe_failure`), with the route it failed on."""
    app.logger.error(
        "database error on %s %s: %s",
        request.method,
        request.url_rule.rule if request.url_rule else "(no route)",
        describe_failure(exc),
    )


def csv_attachment(lines, filename: str) -> Response:
    """A streamed CSV download (`lines` an iterator of text lines) that no cache keeps.

    The caller has committed (the download's audit row): the stream only reads.
    """
    writes_done()
    response = Response(stream_with_context(lines), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
