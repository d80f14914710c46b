"""Bank transfers: reference codes, finance confirms (exact or different amount) or rejects."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.db import db
from core.errors import InvalidTransition, PermissionDenied, ValidationError
from core.events import payment_failed, payment_succeeded
from core.models.audit import AuditEntry
from core.models.notifications import Notification
from payments import ledger
from payments.models import Payment
from payments.services import bank_transfer as svc
from payments.services.payments import CLEARING_ACCOUNT, subject_account
from tests.factories import make_user
from tests.payments.p2_helpers import PDF_BYTES, PNG_BYTES, bank_payment, payer, platform_finance


def _actions(obj_id):
    return db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.obj_type == "payment", AuditEntry.obj_id == str(obj_id))
    ).all()


def test_reference_codes_are_short_unambiguous_and_normalized():
    codes = {svc.new_reference_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert re.fullmatch(r"CNL-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
        assert not set(code[4:]) & set("IO01")
        assert svc.is_reference_code(code)
    assert svc.normalize_reference("cnl 7k3q 9xpd") == "CNL-7K3Q-9XPD"
    assert svc.normalize_reference("7K3Q9XPD") == "CNL-7K3Q-9XPD"


def test_choosing_bank_transfer_gives_a_unique_code_and_awaits_the_transfer():
    org, user = payer()
    a = bank_payment(org, user)
    b = bank_payment(org, user, subject_id="8")
    assert a.status == "requires_action" and b.status == "requires_action"
    assert svc.is_reference_code(a.reference_code) and a.reference_code != b.reference_code
    assert a.provider_ref == a.reference_code
    assert svc.receiving_account().account_number  # the demo default is configured


def test_confirm_with_the_exact_amount_succeeds_posts_the_ledger_and_notifies_the_payer():
    org, user = payer()
    finance = platform_finance()
    payment = bank_payment(org, user)
    seen = []

    def listener(sender, **kw):
        seen.append(kw)

    payment_succeeded.connect(listener)
    try:
        svc.confirm_transfer(payment.id, amount_received=120_000, slip=PDF_BYTES, slip_filename="slip.pdf",
                             actor=finance)
    finally:
        payment_succeeded.disconnect(listener)
    row = db.session.get(Payment, payment.id)
    db.session.refresh(row)
    assert row.status == "succeeded" and row.amount_received == 120_000 and row.amount_captured == 120_000
    info = svc.transfer_info(row)
    assert info["difference"] == 0 and info["slip_file_id"]
    assert ledger.account_balance(subject_account(row)).posted == 120_000
    assert ledger.account_balance(CLEARING_ACCOUNT).posted == -120_000
    assert seen and seen[0]["payment_id"] == row.id and seen[0]["amount"] == 120_000
    assert seen[0]["subject_type"] == "sme.order" and seen[0]["subject_id"] == "7"
    assert "payment.transfer_confirmed" in _actions(row.id)
    titles = db.session.scalars(sa.select(Notification.title).where(Notification.user_id == user.id)).all()
    assert any(row.reference_code in t for t in titles)


def test_confirm_with_a_different_amount_records_the_difference_and_the_ledger_takes_what_arrived():
    org, user = payer()
    finance = platform_finance()
    payment = bank_payment(org, user)
    with pytest.raises(ValidationError) as exc:
        svc.confirm_transfer(payment.id, amount_received=100_000, slip=PNG_BYTES, slip_filename="slip.png",
                             actor=finance)
    assert "note" in exc.value.fields  # a difference needs a reason
    assert db.session.get(Payment, payment.id).status == "requires_action"
    svc.confirm_transfer(payment.id, amount_received=100_000, slip=PNG_BYTES, slip_filename="slip.png",
                         actor=finance, note="Bank fee deducted")
    row = db.session.get(Payment, payment.id)
    db.session.refresh(row)
    assert row.status == "succeeded" and row.amount_received == 100_000
    info = svc.transfer_info(row)
    assert info["difference"] == -20_000 and info["note"] == "Bank fee deducted" and info["amount_due"] == 120_000
    assert ledger.account_balance(subject_account(row)).posted == 100_000
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "payment.transfer_confirmed")).one()
    assert entry.data["difference"] == -20_000


def test_reject_fails_the_payment_without_ledger_effect():
    org, user = payer()
    finance = platform_finance()
    payment = bank_payment(org, user)
    failed = []

    def listener(sender, **kw):
        failed.append(kw)

    payment_failed.connect(listener)
    try:
        with pytest.raises(ValidationError):
            svc.reject_transfer(payment.id, reason="  ", actor=finance)
        svc.reject_transfer(payment.id, reason="No such transfer on the statement", actor=finance)
    finally:
        payment_failed.disconnect(listener)
    row = db.session.get(Payment, payment.id)
    db.session.refresh(row)
    assert row.status == "failed" and row.failure_message == "No such transfer on the statement"
    assert svc.transfer_info(row)["rejected_reason"] == "No such transfer on the statement"
    assert ledger.get_account(subject_account(row)) is None or ledger.account_balance(subject_account(row)).posted == 0
    assert failed and failed[0]["payment_id"] == row.id
    assert "payment.transfer_rejected" in _actions(row.id)
    with pytest.raises(InvalidTransition):
        svc.confirm_transfer(row.id, amount_received=120_000, slip=PDF_BYTES, slip_filename="s.pdf", actor=finance)


def test_a_transfer_is_handled_once():
    org, user = payer()
    finance = platform_finance()
    payment = bank_payment(org, user)
    svc.confirm_transfer(payment.id, amount_received=120_000, slip=PDF_BYTES, slip_filename="s.pdf", actor=finance)
    with pytest.raises(InvalidTransition):
        svc.confirm_transfer(payment.id, amount_received=120_000, slip=PDF_BYTES, slip_filename="s.pdf", actor=finance)
    with pytest.raises(InvalidTransition):
        svc.reject_transfer(payment.id, reason="late", actor=finance)
    assert ledger.account_balance(subject_account(payment)).posted == 120_000


def test_only_platform_finance_confirms():
    org, user = payer()
    payment = bank_payment(org, user)
    org_finance = make_user(org, ["finance"])  # finance of the PAYER, not of the platform
    for actor in (user, org_finance):
        with pytest.raises(PermissionDenied):
            svc.confirm_transfer(payment.id, amount_received=120_000, slip=PDF_BYTES, slip_filename="s.pdf",
                                 actor=actor)
        with pytest.raises(PermissionDenied):
            svc.reject_transfer(payment.id, reason="no", actor=actor)
    assert db.session.get(Payment, payment.id).status == "requires_action"


def test_slip_must_be_a_real_pdf_or_image_and_nothing_changes_otherwise():
    org, user = payer()
    finance = platform_finance()
    payment = bank_payment(org, user)
    with pytest.raises(ValidationError) as exc:
        svc.confirm_transfer(payment.id, amount_received=120_000, slip=b"MZ not a pdf", slip_filename="slip.pdf",
                             actor=finance)
    assert "slip" in exc.value.fields
    with pytest.raises(ValidationError):
        svc.confirm_transfer(payment.id, amount_received=120_000, slip=None, slip_filename="", actor=finance)
    row = db.session.get(Payment, payment.id)
    db.session.refresh(row)
    assert row.status == "requires_action" and row.amount_received is None


def test_search_finds_pending_transfers_by_partial_reference_and_amount():
    org, user = payer()
    a = bank_payment(org, user, amount=50_000)
    b = bank_payment(org, user, amount=70_000, subject_id="9")
    assert {p.id for p in svc.transfers()} == {a.id, b.id}
    assert [p.id for p in svc.transfers(q=a.reference_code.lower())] == [a.id]
    assert [p.id for p in svc.transfers(q=b.reference_code[-4:])] == [b.id]
    assert [p.id for p in svc.transfers(amount=70_000)] == [b.id]
