"""`flask seed-demo`, procurement part: demo tenders in every state, built through the
services, idempotent, with the custodians' shares in a demo-only file."""

from __future__ import annotations

import json
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from accounts import seed as accounts_seed
from accounts.models import Organization, User
from core import clock
from core.db import db
from core.models import AppSetting
from payments import seed as payments_seed
from procurement import seed
from procurement.models import Bid, Bond, Question, Tender, TenderAmendment, TenderCustodian
from procurement.services import opening
from procurement.services.tenders import status_now
from procurement.states import BidStatus, BondKind, BondStatus, LotStatus, TenderStatus
from tests.procurement.factories import NOW


@pytest.fixture
def shares_file(app, tmp_path, monkeypatch):
    path = tmp_path / "instance" / "demo_custodian_shares.json"
    monkeypatch.setitem(app.config, "PROCUREMENT_DEMO_SHARES_FILE", str(path))
    return path


def _seed_all() -> list[str]:
    lines: list[str] = []
    accounts_seed.run(echo=lines.append)
    payments_seed.run(echo=lines.append)
    seed.run(echo=lines.append)
    db.session.expire_all()
    return lines


def _tender(key: str) -> Tender:
    spec = seed.SPECS[key]
    tender = db.session.scalar(sa.select(Tender).where(Tender.title_zh == spec.title_zh))
    assert tender is not None, key
    return tender


def _bids(tender: Tender, status: BidStatus = BidStatus.SUBMITTED) -> list[Bid]:
    return list(db.session.scalars(sa.select(Bid).where(Bid.tender_id == tender.id, Bid.status == status.value)))


def _counts() -> dict[str, int]:
    from core.models.files import StoredFile
    from payments.models import Payment, Payout

    models = {"tenders": Tender, "bids": Bid, "bonds": Bond, "questions": Question, "amendments": TenderAmendment,
              "orgs": Organization, "users": User, "files": StoredFile, "payments": Payment, "payouts": Payout}
    return {name: db.session.scalar(sa.select(sa.func.count()).select_from(model)) for name, model in models.items()}


@pytest.fixture
def seeded(shares_file):
    clock.set_time(NOW)
    return _seed_all()


def test_a_demo_tender_in_every_state(seeded):
    assert "not added" not in "\n".join(seeded)
    assert status_now(_tender("draft")) == TenderStatus.DRAFT
    assert status_now(_tender("enquiries")) == TenderStatus.ENQUIRIES
    assert status_now(_tender("tendering")) == TenderStatus.TENDERING
    assert status_now(_tender("awaiting")) == TenderStatus.AWAITING_OPENING
    assert _tender("opened").status == TenderStatus.OPENED
    cancelled = _tender("cancelled")
    assert cancelled.status == TenderStatus.CANCELLED and cancelled.cancel_reason
    partly = _tender("unsuccessful_lot")
    assert partly.status == TenderStatus.OPENED
    assert [lot.status for lot in partly.lots] == [LotStatus.ACTIVE, LotStatus.UNSUCCESSFUL]
    # every buyer of the demo has tenders, every published one its keys
    assert {_tender(k).buyer_org_id for k in seed.SPECS} == {seed._org("edu").id, seed._org("health").id}
    assert all(_tender(k).public_key for k in seed.SPECS if k != "draft")
    # the enquiry period has a public answer and a question still open
    questions = list(db.session.scalars(sa.select(Question).where(Question.tender_id == _tender("enquiries").id)))
    assert sorted(bool(q.answer) for q in questions) == [False, True]


def test_tendering_has_sealed_bids_bonds_and_an_amendment(seeded):
    tender = _tender("tendering")
    bids = _bids(tender)
    assert len(bids) == 2 and all(b.receipt and b.parts for b in bids)
    assert all(p.opened_value is None and p.ciphertext for b in bids for p in b.parts)  # still sealed
    bonds = {(b.kind, b.status) for b in db.session.scalars(sa.select(Bond).where(Bond.tender_id == tender.id))}
    assert bonds == {(BondKind.TRANSFER, BondStatus.CONFIRMED), (BondKind.GUARANTEE, BondStatus.PENDING)}
    assert tender.version == 2 and len(tender.amendments) == 1


