"""Loading what a staff page acts on, or 404: never reveal that another clinic's record exists.

View helpers (like Flask-SQLAlchemy's `get_or_404`), so they may abort; services never do.
"""

from flask import abort

from ..care.models import Alert, Episode, StaffUser
from ..extensions import db


def episode_for_staff(episode_id: int, user: StaffUser) -> Episode:
    """The episode if it belongs to the user's clinic, else 404 (never reveal others')."""
    episode = db.session.get(Episode, episode_id)
    if episode is None or episode.clinic_id != user.clinic_id:
        abort(404)
    return episode


def alert_for_staff(alert_id: int, user: StaffUser) -> Alert:
    """The alert if its episode belongs to the user's clinic, else 404."""
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.episode.clinic_id != user.clinic_id:
        abort(404)
    return alert
