"""The platform's Ed25519 signing key (audit checkpoints, receipts).

Loaded from the PEM file named by PLATFORM_SIGNING_KEY_FILE. When the file does not
exist (development, tests) a key is generated and written there with mode 0600. In
production the file is provisioned from the secret store. The loaded key is cached per
process and per path.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.private_files import create_private_file

__all__ = ["sign", "verify", "public_key_pem", "key_id", "key_path", "clear_cache"]

_cache: dict[str, Ed25519PrivateKey] = {}
_lock = threading.Lock()


def key_path() -> str:
    """The configured key file (app config when an app context exists, else the Config default)."""
    from flask import current_app, has_app_context

    if has_app_context():
        path = current_app.config.get("PLATFORM_SIGNING_KEY_FILE")
        if path:
            return str(path)
    from config import Config

    return str(Config.PLATFORM_SIGNING_KEY_FILE)


def _load_or_create(path: str) -> Ed25519PrivateKey:
    file = Path(path)
    if file.exists():
        key = serialization.load_pem_private_key(file.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    create_private_file(file, pem)
    return key


def _private_key() -> Ed25519PrivateKey:
    return _key_at(key_path())


def _key_at(path: str) -> Ed25519PrivateKey:
    """The key of the file at `path`, loaded (or created) once per process."""
    key = _cache.get(path)
    if key is None:
        with _lock:
            key = _cache.get(path)
            if key is None:
                try:
                    key = _load_or_create(path)
                except FileExistsError:  # another process created it meanwhile
                    key = _load_or_create(path)
                _cache[path] = key
    return key


def clear_cache() -> None:
    _cache.clear()


def sign(data: bytes) -> bytes:
    return _private_key().sign(data)


def public_key_pem() -> bytes:
    return _private_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(public_key_pem_bytes: bytes | None = None) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key."""
    if public_key_pem_bytes is None:
        public = _private_key().public_key()
    else:
        public = serialization.load_pem_public_key(public_key_pem_bytes)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify(data: bytes, signature: bytes, public_key_pem: bytes | None = None) -> bool:
    """True when `signature` is the platform key's (or the given key's) signature of `data`."""
    if public_key_pem is None:
        public: Ed25519PublicKey = _private_key().public_key()
    else:
        loaded = serialization.load_pem_public_key(public_key_pem)
        if not isinstance(loaded, Ed25519PublicKey):
            return False
        public = loaded
    try:
        public.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True
