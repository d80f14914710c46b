"""Sealed-bid cryptographic core: key split, opening, recovery, sealing, receipts."""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from Crypto.Protocol.SecretSharing import Shamir
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from procurement.sealing import (
    OVERHEAD,
    AuthenticationFailed,
    InvalidParameters,
    InvalidShareCode,
    KeyMismatch,
    KeyShare,
    NotEnoughShares,
    RecoveryFailed,
    SealingError,
    WrongShare,
    bid_aad,
    canonical_json,
    check_share,
    generate_recovery_keypair,
    key_fingerprint,
    make_receipt,
    open_with_recovery,
    parse_share,
    rebuild_private_key,
    receipt_signed_bytes,
    seal,
    setup_tender_keys,
    share_file_json,
    unseal,
    verify_receipt,
)

RECOVERY_PRIVATE_PEM, RECOVERY_PUBLIC_PEM = generate_recovery_keypair()
KEYS_2_OF_3 = setup_tender_keys(2, 3, RECOVERY_PUBLIC_PEM)
KEYS_3_OF_5 = setup_tender_keys(3, 5, RECOVERY_PUBLIC_PEM)
AAD = bid_aad(41, 7, "price")


def _raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def _raw_public(key) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _rebuild(keys, shares):
    return rebuild_private_key(
        shares, keys.share_commitments, keys.wrapped_private_key, keys.public_key_raw, threshold=keys.threshold
    )


def _recover(keys, shares, private_pem=RECOVERY_PRIVATE_PEM, password=None):
    return open_with_recovery(
        private_pem,
        keys.encrypted_recovery_share,
        shares,
        commitments=keys.share_commitments,
        wrapped_private_key=keys.wrapped_private_key,
        public_key_raw=keys.public_key_raw,
        threshold=keys.threshold,
        password=password,
    )


# --- key set-up ---------------------------------------------------------------------


def test_setup_hands_out_n_custodian_shares_and_commits_to_n_plus_one():
    keys = KEYS_3_OF_5
    assert [s.index for s in keys.custodian_shares] == [1, 2, 3, 4, 5]
    assert keys.recovery_index == 6
    assert len(keys.share_commitments) == 6
    for share in keys.custodian_shares:
        assert check_share(share, keys.share_commitments) == share.index
        assert keys.share_commitments[share.index - 1] == hashlib.sha256(bytes([share.index]) + share.value).hexdigest()


def test_fingerprint_is_grouped_sha256_of_the_raw_public_key():
    keys = KEYS_2_OF_3
    assert re.fullmatch(r"([0-9a-f]{4} ){15}[0-9a-f]{4}", keys.fingerprint)
    assert keys.fingerprint.replace(" ", "") == hashlib.sha256(keys.public_key_raw).hexdigest()
    assert key_fingerprint(keys.public_key_raw) == keys.fingerprint
    assert _raw_public(serialization.load_pem_public_key(keys.public_key_pem)) == keys.public_key_raw


@pytest.mark.parametrize(("k", "n"), [(1, 3), (0, 3), (3, 2), (2, 51)])
def test_setup_refuses_unsafe_thresholds(k, n):
    with pytest.raises(InvalidParameters) as info:
        setup_tender_keys(k, n, RECOVERY_PUBLIC_PEM)
    assert info.value.code == "invalid_parameters"


def test_setup_refuses_a_recovery_key_that_is_not_x25519():
    ed_pem = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InvalidParameters):
        setup_tender_keys(2, 3, ed_pem)
    with pytest.raises(InvalidParameters):
        setup_tender_keys(2, 3, b"not a key")


def test_private_key_and_kek_never_appear_in_tender_keys():
    keys = KEYS_3_OF_5
    private_raw = _raw_private(_rebuild(keys, keys.custodian_shares[:3]))
    kek = Shamir.combine([s.as_tuple() for s in keys.custodian_shares[:3]])
    assert len(kek) == 16
    secrets = [private_raw, kek]
    serialized = [repr(keys).encode()]
    for name, value in vars(keys).items():
        if name == "custodian_shares":
            serialized.extend(s.value for s in value)  # shares are meant to be there; the KEK is not
            continue
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            raw = item if isinstance(item, bytes) else str(item).encode()
            serialized += [raw, raw.hex().encode(), base64.b64encode(raw)]
    for secret in secrets:
        for encoded in (secret, secret.hex().encode(), base64.b64encode(secret)):
            assert all(encoded not in blob for blob in serialized)


