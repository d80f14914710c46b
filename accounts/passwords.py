"""Password hashing (argon2id) and the password policy (ASVS 5.0 V6.2).

Policy: at least 8 characters, long passwords allowed and never truncated, no
composition rules; refused when in the local list of common (breached) passwords or
when it is, or contains, the email's local part.
"""

from __future__ import annotations

import functools
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context
from flask_babel import gettext as _

MIN_LENGTH = 8
#: Long enough for any passphrase; only guards against absurd request bodies (never truncates).
MAX_LENGTH = 1024

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common_passwords.txt"


def _params() -> tuple[int, int, int]:
    if has_app_context():
        cfg = current_app.config
        return cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"]
    from config import Config

    return Config.ARGON2_TIME_COST, Config.ARGON2_MEMORY_COST, Config.ARGON2_PARALLELISM


@functools.lru_cache(maxsize=8)
def _hasher_for(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )


def hasher() -> PasswordHasher:
    return _hasher_for(*_params())


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash or password is None:
        return False
    try:
        return hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return hasher().check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


#: A hash of a random password, verified against when the account does not exist so a
#: failed login takes the same time whether or not the email is known.
_DUMMY: dict[tuple[int, int, int], str] = {}


def dummy_verify(password: str) -> None:
    params = _params()
    if params not in _DUMMY:
        _DUMMY[params] = _hasher_for(*params).hash("dummy-password-for-timing")
    verify_password(_DUMMY[params], password)


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    try:
        text = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8")
    except FileNotFoundError:  # pragma: no cover - shipped with the package
        return frozenset()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def is_common(password: str) -> bool:
    return password.strip().lower() in common_passwords()


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    """Translated reasons why `password` is not acceptable (empty list: acceptable)."""
    problems: list[str] = []
    password = password or ""
    if len(password) < MIN_LENGTH:
        problems.append(_("Use at least %(n)d characters.", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        problems.append(_("Use at most %(n)d characters.", n=MAX_LENGTH))
    if password and is_common(password):
        problems.append(_("This password is too common. Choose something harder to guess."))
    lowered = password.lower()
    local = (email or "").split("@", 1)[0].strip().lower()
    if local and len(local) >= 3 and local in lowered:
        problems.append(_("Do not use your email address in the password."))
    elif email and lowered == email.strip().lower():
        problems.append(_("Do not use your email address in the password."))
    name_l = (name or "").strip().lower()
    if name_l and len(name_l) >= 4 and lowered == name_l:
        problems.append(_("Do not use your name as the password."))
    return problems
