"""The opening: custodian shares, decryption of every current bid, erased shares, the
opening record, unsuccessful lots, the recovery path and the lock against submissions."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core import at_rest, clock
from core.db import db, for_update, unit_of_work
from core.errors import Conflict, ValidationError
from core.files import read_file
from core.models.audit import AuditEntry
from core.models.files import StoredFile
from procurement import sealing
from procurement.models import Bid, BidPart, Bond, Lot, Tender, TenderCustodian
from procurement.services import bonds, keys, opening
from procurement.states import BidStatus, BondKind, BondStatus, LotStatus, TenderStatus
from tests.helpers import fresh_totp
from tests.procurement.factories import LOT_BUDGET, NOW, make_supplier, negotiated_tender, published_tender

pytestmark = pytest.mark.usefixtures("frozen_clock")

TICK = timedelta(microseconds=1)


# --------------------------------------------------------------------------- helpers (shared with other tests)


def seal_bid(tender, org, *, prices=None, answers=None, attachment=None, status=BidStatus.SUBMITTED):
    """Insert a sealed bid as the bids service would: parts sealed to the tender's public
    key with the agreed aad, ciphertext and its SHA-256 stored. prices: {lot_id: fen}."""
    tender = db.session.get(Tender, tender.id)
    prices = prices if prices is not None else {tender.lots[0].id: 500_000_00}
    with unit_of_work():
        bid = Bid(tender_id=tender.id, bidder_org_id=org.id, status=str(status), lot_ids=list(prices),
                  submitted_at=clock.now())
        db.session.add(bid)
        db.session.flush()
        contents: list[tuple[str, int | None, str, bytes]] = [
            ("price", lot_id, f"price-{lot_id}", json.dumps({"lot_id": lot_id, "price": price}).encode())
            for lot_id, price in prices.items()
        ]
        if answers is not None:
            contents.append(("answers", None, "answers", json.dumps({"answers": answers}).encode()))
        if attachment is not None:
            contents.append(("attachment", None, attachment[0], attachment[1]))
        for seq, (kind, lot_id, name, plaintext) in enumerate(contents, start=1):
            blob = sealing.seal(tender.public_key, plaintext,
                                aad=sealing.bid_aad(tender.id, org.id, f"{bid.id}/{seq}"))
            db.session.add(BidPart(bid_id=bid.id, seq=seq, kind=kind, lot_id=lot_id, name=name, size=len(plaintext),
                                   ciphertext=blob.data, ciphertext_sha256=blob.sha256))
    db.session.refresh(bid)
    return bid


def collect_all(tender, custodians) -> list[str]:
    """Every custodian collects their share; returns the codes in custodian order."""
    return [keys.collect_share(tender, user, fresh_totp(user)).code for user in custodians]


def present(tender, user, code):
    return opening.present_share(db.session.get(Tender, tender.id), user, code, totp_code=fresh_totp(user))


def at_opening(tender):
    clock.set_time(db.session.get(Tender, tender.id).opening_time)


def fresh(model, ident):
    obj = db.session.get(model, ident)
    db.session.refresh(obj)
    return obj


@pytest.fixture
def tender(buyer):
    return negotiated_tender(buyer)


@pytest.fixture
def codes(tender, buyer):
    return collect_all(tender, buyer.custodians)


@pytest.fixture
def three_bids(tender):
    lot_id = tender.lots[0].id
    return [seal_bid(tender, make_supplier()[0], prices={lot_id: price})
            for price in (900_000_00, 700_000_00, 800_000_00)]


# --------------------------------------------------------------------------- shares


def test_shares_before_the_opening_time_are_refused(tender, buyer, codes):
    clock.set_time(tender.opening_time - TICK)
    with pytest.raises(ValidationError) as exc:
        present(tender, buyer.custodians[0], codes[0])
    assert exc.value.code == "opening_not_started" and "not started" in exc.value.message
    assert fresh(TenderCustodian, keys.custodian_for(tender, buyer.custodians[0]).id).presented_share is None


def test_share_at_exactly_the_opening_time_is_accepted(tender, buyer, codes):
    at_opening(tender)
    result = present(tender, buyer.custodians[0], codes[0])
    assert (result.received, result.needed, result.opened) == (1, 2, False)


def test_k_minus_one_shares_open_nothing(tender, buyer, codes, three_bids):
    at_opening(tender)
    present(tender, buyer.custodians[0], codes[0])
    stored = fresh(Tender, tender.id)
    assert stored.opened_at is None and stored.opening_record is None
    assert stored.status == TenderStatus.AWAITING_OPENING  # synced from the clock, not opened
    assert all(fresh(Bid, b.id).status == BidStatus.SUBMITTED for b in three_bids)
    assert all(p.opened_value is None for b in three_bids for p in fresh(Bid, b.id).parts)
    row = keys.custodian_for(stored, buyer.custodians[0])
    assert row.presented_share is not None and sealing.parse_share(codes[0]).value not in row.presented_share


def test_k_shares_open_every_current_bid(tender, buyer, codes, three_bids):
    at_opening(tender)
    present(tender, buyer.custodians[0], codes[0])
    result = present(tender, buyer.custodians[2], codes[2])
    assert result.opened
    stored = fresh(Tender, tender.id)
    assert stored.status == TenderStatus.OPENED and stored.opened_at == stored.opening_time
    prices = {}
    for bid in three_bids:
        bid = fresh(Bid, bid.id)
        assert bid.status == BidStatus.OPENED and bid.opened_at is not None and bid.open_error == ""
        prices[bid.bidder_org_id] = bid.parts[0].opened_value["price"]
    assert sorted(prices.values()) == [700_000_00, 800_000_00, 900_000_00]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "tender.opened"))
    assert entry.data["opened_count"] == 3 and entry.data["via"] == "custodians"


def test_shares_are_erased_after_the_opening(tender, buyer, three_bids):
    codes = collect_all(tender, buyer.custodians[:2])  # the third custodian never collects
    assert keys.custodian_for(tender, buyer.custodians[2]).pending_share is not None
    at_opening(tender)
    present(tender, buyer.custodians[0], codes[0])
    present(tender, buyer.custodians[1], codes[1])
    rows = db.session.scalars(sa.select(TenderCustodian).where(TenderCustodian.tender_id == tender.id)).all()
    for row in rows:
        db.session.refresh(row)
        assert row.pending_share is None and row.presented_share is None


def test_a_wrong_share_is_named_and_nothing_is_stored(tender, buyer, codes):
    at_opening(tender)
    me = buyer.custodians[0]
    index = keys.custodian_for(tender, me).share_index
    forged = sealing.KeyShare(index=index, value=os.urandom(16)).code  # well-formed, wrong value
    with pytest.raises(ValidationError) as exc:
        present(tender, me, forged)
    assert exc.value.code == "wrong_share" and f"Share {index}" in exc.value.message
    with pytest.raises(ValidationError) as exc:
        present(tender, me, codes[1])  # another custodian's share
    assert exc.value.code == "wrong_share" and "not yours" in exc.value.message
    assert fresh(TenderCustodian, keys.custodian_for(tender, me).id).presented_share is None
    assert opening.progress(fresh(Tender, tender.id)).received == 0


def test_a_typo_in_the_code_names_its_group(tender, buyer, codes):
    at_opening(tender)
    code = codes[0]
    pos = code.index("-") + 3
    typo = code[:pos] + ("A" if code[pos] != "A" else "B") + code[pos + 1:]
    with pytest.raises(ValidationError) as exc:
        present(tender, buyer.custodians[0], typo)
    assert exc.value.code == "invalid_share_code" and "Group 1" in exc.value.message


def test_a_share_from_another_tender_is_refused(tender, buyer, codes):
    other = published_tender(buyer, method="competitive_negotiation", enquiry_end=None,
                             submission_deadline=NOW + timedelta(days=10), opening_time=NOW + timedelta(days=10, hours=1))
    other_file = keys.collect_share(other, buyer.custodians[0], fresh_totp(buyer.custodians[0])).file_json
    at_opening(tender)
    with pytest.raises(ValidationError) as exc:
        present(tender, buyer.custodians[0], other_file)
    assert exc.value.code == "wrong_share"


def test_the_share_file_is_accepted_like_the_code(tender, buyer):
    files = [keys.collect_share(tender, u, fresh_totp(u)).file_json for u in buyer.custodians[:2]]
    at_opening(tender)
    present(tender, buyer.custodians[0], files[0].encode())
    assert present(tender, buyer.custodians[1], files[1]).opened


def test_totp_is_required_to_present(tender, buyer, codes):
    at_opening(tender)
    with pytest.raises(ValidationError) as exc:
        opening.present_share(tender, buyer.custodians[0], codes[0], totp_code="123456")
    assert exc.value.code == "totp_invalid"
    with pytest.raises(ValidationError):
        opening.present_share(tender, buyer.custodians[0], codes[0], totp_code=None)
    assert opening.progress(fresh(Tender, tender.id)).received == 0


def test_presenting_twice_or_after_the_opening_is_refused(tender, buyer, codes):
    at_opening(tender)
    present(tender, buyer.custodians[0], codes[0])
    with pytest.raises(Conflict) as exc:
        present(tender, buyer.custodians[0], codes[0])
    assert exc.value.code == "share_already_presented"
    present(tender, buyer.custodians[1], codes[1])
    with pytest.raises(Conflict) as exc:
        present(tender, buyer.custodians[2], codes[2])
    assert exc.value.code == "already_opened"


# --------------------------------------------------------------------------- decryption


def _open_with(tender, buyer, codes):
    at_opening(tender)
    present(tender, buyer.custodians[0], codes[0])
    present(tender, buyer.custodians[1], codes[1])


def test_a_flipped_ciphertext_byte_fails_authentication_and_only_that_bid_is_invalid(tender, buyer, codes, three_bids):
    part = three_bids[1].parts[0]
    with unit_of_work():
        row = db.session.get(BidPart, part.id)
        data = bytearray(row.ciphertext)
        data[-5] ^= 0x01
        row.ciphertext = bytes(data)
        row.ciphertext_sha256 = hashlib.sha256(row.ciphertext).hexdigest()  # even with a matching hash
    _open_with(tender, buyer, codes)
    bad = fresh(Bid, three_bids[1].id)
    assert bad.status == BidStatus.INVALID and "authentication" in bad.open_error
    assert bad.parts[0].opened_value is None
    assert [fresh(Bid, b.id).status for b in (three_bids[0], three_bids[2])] == [BidStatus.OPENED] * 2


def test_a_ciphertext_not_matching_its_hash_makes_the_bid_invalid(tender, buyer, codes, three_bids):
    with unit_of_work():
        row = db.session.get(BidPart, three_bids[0].parts[0].id)
        row.ciphertext = row.ciphertext[:-1] + bytes([row.ciphertext[-1] ^ 0x80])
    _open_with(tender, buyer, codes)
    bad = fresh(Bid, three_bids[0].id)
    assert bad.status == BidStatus.INVALID and "hash" in bad.open_error


def test_answers_and_attachments_are_opened(tender, buyer, codes):
    lot_id = tender.lots[0].id
    content = b"%PDF-1.4 technical proposal"
    bid = seal_bid(tender, make_supplier()[0], prices={lot_id: 123_45}, answers={"7": "ISO 9001"},
                   attachment=("proposal.pdf", content))
    _open_with(tender, buyer, codes)
    parts = fresh(Bid, bid.id).parts
    assert parts[1].opened_value == {"answers": {"7": "ISO 9001"}}
    stored = db.session.get(StoredFile, parts[2].opened_file_id)
    assert read_file(stored) == content and stored.original_name == "proposal.pdf"


def test_a_part_name_that_no_longer_opens_does_not_stop_the_opening(tender, buyer, codes, three_bids):
    """A file name that no longer opens (sealed under a platform secret since dropped from
    SECRET_KEY_FALLBACKS): the opening still opens every bid and files the attachment
    under its part number."""
    content = b"%PDF-1.4 technical proposal"
    bid = seal_bid(tender, make_supplier()[0], attachment=("proposal.pdf", content))
    with unit_of_work():
        row = db.session.get(BidPart, bid.parts[1].id)
        row.sealed_name = at_rest.seal(b"sealed under another label or key", b"proposal.pdf")
    _open_with(tender, buyer, codes)
    assert fresh(Tender, tender.id).status == TenderStatus.OPENED
    part = fresh(Bid, bid.id).parts[1]
    assert part.name == "part-2" and part.opened_file_id is not None
    stored = db.session.get(StoredFile, part.opened_file_id)
    assert read_file(stored) == content and stored.original_name == "part-2"


def test_withdrawn_superseded_and_draft_bids_are_not_opened(tender, buyer, codes, three_bids):
    org = make_supplier()[0]
    withdrawn = seal_bid(tender, org, status=BidStatus.WITHDRAWN)
    superseded = seal_bid(tender, make_supplier()[0], status=BidStatus.SUPERSEDED)
    draft = seal_bid(tender, make_supplier()[0], status=BidStatus.DRAFT)
    _open_with(tender, buyer, codes)
    assert fresh(Bid, withdrawn.id).status == BidStatus.WITHDRAWN
    assert fresh(Bid, superseded.id).status == BidStatus.SUPERSEDED
    assert fresh(Bid, draft.id).status == BidStatus.DRAFT
    assert all(p.opened_value is None for p in fresh(Bid, draft.id).parts)
    record = fresh(Tender, tender.id).opening_record
    assert record["withdrawn_count"] == 1 and record["bid_count"] == 3
    assert draft.bidder_org_id not in {b["bidder_org_id"] for lot in record["lots"] for b in lot["bids"]}


# --------------------------------------------------------------------------- the record and unsuccessful lots


def _bond(tender, org_id, status, n):
    with unit_of_work():
        db.session.add(Bond(tender_id=tender.id, lot_id=tender.lots[0].id, supplier_org_id=org_id,
                            kind=BondKind.GUARANTEE.value, status=status.value, amount=tender.lots[0].bond_amount,
                            reference=f"BOND-TEST-{n:04d}"))


def test_opening_record_lists_bidders_prices_bonds_custodians(tender, buyer, codes, three_bids):
    cheapest, dearest = three_bids[1], three_bids[0]  # 700 and 900
    _bond(tender, cheapest.bidder_org_id, BondStatus.CONFIRMED, 1)
    _bond(tender, dearest.bidder_org_id, BondStatus.REJECTED, 2)  # rejected, then lodged again:
    _bond(tender, dearest.bidder_org_id, BondStatus.PENDING, 3)  # the latest not rejected counts
    seal_bid(tender, make_supplier()[0], status=BidStatus.WITHDRAWN)
    _open_with(tender, buyer, codes)
    record = fresh(Tender, tender.id).opening_record
    assert record["opened_at"] == tender.opening_time.isoformat() and record["via"] == "custodians"
    names = [c["name"] for c in record["custodians"] if c["presented"]]
    assert names == [buyer.custodians[0].display_name, buyer.custodians[1].display_name]
    assert record["withdrawn_count"] == 1
    (lot,) = record["lots"]
    assert lot["status"] == "active" and lot["valid_bids"] == 3 and lot["min_bids"] == 3
    assert [b["price"] for b in lot["bids"]] == [700_000_00, 800_000_00, 900_000_00]  # lowest first
    orgs = {b.bidder_org_id for b in three_bids}
    assert {b["bidder_org_id"] for b in lot["bids"]} == orgs
    assert all(b["bidder_name_zh"] for b in lot["bids"])
    assert [b["bond_status"] for b in lot["bids"]] == ["confirmed", None, "pending"]  # by price: 700, 800, 900


def test_fewer_valid_bids_than_the_minimum_make_the_lot_and_tender_unsuccessful(tender, buyer, codes):
    """流标: the lot and the tender are unsuccessful and the lot's bonds are refunded for
    real (a confirmed transfer by payout from the lot's bond account, a guarantee released)."""
    from payments.models import Payout
    from tests.payments.p2_helpers import platform_finance
    from tests.procurement.test_bonds import BANK, _confirm, _guarantee

    bonds.connect_subscribers()  # other modules clear the payments signals' receivers
    lot = db.session.get(Lot, tender.lots[0].id)
    paid_org, paid_user = make_supplier(**BANK)
    transfer = _confirm(bonds.lodge_transfer(tender, lot, paid_user, paid_org), platform_finance())
    assert transfer.status == BondStatus.CONFIRMED
    guaranteed = make_supplier()
    guarantee = _guarantee(tender, lot, guaranteed)
    for org, price in ((paid_org, 100_00), (guaranteed[0], 200_00)):
        seal_bid(tender, org, prices={lot.id: price})
    _open_with(tender, buyer, codes)
    stored = fresh(Tender, tender.id)
    assert stored.status == TenderStatus.UNSUCCESSFUL
    assert fresh(Lot, lot.id).status == LotStatus.UNSUCCESSFUL
    assert stored.opening_record["lots"][0]["status"] == "unsuccessful"
    assert [b["price"] for b in stored.opening_record["lots"][0]["bids"]] == [100_00, 200_00]
    transfer, guarantee = fresh(Bond, transfer.id), fresh(Bond, guarantee.id)
    assert transfer.status == BondStatus.REFUNDING and "unsuccessful" in transfer.refund_reason.lower()
    (payout,) = db.session.scalars(sa.select(Payout)).all()
    assert (payout.payee_org_id, payout.amount, payout.source_key) == (
        paid_org.id, lot.bond_amount, bonds.bond_account(lot.id))
    assert guarantee.status == BondStatus.RELEASED


def test_the_minimum_comes_from_the_methods_configured_settings(tender, buyer, codes):
    """The procedure types are admin-editable rows: the opening reads the minimum from the
    tender's method's row, not a constant (2 bids open a lot once the admin sets 2)."""
    from accounts.states import OrgKind, Role
    from procurement.services import tenders as tender_svc
    from tests.factories import make_org, make_user

    admin = make_user(make_org(kinds=[OrgKind.PLATFORM]), [Role.PLATFORM_ADMIN])
    tender_svc.update_procedure_type(tender_svc.procedure_for(tender.method), admin, min_bids=2)
    lot_id = tender.lots[0].id
    for price in (100_00, 200_00):
        seal_bid(tender, make_supplier()[0], prices={lot_id: price})
    _open_with(tender, buyer, codes)
    assert fresh(Lot, lot_id).status == LotStatus.ACTIVE
    assert fresh(Tender, tender.id).opening_record["lots"][0]["min_bids"] == 2


def test_an_invalid_bid_does_not_count_toward_the_minimum(tender, buyer, codes, three_bids):
    with unit_of_work():
        row = db.session.get(BidPart, three_bids[2].parts[0].id)
        row.ciphertext_sha256 = "0" * 64
    _open_with(tender, buyer, codes)
    stored = fresh(Tender, tender.id)
    lot = stored.opening_record["lots"][0]
    assert lot["valid_bids"] == 2 and lot["status"] == "unsuccessful"
    invalid = [b for b in lot["bids"] if b["status"] == "invalid"]
    assert len(invalid) == 1 and invalid[0]["price"] is None


def test_only_the_lot_short_of_bids_is_unsuccessful(buyer):
    lots = [dict(title_en=f"Lot {i}", title_zh=f"包{i}", budget=LOT_BUDGET, bond_amount=0, quantity=1, unit="set")
            for i in (1, 2)]
    tender = published_tender(buyer, method="competitive_negotiation", enquiry_end=None, lots=lots,
                              submission_deadline=NOW + timedelta(days=10), opening_time=NOW + timedelta(days=10))
    codes = collect_all(tender, buyer.custodians[:2])
    first, second = (lot.id for lot in tender.lots)
    for i in range(3):
        seal_bid(tender, make_supplier()[0], prices={first: 100_00 + i, **({second: 50_00} if i == 0 else {})})
    _open_with(tender, buyer, codes)
    stored = fresh(Tender, tender.id)
    assert stored.status == TenderStatus.OPENED
    assert [fresh(Lot, x).status for x in (first, second)] == [LotStatus.ACTIVE, LotStatus.UNSUCCESSFUL]
    assert stored.opening_record["lots"][1]["valid_bids"] == 1


# --------------------------------------------------------------------------- recovery


def _recovery_key() -> bytes:
    return keys.dev_recovery_private_key_path().read_bytes()


def test_recovery_key_with_k_minus_one_codes_opens(tender, buyer, codes, three_bids):
    at_opening(tender)
    result = opening.open_with_recovery(tender.id, _recovery_key(), [codes[2]])
    assert result.status == TenderStatus.OPENED and result.bids_opened == 3
    stored = fresh(Tender, tender.id)
    assert stored.opening_record["via"] == "recovery"
    assert [c["presented"] for c in stored.opening_record["custodians"]] == [False, False, True]
    assert all(c.pending_share is None for c in stored.custodians)


def test_recovery_alone_is_not_enough(tender, buyer, codes):
    at_opening(tender)
    with pytest.raises(ValidationError) as exc:
        opening.open_with_recovery(tender.id, _recovery_key(), [])
    assert exc.value.code == "not_enough_shares"
    assert fresh(Tender, tender.id).opened_at is None


def test_recovery_with_the_wrong_key_or_before_the_opening_is_refused(tender, buyer, codes):
    wrong, _public = sealing.generate_recovery_keypair()
    clock.set_time(tender.opening_time - TICK)
    with pytest.raises(ValidationError) as exc:
        opening.open_with_recovery(tender.id, _recovery_key(), [codes[0]])
    assert exc.value.code == "opening_not_started"
    at_opening(tender)
    with pytest.raises(ValidationError) as exc:
        opening.open_with_recovery(tender.id, wrong, [codes[0]])
    assert exc.value.code == "recovery_failed"
    assert fresh(Tender, tender.id).opened_at is None


# --------------------------------------------------------------------------- the lock (PostgreSQL)


def _submit_under_lock(app, tender_id, org_id, locked, go, outcome):
    """A stand-in for bids.submit: lock the tender row, check the deadline, insert, commit."""
    with app.app_context():
        try:
            with unit_of_work():
                tender = db.session.scalars(for_update(sa.select(Tender).where(Tender.id == tender_id))).one()
                if clock.now() >= tender.submission_deadline or tender.opened_at is not None:
                    outcome.append("refused")
                    return
                locked.set()
                go.wait(10)
                bid = Bid(tender_id=tender_id, bidder_org_id=org_id, status="submitted", lot_ids=[tender.lots[0].id],
                          submitted_at=clock.now())
                db.session.add(bid)
                db.session.flush()
                plaintext = json.dumps({"lot_id": tender.lots[0].id, "price": 42_00}).encode()
                blob = sealing.seal(tender.public_key, plaintext, aad=sealing.bid_aad(tender_id, org_id, f"{bid.id}/1"))
                db.session.add(BidPart(bid_id=bid.id, seq=1, kind="price", lot_id=tender.lots[0].id, name="price",
                                       size=len(plaintext), ciphertext=blob.data, ciphertext_sha256=blob.sha256))
            outcome.append(bid.id)
        finally:
            db.session.remove()


def test_a_submission_racing_the_opening_is_in_the_opening(app, postgres_only, tender, buyer, codes):
    org = make_supplier()[0]
    at_opening(tender)
    present(tender, buyer.custodians[0], codes[0])
    clock.set_time(tender.submission_deadline - TICK)
    locked, go, outcome, opened = threading.Event(), threading.Event(), [], []
    submitter = threading.Thread(target=_submit_under_lock, args=(app, tender.id, org.id, locked, go, outcome))
    submitter.start()
    assert locked.wait(10)
    at_opening(tender)  # the clock moves on while the submission holds the lock
    totp = fresh_totp(buyer.custodians[1])

    def open_it():
        with app.app_context():
            try:
                user = db.session.get(type(buyer.custodians[1]), buyer.custodians[1].id)
                t = db.session.get(Tender, tender.id)
                opened.append(opening.present_share(t, user, codes[1], totp_code=totp))
            finally:
                db.session.remove()

    opener = threading.Thread(target=open_it)
    opener.start()
    time.sleep(0.5)
    assert opener.is_alive()  # waiting for the tender row
    go.set()
    submitter.join(10)
    opener.join(20)
    assert opened and opened[0].opened
    bid = fresh(Bid, outcome[0])
    assert bid.status == BidStatus.OPENED and bid.parts[0].opened_value["price"] == 42_00
    assert fresh(Tender, tender.id).opening_record["bid_count"] == 1


def test_a_submission_after_the_opening_is_refused(app, postgres_only, tender, buyer, codes):
    _open_with(tender, buyer, codes)
    outcome: list = []
    _submit_under_lock(app, tender.id, make_supplier()[0].id, threading.Event(), threading.Event(), outcome)
    assert outcome == ["refused"]