def test_repr_of_tender_keys_and_shares_hides_share_values():
    keys = KEYS_2_OF_3
    text = repr(keys) + repr(keys.custodian_shares[0])
    for share in keys.custodian_shares:
        assert share.code.split("-", 1)[1] not in text
        assert repr(share.value) not in text
        assert share.value.hex() not in text


# --- opening with shares --------------------------------------------------------------


@pytest.mark.parametrize("keys", [KEYS_2_OF_3, KEYS_3_OF_5], ids=["2of3", "3of5"])
def test_any_k_of_n_shares_open_the_bids(keys):
    blob = seal(keys.public_key_raw, b"price: 1234500 fen", aad=AAD)
    for combo in itertools.combinations(keys.custodian_shares, keys.threshold):
        private = _rebuild(keys, list(combo))
        assert _raw_public(private.public_key()) == keys.public_key_raw
        assert unseal(private, blob, aad=AAD) == b"price: 1234500 fen"


@pytest.mark.parametrize("keys", [KEYS_2_OF_3, KEYS_3_OF_5], ids=["2of3", "3of5"])
def test_k_minus_one_shares_do_not_open(keys):
    for combo in itertools.combinations(keys.custodian_shares, keys.threshold - 1):
        with pytest.raises(NotEnoughShares) as info:
            _rebuild(keys, list(combo))
        assert info.value.have == keys.threshold - 1
        assert info.value.need == keys.threshold


def test_more_than_k_shares_also_open():
    keys = KEYS_3_OF_5
    assert _raw_public(_rebuild(keys, keys.custodian_shares).public_key()) == keys.public_key_raw


def test_duplicate_shares_count_once():
    keys = KEYS_2_OF_3
    first = keys.custodian_shares[0]
    copy_of_first = parse_share(first.code)
    with pytest.raises(NotEnoughShares) as info:
        _rebuild(keys, [first, copy_of_first, first])
    assert info.value.have == 1
    assert _rebuild(keys, [first, first, keys.custodian_shares[1]])


def test_wrong_share_is_named_by_index_and_position():
    keys = KEYS_3_OF_5
    good = keys.custodian_shares
    forged = KeyShare(index=4, value=bytes(b ^ 1 for b in good[3].value))
    with pytest.raises(WrongShare) as info:
        _rebuild(keys, [good[0], forged, good[2]])
    assert info.value.index == 4
    assert info.value.position == 2
    assert "Share 4" in info.value.message
    assert info.value.code == "wrong_share"


def test_share_with_an_unknown_index_is_wrong():
    keys = KEYS_2_OF_3
    with pytest.raises(WrongShare) as info:
        check_share(KeyShare(index=9, value=keys.custodian_shares[0].value), keys.share_commitments)
    assert info.value.index == 9


def test_share_of_another_tender_is_refused():
    other = setup_tender_keys(2, 3, RECOVERY_PUBLIC_PEM)
    with pytest.raises(WrongShare):
        _rebuild(KEYS_2_OF_3, [KEYS_2_OF_3.custodian_shares[0], (2, other.custodian_shares[1].value)])
    # a share file names its tender key, so a mix-up is reported before the commitment check
    with pytest.raises(WrongShare, match="another tender key"):
        _rebuild(KEYS_2_OF_3, [KEYS_2_OF_3.custodian_shares[0], other.custodian_shares[1]])


