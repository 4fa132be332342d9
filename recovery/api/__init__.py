"""The JSON API, version 1: patient check-ins and integrations. Described at openapi.json."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import integration, routes  # noqa: E402,F401  (registers the views on bp)
