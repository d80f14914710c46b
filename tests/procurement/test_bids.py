"""Sealed bids (service level, on the database): drafting in steps, sealing on receipt,
submission rules, replace/withdraw, receipts.

The helpers at the top (`keyed`, `private_key`, `bidding_setup`, `open_part`) are shared
by the other bid test modules.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from accounts.models import Organization
from accounts.states import CreditStatus, Role, Verification
from core import clock
from core.db import db, unit_of_work
from core.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.models.audit import AuditEntry
from procurement import sealing
from procurement.models import Bid, BidPart, Bond, Criterion, Tender
from procurement.services import bids as svc
from procurement.services import sealed_audit
from procurement.states import BidPartKind, BidStatus, BondStatus
from tests.factories import make_user
from tests.procurement.factories import NOW, make_buyer, make_supplier, published_tender

TICK = timedelta(microseconds=1)
NO_BOND_LOTS = [dict(title_zh="台式电脑", title_en="Desktops", budget=100_000_000, bond_amount=0, quantity=100,
                     unit="set"),
                dict(title_zh="打印机", title_en="Printers", budget=50_000_000, bond_amount=0, quantity=10,
                     unit="set")]
_RECOVERY = sealing.generate_recovery_keypair()


# --------------------------------------------------------------------------- shared helpers


def keyed(tender: Tender) -> sealing.TenderKeys:
    """Give the tender key material made here, so tests can open what was sealed."""
    keys = sealing.setup_tender_keys(2, 3, _RECOVERY[1])
    with unit_of_work():
        row = db.session.get(Tender, tender.id)
        row.public_key = keys.public_key_raw
        row.wrapped_private_key = keys.wrapped_private_key
        row.key_fingerprint = keys.fingerprint.replace(" ", "")  # 64 hex, as procurement.services.keys stores it
    db.session.refresh(tender)
    return keys


def private_key(keys: sealing.TenderKeys):
    return sealing.rebuild_private_key(keys.custodian_shares[:2], keys.share_commitments, keys.wrapped_private_key,
                                       keys.public_key_raw, threshold=2)


def open_part(keys, bid: Bid, part: BidPart) -> bytes:
    return sealing.unseal(private_key(keys), part.ciphertext, aad=svc.part_aad(bid, part))


def bidding_setup(*, lots=None, tendering=True, **tender_kw):
    """A published tender (keys made here) and one supplier; the clock in tendering."""
    clock.set_time(NOW)
    buyer = make_buyer()
    tender_kw.setdefault("enquiry_end", None)
    tender = published_tender(buyer, lots=lots or NO_BOND_LOTS, **tender_kw)
    keys = keyed(tender)
    if tendering and tender.enquiry_end is not None:
        clock.set_time(tender.enquiry_end + timedelta(hours=1))
    org, user = make_supplier()
    return buyer, tender, keys, org, user


def full_bid(tender, org, user, prices=(1_234_500,), answers=None, attachment=None) -> Bid:
    lot_ids = [lot.id for lot in tender.lots][: len(prices)]
    bid = svc.start_bid(tender, user, org, lot_ids)
    for lot_id, price in zip(lot_ids, prices, strict=True):
        svc.add_price(bid, user, lot_id, price)
    if answers:
        svc.add_answers(bid, user, answers)
    if attachment:
        svc.add_attachment(bid, user, *attachment)
    return bid


# --------------------------------------------------------------------------- tests


@pytest.fixture
def setup():
    return bidding_setup()


def test_parts_are_sealed_on_receipt_and_open_with_the_tender_key(setup):
    _buyer, tender, keys, org, user = setup
    bid = svc.start_bid(tender, user, org, [tender.lots[0].id])
    assert bid.status == BidStatus.DRAFT
    price = svc.add_price(bid, user, tender.lots[0].id, 9_876_500)
    att = svc.add_attachment(bid, user, "方案 tech.txt", b"technical proposal text")
    assert price.name == "price-lot-1" and att.name == "方案 tech.txt" and att.size == len(b"technical proposal text")
    for part in (price, att):
        assert part.ciphertext_sha256 == hashlib.sha256(part.ciphertext).hexdigest()
    assert json.loads(open_part(keys, bid, price)) == {"lot_id": tender.lots[0].id, "price": 9_876_500}
    assert open_part(keys, bid, att) == b"technical proposal text"
    # bound to its context: the blob does not open as another part
    other = BidPart(bid_id=bid.id, seq=att.seq, kind="x", name="")
    with pytest.raises(sealing.AuthenticationFailed):
        sealing.unseal(private_key(keys), price.ciphertext, aad=svc.part_aad(bid, other))


def test_a_flipped_ciphertext_byte_fails_authentication(setup):
    _buyer, tender, keys, org, user = setup
    bid = full_bid(tender, org, user)
    part = svc.live_parts(bid)[0]
    data = bytearray(part.ciphertext)
    for index in (0, 1, 40, len(data) // 2, len(data) - 1):
        tampered = bytearray(data)
        tampered[index] ^= 0x01
        with pytest.raises(sealing.AuthenticationFailed):
            sealing.unseal(private_key(keys), bytes(tampered), aad=svc.part_aad(bid, part))
    assert sealing.unseal(private_key(keys), bytes(data), aad=svc.part_aad(bid, part))


def test_price_sizes_do_not_reveal_the_number_of_digits(setup):
    _buyer, tender, _keys, org, user = setup
    bid = svc.start_bid(tender, user, org, [tender.lots[0].id, tender.lots[1].id])
    a = svc.add_price(bid, user, tender.lots[0].id, 1)
    b = svc.add_price(bid, user, tender.lots[1].id, 123_456_789_012)
    assert len(a.ciphertext) == len(b.ciphertext)


def test_submit_stores_a_signed_receipt_whose_hashes_are_the_stored_ciphertexts(setup):
    _buyer, tender, _keys, org, user = setup
    clock.advance(timedelta(minutes=5))
    bid = full_bid(tender, org, user, attachment=("a.txt", b"hello"))
    bid = svc.submit(bid, user)
    assert bid.status == BidStatus.SUBMITTED and bid.submitted_at == clock.now()
    assert bid.tender_version == tender.version and bid.needs_resubmission is False
    receipt = bid.receipt
    assert sealing.verify_receipt(receipt)
    assert receipt["tender_id"] == tender.id and receipt["bidder_org_id"] == org.id
    assert receipt["lots"] == [tender.lots[0].id]
    stored = {p.name: p for p in svc.live_parts(bid)}
    assert [p["name"] for p in receipt["parts"]] == ["price-lot-1", "a.txt"]
    for item in receipt["parts"]:
        part = stored[item["name"]]
        assert item["sha256"] == hashlib.sha256(part.ciphertext).hexdigest() == part.ciphertext_sha256
        assert item["size"] == len(part.ciphertext)
    assert svc.check_receipt(json.dumps(receipt)).valid
    assert svc.current_bids(tender) == [bid]


def test_a_tampered_receipt_fails_verification(setup):
    _buyer, tender, _keys, org, user = setup
    receipt = svc.submit(full_bid(tender, org, user), user).receipt
    for mutate in (
        lambda r: r["parts"][0].__setitem__("sha256", "0" * 64),
        lambda r: r.__setitem__("received_at", "2020-01-01T00:00:00.000000Z"),
        lambda r: r.__setitem__("lots", [999]),
        lambda r: r.__setitem__("bidder_org_id", r["bidder_org_id"] + 1),
    ):
        bad = copy.deepcopy(receipt)
        mutate(bad)
        check = svc.check_receipt(bad)
        assert not check.valid and check.reason
    assert not svc.check_receipt("not json").valid
    assert not svc.check_receipt(json.dumps({"type": "x"})).valid


def test_submission_needs_a_price_for_every_lot_of_the_bid(setup):
    _buyer, tender, _keys, org, user = setup
    bid = svc.start_bid(tender, user, org, [lot.id for lot in tender.lots])
    svc.add_price(bid, user, tender.lots[0].id, 100)
    with pytest.raises(ValidationError) as exc:
        svc.submit(bid, user)
    assert exc.value.code == "price_missing" and "2" in exc.value.message
    assert db.session.get(Bid, bid.id).status == BidStatus.DRAFT


def test_a_new_price_replaces_the_old_and_removed_parts_are_kept_but_not_submitted(setup):
    _buyer, tender, _keys, org, user = setup
    bid = svc.start_bid(tender, user, org, [tender.lots[0].id])
    first = svc.add_price(bid, user, tender.lots[0].id, 100)
    second = svc.add_price(bid, user, tender.lots[0].id, 200)
    att = svc.add_attachment(bid, user, "x.txt", b"remove me")
    svc.remove_part(bid, user, att.id)
    assert [p.id for p in svc.live_parts(bid)] == [second.id]
    assert db.session.get(BidPart, first.id).ciphertext and db.session.get(BidPart, att.id).removed_at
    bid = svc.submit(bid, user)
    assert [p["name"] for p in bid.receipt["parts"]] == ["price-lot-1"]
    with pytest.raises(InvalidTransition):
        svc.remove_part(bid, user, second.id)


def test_replacement_supersedes_the_old_bid_and_keeps_its_ciphertext(setup):
    _buyer, tender, keys, org, user = setup
    old = svc.submit(full_bid(tender, org, user, prices=(100,)), user)
    old_part = svc.live_parts(old)[0]
    new = svc.submit(full_bid(tender, org, user, prices=(90,)), user)
    assert new.id != old.id and new.supersedes_id == old.id
    db.session.expire_all()
    assert db.session.get(Bid, old.id).status == BidStatus.SUPERSEDED
    kept = db.session.get(BidPart, old_part.id)
    assert json.loads(open_part(keys, old, kept))["price"] == 100
    assert svc.current_bids(tender) == [db.session.get(Bid, new.id)]


def test_withdraw_before_the_deadline_and_not_after(setup):
    _buyer, tender, _keys, org, user = setup
    bid = svc.submit(full_bid(tender, org, user), user)
    bid = svc.withdraw(bid, user)
    assert bid.status == BidStatus.WITHDRAWN and bid.withdrawn_at == clock.now()
    assert svc.current_bids(tender) == []
    with pytest.raises(InvalidTransition):
        svc.withdraw(bid, user)
    again = svc.submit(full_bid(tender, org, user), user)
    clock.set_time(tender.submission_deadline)
    with pytest.raises(InvalidTransition) as exc:
        svc.withdraw(again, user)
    assert exc.value.code == "deadline_passed"
    assert db.session.get(Bid, again.id).status == BidStatus.SUBMITTED


def test_drafting_is_allowed_in_the_enquiry_period_but_submission_waits_for_tendering():
    _buyer, tender, _keys, org, user = bidding_setup(tendering=False, enquiry_end=NOW + timedelta(days=10))
    bid = full_bid(tender, org, user)
    with pytest.raises(InvalidTransition) as exc:
        svc.submit(bid, user)
    assert exc.value.code == "enquiry_period"
    clock.set_time(tender.enquiry_end)
    assert svc.submit(bid, user).status == BidStatus.SUBMITTED


@pytest.mark.parametrize("problem", ["unverified", "debarred", "not_invited", "buyer_org"])
def test_ineligible_suppliers_are_refused(problem):
    _buyer, tender, _keys, org, user = bidding_setup()
    bid = full_bid(tender, org, user)  # prepared while eligible
    with unit_of_work():
        row = db.session.get(Organization, org.id)
        if problem == "unverified":
            row.verification = Verification.PENDING.value
        elif problem == "debarred":
            row.credit_status = CreditStatus.DEBARRED.value
            row.debarred_until = clock.today_local() + timedelta(days=30)
        elif problem == "buyer_org":
            row.kinds = ["buyer"]
        else:
            db.session.get(Tender, tender.id).method = "invitation"
    db.session.expire_all()
    expected = {"unverified": "not_verified", "debarred": "debarred", "not_invited": "not_invited",
                "buyer_org": "not_supplier"}[problem]
    with pytest.raises(ValidationError) as exc:
        svc.submit(db.session.get(Bid, bid.id), user)
    assert exc.value.code == expected
    with pytest.raises(ValidationError):
        svc.start_bid(db.session.get(Tender, tender.id), user, db.session.get(Organization, org.id),
                      [tender.lots[0].id])


def test_a_past_debarment_does_not_block():
    _buyer, tender, _keys, org, user = bidding_setup()
    with unit_of_work():
        row = db.session.get(Organization, org.id)
        row.credit_status = CreditStatus.DEBARRED.value
        row.debarred_until = clock.today_local() - timedelta(days=1)
    assert svc.submit(full_bid(tender, org, user), user).status == BidStatus.SUBMITTED


def test_invited_supplier_may_bid_on_an_invitation_tender():
    org, user = make_supplier()
    _buyer, tender, _keys, _org, _user = bidding_setup(method="invitation", invitees=[org.id])
    assert svc.submit(full_bid(tender, org, user), user).status == BidStatus.SUBMITTED


def test_a_lot_with_a_bond_needs_an_acceptable_bond():
    lots = [dict(title_en="Desktops", budget=100_000_000, bond_amount=2_000_000)]
    _buyer, tender, _keys, org, user = bidding_setup(lots=lots)
    bid = full_bid(tender, org, user)
    with pytest.raises(ValidationError) as exc:
        svc.submit(bid, user)
    assert exc.value.code == "bond_missing"
    with unit_of_work():
        db.session.add(Bond(tender_id=tender.id, lot_id=tender.lots[0].id, supplier_org_id=org.id, kind="transfer",
                            status=BondStatus.CONFIRMED.value, amount=2_000_000, reference="BOND-T-1",
                            reported_at=clock.now(), verified_at=clock.now()))
    assert svc.submit(bid, user).status == BidStatus.SUBMITTED


def test_only_a_bidder_of_the_organization_may_act(setup):
    _buyer, tender, _keys, org, user = setup
    finance = make_user(org, [Role.FINANCE])
    with pytest.raises(PermissionDenied):
        svc.start_bid(tender, finance, org, [tender.lots[0].id])
    bid = full_bid(tender, org, user)
    other_org, other = make_supplier()
    for action in (lambda: svc.add_price(bid, other, tender.lots[0].id, 1), lambda: svc.submit(bid, other),
                   lambda: svc.remove_part(bid, other, svc.live_parts(bid)[0].id)):
        with pytest.raises(PermissionDenied):
            action()


def test_invalid_inputs_are_refused_with_codes(setup):
    _buyer, tender, _keys, org, user = setup
    with pytest.raises(ValidationError) as exc:
        svc.start_bid(tender, user, org, [])
    assert exc.value.code == "no_lots"
    with pytest.raises(ValidationError) as exc:
        svc.start_bid(tender, user, org, [999_999])
    assert exc.value.code == "unknown_lot"
    bid = svc.start_bid(tender, user, org, [tender.lots[0].id])
    for price in (0, -5, 1.5, "100", True):
        with pytest.raises(ValidationError):
            svc.add_price(bid, user, tender.lots[0].id, price)
    with pytest.raises(ValidationError) as exc:
        svc.add_price(bid, user, tender.lots[1].id, 100)
    assert exc.value.code == "lot_not_in_bid"
    with pytest.raises(ValidationError) as exc:
        svc.add_answers(bid, user, {"999999": "x"})
    assert exc.value.code == "unknown_criterion"
    with pytest.raises(ValidationError):
        svc.add_attachment(bid, user, "evil.exe", b"MZ\x90\x00")
    with pytest.raises(ValidationError):
        svc.add_attachment(bid, user, "fake.pdf", b"not a pdf")
    with pytest.raises(NotFound):
        svc.remove_part(bid, user, 999_999)
    assert svc.live_parts(bid) == []


def test_attachment_size_is_bounded_by_config(setup, app):
    _buyer, tender, _keys, org, user = setup
    bid = svc.start_bid(tender, user, org, [tender.lots[0].id])
    app.config["PROCUREMENT_BID_ATTACHMENT_MAX_BYTES"] = 1000
    try:
        with pytest.raises(ValidationError):
            svc.add_attachment(bid, user, "big.txt", b"a" * 1001)
        assert svc.add_attachment(bid, user, "ok.txt", b"a" * 1000).size == 1000
    finally:
        app.config.pop("PROCUREMENT_BID_ATTACHMENT_MAX_BYTES")


def test_answers_are_sealed_as_json_keyed_by_criterion():
    criteria = [dict(name_en="Price", weight=40, kind="price"), dict(name_en="Technical", weight=60, kind="technical")]
    _buyer, tender, keys, org, user = bidding_setup(evaluation_method="scored", criteria=criteria)
    tech = [c for c in tender.criteria if c.kind == "technical"][0]
    bid = svc.start_bid(tender, user, org, [tender.lots[0].id])
    part = svc.add_answers(bid, user, {str(tech.id): "  我们的技术方案  "})
    assert part.kind == BidPartKind.ANSWERS and part.name == "answers" and part.size % svc.ANSWERS_BLOCK == 0
    assert json.loads(open_part(keys, bid, part).decode("utf-8")) == {"answers": {str(tech.id): "我们的技术方案"}}


def test_audit_entries_name_neither_bidder_nor_tender_until_opened(setup):
    _buyer, tender, keys, org, user = setup
    bid = svc.submit(full_bid(tender, org, user), user)
    entries = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.like("bid.%"))))
    assert {e.action for e in entries} >= {"bid.draft_started", "bid.part_added", "bid.submitted"}
    for e in entries:
        text = json.dumps(e.data) + (e.actor_label or "") + str(e.obj_id)
        assert user.email not in text and e.actor_user_id is None and e.actor_org_id is None
    opened = sealed_audit.unseal_details(private_key(keys), next(e for e in entries if e.action == "bid.submitted").data)
    assert opened["bid_id"] == bid.id and opened["bidder_org_id"] == org.id and opened["user"] == user.email


def test_another_supplier_is_unaffected_by_a_bid(setup):
    _buyer, tender, _keys, org, user = setup
    svc.submit(full_bid(tender, org, user), user)
    other_org, _other = make_supplier()
    assert svc.bids_of_org(other_org.id) == [] and svc.draft_of(tender, other_org.id) is None
    assert svc.submitted_of(tender, other_org.id) is None and svc.submitted_of(tender, org.id) is not None


# --------------------------------------------------------------------------- one call (the API's path)


def _criterion(tender) -> int:
    return db.session.scalar(sa.select(Criterion.id).where(Criterion.tender_id == tender.id).limit(1))


def test_one_call_seals_every_part_with_one_audit_entry_and_a_receipt_of_the_stored_bytes():
    criteria = [dict(name_en="Price", weight=40, kind="price"), dict(name_en="Technical", weight=60, kind="technical")]
    _buyer, tender, keys, org, user = bidding_setup(evaluation_method="scored", criteria=criteria)
    criterion = _criterion(tender)
    audit_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    bid = svc.submit_complete_bid(
        tender.id, user, org, prices={tender.lots[1].id: 2_000_000, tender.lots[0].id: 1_000_000},
        answers={str(criterion): "三年质保"}, attachments=[svc.Attachment("方案.txt", b"technical proposal")])
    assert bid.status == BidStatus.SUBMITTED and bid.submitted_at == clock.now()
    assert bid.lot_ids == [tender.lots[0].id, tender.lots[1].id] and bid.tender_version == tender.version
    # the parts came back loaded with the bid (the API answers from them)
    assert [(p.seq, p.kind, p.name) for p in bid.parts] == [
        (1, "price", "price-lot-1"), (2, "price", "price-lot-2"), (3, "answers", "answers"), (4, "attachment", "方案.txt")]
    db.session.expire_all()
    bid = db.session.get(Bid, bid.id)
    stored = svc.live_parts(bid)
    assert sealing.verify_receipt(bid.receipt) and [p["name"] for p in bid.receipt["parts"]] == [p.name for p in stored]
    for item, part in zip(bid.receipt["parts"], stored, strict=True):
        assert item["sha256"] == hashlib.sha256(part.ciphertext).hexdigest() == part.ciphertext_sha256
        assert item["size"] == len(part.ciphertext) == svc.sealed_size(part)
    assert json.loads(open_part(keys, bid, stored[0])) == {"lot_id": tender.lots[0].id, "price": 1_000_000}
    assert json.loads(open_part(keys, bid, stored[2]).decode()) == {"answers": {str(criterion): "三年质保"}}
    assert open_part(keys, bid, stored[3]) == b"technical proposal"
    # ONE audit entry for the submission, its details sealed, listing the parts
    entries = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.like("bid.%"))))
    assert [e.action for e in entries] == ["bid.submitted"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audit_before + 1
    text = json.dumps(entries[0].data)
    assert user.email not in text and "technical proposal" not in text and "1000000" not in text
    opened = sealed_audit.unseal_details(private_key(keys), entries[0].data)
    assert opened["bid_id"] == bid.id and opened["bidder_org_id"] == org.id and opened["user"] == user.email
    assert [(p["seq"], p["kind"]) for p in opened["parts"]] == [(1, "price"), (2, "price"), (3, "answers"),
                                                               (4, "attachment")]


def test_names_and_receipt_are_sealed_at_rest_and_survive_a_key_rotation(app, monkeypatch, setup):
    _buyer, tender, _keys, org, user = setup
    bid_id = svc.submit_complete_bid(tender.id, user, org, prices={tender.lots[0].id: 5},
                                     attachments=[svc.Attachment("华通报价说明.txt", b"x")]).id

    def reloaded():
        db.session.expire_all()
        bid = db.session.get(Bid, bid_id)
        return bid, svc.live_parts(bid)[-1]

    bid, part = reloaded()
    assert "华通报价说明".encode() not in part.sealed_name and "华通报价说明".encode() not in bid.sealed_receipt
    assert part.name == "华通报价说明.txt" and bid.receipt["parts"][-1]["name"] == "华通报价说明.txt"
    # rotated, the old secret kept as a fallback: both still read
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-rotated-secret")
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", ["test-secret"])
    bid, part = reloaded()
    assert part.name == "华通报价说明.txt" and sealing.verify_receipt(bid.receipt)
    # the old secret dropped: what was read stays with the loaded row...
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])
    assert part.name == "华通报价说明.txt" and bid.receipt is not None
    # ...and, loaded again, a placeholder name and no receipt, not an error
    bid, part = reloaded()
    assert part.opened_name() is None and part.name == f"part-{part.seq}"
    assert bid.receipt is None and bid.has_receipt


def test_a_receipt_is_never_signed_over_a_name_that_no_longer_opens(setup):
    _buyer, tender, _keys, org, user = setup
    bid = svc.start_bid(tender, user, org, [tender.lots[0].id])
    svc.add_price(bid, user, tender.lots[0].id, 5)
    part = svc.add_attachment(bid, user, "方案.txt", b"plain text proposal")
    with unit_of_work():
        db.session.get(BidPart, part.id).sealed_name = b"\0" * 40  # sealed under a key long gone
    db.session.expire_all()
    with pytest.raises(Conflict) as exc:
        svc.submit(db.session.get(Bid, bid.id), user)
    assert exc.value.code == "bid_part_unreadable"
    db.session.expire_all()
    assert db.session.get(Bid, bid.id).status == BidStatus.DRAFT and not db.session.get(Bid, bid.id).has_receipt


def test_one_call_replaces_the_current_bid_and_leaves_a_draft_alone(setup):
    _buyer, tender, _keys, org, user = setup
    draft = svc.start_bid(tender, user, org, [tender.lots[0].id])
    first = svc.submit_complete_bid(tender.id, user, org, prices={tender.lots[0].id: 5})
    second = svc.submit_complete_bid(tender.id, user, org, prices={tender.lots[0].id: 4})
    db.session.expire_all()
    assert db.session.get(Bid, first.id).status == BidStatus.SUPERSEDED
    assert db.session.get(Bid, second.id).supersedes_id == first.id
    assert db.session.get(Bid, draft.id).status == BidStatus.DRAFT
    assert svc.current_bids(tender) == [db.session.get(Bid, second.id)]


def test_one_call_refusals_keep_nothing(setup):
    _buyer, tender, _keys, org, user = setup
    other_buyer_tender = published_tender(make_buyer())
    foreign_lot = other_buyer_tender.lots[0].id
    cases = [
        (dict(prices={foreign_lot: 5}), "unknown_lot"),
        (dict(prices={}), "no_lots"),
        (dict(prices={tender.lots[0].id: 0}), "invalid_price"),
        (dict(prices={tender.lots[0].id: 5}, answers={"999999": "x"}), "unknown_criterion"),
        (dict(prices={tender.lots[0].id: 5}, attachments=[svc.Attachment("x.exe", b"MZ")]), None),
    ]
    for kwargs, code in cases:
        with pytest.raises(ValidationError) as exc:
            svc.submit_complete_bid(tender.id, user, org, **kwargs)
        assert code is None or exc.value.code == code, (kwargs, exc.value.code)
    clock.set_time(tender.submission_deadline)
    with pytest.raises(InvalidTransition) as refused:
        svc.submit_complete_bid(tender.id, user, org, prices={tender.lots[0].id: 5})
    assert refused.value.code == "deadline_passed"
    assert db.session.scalar(sa.select(sa.func.count(Bid.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(BidPart.id))) == 0


def test_one_call_needs_the_lots_bond():
    lots = [dict(title_en="Desktops", budget=100_000_000, bond_amount=2_000_000)]
    _buyer, tender, _keys, org, user = bidding_setup(lots=lots)
    with pytest.raises(ValidationError) as exc:
        svc.submit_complete_bid(tender.id, user, org, prices={tender.lots[0].id: 5})
    assert exc.value.code == "bond_missing"
    with unit_of_work():
        db.session.add(Bond(tender_id=tender.id, lot_id=tender.lots[0].id, supplier_org_id=org.id, kind="transfer",
                            status=BondStatus.CONFIRMED.value, amount=2_000_000, reference="BOND-T-2",
                            reported_at=clock.now(), verified_at=clock.now()))
    assert svc.submit_complete_bid(tender.id, user, org, prices={tender.lots[0].id: 5}).status == BidStatus.SUBMITTED
