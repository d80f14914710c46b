"""core.at_rest: values sealed under the platform secret, bound to their label."""

from __future__ import annotations

import pytest

from core import at_rest

LABEL = b"canal-test|thing=1"


def test_a_value_opens_under_its_label_only(app):
    blob = at_rest.seal(LABEL, "报价说明.pdf".encode())
    assert "报价说明".encode() not in blob and len(blob) == at_rest.NONCE_LEN + len("报价说明.pdf".encode()) + 16
    assert at_rest.open_sealed(LABEL, blob).decode() == "报价说明.pdf"
    assert at_rest.seal(LABEL, b"same") != at_rest.seal(LABEL, b"same")  # a fresh nonce each time
    with pytest.raises(at_rest.Unreadable):
        at_rest.open_sealed(b"canal-test|thing=2", blob)
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    with pytest.raises(at_rest.Unreadable):
        at_rest.open_sealed(LABEL, bytes(flipped))


def test_a_rotated_secret_opens_old_values_through_its_fallbacks(app, monkeypatch):
    old = at_rest.seal(LABEL, b"sealed before the rotation")
    monkeypatch.setitem(app.config, "SECRET_KEY", "the-new-secret")
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", ["an-older-one", "test-secret"])
    assert at_rest.open_sealed(LABEL, old) == b"sealed before the rotation"
    new = at_rest.seal(LABEL, b"sealed after")
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])
    assert at_rest.open_sealed(LABEL, new) == b"sealed after"  # new values use the new key
    with pytest.raises(at_rest.Unreadable):
        at_rest.open_sealed(LABEL, old)  # the old key dropped: no longer opens


def test_sessions_are_signed_with_the_new_key_and_old_ones_still_read(app, monkeypatch):
    """SECRET_KEY_FALLBACKS only verifies (GHSA-4grg-w6v8-c28g: signing must use the newest
    key). Flask's own session code does this; the test pins it for our pinned Flask and our
    setting (a list, as config.py reads it from the environment)."""
    from itsdangerous import BadSignature

    interface = app.session_interface
    old_cookie = interface.get_signing_serializer(app).dumps({"user": 1})  # under test-secret
    monkeypatch.setitem(app.config, "SECRET_KEY", "the-new-secret")
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", ["test-secret"])
    rotated = interface.get_signing_serializer(app)
    assert rotated.loads(old_cookie) == {"user": 1}
    new_cookie = rotated.dumps({"user": 2})
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])
    assert interface.get_signing_serializer(app).loads(new_cookie) == {"user": 2}  # signed by the new key
    monkeypatch.setitem(app.config, "SECRET_KEY", "test-secret")
    with pytest.raises(BadSignature):
        interface.get_signing_serializer(app).loads(new_cookie)
