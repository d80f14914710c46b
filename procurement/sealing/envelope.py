"""Bid sealing: ephemeral X25519 + HKDF-SHA256 + AES-256-GCM (an ECIES construction).

Blob layout (version 1)::

    version (1 byte, 0x01) || ephemeral public key (32) || nonce (12) || ciphertext + GCM tag (16)

The AES key is HKDF-SHA256(shared secret, salt = ephemeral public || recipient public,
info = b"canal-bid-v1"). The GCM associated data is the version byte followed by the
caller's `aad` (see `bid_aad`), so a blob moved to another tender, bidder or part does
not open. Flipping any byte of the blob makes `unseal` raise AuthenticationFailed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from procurement.sealing.errors import AuthenticationFailed, InvalidParameters, MalformedBlob

__all__ = ["SealedBlob", "seal", "unseal", "bid_aad", "BLOB_VERSION", "BID_INFO", "OVERHEAD"]

BLOB_VERSION = 1
BID_INFO = b"canal-bid-v1"
_KEY_LEN = 32
_NONCE_LEN = 12
_TAG_LEN = 16
_HEADER_LEN = 1 + _KEY_LEN + _NONCE_LEN
OVERHEAD = _HEADER_LEN + _TAG_LEN  # bytes added to the plaintext


@dataclass(frozen=True)
class SealedBlob:
    """A sealed part: the bytes to store and their SHA-256 (hex), which goes in the receipt."""

    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"SealedBlob(size={self.size}, sha256={self.sha256!r})"


def bid_aad(tender_id: int | str, bidder_org_id: int | str, part_name: str) -> bytes:
    """The associated data that binds a sealed part to its tender, bidder and part name."""
    body = json.dumps(
        {"bidder": str(bidder_org_id), "part": str(part_name), "tender": str(tender_id)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return b"canal-bid-aad-v1\x00" + body.encode("utf-8")


def _derive(shared: bytes, ephemeral_raw: bytes, recipient_raw: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_LEN, salt=ephemeral_raw + recipient_raw, info=info).derive(
        shared
    )


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def seal(public_key_raw: bytes, plaintext: bytes, *, aad: bytes, info: bytes = BID_INFO) -> SealedBlob:
    """Encrypt `plaintext` to the tender's X25519 public key (32 raw bytes).

    The caller bounds the plaintext size (the whole part is held in memory).
    """
    if not isinstance(public_key_raw, bytes | bytearray) or len(public_key_raw) != _KEY_LEN:
        raise InvalidParameters("The tender public key must be 32 raw bytes.")
    if not isinstance(plaintext, bytes | bytearray):
        raise InvalidParameters("The plaintext must be bytes.")
    recipient = X25519PublicKey.from_public_bytes(bytes(public_key_raw))
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = _raw_public(ephemeral.public_key())
    try:
        shared = ephemeral.exchange(recipient)
    except ValueError as exc:  # low-order point: refuse to seal to it
        raise InvalidParameters("The tender public key is not a valid X25519 key.") from exc
    key = _derive(shared, ephemeral_raw, bytes(public_key_raw), info)
    nonce = os.urandom(_NONCE_LEN)
    version = bytes([BLOB_VERSION])
    body = AESGCM(key).encrypt(nonce, bytes(plaintext), version + aad)
    data = version + ephemeral_raw + nonce + body
    return SealedBlob(data=data, sha256=hashlib.sha256(data).hexdigest())


def unseal(
    private_key: X25519PrivateKey | bytes, blob: bytes | SealedBlob, *, aad: bytes, info: bytes = BID_INFO
) -> bytes:
    """Decrypt a sealed blob with the tender's private key (object or 32 raw bytes).

    Raises AuthenticationFailed (MalformedBlob for a broken structure) when the blob was
    tampered with, the key is wrong or `aad` differs from the one used to seal.
    """
    if isinstance(blob, SealedBlob):
        blob = blob.data
    if isinstance(private_key, bytes | bytearray):
        private_key = X25519PrivateKey.from_private_bytes(bytes(private_key))
    if len(blob) < OVERHEAD:
        raise MalformedBlob("The sealed blob is too short.")
    if blob[0] != BLOB_VERSION:
        raise MalformedBlob(f"Unsupported sealed blob version {blob[0]}.")
    ephemeral_raw = bytes(blob[1 : 1 + _KEY_LEN])
    nonce = bytes(blob[1 + _KEY_LEN : _HEADER_LEN])
    body = bytes(blob[_HEADER_LEN:])
    recipient_raw = _raw_public(private_key.public_key())
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    except ValueError as exc:
        raise AuthenticationFailed("The sealed blob does not authenticate (bad ephemeral key).") from exc
    key = _derive(shared, ephemeral_raw, recipient_raw, info)
    try:
        return AESGCM(key).decrypt(nonce, body, bytes([BLOB_VERSION]) + aad)
    except InvalidTag as exc:
        raise AuthenticationFailed(
            "The sealed blob does not authenticate: it was altered, or the key or context is wrong."
        ) from exc
