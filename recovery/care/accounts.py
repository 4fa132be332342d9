"""Staff accounts and their integration API tokens."""

import secrets

from ..clinical.vocabulary import Role
from ..extensions import db
from .clinics import SetupError
from .models import Clinic, StaffUser
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
