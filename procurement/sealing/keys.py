"""Tender key set-up, opening with custodian shares, and the recovery path.

See the package docstring (procurement/sealing/__init__.py) for the design.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from Crypto.Protocol.SecretSharing import Shamir
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from procurement.sealing.envelope import seal, unseal
from procurement.sealing.errors import (
    AuthenticationFailed,
    InvalidParameters,
    KeyMismatch,
    NotEnoughShares,
    RecoveryFailed,
    WrongShare,
)
from procurement.sealing.shares import SHARE_LEN, KeyShare, check_share, parse_share, share_commitment

__all__ = [
    "TenderKeys",
    "setup_tender_keys",
    "rebuild_private_key",
    "open_with_recovery",
    "generate_recovery_keypair",
    "key_fingerprint",
    "public_key_raw_from_pem",
    "MAX_CUSTODIANS",
]

KEK_LEN = 16
_NONCE_LEN = 12
MAX_CUSTODIANS = 50
_WRAP_AAD = b"canal-tender-key-v1\x00"
_RECOVERY_AAD = b"canal-recovery-share-v1\x00"
_RECOVERY_INFO = b"canal-recovery-v1"


def key_fingerprint(public_key_raw: bytes) -> str:
    """SHA-256 hex of a raw public key in groups of four: 'ab12 cd34 ...' (16 groups)."""
    digest = hashlib.sha256(public_key_raw).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_raw_from_pem(pem: bytes) -> bytes:
    """Raw 32 bytes of an X25519 public key in PEM (SubjectPublicKeyInfo)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise InvalidParameters("The recovery public key is not a valid PEM public key.") from exc
    if not isinstance(key, X25519PublicKey):
        raise InvalidParameters("The recovery public key must be an X25519 key.")
    return _raw(key)


@dataclass(frozen=True)
class TenderKeys:
    """Everything `setup_tender_keys` produces.

    Store: threshold, custodians, public_key_raw (or _pem), fingerprint,
    wrapped_private_key, share_commitments, encrypted_recovery_share,
    recovery_key_fingerprint. Hand out `custodian_shares` once (share i to custodian i)
    and never store them in the clear. The KEK and the private key are not in here.

    share_commitments[i - 1] is the commitment of share i; the last one
    (index custodians + 1) is the recovery share's.
    """

    threshold: int
    custodians: int
    public_key_raw: bytes
    public_key_pem: bytes
    fingerprint: str
    wrapped_private_key: bytes  # nonce (12) || AES-128-GCM ciphertext + tag
    share_commitments: tuple[str, ...]
    encrypted_recovery_share: bytes  # sealed blob to the recovery key
    recovery_key_fingerprint: str
    custodian_shares: tuple[KeyShare, ...] = field(repr=False)

    @property
    def recovery_index(self) -> int:
        return self.custodians + 1


def _wrap_aad(public_key_raw: bytes) -> bytes:
    return _WRAP_AAD + public_key_raw


def _recovery_aad(public_key_raw: bytes) -> bytes:
    return _RECOVERY_AAD + public_key_raw


