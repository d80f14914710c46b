"""Reconciliation: provider payments whose ledger effect is missing or different."""

from __future__ import annotations

import pytest

from accounts.states import OrgKind, Role
from core.db import db, unit_of_work
from payments import finance_queries as fq
from payments import ledger
from payments.ledger import TransferSpec as T
from payments.models import Payment, Refund
from tests.factories import make_org, make_user
from tests.helpers import login


def payment(payer, status="succeeded", amount=10_000, captured=10_000, refunded=0, provider="stripe",
            received=None) -> Payment:
    with unit_of_work():
        row = Payment(purpose="test", subject_type="sme.order", subject_id="1", payer_org_id=payer.id,
                      amount=amount, currency="CNY", provider=provider, provider_ref="pi_test", status=status,
                      amount_captured=captured, amount_refunded=refunded, amount_received=received)
        db.session.add(row)
    return row


def refund(pay: Payment, amount: int) -> Refund:
    with unit_of_work():
        row = Refund(payment_id=pay.id, amount=amount, status="succeeded")
        db.session.add(row)
    return row


def posted_in(pay: Payment, amount: int) -> None:
    ledger.post_entry(f"payment:{pay.id}:succeeded", [T("platform:clearing", "subject:sme.order:1", amount)])


def posted_out(ref: Refund, amount: int) -> None:
    ledger.post_entry(f"refund:{ref.id}", [T("subject:sme.order:1", "platform:clearing", amount)])


@pytest.fixture
def payer():
    return make_org([OrgKind.SME])


def flagged() -> dict[int, fq.Discrepancy]:
    problems, _checked = fq.reconciliation()
    return {d.payment_id: d for d in problems}


def test_payments_matching_their_ledger_entries_are_not_listed(payer):
    ok = payment(payer)
    posted_in(ok, 10_000)
    partly = payment(payer, status="partially_refunded", refunded=3_000)
    posted_in(partly, 10_000)
    posted_out(refund(partly, 3_000), 3_000)
    pending = payment(payer, status="processing", captured=0)  # not yet paid: nothing expected
    assert flagged() == {}
    assert pending.id not in flagged()


def test_a_paid_payment_without_ledger_entry_is_listed_as_missing(payer):
    pay = payment(payer, captured=8_800)
    problem = flagged()[pay.id]
    assert problem.missing
    assert (problem.expected_in, problem.found_in) == (8_800, 0)


def test_a_payment_whose_ledger_amount_differs_is_listed_with_expected_and_found(payer):
    pay = payment(payer, captured=10_000)
    posted_in(pay, 9_000)
    problem = flagged()[pay.id]
    assert not problem.missing
    assert (problem.expected_in, problem.found_in) == (10_000, 9_000)


def test_a_refund_missing_from_the_ledger_is_listed(payer):
    pay = payment(payer, status="refunded", refunded=10_000)
    posted_in(pay, 10_000)
    refund(pay, 10_000)  # no refund entry posted
    problem = flagged()[pay.id]
    assert (problem.expected_out, problem.found_out) == (10_000, 0)


def test_a_bank_transfer_is_checked_against_the_amount_actually_received(payer):
    pay = payment(payer, provider="bank_transfer", amount=10_000, captured=9_500, received=9_500)
    posted_in(pay, 9_500)
    assert pay.id not in flagged()


def test_refund_ids_do_not_match_by_prefix(payer):
    """refund:1 must not count refund:10's entry."""
    first = payment(payer, status="partially_refunded", refunded=100)
    posted_in(first, 10_000)
    refs = [refund(first, 100)]
    other = payment(payer)
    posted_in(other, 10_000)
    while refs[-1].id < 10:
        refs.append(refund(other, 1))
    posted_out(refs[0], 100)
    ledger.post_entry(f"refund:{refs[-1].id}", [T("subject:sme.order:1", "platform:clearing", 5)])
    problems = flagged()
    assert first.id not in problems
    assert other.id in problems  # its refund rows are not reflected in amount_refunded


def test_reconciliation_page_shows_missing_and_different_payments(client, payer):
    platform = make_org([OrgKind.PLATFORM])
    finance = make_user(platform, [Role.FINANCE])
    missing = payment(payer, captured=4_200)
    different = payment(payer, captured=10_000)
    posted_in(different, 9_999)
    login(client, finance)
    html = client.get("/payments/finance/reconciliation").get_data(as_text=True)
    assert f'data-payment-id="{missing.id}"' in html and f'data-payment-id="{different.id}"' in html
    assert "Missing in the ledger" in html and "Different amount" in html
    assert "¥42.00" in html and "¥99.99" in html
