"""Sealed bids: the cryptographic core (pure; no database, no Flask views).

Design
======

Tender key (at publication), `setup_tender_keys(k, n, recovery_public_key_pem)`:

* An X25519 key pair. The private key (32 raw bytes) is wrapped with AES-128-GCM
  under a random 16-byte key-encryption key (KEK), random 12-byte nonce, associated
  data ``b"canal-tender-key-v1\\0" || public key`` (a wrapped key moved to another
  tender does not open). Stored: ``nonce || ciphertext+tag``.
* The KEK is split with Shamir (pycryptodome, GF(2^128)) **k of n + 1**: shares 1..n go
  to the n custodians, share n + 1 is the **recovery share**, sealed (same ECIES as the
  bids, info ``b"canal-recovery-v1"``) to an offline X25519 recovery public key whose
  private key is held off the platform (e.g. by the city's notary;
  `generate_recovery_keypair`).
* Public commitments: SHA-256(index byte || share) for all n + 1 shares.
* The KEK and the private key are never returned or stored in the clear; the
  custodian shares are returned once, to be handed out and not stored.

Recovery-share design: the recovery share *replaces one lost custodian share*. Opening
needs k shares, so the usual opening is k custodians and the recovery opening is the
recovery share plus k - 1 custodians (`open_with_recovery`). k >= 2 is enforced, so
neither one custodian nor the recovery holder can ever open alone, and the recovery
holder cannot read bids early without colluding custodians. Bids stay locked only if
more than n - k + 1 custodian shares are lost (fewer than k - 1 remain). We did not
encrypt the whole KEK to the recovery key because that would let one party open.

Bids: `seal(public_key_raw, plaintext, aad=bid_aad(tender, bidder, part))` -> SealedBlob
(ephemeral X25519, HKDF-SHA256, AES-256-GCM; layout in `envelope`); `unseal` raises
AuthenticationFailed on any altered byte, wrong key or wrong aad.

Opening: `check_share` (WrongShare names the share), `rebuild_private_key` (k valid
distinct shares, duplicates count once, NotEnoughShares / KeyMismatch), then `unseal`.

Receipts: `make_receipt` / `verify_receipt` (Ed25519 via core.signing).

Share codes for custodians: `KeyShare.code`, `share_file_json`, `parse_share` (typos
are located by group; see `shares`).

Every failure is a `SealingError` subclass with a stable `code` and an English
message; the service layer maps them to DomainErrors.
"""

from procurement.sealing.envelope import BID_INFO, OVERHEAD, SealedBlob, bid_aad, seal, unseal
from procurement.sealing.errors import (
    AuthenticationFailed,
    InvalidParameters,
    InvalidShareCode,
    KeyMismatch,
    MalformedBlob,
    NotEnoughShares,
    RecoveryFailed,
    SealingError,
    WrongShare,
)
from procurement.sealing.keys import (
    MAX_CUSTODIANS,
    TenderKeys,
    generate_recovery_keypair,
    key_fingerprint,
    open_with_recovery,
    public_key_raw_from_pem,
    rebuild_private_key,
    recovery_public_pem_of,
    setup_tender_keys,
)
from procurement.sealing.receipts import canonical_json, make_receipt, receipt_signed_bytes, verify_receipt
from procurement.sealing.shares import (
    KeyShare,
    check_share,
    encode_share_code,
    parse_share,
    share_commitment,
    share_file_json,
)

__all__ = [
    "AuthenticationFailed",
    "BID_INFO",
    "InvalidParameters",
    "InvalidShareCode",
    "KeyMismatch",
    "KeyShare",
    "MAX_CUSTODIANS",
    "MalformedBlob",
    "NotEnoughShares",
    "OVERHEAD",
    "RecoveryFailed",
    "SealedBlob",
    "SealingError",
    "TenderKeys",
    "WrongShare",
    "bid_aad",
    "canonical_json",
    "check_share",
    "encode_share_code",
    "generate_recovery_keypair",
    "recovery_public_pem_of",
    "key_fingerprint",
    "make_receipt",
    "open_with_recovery",
    "parse_share",
    "public_key_raw_from_pem",
    "rebuild_private_key",
    "receipt_signed_bytes",
    "seal",
    "setup_tender_keys",
    "share_commitment",
    "share_file_json",
    "unseal",
    "verify_receipt",
]
