"""A second factor for staff sign-in: TOTP codes (RFC 6238) from an authenticator app, and
single-use recovery codes for a lost phone.

A code is accepted for the current 30-second step or the one either side (a phone's clock a
little off), and only once: the step of the last accepted code is stored, and a code of that
step or an earlier one is refused, also when two sign-ins race with the same code.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

import pyotp

from ..extensions import db
from .models import RecoveryCode, StaffUser
from .tokens import hash_token

#: The issuer name an authenticator app shows beside the account.
ISSUER = "Recovery"
STEP_SECONDS = 30
RECOVERY_CODES = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(user: StaffUser, secret: str) -> str:
    """The `otpauth://` URI an authenticator app reads (from the QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def code_at(secret: str, when: datetime) -> str:
    """The code an authenticator app shows at `when` (for tests and the command line)."""
    return pyotp.TOTP(secret).at(when)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def normalise(code: str) -> str:
    """A code as typed: spaces and dashes dropped, lower case."""
    return "".join(c for c in code.lower() if c not in " -")


def is_six_digits(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit()


def check_code(user: StaffUser, code: str, now: datetime) -> bool:
    """Whether `code` is a fresh TOTP code of `user`'s secret; using it up if so."""
    code = normalise(code)
    if user.totp_secret is None or not is_six_digits(code):
        return False
    step = _matching_step(user.totp_secret, code, now)
    if step is None:
        return False
    # Conditional update: of two requests with the same code, only one moves the step on.
    won = db.session.execute(
        db.update(StaffUser)
        .where(
            StaffUser.id == user.id,
            db.or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won:
        user.totp_last_step = step
    return bool(won)


def use_recovery_code(user: StaffUser, code: str, now: datetime) -> bool:
    """Whether `code` is one of `user`'s unused recovery codes; using it up if so."""
    code = normalise(code)
    if not code or len(code) > 20:
        return False
    won = db.session.execute(
        db.update(RecoveryCode)
        .where(
            RecoveryCode.staff_user_id == user.id,
            RecoveryCode.code_hash == hash_token(code),
            RecoveryCode.used_dt.is_(None),
        )
        .values(used_dt=now)
    ).rowcount
    return bool(won)


def check_any(user: StaffUser, code: str, now: datetime) -> str | None:
    """ "totp" or "recovery_code" if `code` is a fresh code of either kind, else None."""
    if check_code(user, code, now):
        return "totp"
    if use_recovery_code(user, code, now):
        return "recovery_code"
    return None


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def new_recovery_codes(user: StaffUser) -> list[str]:
    """Replace `user`'s recovery codes with ten new ones, returned once and stored hashed."""
    db.session.execute(db.delete(RecoveryCode).where(RecoveryCode.staff_user_id == user.id))
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    db.session.add_all(
        RecoveryCode(staff_user_id=user.id, code_hash=hash_token(normalise(c))) for c in codes
    )
    db.session.flush()
    return codes


def recovery_codes_left(user: StaffUser) -> int:
    """How many of `user`'s recovery codes are unused."""
    return db.session.scalar(
        db.select(db.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.staff_user_id == user.id, RecoveryCode.used_dt.is_(None))
    )


def start_setup(user: StaffUser) -> str:
    """Begin setting up the second factor: a new secret, kept until a code confirms it."""
    user.totp_pending_secret = new_secret()
    db.session.flush()
    return user.totp_pending_secret


def confirm_setup(user: StaffUser, code: str, now: datetime) -> list[str] | None:
    """Finish setting up with a code from the app: the recovery codes, or None if the code
    does not match the secret being set up."""
    secret = user.totp_pending_secret
    code = normalise(code)
    if secret is None or not is_six_digits(code):
        return None
    step = _matching_step(secret, code, now)
    if step is None:
        return None
    user.totp_secret, user.totp_pending_secret, user.totp_last_step = secret, None, step
    return new_recovery_codes(user)


def set_up_directly(user: StaffUser) -> str:
    """Give `user` a second factor without a confirming code (the command line, which prints
    the URI for the staff member's app); the secret is returned."""
    user.totp_secret, user.totp_pending_secret, user.totp_last_step = new_secret(), None, None
    db.session.flush()
    return user.totp_secret


def turn_off(user: StaffUser) -> None:
    """Remove `user`'s second factor and recovery codes."""
    user.totp_secret = user.totp_pending_secret = user.totp_last_step = None
    db.session.execute(db.delete(RecoveryCode).where(RecoveryCode.staff_user_id == user.id))
    db.session.flush()
