"""Tender keys at publication, custodian eligibility, share collection (service level)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from accounts.models import Membership, User
from accounts.states import Role
from core import clock
from core.db import db, unit_of_work
from core.errors import Conflict, NotFound, ValidationError
from core.models.audit import AuditEntry
from core.models.notifications import Notification
from procurement import sealing
from procurement.models import Tender, TenderCustodian
from procurement.services import keys
from procurement.services import tenders as svc
from procurement.states import TenderStatus
from tests.factories import make_org, make_user
from tests.helpers import fresh_totp
from tests.procurement.factories import NOW, draft_tender, make_buyer, published_tender


@pytest.fixture(autouse=True)
def _frozen_clock():
    clock.set_time(NOW)
    yield
    clock.reset()


@pytest.fixture
def buyer():
    return make_buyer(3)


def _custodians(tender):
    return list(db.session.scalars(
        sa.select(TenderCustodian).where(TenderCustodian.tender_id == tender.id).order_by(TenderCustodian.share_index)
    ))


# --------------------------------------------------------------------------- set-up at publication


def test_publication_sets_up_keys_and_encrypted_pending_shares(buyer):
    tender = published_tender(buyer)
    stored = db.session.get(Tender, tender.id)
    assert len(stored.public_key) == 32
    assert stored.wrapped_private_key and stored.recovery_share
    assert stored.key_fingerprint == sealing.key_fingerprint(stored.public_key).replace(" ", "")
    assert len(stored.recovery_commitment) == 64 and len(stored.recovery_key_id) == 64
    assert stored.custodian_count == 3
    custodians = _custodians(stored)
    assert [c.share_index for c in custodians] == [1, 2, 3]
    commitments = keys.commitments_of(stored)
    assert len(commitments) == 4 and commitments[-1] == stored.recovery_commitment
    for c in custodians:
        assert c.pending_share is not None and c.collected_at is None
        share = keys.open_share_at_rest(c.pending_share, keys.PENDING, stored.id, c.id)
        assert sealing.check_share(share, commitments) == c.share_index
        assert share.value not in c.pending_share  # never in the clear
    # any two custodian shares rebuild the key (the set-up is consistent)
    shares = [keys.open_share_at_rest(c.pending_share, keys.PENDING, stored.id, c.id) for c in custodians[1:]]
    private = sealing.rebuild_private_key(shares, commitments, stored.wrapped_private_key, stored.public_key,
                                          threshold=2)
    assert private is not None


def test_share_at_rest_is_bound_to_its_custodian_and_purpose(buyer):
    tender = published_tender(buyer)
    first, second = _custodians(tender)[:2]
    with pytest.raises(Conflict):
        keys.open_share_at_rest(first.pending_share, keys.PENDING, tender.id, second.id)
    with pytest.raises(Conflict):
        keys.open_share_at_rest(first.pending_share, keys.PRESENTED, tender.id, first.id)
    with pytest.raises(Conflict):
        keys.open_share_at_rest(first.pending_share, keys.PENDING, tender.id + 1, first.id)


def test_a_share_sealed_in_the_stored_format_still_opens():
    """Shares kept before core.at_rest existed: nonce || AES-256-GCM(index || share) under
    HKDF-SHA256(SECRET_KEY, info=label), the label as associated data."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    label = b"canal-share-at-rest-v1|pending|tender=7|custodian=3"
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(
        current_app.config["SECRET_KEY"].encode())
    nonce, value = bytes(range(12)), bytes(range(100, 116))
    blob = nonce + AESGCM(key).encrypt(nonce, bytes([2]) + value, label)
    share = keys.open_share_at_rest(blob, keys.PENDING, 7, 3)
    assert (share.index, share.value) == (2, value)
    assert keys.open_share_at_rest(keys.seal_share_at_rest(share, keys.PENDING, 7, 3), keys.PENDING, 7, 3) == share