def test_altered_wrapped_key_or_public_key_is_a_key_mismatch():
    keys = KEYS_2_OF_3
    shares = [s.as_tuple() for s in keys.custodian_shares[:2]]  # typed codes name no tender key
    wrapped = bytearray(keys.wrapped_private_key)
    wrapped[20] ^= 0x01
    with pytest.raises(KeyMismatch):
        rebuild_private_key(shares, keys.share_commitments, bytes(wrapped), keys.public_key_raw, threshold=2)
    other_public = _raw_public(X25519PrivateKey.generate().public_key())
    with pytest.raises(KeyMismatch):
        rebuild_private_key(shares, keys.share_commitments, keys.wrapped_private_key, other_public, threshold=2)


def test_a_lowered_threshold_does_not_open_with_fewer_shares():
    keys = KEYS_3_OF_5
    with pytest.raises(KeyMismatch):
        rebuild_private_key(
            keys.custodian_shares[:2],
            keys.share_commitments,
            keys.wrapped_private_key,
            keys.public_key_raw,
            threshold=2,
        )


def test_shares_may_be_given_as_codes_or_files():
    keys = KEYS_2_OF_3
    a, b = keys.custodian_shares[:2]
    file_text = share_file_json(b, threshold=2, custodians=3, key_fingerprint=keys.fingerprint)
    assert _raw_public(_rebuild(keys, [a.code, file_text]).public_key()) == keys.public_key_raw


# --- recovery ---------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [KEYS_2_OF_3, KEYS_3_OF_5], ids=["2of3", "3of5"])
def test_recovery_share_plus_k_minus_one_custodians_opens(keys):
    blob = seal(keys.public_key_raw, b"technical answers", aad=AAD)
    for combo in itertools.combinations(keys.custodian_shares, keys.threshold - 1):
        private = _recover(keys, list(combo))
        assert unseal(private, blob, aad=AAD) == b"technical answers"


@pytest.mark.parametrize("keys", [KEYS_2_OF_3, KEYS_3_OF_5], ids=["2of3", "3of5"])
def test_recovery_alone_cannot_open(keys):
    with pytest.raises(NotEnoughShares) as info:
        _recover(keys, [])
    assert info.value.need == keys.threshold - 1
    if keys.threshold > 2:  # the same custodian share twice still counts once
        with pytest.raises(NotEnoughShares):
            _recover(keys, [keys.custodian_shares[0], keys.custodian_shares[0]])


def test_recovery_with_another_recovery_key_fails():
    other_private, _ = generate_recovery_keypair()
    with pytest.raises(RecoveryFailed):
        _recover(KEYS_2_OF_3, [KEYS_2_OF_3.custodian_shares[0]], private_pem=other_private)


def test_recovery_share_is_bound_to_its_tender():
    other = setup_tender_keys(2, 3, RECOVERY_PUBLIC_PEM)
    keys = KEYS_2_OF_3
    with pytest.raises(RecoveryFailed):
        open_with_recovery(
            RECOVERY_PRIVATE_PEM,
            other.encrypted_recovery_share,
            [keys.custodian_shares[0]],
            commitments=keys.share_commitments,
            wrapped_private_key=keys.wrapped_private_key,
            public_key_raw=keys.public_key_raw,
            threshold=2,
        )


def test_passphrase_protected_recovery_key_needs_its_passphrase():
    private_pem, public_pem = generate_recovery_keypair(b"notary passphrase")
    assert b"ENCRYPTED" in private_pem
    keys = setup_tender_keys(2, 3, public_pem)
    with pytest.raises(RecoveryFailed):
        _recover(keys, [keys.custodian_shares[2]], private_pem=private_pem)
    with pytest.raises(RecoveryFailed):
        _recover(keys, [keys.custodian_shares[2]], private_pem=private_pem, password=b"wrong")
    private = _recover(keys, [keys.custodian_shares[2]], private_pem=private_pem, password=b"notary passphrase")
    assert _raw_public(private.public_key()) == keys.public_key_raw


# --- sealing ----------------------------------------------------------------------------

PRIVATE = X25519PrivateKey.generate()
PUBLIC_RAW = _raw_public(PRIVATE.public_key())


