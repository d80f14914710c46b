"""Small values encrypted at rest under the platform secret.

For what the platform must read back itself but a copy of the database must not show:
users' TOTP secrets, custodian key shares (pending until collection, presented ones
until the opening), a bid's part names and its receipt, the responses kept for
Idempotency-Key replays. AES-256-GCM under a key derived by HKDF-SHA256 from the app's
SECRET_KEY with the caller's label as `info`; the label is also the associated data, so
a value copied to another purpose (or, where the label names its row, to another row)
does not decrypt. Stored: nonce (12 bytes) || ciphertext || tag.

Values are sealed under SECRET_KEY and open under it or any of SECRET_KEY_FALLBACKS
(Flask's setting, which also keeps old sessions valid): to rotate, set the new key and
move the old one to the fallbacks; keep it there as long as values sealed under it are
kept (TOTP secrets, bid part names and receipts: for good, as nothing re-seals them). A
value that opens under none of them is `Unreadable`; callers degrade (a placeholder
name, no replay, no TOTP code accepted) rather than fail.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

__all__ = ["seal", "open_sealed", "seal_on", "open_on", "Unreadable"]

NONCE_LEN = 12


class Unreadable(Exception):
    """The value does not decrypt: the platform secret changed, or the data or its label."""


def _key(secret: str | bytes, label: bytes) -> bytes:
    secret_bytes = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret_bytes)


def seal(label: bytes, plaintext: bytes) -> bytes:
    """nonce || AES-256-GCM(plaintext) under SECRET_KEY's key for `label`, `label` as
    associated data."""
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(_key(current_app.config["SECRET_KEY"], label)).encrypt(nonce, plaintext, label)


def open_sealed(label: bytes, blob: bytes) -> bytes:
    """The plaintext of `seal(label, ...)` under SECRET_KEY or one of its fallbacks;
    Unreadable when it authenticates under none."""
    secrets = [current_app.config["SECRET_KEY"], *(current_app.config.get("SECRET_KEY_FALLBACKS") or ())]
    for secret in secrets:
        try:
            return AESGCM(_key(secret, label)).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], label)
        except (InvalidTag, ValueError):
            continue
    raise Unreadable(label.decode("ascii", "replace"))


# A model exposing a sealed column as a property is read several times per page; these
# remember the plaintext on the instance, for the blob it came from (a reloaded or new
# blob is opened again).
_MEMO = "_at_rest_opened"


def seal_on(owner: object, label: bytes, plaintext: bytes) -> bytes:
    """`seal`, remembering the plaintext on `owner` for the blob returned."""
    blob = seal(label, plaintext)
    owner.__dict__.setdefault(_MEMO, {})[label] = (blob, plaintext)
    return blob


def open_on(owner: object, label: bytes, blob: bytes) -> bytes:
    """`open_sealed`, remembered on `owner` for this very blob."""
    memo = owner.__dict__.setdefault(_MEMO, {})
    hit = memo.get(label)
    if hit is not None and hit[0] is blob:
        return hit[1]
    plaintext = open_sealed(label, blob)
    memo[label] = (blob, plaintext)
    return plaintext
