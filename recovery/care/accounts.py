"""Staff accounts and their integration API tokens.

An administrator's changes to a colleague's account are services here, whoever calls them (the
team page today), each recorded in the audit trail with who did it; one rule is theirs: no one
turns off or resets their own account this way (someone must be left who can turn accounts on;
one's own password changes on the Password page, with the current one).
"""

import secrets

from ..clinical.vocabulary import Role
from ..extensions import db
from . import sessions, twofactor
from .audit import record_event
from .clinics import SetupError
from .models import Clinic, StaffUser, utcnow
from .tokens import hash_token, new_token

#: The shortest password a staff account may have.
MIN_PASSWORD_LENGTH = 10


def create_staff(
    clinic: Clinic, email: str, password: str, role: str = "nurse", name: str = ""
) -> StaffUser:
    """Create a staff account; raises SetupError for a bad role, short password or taken email."""
    email = email.strip().lower()
    if role not in Role.codes():
        raise SetupError(f"role must be one of {', '.join(Role.codes())}")
    if "@" not in email:
        raise SetupError("that is not an email address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SetupError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if db.session.scalar(db.select(StaffUser).filter_by(email=email)) is not None:
        raise SetupError(f"a staff account for {email} already exists")
    user = StaffUser(clinic=clinic, email=email, role=role, name=name.strip())
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def issue_api_token(user: StaffUser) -> str:
    """Give `user` a new integration API token, returned once and stored hashed."""
    token = new_token()
    user.api_token_hash = hash_token(token)
    db.session.flush()
    return token


def revoke_api_token(user: StaffUser) -> None:
    """Stop `user`'s integration API token from working."""
    user.api_token_hash = None
    db.session.flush()


def temporary_password() -> str:
    """A random password for a new account, to be changed at first sign-in (16 characters)."""
    return secrets.token_urlsafe(12)


def staff_in_clinic(staff_id: int, clinic_id: int) -> StaffUser | None:
    """The staff member with this id if they belong to the clinic."""
    return db.session.scalar(
        db.select(StaffUser).where(StaffUser.id == staff_id, StaffUser.clinic_id == clinic_id)
    )


def clinic_staff(clinic_id: int) -> list[StaffUser]:
    """The clinic's staff: active first, then by name and email."""
    return list(
        db.session.scalars(
            db.select(StaffUser)
            .where(StaffUser.clinic_id == clinic_id)
            .order_by(StaffUser.is_active.desc(), StaffUser.name, StaffUser.email)
        )
    )


def staff_for_api_token(token: str) -> StaffUser | None:
    """The active staff user whose API token is `token`, or None."""
    if not token:
        return None
    user = db.session.scalar(db.select(StaffUser).filter_by(api_token_hash=hash_token(token)))
    return user if user is not None and user.is_active else None


class AccountError(ValueError):
    """A change to an account refused; `code` says why ("own_account")."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _audit(action: str, member: StaffUser, by: StaffUser, address: str | None) -> None:
    record_event(action, clinic_id=by.clinic_id, staff=by, detail=member.email, address=address)


def _not_oneself(member: StaffUser, by: StaffUser) -> None:
    if member.id == by.id:
        raise AccountError("own_account", "not on one's own account")


def add_staff(
    clinic: Clinic, email: str, role: str, name: str, *, by: StaffUser, address: str | None = None
) -> tuple[StaffUser, str]:
    """A new account with a temporary password (returned once), audited as `staff_added`.

    SetupError as `create_staff` (a taken email, a bad role).
    """
    password = temporary_password()
    member = create_staff(clinic, email, password, role, name)
    member.must_change_password = True
    _audit("staff_added", member, by, address)
    return member, password


def deactivate_staff(member: StaffUser, *, by: StaffUser, address: str | None = None) -> bool:
    """Turn an account off (it cannot sign in; its sessions and API token stop working).

    The API token is forgotten, not just refused while the account is off: turning the
    account back on does not bring it back (a new one must be issued).
    False if it was off already; AccountError for one's own account.
    """
    _not_oneself(member, by)
    if not member.is_active:
        return False
    member.is_active = False
    member.api_token_hash = None
    sessions.end_sessions(member, sessions.DEACTIVATED, utcnow())
    _audit("staff_deactivated", member, by, address)
    db.session.flush()
    return True


def reactivate_staff(member: StaffUser, *, by: StaffUser, address: str | None = None) -> bool:
    """Turn an account back on (with no API token: deactivating forgot it); False if it was
    on already."""
    if member.is_active:
        return False
    member.is_active = True
    _audit("staff_reactivated", member, by, address)
    db.session.flush()
    return True


def reset_staff_password(member: StaffUser, *, by: StaffUser, address: str | None = None) -> str:
    """Give an account a new temporary password, returned once; its sessions end.

    AccountError for one's own account.
    """
    _not_oneself(member, by)
    password = temporary_password()
    member.set_password(password)
    member.must_change_password = True
    sessions.end_sessions(member, sessions.PASSWORD_RESET, utcnow())
    _audit("staff_password_reset", member, by, address)
    db.session.flush()
    return password


def issue_staff_token(member: StaffUser, *, by: StaffUser, address: str | None = None) -> str:
    """`issue_api_token`, audited as `api_token_issued` by `by`."""
    token = issue_api_token(member)
    _audit("api_token_issued", member, by, address)
    return token


def revoke_staff_token(member: StaffUser, *, by: StaffUser, address: str | None = None) -> bool:
    """`revoke_api_token`, audited as `api_token_revoked`; False if there was no token."""
    if member.api_token_hash is None:
        return False
    revoke_api_token(member)
    _audit("api_token_revoked", member, by, address)
    return True


def reset_second_factor(member: StaffUser, *, by: StaffUser, address: str | None = None) -> bool:
    """Turn off a colleague's two-step sign-in (a lost phone and lost recovery codes), audited
    as `second_factor_reset`; their sessions end. False if it was off; AccountError for one's
    own account."""
    _not_oneself(member, by)
    if not member.has_second_factor:
        return False
    twofactor.turn_off(member)
    sessions.end_sessions(member, sessions.SECOND_FACTOR_RESET, utcnow())
    _audit("second_factor_reset", member, by, address)
    return True