def test_sealed_blob_layout_and_hash():
    blob = seal(PUBLIC_RAW, b"x" * 100, aad=AAD)
    assert blob.data[0] == 1
    assert blob.size == 100 + OVERHEAD == 1 + 32 + 12 + 100 + 16
    assert blob.sha256 == hashlib.sha256(blob.data).hexdigest()
    assert b"x" * 16 not in blob.data
    assert seal(PUBLIC_RAW, b"x" * 100, aad=AAD).data != blob.data  # fresh ephemeral key and nonce


@pytest.mark.parametrize(
    "offset",
    [0, 1, 16, 32, 33, 40, 44, 45, 50, -17, -16, -8, -1],
    ids=lambda o: {
        0: "version",
        1: "eph0",
        16: "eph16",
        32: "eph31",
        33: "nonce0",
        40: "nonce7",
        44: "nonce11",
        45: "body0",
        50: "body5",
        -17: "body-last",
        -16: "tag0",
        -8: "tag8",
        -1: "tag-last",
    }[o],
)
def test_flipped_byte_fails_authentication(offset):
    blob = bytearray(seal(PUBLIC_RAW, b"bid price 99", aad=AAD).data)
    blob[offset] ^= 0x01
    with pytest.raises(AuthenticationFailed) as info:
        unseal(PRIVATE, bytes(blob), aad=AAD)
    assert isinstance(info.value, SealingError)


def test_every_single_flipped_byte_fails_authentication():
    original = seal(PUBLIC_RAW, b"lot 2 price", aad=AAD).data
    for i in range(len(original)):
        for mask in (0x01, 0x80):
            blob = bytearray(original)
            blob[i] ^= mask
            with pytest.raises(AuthenticationFailed):
                unseal(PRIVATE, bytes(blob), aad=AAD)


def test_truncated_blob_fails_authentication():
    blob = seal(PUBLIC_RAW, b"", aad=AAD).data
    assert unseal(PRIVATE, blob, aad=AAD) == b""
    with pytest.raises(AuthenticationFailed):
        unseal(PRIVATE, blob[:-1], aad=AAD)


@pytest.mark.parametrize(
    "other_aad", [bid_aad(42, 7, "price"), bid_aad(41, 8, "price"), bid_aad(41, 7, "answers"), b""]
)
def test_wrong_aad_fails_authentication(other_aad):
    blob = seal(PUBLIC_RAW, b"bid", aad=AAD)
    with pytest.raises(AuthenticationFailed):
        unseal(PRIVATE, blob, aad=other_aad)


def test_wrong_private_key_fails_authentication():
    blob = seal(PUBLIC_RAW, b"bid", aad=AAD)
    with pytest.raises(AuthenticationFailed):
        unseal(X25519PrivateKey.generate(), blob, aad=AAD)


def test_seal_refuses_a_bad_public_key():
    with pytest.raises(InvalidParameters):
        seal(b"short", b"x", aad=AAD)
    with pytest.raises(InvalidParameters):
        seal(bytes(32), b"x", aad=AAD)  # low-order point


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plaintext=st.binary(max_size=4096), aad=st.binary(max_size=256))
def test_seal_unseal_round_trips(plaintext, aad):
    blob = seal(PUBLIC_RAW, plaintext, aad=aad)
    assert blob.size == len(plaintext) + OVERHEAD
    assert unseal(PRIVATE, blob, aad=aad) == plaintext
    assert unseal(_raw_private(PRIVATE), blob.data, aad=aad) == plaintext


# --- share codes ------------------------------------------------------------------------

SHARE = KEYS_2_OF_3.custodian_shares[1]


def test_share_code_format_round_trips():
    code = SHARE.code
    assert re.fullmatch(r"2(-[0-9A-HJKMNP-TV-Z]{5}){8}", code)
    assert parse_share(code) == SHARE
    assert parse_share(code.lower()) == SHARE
    assert parse_share("  " + code.replace("-", " ").replace("2 ", "2-", 1) + "\n") == SHARE


def test_share_code_reads_o_as_zero_and_i_l_as_one():
    body = SHARE.code.split("-", 1)[1]
    confusable = body.replace("0", "O").replace("1", "l")
    assert parse_share("2-" + confusable) == SHARE


