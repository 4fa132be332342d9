"""Secret links and API tokens: random, shown once, stored only as a SHA-256 hash."""

import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits; the issue asks for at least 128.


def new_token() -> str:
    """A fresh URL-safe random token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The hex SHA-256 of `token`, as stored in the database."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