def test_custodians_are_notified_and_audit_holds_no_secret(buyer):
    tender = published_tender(buyer)
    for user in buyer.custodians:
        note = db.session.scalar(sa.select(Notification).where(Notification.user_id == user.id))
        assert note is not None and note.kind == keys.NOTIFY_KIND and "/procurement/keys" in note.link
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "tender.keys_set_up"))
    assert entry.data["threshold"] == 2 and entry.data["custodian_count"] == 3
    text = str(entry.data)
    for c in _custodians(tender):
        share = keys.open_share_at_rest(c.pending_share, keys.PENDING, tender.id, c.id)
        assert share.code not in text and share.value.hex() not in text


def _refused(tender, officer, code):
    with pytest.raises(ValidationError) as exc:
        svc.publish(tender, officer)
    assert exc.value.code == code
    stored = db.session.get(Tender, tender.id)
    assert stored.status == TenderStatus.DRAFT and stored.public_key is None
    return exc.value


def test_custodian_without_two_factor_is_refused(buyer):
    lazy = make_user(buyer.org, [Role.KEY_CUSTODIAN], totp=False, display_name="Lazy Li")
    buyer.custodians[2] = lazy
    err = _refused(draft_tender(buyer), buyer.officer, "custodian_without_2fa")
    assert "Lazy Li" in err.message and "custodians" in err.fields


def test_custodian_who_lost_the_role_is_refused_by_name(buyer):
    tender = draft_tender(buyer)
    with unit_of_work():
        user = db.session.get(User, buyer.custodians[0].id)
        user.display_name = "Not A Custodian"
        db.session.scalar(sa.select(Membership).where(Membership.user_id == user.id)).roles = [Role.BIDDER.value]
    err = _refused(tender, buyer.officer, "custodian_not_key_custodian")
    assert "Not A Custodian" in err.message


def test_custodians_without_the_role_or_of_another_organization_are_refused_at_once(buyer):
    """Choosing them is refused when the draft is created (and re-checked at publication)."""

    for wrong in (make_user(buyer.org, [Role.BIDDER]), make_user(make_org(), [Role.KEY_CUSTODIAN])):
        buyer.custodians[0] = wrong
        before = db.session.scalar(sa.select(sa.func.count()).select_from(Tender))
        with pytest.raises(ValidationError) as refused:
            draft_tender(buyer)
        assert refused.value.code == "invalid_custodian"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Tender)) == before


def test_inactive_custodian_or_membership_is_refused(buyer):
    tender = draft_tender(buyer)
    with unit_of_work():
        db.session.get(User, buyer.custodians[1].id).active = False
    _refused(tender, buyer.officer, "custodian_inactive")
    with unit_of_work():
        db.session.get(User, buyer.custodians[1].id).active = True
        membership = db.session.scalar(sa.select(Membership).where(Membership.user_id == buyer.custodians[2].id))
        membership.active = False
    _refused(tender, buyer.officer, "custodian_not_key_custodian")


def test_threshold_of_one_is_refused(buyer):
    _refused(draft_tender(buyer, custodian_threshold=1), buyer.officer, "threshold_too_low")


def test_more_custodians_than_supported_is_refused(buyer, monkeypatch):
    monkeypatch.setattr(sealing, "MAX_CUSTODIANS", 2)
    _refused(draft_tender(buyer), buyer.officer, "too_many_custodians")


def test_production_without_recovery_key_refuses_to_publish(buyer, monkeypatch):
    monkeypatch.setitem(current_app.config, "PRODUCTION", True)
    monkeypatch.setitem(current_app.config, "PROCUREMENT_RECOVERY_PUBLIC_KEY", None)
    err = _refused(draft_tender(buyer), buyer.officer, "recovery_key_missing")
    assert "PROCUREMENT_RECOVERY_PUBLIC_KEY" in err.message


@pytest.mark.parametrize("as_path", [False, True])
def test_configured_recovery_key_is_used(buyer, monkeypatch, tmp_path, as_path):
    _private, public = sealing.generate_recovery_keypair()
    value = public.decode()
    if as_path:
        (tmp_path / "rec.pem").write_bytes(public)
        value = str(tmp_path / "rec.pem")
    monkeypatch.setitem(current_app.config, "PRODUCTION", True)
    monkeypatch.setitem(current_app.config, "PROCUREMENT_RECOVERY_PUBLIC_KEY", value)
    tender = published_tender(buyer)
    expected = sealing.key_fingerprint(sealing.public_key_raw_from_pem(public)).replace(" ", "")
    assert db.session.get(Tender, tender.id).recovery_key_id == expected