@pytest.mark.parametrize("group", range(1, 9))
def test_any_single_typo_is_located_in_its_group(group):
    prefix, *groups = SHARE.code.split("-")
    for position in range(5):
        for replacement in "0123456789ABCDEFGHJKMNPQRSTVWXYZ":
            chars = list(groups[group - 1])
            if chars[position] == replacement:
                continue
            chars[position] = replacement
            typed = "-".join([prefix, *groups[: group - 1], "".join(chars), *groups[group:]])
            with pytest.raises(InvalidShareCode) as info:
                parse_share(typed)
            assert f"Group {group}" in info.value.message
            assert info.value.code == "invalid_share_code"


def test_swapped_characters_are_detected():
    prefix, *groups = SHARE.code.split("-")
    for n, g in enumerate(groups):
        for i in range(4):
            if g[i] != g[i + 1]:
                swapped = g[:i] + g[i + 1] + g[i] + g[i + 2 :]
                with pytest.raises(InvalidShareCode):
                    parse_share("-".join([prefix, *groups[:n], swapped, *groups[n + 1 :]]))


def test_wrong_share_number_is_detected():
    body = SHARE.code.split("-", 1)[1]
    with pytest.raises(InvalidShareCode, match="share number 3"):
        parse_share("3-" + body)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "No share code"),
        ("ABCDE-FGHJK", "starts with its number"),
        ("2-" + SHARE.code.split("-", 1)[1][:-1], "39 characters"),
        ("2-" + SHARE.code.split("-", 1)[1] + "7", "41 characters"),
        ("2-U" + SHARE.code.split("-", 1)[1][1:], "('U') is not allowed"),
        ("0-" + SHARE.code.split("-", 1)[1], "out of range"),
    ],
    ids=["empty", "no-number", "too-short", "too-long", "bad-char", "index-0"],  # stable ids for xdist
)
def test_malformed_share_codes_are_explained(text, fragment):
    with pytest.raises(InvalidShareCode) as info:
        parse_share(text)
    assert fragment in info.value.message


def test_share_file_round_trips_and_is_checked():
    text = share_file_json(SHARE, threshold=2, custodians=3, key_fingerprint=KEYS_2_OF_3.fingerprint)
    doc = json.loads(text)
    assert doc["format"] == "canal-key-share" and doc["index"] == 2 and doc["threshold"] == 2
    parsed = parse_share(text)
    assert parsed == SHARE and parsed.key_fingerprint == KEYS_2_OF_3.fingerprint
    assert parse_share(text.encode("utf-8")) == SHARE
    with pytest.raises(InvalidShareCode, match="says index 3"):
        parse_share(json.dumps({**doc, "index": 3}))
    with pytest.raises(InvalidShareCode, match="not valid JSON"):
        parse_share(text[:-5])
    with pytest.raises(InvalidShareCode, match="not a Canal key share"):
        parse_share(json.dumps({**doc, "format": "other"}))


# --- receipts ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 28, 4, 30, 0, 123456, tzinfo=UTC)


def _receipt(blob=None):
    blob = blob or seal(PUBLIC_RAW, b"price", aad=AAD)
    return make_receipt(41, 7, [1, 3], NOW, [("price", blob.sha256, blob.size), ("answers.pdf", "a" * 64, 10)])


def test_receipt_carries_the_sealed_blob_hash_and_verifies():
    blob = seal(PUBLIC_RAW, b"price 1000", aad=AAD)
    receipt = _receipt(blob)
    assert receipt["parts"][0] == {
        "name": "price",
        "sha256": hashlib.sha256(blob.data).hexdigest(),
        "size": len(blob.data),
    }
    assert receipt["received_at"] == "2026-11-28T04:30:00.123456Z"
    assert receipt["signature"]["algorithm"] == "Ed25519"
    assert verify_receipt(receipt)
    assert verify_receipt(json.loads(json.dumps(receipt)))  # survives a JSON round trip


