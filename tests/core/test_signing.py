"""The platform Ed25519 key: generated once with mode 0600, signs and verifies."""

from __future__ import annotations

import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import signing


@pytest.fixture
def key_file(app, tmp_path, monkeypatch):
    path = tmp_path / "keys" / "platform.pem"
    monkeypatch.setitem(app.config, "PLATFORM_SIGNING_KEY_FILE", str(path))
    signing.clear_cache()
    yield path
    signing.clear_cache()


def test_missing_key_file_is_generated_with_mode_0600(key_file):
    assert not key_file.exists()
    signature = signing.sign(b"hello")
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(signature) == 64
    assert signing.verify(b"hello", signature)


def test_signature_does_not_verify_for_other_data_or_a_bad_signature(key_file):
    signature = signing.sign(b"seq=1")
    assert not signing.verify(b"seq=2", signature)
    assert not signing.verify(b"seq=1", signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not signing.verify(b"seq=1", b"short")


def test_existing_key_file_is_loaded_and_reused_across_cache_clears(key_file):
    key_file.parent.mkdir(parents=True)
    key = Ed25519PrivateKey.generate()
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    signature = signing.sign(b"data")
    key.public_key().verify(signature, b"data")  # raises if not signed by that key
    first_id = signing.key_id()
    signing.clear_cache()
    assert signing.key_id() == first_id
    assert len(first_id) == 16 and int(first_id, 16) >= 0


def test_verify_with_a_given_public_key_rejects_another_platforms_key(key_file, tmp_path):
    signature = signing.sign(b"data")
    ours = signing.public_key_pem()
    assert ours.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert signing.verify(b"data", signature, ours)
    other = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert not signing.verify(b"data", signature, other)
    assert signing.key_id(other) != signing.key_id()
