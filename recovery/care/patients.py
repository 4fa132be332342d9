"""What patients choose for themselves: the language of their pages and reminders."""

from flask import current_app

from ..extensions import db
from ..translation import language_name
from .audit import record_event
from .episodes import EntryError
from .models import Episode


def require_language(code: str) -> str:
    """`code` when the app offers it (the LANGUAGES setting), else EntryError ("language")."""
    offered = current_app.config["LANGUAGES"]
    if code not in offered:
        raise EntryError(
            "language",
            "invalid",
            f"unknown language {code!r}: choose from {', '.join(offered)}",
        )
    return code


def set_preferred_language(episode: Episode, code: str, *, address: str | None = None) -> bool:
    """Keep `code` as the patient's language (their pages and reminders); the timeline
    records a change. Returns whether anything changed; EntryError for a language not offered.
    """
    require_language(code)
    patient = episode.patient
    if patient.preferred_language == code:
        return False
    patient.preferred_language = code
    record_event(
        "language_changed",
        clinic_id=episode.clinic_id,
        episode=episode,
        actor="patient",
        detail=f"{language_name(code)} ({code})",
        address=address,
    )
    db.session.flush()
    return True