def test_development_recovery_pair_is_generated_once(buyer):
    first = keys.recovery_public_key_pem()
    assert keys.dev_recovery_private_key_path().exists()
    assert keys.recovery_public_key_pem() == first


def test_a_development_private_key_left_without_its_public_key_is_completed(tmp_path, monkeypatch):
    """A process stopped between writing the private and the public key: the next one
    derives the public key from the private one instead of failing for good."""
    monkeypatch.setitem(current_app.config, "PROCUREMENT_RECOVERY_KEY_DIR", str(tmp_path))
    private_pem, public_pem = sealing.generate_recovery_keypair()
    (tmp_path / "recovery_private.pem").write_bytes(private_pem)
    assert keys.recovery_public_key_pem() == public_pem
    assert (tmp_path / "recovery_public.pem").read_bytes() == public_pem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recovery_private.pem", "recovery_public.pem"]


# --------------------------------------------------------------------------- collection


def test_collect_share_once_after_totp(buyer):
    tender = published_tender(buyer)
    user = buyer.custodians[0]
    collected = keys.collect_share(tender, user, fresh_totp(user))
    share = sealing.parse_share(collected.code)
    assert sealing.parse_share(collected.file_json) == share
    assert sealing.check_share(share, keys.commitments_of(tender)) == collected.index
    row = keys.custodian_for(tender, user)
    assert row.pending_share is None and row.collected_at == NOW
    assert keys.share_status(row) == "collected"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "tender.share_collected"))
    assert collected.code not in str(entry.data)
    with pytest.raises(Conflict) as exc:
        keys.collect_share(tender, user, fresh_totp(user))
    assert exc.value.code == "share_already_collected"


def test_collect_share_refuses_a_wrong_totp_and_keeps_the_share(buyer):
    tender = published_tender(buyer)
    user = buyer.custodians[0]
    with pytest.raises(ValidationError) as exc:
        keys.collect_share(tender, user, "000000")
    assert exc.value.code == "totp_invalid" and "code" in exc.value.fields
    assert keys.custodian_for(tender, user).pending_share is not None


def test_collect_share_of_someone_else_is_not_found(buyer):
    tender = published_tender(buyer)
    stranger = make_user(buyer.org, [Role.KEY_CUSTODIAN])
    with pytest.raises(NotFound):
        keys.collect_share(tender, stranger, fresh_totp(stranger))


def test_confirm_safekeeping_after_collection_only(buyer):
    tender = published_tender(buyer)
    user = buyer.custodians[1]
    with pytest.raises(Conflict):
        keys.confirm_safekeeping(tender, user)
    keys.collect_share(tender, user, fresh_totp(user))
    row = keys.confirm_safekeeping(tender, user)
    assert row.safekeeping_confirmed_at == NOW and keys.share_status(row) == "confirmed"


# --------------------------------------------------------------------------- stored status


def test_sync_status_walks_each_step_with_a_system_audit(buyer):
    tender = published_tender(buyer)
    assert tender.status == TenderStatus.ENQUIRIES
    clock.set_time(tender.submission_deadline + timedelta(seconds=1))
    with unit_of_work():
        row = db.session.get(Tender, tender.id)
        assert svc.sync_status(row) == TenderStatus.AWAITING_OPENING
    entries = list(db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "tender.status_changed").order_by(AuditEntry.seq)
    ))
    assert [(e.data["from"], e.data["to"]) for e in entries] == [
        ("active.enquiries", "active.tendering"), ("active.tendering", "awaiting_opening")]
    assert db.session.get(Tender, tender.id).status == TenderStatus.AWAITING_OPENING
    with unit_of_work():
        assert svc.sync_status(db.session.get(Tender, tender.id)) == TenderStatus.AWAITING_OPENING
