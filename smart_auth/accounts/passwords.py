"""Password hashing with Argon2id (RFC 9106; OWASP ASVS V2.4.1), through argon2-cffi."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id, the library's RFC 9106 "low memory" profile

MIN_LENGTH = 10  # OWASP ASVS V2.1.1: at least 12 is advised; 10 keeps demo accounts usable


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; a missing or broken hash never matches."""
    if not stored:
        _hasher.hash(password)  # same cost either way: no account enumeration by timing
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def acceptable(password: str) -> bool:
    """ASVS V2.1.1/V2.1.2: length between MIN_LENGTH and 128; no composition rules."""
    return MIN_LENGTH <= len(password) <= 128
