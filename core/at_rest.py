"""Small values encrypted at rest under the platform secret.

For what the platform must read back itself but a copy of the database must not show:
custodian key shares between set-up and collection or presentation, a bid's part names
and its receipt before the opening. AES-256-GCM under a key derived by HKDF-SHA256 from
the app's SECRET_KEY with the caller's label as `info`; the label is also the associated
data, so a value copied to another row or purpose does not decrypt. Stored:
nonce (12 bytes) || ciphertext || tag.

Rotating SECRET_KEY makes such values unreadable (`Unreadable`): rotate before
publishing tenders or after their openings.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

__all__ = ["seal", "open_sealed", "Unreadable"]

NONCE_LEN = 12


class Unreadable(Exception):
    """The value does not decrypt: the platform secret changed, or the data or its label."""


def _key(label: bytes) -> bytes:
    secret = current_app.config["SECRET_KEY"]
    secret_bytes = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret_bytes)


def seal(label: bytes, plaintext: bytes) -> bytes:
    """nonce || AES-256-GCM(plaintext) under the key of `label`, `label` as associated data."""
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(_key(label)).encrypt(nonce, plaintext, label)


def open_sealed(label: bytes, blob: bytes) -> bytes:
    """The plaintext of `seal(label, ...)`; Unreadable when it does not authenticate."""
    try:
        return AESGCM(_key(label)).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], label)
    except (InvalidTag, ValueError) as exc:
        raise Unreadable(str(label)) from exc
