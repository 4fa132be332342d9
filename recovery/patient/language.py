"""The patient's choice of language, from a button on any of their pages."""

from flask import abort, redirect, request, url_for

from ..care.episodes import EntryError
from ..care.patients import set_preferred_language
from ..extensions import csrf, db
from ..web.site import safe_next
from . import bp
from .routes import episode_or_invalid


def back_to(token: str, target: str | None) -> str:
    """`target` when it is one of this link's own pages, else the check-in page."""
    own = f"/p/{token}"
    target = safe_next(target)
    if target and (target == own or target.startswith(own + "/")) and ".." not in target:
        return target
    return url_for("patient.checkin", token=token)


@bp.post("/<token>/language")
@csrf.exempt
def set_language(token: str):
    """Keep the chosen language for this patient, then show the same page in it.

    Exempt from CSRF for the reason the check-in is: the link is the credential.
    """
    episode = episode_or_invalid(token)
    try:
        set_preferred_language(
            episode, request.form.get("language", ""), address=request.remote_addr
        )
    except EntryError:
        abort(400)
    db.session.commit()
    return redirect(back_to(token, request.form.get("next")), code=303)
