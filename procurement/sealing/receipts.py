"""Bid receipts signed with the platform's Ed25519 key (core.signing).

A receipt is a JSON object::

    {"type": "canal-bid-receipt", "version": 1, "tender_id": .., "bidder_org_id": ..,
     "lots": [..], "received_at": "2026-11-28T04:30:00.123456Z",
     "parts": [{"name": .., "sha256": .., "size": ..}, ..],
     "signature": {"algorithm": "Ed25519", "key_id": .., "public_key_pem": .., "value": base64}}

The signed bytes are the canonical JSON (sorted keys, no spaces, UTF-8) of the whole
receipt with only ``signature.value`` removed, so the key id, algorithm and embedded
public key are covered too. Anyone can verify offline with the embedded key; pass the
platform's published key as `trusted_public_key_pem` to also pin who signed.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization

from core import signing
from procurement.sealing.errors import InvalidParameters

__all__ = ["make_receipt", "verify_receipt", "canonical_json", "receipt_signed_bytes", "RECEIPT_TYPE"]

RECEIPT_TYPE = "canal-bid-receipt"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8 (non-ASCII kept as is)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def receipt_signed_bytes(receipt: dict) -> bytes:
    """The bytes a receipt's signature covers (the receipt without signature.value)."""
    body = copy.deepcopy(receipt)
    sig = body.get("signature")
    if isinstance(sig, dict):
        sig.pop("value", None)
    return canonical_json(body)


def _utc_iso(moment: datetime) -> str:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidParameters("The server time must be an aware datetime.")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_receipt(
    tender_id: int | str,
    bidder_org_id: int | str,
    lots: Iterable[int | str],
    server_time: datetime,
    parts: Sequence[tuple[str, str, int]],
) -> dict:
    """A signed receipt for a submitted bid. `parts` are (name, sha256 hex of the sealed blob, size)."""
    part_list = []
    for item in parts:
        try:
            name, digest, size = item
        except (TypeError, ValueError) as exc:
            raise InvalidParameters("Each part is a (name, sha256, size) triple.") from exc
        if not isinstance(digest, str) or not _SHA256_RE.match(digest):
            raise InvalidParameters(f"The SHA-256 of part {name!r} must be 64 lower-case hex digits.")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidParameters(f"The size of part {name!r} must be a non-negative integer.")
        part_list.append({"name": str(name), "sha256": digest, "size": size})
    public_pem = signing.public_key_pem()
    receipt: dict[str, Any] = {
        "type": RECEIPT_TYPE,
        "version": 1,
        "tender_id": tender_id,
        "bidder_org_id": bidder_org_id,
        "lots": list(lots),
        "received_at": _utc_iso(server_time),
        "parts": part_list,
        "signature": {
            "algorithm": "Ed25519",
            "key_id": signing.key_id(public_pem),
            "public_key_pem": public_pem.decode("ascii"),
        },
    }
    receipt["signature"]["value"] = base64.b64encode(signing.sign(receipt_signed_bytes(receipt))).decode("ascii")
    return receipt


def _raw_ed25519(pem: bytes) -> bytes | None:
    try:
        key = serialization.load_pem_public_key(pem)
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    except (ValueError, TypeError):
        return None


def verify_receipt(receipt: dict, trusted_public_key_pem: bytes | None = None) -> bool:
    """True when the receipt is intact and signed by its embedded key (and that key is
    `trusted_public_key_pem`, when given). Never raises on malformed input."""
    try:
        sig = receipt["signature"]
        if receipt.get("type") != RECEIPT_TYPE or sig.get("algorithm") != "Ed25519":
            return False
        embedded = sig["public_key_pem"].encode("ascii")
        if sig.get("key_id") != signing.key_id(embedded):
            return False
        if trusted_public_key_pem is not None:
            trusted_raw = _raw_ed25519(trusted_public_key_pem)
            if trusted_raw is None or trusted_raw != _raw_ed25519(embedded):
                return False
        value = base64.b64decode(sig["value"], validate=True)
        return signing.verify(receipt_signed_bytes(receipt), value, public_key_pem=embedded)
    except (KeyError, TypeError, AttributeError, ValueError, UnicodeError, binascii.Error):
        return False
