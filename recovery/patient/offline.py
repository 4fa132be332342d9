"""The patient pages as an app for the home screen that works without a connection: the web
app manifest, the service worker, and the start page the home-screen icon opens.

All three live under /p/, so the service worker's reach (its scope) is the patient pages and
never a staff page. None of them names a patient: the start page holds no token, and the
service worker finds the patient's own link among the pages it kept on that phone.
What is kept, for how long, and the outbox of answers made offline: docs/offline.md.
"""

import hashlib
import json

from flask import current_app, jsonify, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from . import bp

THEME_COLOUR = "#0b5cab"
#: What the check-in page needs to open without a connection; kept when the worker installs.
SHELL = ("css/app.css", "js/outbox.js", "js/offline.js", "favicon.svg", "icons/icon.svg")


@bp.get("/")
def start():
    """Where the home-screen icon leads before the phone has kept a patient's link."""
    return render_template("patient/start.html")


@bp.get("/manifest.webmanifest")
def manifest():
    """The web app manifest: name, icons and colours for the home screen."""
    icons = [{"src": "icons/icon.svg", "sizes": "any", "type": "image/svg+xml"}]
    icons += [
        {"src": f"icons/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
        for size in (192, 512)
    ]
    for icon in icons:
        icon["src"] = url_for("static", filename=icon["src"])
    body = {
        "id": url_for("patient.start"),
        "name": _("Recovery check-in"),
        "short_name": _("Check-in"),
        "lang": str(get_locale() or "en"),
        "start_url": url_for("patient.start"),
        "scope": url_for("patient.start"),
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": "#ffffff",
        "icons": icons,
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/sw.js")
def service_worker():
    """The service worker: static/js/sw.js after the URLs it keeps and its version.

    The version is a digest of those URLs (fingerprinted, so any change to a file changes
    them) and of the worker's own text: a new release is a new worker, which replaces the old
    one's files. `no-cache` makes the browser ask for it again on each visit.
    """
    shell = [url_for("static", filename=name) for name in SHELL]
    outbox = url_for("static", filename="js/outbox.js")
    with open(f"{current_app.static_folder}/js/sw.js", encoding="utf-8") as file:
        script = file.read()
    version = hashlib.sha256(json.dumps([shell, script]).encode()).hexdigest()[:12]
    constants = {"SHELL": shell, "OUTBOX": outbox, "START": url_for("patient.start")}
    constants["VERSION"] = version
    head = "".join(f"var {name} = {json.dumps(value)};\n" for name, value in constants.items())
    response = current_app.response_class(head + script, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response
