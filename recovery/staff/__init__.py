"""The staff side: worklist, enrolment, patient links, episodes."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.before_request
@login_required
def require_login():
    """Every staff page needs a signed-in staff member."""


from . import audit, cohort, exports, routes, settings, team  # noqa: E402,F401  (registers views)
