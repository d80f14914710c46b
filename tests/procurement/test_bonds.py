"""Bid bonds (service level, on the DB): lodging by transfer or guarantee, finance's
confirmation, has_acceptable_bond, refunds by payout on cancellation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from accounts.states import Role
from core import clock
from core.db import db, unit_of_work
from core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.models.audit import AuditEntry
from core.models.notifications import Notification
from payments import ledger
from payments.models import Payment, Payout
from payments.services import bank_transfer, checkout, payouts
from payments.states import PayoutStatus
from procurement.models import Bond, Lot
from procurement.services import bonds as svc
from procurement.services import tenders as tender_svc
from procurement.states import BondKind, BondStatus
from tests.factories import make_user
from tests.payments.p2_helpers import PDF_BYTES, PNG_BYTES, platform_finance
from tests.procurement.factories import LOT_BUDGET, NOW, make_supplier, published_tender

BOND = LOT_BUDGET // 50  # the factory lot's bond (2%)
BANK = dict(bank_name="中国银行", bank_account_name="供应商账户", bank_account_number="6222000011112222")


@pytest.fixture(autouse=True)
def _frozen_clock():
    clock.set_time(NOW)
    svc.connect_subscribers()  # other test modules clear the payments signals' receivers
    yield
    clock.reset()


@pytest.fixture
def lot(tender):
    return db.session.get(Lot, tender.lots[0].id)


@pytest.fixture
def supplier():
    return make_supplier(**BANK)


@pytest.fixture
def finance():
    return platform_finance()


def _fresh(obj):
    db.session.refresh(obj)
    return obj


def _confirm(bond, finance, amount=None):
    payment = db.session.get(Payment, bond.payment_id)
    bank_transfer.confirm_transfer(payment.id, amount_received=amount or bond.amount, slip=PDF_BYTES,
                                   slip_filename="slip.pdf", actor=finance,
                                   note="" if amount in (None, bond.amount) else "short")
    return _fresh(db.session.get(Bond, bond.id))


def _guarantee(tender, lot, supplier, **kw):
    org, user = supplier
    args = dict(issuer="中国银行北京分行", number="BG-2026-0001", amount=lot.bond_amount,
                valid_until=(tender.opening_time + timedelta(days=90)).date(), file=PDF_BYTES,
                filename="guarantee.pdf")
    args.update(kw)
    return svc.lodge_guarantee(tender, lot, user, org, **args)


def _balance(key):
    return ledger.account_balance(key).posted


def _actions(bond_id):
    return list(db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.obj_type == "bond", AuditEntry.obj_id == str(bond_id)).order_by(AuditEntry.seq)))


def _notes(user):
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)))


# --------------------------------------------------------------------------- transfers


def test_lodging_a_transfer_gives_a_pending_bond_and_an_opaque_bank_transfer_payment(tender, lot, supplier):
    org, user = supplier
    bond = svc.lodge_transfer(tender, lot, user, org)
    assert bond.kind == BondKind.TRANSFER and bond.status == BondStatus.PENDING and bond.amount == BOND
    assert re.fullmatch(r"BOND-[A-Z2-9]{4}-[A-Z2-9]{4}", bond.reference)
    payment = db.session.get(Payment, bond.payment_id)
    assert payment.provider == "bank_transfer" and payment.status == "requires_action"
    assert bank_transfer.is_reference_code(payment.reference_code)
    assert (payment.subject_type, payment.subject_id, payment.amount) == ("bond", str(bond.id), BOND)
    # finance learns nothing of the tender, the lot or the supplier from the payment's texts
    texts = " ".join([payment.purpose, str(payment.metadata_), payment.return_url])
    for secret in (tender.title_zh, tender.title_en, org.name_zh, org.name_en, lot.title_zh):
        assert secret not in texts
    # the supplier's own step is audited sealed to the tender key (it would name a participant)
    sealed = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "bond.lodged")).all()
    assert [e.obj_type for e in sealed] == ["sealed_bond"] and sealed[0].actor_user_id is None
    assert user.email not in str(sealed[0].data) and _actions(bond.id) == []
    assert bond.reported_at is None
    svc.report_transfer(bond, user, org)
    assert _fresh(bond).reported_at == NOW
    svc.report_transfer(bond, user, org)  # idempotent
    reported = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "bond.transfer_reported")).all()
    assert len(reported) == 1 and reported[0].obj_type == "sealed_bond"


def test_finance_confirming_the_transfer_confirms_the_bond_and_moves_the_money_to_the_lot_account(
        tender, lot, supplier, finance):
    org, user = supplier
    bond = svc.lodge_transfer(tender, lot, user, org)
    svc.report_transfer(bond, user, org)
    bond = _confirm(bond, finance)
    assert bond.status == BondStatus.CONFIRMED and bond.verified_at == NOW
    assert _balance(svc.bond_account(lot.id)) == BOND
    assert _balance(f"subject:bond:{bond.id}") == 0
    assert ledger.get_account(svc.bond_account(lot.id)).no_negative  # guarded
    assert "bond.confirmed" in _actions(bond.id)
    assert any(n.kind == "bond.confirmed" and bond.reference in n.title for n in _notes(user))
    assert svc.has_acceptable_bond(tender, lot, org.id)


def test_a_rejected_transfer_rejects_the_bond_and_the_supplier_may_lodge_again(tender, lot, supplier, finance):
    org, user = supplier
    bond = svc.lodge_transfer(tender, lot, user, org)
    bank_transfer.reject_transfer(bond.payment_id, reason="Nothing on the statement", actor=finance)
    bond = _fresh(db.session.get(Bond, bond.id))
    assert bond.status == BondStatus.REJECTED and bond.reject_reason == "Nothing on the statement"
    assert any(n.kind == "bond.rejected" for n in _notes(user))
    assert svc.bond_status_for(tender.id, lot.id, org.id) is None
    assert not svc.has_acceptable_bond(tender, lot, org.id)
    again = svc.lodge_transfer(tender, lot, user, org)
    assert again.id != bond.id and svc.bond_status_for(tender.id, lot.id, org.id).id == again.id


def test_an_underpaid_transfer_is_rejected_and_what_arrived_is_paid_back(tender, lot, supplier, finance):
    org, user = supplier
    bond = svc.lodge_transfer(tender, lot, user, org)
    bond = _confirm(bond, finance, amount=BOND - 100)
    assert bond.status == BondStatus.REJECTED
    payout = db.session.get(Payout, bond.refund_payout_id)
    assert payout.amount == BOND - 100 and payout.source_key == svc.bond_account(lot.id)
    assert _balance(svc.bond_account(lot.id)) == 0


def test_bonds_cannot_be_paid_by_card(tender, lot, supplier, monkeypatch):
    org, user = supplier
    bond = svc.lodge_transfer(tender, lot, user, org)
    payment = db.session.get(Payment, bond.payment_id)
    monkeypatch.setattr(checkout, "stripe_configured", lambda: True)
    assert checkout.allowed_methods(payment) == ["bank_transfer"]
    with pytest.raises(ValidationError):
        checkout.pay(payment, "card", actor=user, card_number="4242424242424242")


def test_one_live_bond_per_lot_and_supplier(tender, lot, supplier):
    org, user = supplier
    svc.lodge_transfer(tender, lot, user, org)
    with pytest.raises(svc.BondExists):
        svc.lodge_transfer(tender, lot, user, org)
    with pytest.raises(svc.BondExists):
        _guarantee(tender, lot, supplier)
    assert db.session.scalar(sa.select(sa.func.count(Bond.id))) == 1
    other_org, other_user = make_supplier()
    assert svc.lodge_transfer(tender, lot, other_user, other_org).status == BondStatus.PENDING


def test_lodging_needs_a_verified_bidder_before_the_deadline_on_a_lot_with_a_bond(buyer, tender, lot, supplier):
    org, user = supplier
    with pytest.raises(PermissionDenied):
        svc.lodge_transfer(tender, lot, buyer.officer, org)
    unverified, bidder = make_supplier(verified=False)
    with pytest.raises(PermissionDenied):
        svc.lodge_transfer(tender, lot, bidder, unverified)
    free = published_tender(buyer, lots=[dict(title_zh="服务", budget=LOT_BUDGET, bond_amount=0)])
    with pytest.raises(ValidationError) as exc:
        svc.lodge_transfer(free, free.lots[0], user, org)
    assert exc.value.code == "bond_not_required"
    clock.set_time(tender.submission_deadline)
    with pytest.raises(InvalidTransition):
        svc.lodge_transfer(tender, lot, user, org)
    assert db.session.scalar(sa.select(sa.func.count(Bond.id))) == 0


def test_a_transfer_cannot_be_reported_from_the_deadline_on_nor_by_another_supplier(tender, lot, supplier):
    org, user = supplier
    bond = svc.lodge_transfer(tender, lot, user, org)
    other_org, other_user = make_supplier()
    with pytest.raises(NotFound):
        svc.report_transfer(bond, other_user, other_org)
    clock.set_time(tender.submission_deadline)
    with pytest.raises(ValidationError) as exc:
        svc.report_transfer(bond, user, org)
    assert exc.value.code == "deadline_passed"
    assert _fresh(bond).reported_at is None


# --------------------------------------------------------------------------- guarantees


def test_a_guarantee_is_pending_until_finance_verifies_it(tender, lot, supplier, finance):
    org, user = supplier
    bond = _guarantee(tender, lot, supplier)
    assert bond.kind == BondKind.GUARANTEE and bond.status == BondStatus.PENDING and bond.reported_at == NOW
    assert bond.guarantee_file_id and svc.guarantee_file(bond).purpose == "bond_guarantee"
    assert svc.has_acceptable_bond(tender, lot, org.id)  # filed before the deadline
    with pytest.raises(PermissionDenied):
        svc.verify_guarantee(bond, user)
    svc.verify_guarantee(bond, finance)
    bond = _fresh(bond)
    assert bond.status == BondStatus.CONFIRMED and bond.verified_by_id == finance.id
    assert any(n.kind == "bond.confirmed" for n in _notes(user))
    with pytest.raises(InvalidTransition):
        svc.verify_guarantee(bond, finance)


def test_finance_rejects_a_guarantee_with_a_reason(tender, lot, supplier, finance):
    org, user = supplier
    bond = _guarantee(tender, lot, supplier)
    with pytest.raises(ValidationError):
        svc.reject_guarantee(bond, finance, "  ")
    svc.reject_guarantee(bond, finance, "The issuer does not know this number")
    bond = _fresh(bond)
    assert bond.status == BondStatus.REJECTED and bond.reject_reason == "The issuer does not know this number"
    assert not svc.has_acceptable_bond(tender, lot, org.id)
    assert any(n.kind == "bond.rejected" and "does not know" in n.body for n in _notes(user))


def test_a_guarantee_below_the_lots_bond_is_refused(tender, lot, supplier):
    with pytest.raises(ValidationError) as exc:
        _guarantee(tender, lot, supplier, amount=lot.bond_amount - 1)
    assert exc.value.code == "guarantee_amount_too_low" and "amount" in exc.value.fields
    assert _guarantee(tender, lot, supplier, amount=lot.bond_amount).status == BondStatus.PENDING


def test_a_guarantee_expiring_before_the_opening_is_refused(tender, lot, supplier):
    opening_day = tender.opening_time.astimezone(clock.LOCAL_TZ).date()
    with pytest.raises(ValidationError) as exc:
        _guarantee(tender, lot, supplier, valid_until=opening_day - timedelta(days=1))
    assert exc.value.code == "guarantee_expires_before_opening" and "valid_until" in exc.value.fields
    assert _guarantee(tender, lot, supplier, valid_until=opening_day).status == BondStatus.PENDING


def test_a_guarantee_needs_its_details_and_a_pdf_or_image(tender, lot, supplier):
    for kw, field in ((dict(issuer=" "), "issuer"), (dict(number=""), "number"),
                      (dict(valid_until=None), "valid_until"), (dict(file=b"MZ\x90\x00", filename="g.exe"), "file"),
                      (dict(file=b"not a pdf", filename="g.pdf"), "file")):
        with pytest.raises(ValidationError) as exc:
            _guarantee(tender, lot, supplier, **kw)
        assert field in exc.value.fields
    assert db.session.scalar(sa.select(sa.func.count(Bond.id))) == 0
    assert _guarantee(tender, lot, supplier, file=PNG_BYTES, filename="g.png").status == BondStatus.PENDING


# --------------------------------------------------------------------------- has_acceptable_bond


def test_has_acceptable_bond(tender, lot, supplier, finance):
    org, user = supplier
    assert not svc.has_acceptable_bond(tender, lot, org.id)  # none
    bond = svc.lodge_transfer(tender, lot, user, org)
    assert not svc.has_acceptable_bond(tender, lot, org.id)  # not reported
    clock.set_time(tender.submission_deadline - timedelta(microseconds=1))
    svc.report_transfer(bond, user, org)
    clock.set_time(tender.submission_deadline + timedelta(hours=2))
    assert svc.has_acceptable_bond(tender, lot, org.id)  # reported one tick before the deadline
    with unit_of_work():
        db.session.get(Bond, bond.id).reported_at = tender.submission_deadline  # reported at the deadline
    assert not svc.has_acceptable_bond(tender, lot, org.id)
    _confirm(bond, finance)  # finance confirms late: the money is there
    assert svc.has_acceptable_bond(tender, lot, org.id)
    free = Lot(tender_id=tender.id, number=9, budget=1, bond_amount=0)
    assert svc.has_acceptable_bond(tender, free, org.id)  # no bond needed


# --------------------------------------------------------------------------- refunds


def _lodged_everything(tender, lot, finance):
    """A confirmed transfer, a pending unreported transfer, a confirmed guarantee, a rejected one."""
    paid = make_supplier(**BANK)
    waiting = make_supplier(**BANK)
    guaranteed = make_supplier(**BANK)
    refused = make_supplier(**BANK)
    confirmed = _confirm(svc.lodge_transfer(tender, lot, paid[1], paid[0]), finance)
    pending = svc.lodge_transfer(tender, lot, waiting[1], waiting[0])
    guarantee = _guarantee(tender, lot, guaranteed)
    svc.verify_guarantee(guarantee, finance)
    rejected = _guarantee(tender, lot, refused, number="BG-2")
    svc.reject_guarantee(rejected, finance, "fake")
    return dict(paid=(paid, confirmed), waiting=(waiting, pending), guaranteed=(guaranteed, guarantee),
                refused=(refused, rejected))


def test_cancelling_refunds_confirmed_transfers_by_payout_and_releases_the_rest(buyer, tender, lot, finance):
    bonds = _lodged_everything(tender, lot, finance)
    tender_svc.cancel(tender, buyer.officer, "Budget withdrawn")
    (paid_org, paid_user), confirmed = bonds["paid"]
    confirmed = _fresh(confirmed)
    assert confirmed.status == BondStatus.REFUNDING and "Budget withdrawn" in confirmed.refund_reason
    payouts_made = list(db.session.scalars(sa.select(Payout)))
    assert len(payouts_made) == 1
    payout = payouts_made[0]
    assert (payout.payee_org_id, payout.amount, payout.source_key) == (paid_org.id, BOND, svc.bond_account(lot.id))
    assert payout.idempotency_id == f"bond:{confirmed.id}:refund" and confirmed.refund_payout_id == payout.id
    assert payout.status == PayoutStatus.PENDING
    assert _balance(svc.bond_account(lot.id)) == 0 and _balance("payouts:pending") == BOND
    # the payout's texts are opaque too
    assert tender.title_zh not in payout.reason and confirmed.reference in payout.reason
    pending = _fresh(bonds["waiting"][1])
    assert pending.status == BondStatus.RELEASED and pending.released_at == NOW
    assert db.session.get(Payment, pending.payment_id).status == "canceled"
    assert _fresh(bonds["guaranteed"][1]).status == BondStatus.RELEASED
    assert _fresh(bonds["refused"][1]).status == BondStatus.REJECTED
    for key in ("paid", "waiting", "guaranteed"):
        (_org, user), _bond = bonds[key]
        assert any(n.kind.startswith("bond.") and "Budget withdrawn" in n.body for n in _notes(user)), key
    assert not any(n.kind.startswith("bond.") and "Budget withdrawn" in n.body for n in _notes(bonds["refused"][0][1]))
    # idempotent: nothing more on a second run
    with unit_of_work():
        assert svc.refund_all(tender, reason="again") == 0
    assert db.session.scalar(sa.select(sa.func.count(Payout.id))) == 1


def test_refund_all_of_one_lot_leaves_the_other_lots_alone(buyer, supplier, finance):
    lots = [dict(title_zh=f"包{i}", budget=LOT_BUDGET, bond_amount=BOND) for i in (1, 2)]
    tender = published_tender(buyer, lots=lots)
    org, user = supplier
    first = _confirm(svc.lodge_transfer(tender, tender.lots[0], user, org), finance)
    second = _confirm(svc.lodge_transfer(tender, tender.lots[1], user, org), finance)
    with unit_of_work():
        assert svc.refund_all(tender, reason="流标", lot=tender.lots[0]) == 1
    assert _fresh(first).status == BondStatus.REFUNDING
    assert _fresh(second).status == BondStatus.CONFIRMED


def test_a_paid_refund_releases_the_bond(buyer, tender, lot, finance):
    bonds = _lodged_everything(tender, lot, finance)
    tender_svc.cancel(tender, buyer.officer, "Budget withdrawn")
    confirmed = _fresh(bonds["paid"][1])
    payouts.export_batch(finance)
    payouts.mark_paid(confirmed.refund_payout_id, finance, "BOC-1")
    confirmed = _fresh(confirmed)
    assert confirmed.status == BondStatus.RELEASED and confirmed.released_at == NOW
    assert "bond.refunded" in _actions(confirmed.id)
    assert _balance("payouts:pending") == 0 and _balance("platform:clearing") == 0


def test_a_failed_refund_puts_the_bond_back_to_confirmed_and_finance_retries(buyer, tender, lot, finance):
    bonds = _lodged_everything(tender, lot, finance)
    tender_svc.cancel(tender, buyer.officer, "Budget withdrawn")
    confirmed = _fresh(bonds["paid"][1])
    first = confirmed.refund_payout_id
    payouts.mark_failed(first, finance, "Account closed")
    confirmed = _fresh(confirmed)
    assert confirmed.status == BondStatus.CONFIRMED
    assert _balance(svc.bond_account(lot.id)) == BOND  # the money is back
    assert any(n.kind == "bond.refund_failed" for n in _notes(bonds["paid"][0][1]))
    svc.retry_refund(confirmed, finance)
    confirmed = _fresh(confirmed)
    assert confirmed.status == BondStatus.REFUNDING and confirmed.refund_payout_id != first
    assert db.session.get(Payout, confirmed.refund_payout_id).idempotency_id == f"bond:{confirmed.id}:refund:after:{first}"
    assert _balance(svc.bond_account(lot.id)) == 0
    with pytest.raises(InvalidTransition):
        svc.retry_refund(confirmed, finance)


def test_a_supplier_without_a_bank_account_keeps_its_bond_until_finance_retries(buyer, tender, lot, finance):
    org, user = make_supplier()  # no bank account
    bond = _confirm(svc.lodge_transfer(tender, lot, user, org), finance)
    tender_svc.cancel(tender, buyer.officer, "Budget withdrawn")  # the cancellation still goes through
    bond = _fresh(bond)
    assert bond.status == BondStatus.CONFIRMED and bond.refund_reason and bond.refund_payout_id is None
    assert any(n.kind == "bond.refund_failed" for n in _notes(user))
    assert [r.reference for r in svc.finance_queue()["refunds"]] == [bond.reference]
    with pytest.raises(ValidationError):
        svc.retry_refund(bond, finance)
    with unit_of_work():
        row = db.session.get(type(org), org.id)
        row.bank_name, row.bank_account_name, row.bank_account_number = BANK.values()
    svc.retry_refund(bond, finance)
    assert _fresh(bond).status == BondStatus.REFUNDING
    assert db.session.get(Payout, bond.refund_payout_id).idempotency_id == f"bond:{bond.id}:refund"


def test_a_transfer_confirmed_after_the_cancellation_is_paid_back(buyer, tender, lot, supplier, finance):
    org, user = supplier
    bond = svc.lodge_transfer(tender, lot, user, org)
    payment = db.session.get(Payment, bond.payment_id)
    tender_svc.cancel(tender, buyer.officer, "Budget withdrawn")
    assert db.session.get(Payment, payment.id).status == "canceled"
    assert _fresh(bond).status == BondStatus.RELEASED
    # a cancelled payment can no longer be confirmed by finance
    with pytest.raises(InvalidTransition):
        bank_transfer.confirm_transfer(payment.id, amount_received=BOND, slip=PDF_BYTES, slip_filename="s.pdf",
                                       actor=finance)


def test_finance_queue_names_bonds_by_reference_only(tender, lot, supplier, finance):
    org, user = supplier
    transfer = svc.lodge_transfer(tender, lot, user, org)
    other = make_supplier()
    guarantee = _guarantee(tender, lot, other)
    queue = svc.finance_queue()
    assert [r.reference for r in queue["guarantees"]] == [guarantee.reference]
    assert [r.reference for r in queue["transfers"]] == [transfer.reference]
    row = queue["transfers"][0]
    assert row.payment_reference == db.session.get(Payment, transfer.payment_id).reference_code
    assert not hasattr(row, "tender_id") and not hasattr(row, "supplier_org_id") and not hasattr(row, "lot_id")
    assert [r.reference for r in svc.finance_queue(q=row.payment_reference)["transfers"]] == [transfer.reference]
    assert svc.finance_queue(q="BOND-ZZZZ-ZZZZ")["transfers"] == []


def test_bond_status_for_is_the_latest_bond_not_rejected(tender, lot, supplier, finance):
    org, user = supplier
    first = _guarantee(tender, lot, supplier)
    assert svc.bond_status_for(tender.id, lot.id, org.id).id == first.id
    svc.reject_guarantee(first, finance, "no")
    assert svc.bond_status_for(tender.id, lot.id, org.id) is None
    second = svc.lodge_transfer(tender, lot, user, org)
    assert svc.bond_status_for(tender.id, lot.id, org.id).id == second.id
    assert svc.bond_status_for(tender.id, lot.id, make_user(org, [Role.BIDDER]).id + 10_000) is None


# --------------------------------------------------------------------------- concurrency (PostgreSQL)


def test_concurrent_lodging_by_one_supplier_leaves_one_live_bond_on_postgresql(app, postgres_only, tender, lot,
                                                                               supplier):
    from accounts.models import Organization, User
    from procurement.models import Tender
    from tests.payments.test_ledger_concurrency import run_threads

    org, user = supplier
    ids = (tender.id, lot.id, org.id, user.id)
    db.session.remove()

    def work(i):
        t, lo, o, u = (db.session.get(Tender, ids[0]), db.session.get(Lot, ids[1]),
                       db.session.get(Organization, ids[2]), db.session.get(User, ids[3]))
        try:
            if i % 2:
                svc.lodge_transfer(t, lo, u, o)
            else:
                svc.lodge_guarantee(t, lo, u, o, issuer="Bank", number=f"N-{i}", amount=lo.bond_amount,
                                    valid_until=(t.opening_time + timedelta(days=1)).date(), file=PDF_BYTES,
                                    filename="g.pdf")
            return "ok"
        except svc.BondExists:
            return "refused"

    results = run_threads(app, 8, work)
    assert sorted(results) == ["ok"] + ["refused"] * 7, results
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count(Bond.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) in (0, 1)
