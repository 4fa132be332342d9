"""Staff sign-in and sign-out, server-side sessions, and the member's own account pages."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import account, gate, routes  # noqa: E402,F401  (registers the views on bp)
