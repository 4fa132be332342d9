"""The patient side: the personal check-in link, opened on the patient's own phone."""

from flask import Blueprint

bp = Blueprint("patient", __name__, url_prefix="/p")

from . import language, offline, routes  # noqa: E402,F401  (registers the views on bp)
