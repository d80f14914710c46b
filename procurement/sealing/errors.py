"""Exceptions of the sealing core: every failure is a SealingError with a stable `code`."""

from __future__ import annotations

__all__ = [
    "SealingError",
    "InvalidParameters",
    "AuthenticationFailed",
    "MalformedBlob",
    "InvalidShareCode",
    "WrongShare",
    "NotEnoughShares",
    "KeyMismatch",
    "RecoveryFailed",
]


class SealingError(Exception):
    """Base class. `code` is stable (for logs, API errors); `message` is English."""

    code = "sealing_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidParameters(SealingError):
    code = "invalid_parameters"


class AuthenticationFailed(SealingError):
    """A sealed or wrapped blob does not authenticate (tampered, wrong key or wrong aad)."""

    code = "authentication_failed"


class MalformedBlob(AuthenticationFailed):
    """A blob has the wrong structure or version (also an authentication failure)."""

    code = "malformed_blob"


class InvalidShareCode(SealingError):
    """A typed share code or share file cannot be parsed (typo, wrong length, checksum)."""

    code = "invalid_share_code"


class WrongShare(SealingError):
    """A share does not match its public commitment. `index` names it."""

    code = "wrong_share"

    def __init__(self, message: str, *, index: int | None = None, position: int | None = None) -> None:
        super().__init__(message, index=index, position=position)
        self.index = index
        self.position = position


class NotEnoughShares(SealingError):
    code = "not_enough_shares"

    def __init__(self, message: str, *, have: int, need: int) -> None:
        super().__init__(message, have=have, need=need)
        self.have = have
        self.need = need


class KeyMismatch(SealingError):
    """The rebuilt private key does not belong to the tender's stored public key."""

    code = "key_mismatch"


class RecoveryFailed(SealingError):
    """The recovery share cannot be decrypted (wrong recovery key, tampered blob)."""

    code = "recovery_failed"