def test_receipt_signature_covers_the_canonical_json():
    from core import signing

    receipt = _receipt()
    signed = receipt_signed_bytes(receipt)
    assert b" " not in signed.replace(b" PUBLIC KEY", b"")
    assert signed == canonical_json(
        {**receipt, "signature": {k: v for k, v in receipt["signature"].items() if k != "value"}}
    )
    assert signing.verify(signed, base64.b64decode(receipt["signature"]["value"]))


def test_receipt_time_is_converted_to_utc_and_must_be_aware():
    shanghai = timezone(timedelta(hours=8))
    receipt = make_receipt(1, 2, [1], NOW.astimezone(shanghai), [])
    assert receipt["received_at"] == "2026-11-28T04:30:00.123456Z"
    with pytest.raises(InvalidParameters):
        make_receipt(1, 2, [1], NOW.replace(tzinfo=None), [])
    with pytest.raises(InvalidParameters):
        make_receipt(1, 2, [1], NOW, [("price", "nothex", 3)])


OTHER_PEM = (
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)

TAMPERS = {
    "tender_id": lambda r: r.update(tender_id=42),
    "tender_id_type": lambda r: r.update(tender_id="41"),
    "bidder_org_id": lambda r: r.update(bidder_org_id=8),
    "lots": lambda r: r["lots"].append(4),
    "received_at": lambda r: r.update(received_at="2026-11-28T04:29:59.123456Z"),
    "part_name": lambda r: r["parts"][0].update(name="other"),
    "part_sha256": lambda r: r["parts"][0].update(sha256="b" * 64),
    "part_size": lambda r: r["parts"][0].update(size=r["parts"][0]["size"] + 1),
    "part_removed": lambda r: r["parts"].pop(),
    "type": lambda r: r.update(type="other"),
    "version": lambda r: r.update(version=2),
    "extra_field": lambda r: r.update(note="x"),
    "key_id": lambda r: r["signature"].update(key_id="0" * 16),
    "algorithm": lambda r: r["signature"].update(algorithm="RSA"),
    "public_key": lambda r: r["signature"].update(public_key_pem=OTHER_PEM),
    "signature_value": lambda r: r["signature"].update(value=base64.b64encode(bytes(64)).decode()),
    "signature_garbage": lambda r: r["signature"].update(value="***"),
    "signature_missing": lambda r: r.pop("signature"),
}


@pytest.mark.parametrize("field", list(TAMPERS))
def test_tampered_receipt_fails_verification(field):
    receipt = _receipt()
    tampered = copy.deepcopy(receipt)
    TAMPERS[field](tampered)
    assert verify_receipt(receipt)
    assert not verify_receipt(tampered)


def test_receipt_against_a_trusted_key():
    from core import signing

    receipt = _receipt()
    assert verify_receipt(receipt, trusted_public_key_pem=signing.public_key_pem())
    assert not verify_receipt(receipt, trusted_public_key_pem=OTHER_PEM.encode())
    assert not verify_receipt(receipt, trusted_public_key_pem=b"garbage")


def test_forged_receipt_with_its_own_key_fails_only_against_the_trusted_key():
    from core import signing

    forger = Ed25519PrivateKey.generate()
    forger_pem = forger.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = _receipt()
    forged["lots"] = [9]
    forged["signature"]["public_key_pem"] = forger_pem.decode()
    forged["signature"]["key_id"] = signing.key_id(forger_pem)
    forged["signature"]["value"] = base64.b64encode(forger.sign(receipt_signed_bytes(forged))).decode()
    assert verify_receipt(forged)  # self-consistent...
    assert not verify_receipt(forged, trusted_public_key_pem=signing.public_key_pem())  # ...but not the platform's


def test_every_error_is_a_sealing_error_with_a_code():
    for exc in (AuthenticationFailed, InvalidParameters, InvalidShareCode, KeyMismatch, RecoveryFailed, WrongShare):
        assert issubclass(exc, SealingError)
        assert exc.code and exc.code != SealingError.code
    assert issubclass(NotEnoughShares, SealingError)