def test_opened_tenders_have_their_record_with_prices_and_bonds_were_refunded(seeded):
    tender = _tender("opened")
    record = tender.opening_record
    assert record["opened_count"] == 3 and record["invalid_count"] == 0
    [lot] = record["lots"]
    assert len(lot["bids"]) == 3 and all(isinstance(b["price"], int) and b["price"] > 0 for b in lot["bids"])
    assert sum(c["presented"] for c in record["custodians"]) == 2
    assert all(c.presented_share is None and c.pending_share is None for c in tender.custodians)
    partly = _tender("unsuccessful_lot").opening_record
    assert [(lot["status"], lot["valid_bids"]) for lot in partly["lots"]] == [("active", 3), ("unsuccessful", 1)]
    # the cancelled tender refunded (by payout) or released its bonds
    bonds = list(db.session.scalars(sa.select(Bond).where(Bond.tender_id == _tender("cancelled").id)))
    assert {(b.kind, b.status) for b in bonds} == {(BondKind.TRANSFER, BondStatus.REFUNDING),
                                                   (BondKind.GUARANTEE, BondStatus.RELEASED)}
    assert all(b.refund_reason for b in bonds)
    assert next(b for b in bonds if b.kind == BondKind.TRANSFER).refund_payout_id is not None
    # the refused lot's guarantee was released at the opening
    lot = _tender("unsuccessful_lot").lots[1]
    assert [b.status for b in db.session.scalars(sa.select(Bond).where(Bond.lot_id == lot.id))] == [
        BondStatus.RELEASED]


def test_the_awaiting_tender_has_bids_of_three_suppliers_and_shares_on_file(seeded, shares_file):
    tender = _tender("awaiting")
    bids = _bids(tender)
    assert len({b.bidder_org_id for b in bids}) >= 3
    assert all(set(b.lot_ids) == {lot.id for lot in tender.lots} for b in bids)
    # the shares wait on the platform for the custodians (not collected by the seed) ...
    assert all(c.pending_share is not None and c.collected_at is None for c in tender.custodians)
    # ... and are in the demo file and printed
    doc = json.loads(shares_file.read_text("utf-8"))
    rows = [r for r in doc["shares"] if r["tender_id"] == tender.id]
    assert sorted(r["custodian_email"] for r in rows) == [f"custodian{i}@edu.example.com" for i in (1, 2, 3)]
    assert all(r["share_code"] in "\n".join(seeded) for r in rows)
    # tenders whose shares the seed collected through the keys service
    collected = [r for r in doc["shares"] if r["tender_id"] == _tender("tendering").id]
    assert len(collected) == 3 and all(r["collected_by_seed"] for r in collected)
    assert all(c.collected_at and c.pending_share is None for c in _tender("tendering").custodians)


def test_a_second_run_adds_nothing_and_prints_the_shares_again(seeded, shares_file):
    before = _counts()
    content = shares_file.read_text("utf-8")
    clock.advance(timedelta(hours=1))
    second = _seed_all()
    assert _counts() == before
    assert shares_file.read_text("utf-8") == content
    assert "(0 added this run)" in "\n".join(second)
    awaiting = _tender("awaiting")
    codes = [r["share_code"] for r in seed.demo_shares() if r["tender_id"] == awaiting.id]
    assert len(codes) == 3 and all(code in "\n".join(second) for code in codes)


def test_the_awaiting_tender_opens_with_two_shares_from_the_file(seeded, shares_file):
    tender = _tender("awaiting")
    clock.advance(timedelta(minutes=5))
    rows = {r["custodian_email"]: r for r in json.loads(shares_file.read_text("utf-8"))["shares"]
            if r["tender_id"] == tender.id}
    for email in ("custodian1@edu.example.com", "custodian2@edu.example.com"):
        user = db.session.scalar(sa.select(User).where(User.email == email))
        code = pyotp.TOTP(user.totp_secret).at(clock.now())
        result = opening.present_share(tender, user, rows[email]["share_code"], totp_code=code)
    assert result.opened
    db.session.expire_all()
    tender = db.session.get(Tender, tender.id)
    assert tender.status == TenderStatus.OPENED
    record = tender.opening_record
    assert record["opened_count"] == 3
    assert all(lot["status"] == "active" and len(lot["bids"]) == 3 and all(b["price"] for b in lot["bids"])
               for lot in record["lots"])


def test_nothing_is_added_outside_a_demo_database(shares_file):
    lines: list[str] = []
    seed.run(echo=lines.append)
    assert db.session.get(AppSetting, accounts_seed.DEMO_MARKER) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tender)) == 0
    assert not shares_file.exists()
    assert "not a demo database" in "\n".join(lines)


def test_a_stale_shares_file_of_another_database_is_not_printed(shares_file):
    shares_file.parent.mkdir(parents=True)
    stale = {"format": seed.SHARES_FILE_FORMAT, "shares": [
        {"tender_id": 2, "title": "old", "key_fingerprint": "00" * 32, "custodian_email": "custodian1@edu.example.com",
         "index": 1, "share_code": "1-STALE-CODE", "collected_by_seed": True},
    ]}
    shares_file.write_text(json.dumps(stale), "utf-8")
    clock.set_time(NOW)
    lines = _seed_all()
    assert "1-STALE-CODE" not in "\n".join(lines)
    assert all(r["share_code"] != "1-STALE-CODE" for r in seed.demo_shares())
    assert len(seed.demo_shares()) == 3 * 6  # every published tender's custodians
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TenderCustodian)) > 0