def setup_tender_keys(k: int, n: int, recovery_public_key_pem: bytes) -> TenderKeys:
    """Create a tender's key pair, wrap its private key and split the KEK k-of-(n+1).

    Shares 1..n go to the custodians, share n+1 is encrypted to the recovery key.
    Requires 2 <= k <= n <= MAX_CUSTODIANS (one person must never open alone).
    """
    for name, value in (("k", k), ("n", n)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidParameters(f"{name} must be an integer.")
    if k < 2:
        raise InvalidParameters("The threshold must be at least 2: one person must not be able to open the bids.")
    if n < k:
        raise InvalidParameters(f"There must be at least as many custodians ({n}) as the threshold ({k}).")
    if n > MAX_CUSTODIANS:
        raise InvalidParameters(f"At most {MAX_CUSTODIANS} custodians are supported.")
    recovery_raw = public_key_raw_from_pem(recovery_public_key_pem)

    private = X25519PrivateKey.generate()
    public_raw = _raw(private.public_key())
    public_pem = _public_pem(private)
    private_raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    kek = os.urandom(KEK_LEN)
    nonce = os.urandom(_NONCE_LEN)
    wrapped = nonce + AESGCM(kek).encrypt(nonce, private_raw, _wrap_aad(public_raw))
    del private_raw, private

    raw_shares = Shamir.split(k, n + 1, kek)
    del kek
    shares = tuple(KeyShare(index=i, value=v, key_fingerprint=key_fingerprint(public_raw)) for i, v in raw_shares)
    commitments = tuple(share_commitment(s.index, s.value) for s in shares)
    recovery = shares[n]
    encrypted_recovery = seal(
        recovery_raw,
        bytes([recovery.index]) + recovery.value,
        aad=_recovery_aad(public_raw),
        info=_RECOVERY_INFO,
    ).data
    return TenderKeys(
        threshold=k,
        custodians=n,
        public_key_raw=public_raw,
        public_key_pem=public_pem,
        fingerprint=key_fingerprint(public_raw),
        wrapped_private_key=wrapped,
        share_commitments=commitments,
        encrypted_recovery_share=encrypted_recovery,
        recovery_key_fingerprint=key_fingerprint(recovery_raw),
        custodian_shares=shares[:n],
    )


def _as_share(item: KeyShare | tuple[int, bytes] | str | bytes) -> KeyShare:
    if isinstance(item, KeyShare):
        return item
    if isinstance(item, str | bytes):
        return parse_share(item)
    if isinstance(item, tuple) and len(item) == 2:
        return KeyShare(index=item[0], value=bytes(item[1]))
    raise InvalidParameters("A share must be a KeyShare, an (index, bytes) pair, or a share code.")


def rebuild_private_key(
    shares: Iterable[KeyShare | tuple[int, bytes] | str],
    commitments: tuple[str, ...] | list[str],
    wrapped_private_key: bytes,
    public_key_raw: bytes,
    *,
    threshold: int,
) -> X25519PrivateKey:
    """Rebuild the tender's private key from `threshold` valid distinct shares.

    Each share is checked against its commitment first (WrongShare names it); the same
    share given twice counts once; fewer than `threshold` -> NotEnoughShares. The KEK
    is rebuilt in memory only, the private key unwrapped and checked against
    `public_key_raw` (KeyMismatch otherwise).
    """
    if not isinstance(threshold, int) or threshold < 2:
        raise InvalidParameters("The threshold must be an integer of at least 2.")
    distinct: dict[int, KeyShare] = {}
    for position, item in enumerate(shares, start=1):
        share = _as_share(item)
        if share.key_fingerprint and share.key_fingerprint != key_fingerprint(public_key_raw):
            raise WrongShare(
                f"Share {share.index} (share #{position}) was issued for another tender key "
                f"({share.key_fingerprint[:9]}...).",
                index=share.index,
                position=position,
            )
        check_share(share, commitments, position=position)
        distinct.setdefault(share.index, share)
    if len(distinct) < threshold:
        raise NotEnoughShares(
            f"{len(distinct)} distinct valid share(s) given; {threshold} are needed to open.",
            have=len(distinct),
            need=threshold,
        )
    chosen = sorted(distinct.values(), key=lambda s: s.index)[:threshold]
    kek = bytearray(Shamir.combine([s.as_tuple() for s in chosen]))
    if len(wrapped_private_key) < _NONCE_LEN + 16:
        raise KeyMismatch("The wrapped private key is truncated.")
    nonce, body = wrapped_private_key[:_NONCE_LEN], wrapped_private_key[_NONCE_LEN:]
    try:
        private_raw = AESGCM(bytes(kek)).decrypt(nonce, body, _wrap_aad(public_key_raw))
    except InvalidTag as exc:
        raise KeyMismatch(
            "The rebuilt key does not open this tender's wrapped private key: "
            "the stored key material was altered or belongs to another tender."
        ) from exc
    finally:
        kek[:] = bytes(len(kek))  # best effort: drop the KEK from memory
    private = X25519PrivateKey.from_private_bytes(private_raw)
    if _raw(private.public_key()) != public_key_raw:
        raise KeyMismatch("The rebuilt private key does not match the tender's public key.")
    return private


def _decrypt_recovery_share(
    recovery_private_key_pem: bytes, encrypted_recovery_share: bytes, public_key_raw: bytes, password: bytes | None
) -> KeyShare:
    try:
        recovery_key = serialization.load_pem_private_key(recovery_private_key_pem, password=password)
    except (ValueError, TypeError) as exc:
        raise RecoveryFailed("The recovery private key cannot be read (wrong file or passphrase).") from exc
    if not isinstance(recovery_key, X25519PrivateKey):
        raise RecoveryFailed("The recovery private key must be an X25519 key.")
    try:
        payload = unseal(recovery_key, encrypted_recovery_share, aad=_recovery_aad(public_key_raw), info=_RECOVERY_INFO)
    except AuthenticationFailed as exc:
        raise RecoveryFailed(
            "The recovery share does not open with this recovery key (wrong key, or altered data)."
        ) from exc
    if len(payload) != 1 + SHARE_LEN:
        raise RecoveryFailed("The decrypted recovery share has the wrong length.")
    return KeyShare(index=payload[0], value=payload[1:])


def open_with_recovery(
    recovery_private_key_pem: bytes,
    encrypted_recovery_share: bytes,
    custodian_shares: Iterable[KeyShare | tuple[int, bytes] | str],
    *,
    commitments: tuple[str, ...] | list[str],
    wrapped_private_key: bytes,
    public_key_raw: bytes,
    threshold: int,
    password: bytes | None = None,
) -> X25519PrivateKey:
    """Rebuild the private key with the recovery share standing in for one lost share.

    Needs the offline recovery private key (PEM, `password` if it is encrypted) and
    `threshold - 1` valid custodian shares. The recovery holder alone cannot open.
    """
    recovery = _decrypt_recovery_share(recovery_private_key_pem, encrypted_recovery_share, public_key_raw, password)
    if recovery.index != len(commitments):
        raise RecoveryFailed(f"The decrypted recovery share has index {recovery.index}, not {len(commitments)}.")
    try:
        check_share(recovery, commitments)
    except WrongShare as exc:
        raise RecoveryFailed("The decrypted recovery share does not match its commitment.") from exc
    given = [_as_share(s) for s in custodian_shares]
    try:
        return rebuild_private_key(
            [*given, recovery], commitments, wrapped_private_key, public_key_raw, threshold=threshold
        )
    except NotEnoughShares as exc:
        have = exc.have - 1
        raise NotEnoughShares(
            f"The recovery share needs {threshold - 1} custodian share(s) beside it; {have} valid distinct given.",
            have=have,
            need=threshold - 1,
        ) from exc


def generate_recovery_keypair(passphrase: bytes | None = None) -> tuple[bytes, bytes]:
    """A new X25519 recovery key pair for the offline holder: (private PEM, public PEM).

    The private PEM is PKCS#8, encrypted with `passphrase` when one is given. Only the
    public PEM is given to the platform.
    """
    private = X25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    public_pem = _public_pem(private)
    return private_pem, public_pem


def recovery_public_pem_of(private_pem: bytes, passphrase: bytes | None = None) -> bytes:
    """The public PEM of a recovery private key (as `generate_recovery_keypair` gives it)."""
    private = serialization.load_pem_private_key(private_pem, password=passphrase)
    if not isinstance(private, X25519PrivateKey):
        raise ValueError("not an X25519 private key")
    return _public_pem(private)


def _public_pem(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
