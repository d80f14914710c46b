"""Card payments through localstripe: pay, hold + capture, refunds, declines, peer down, idempotency."""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy import func, select

from core import events
from core.db import db
from core.errors import ValidationError
from payments import ledger
from payments.models import JournalEntry, Payment, Refund
from payments.providers import stripe as stripe_provider
from payments.providers.base import PaymentDeclined, ProviderUnavailable
from payments.services import payments as svc
from payments.states import PaymentStatus, RefundStatus

GOOD_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
DECLINED_CARD = {"number": "4000000000000002", "exp_month": 12, "exp_year": 2034, "cvc": "123"}


def _new(payer_org, amount=10_000, **kw) -> Payment:
    return svc.create_payment(
        purpose="Order 7", subject_type="sme.order", subject_id="7", payer_org_id=payer_org.id,
        amount=amount, provider="stripe", return_url="/sme/orders/7", **kw)


def _entries() -> int:
    return db.session.scalar(select(func.count()).select_from(JournalEntry))


def _subject_balance() -> int:
    return ledger.account_balance("subject:sme.order:7").posted if ledger.get_account("subject:sme.order:7") else 0


def _intents(localstripe_peer) -> list:
    return list(stripe_provider.get_client().v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())


def test_card_payment_succeeds_posts_to_ledger_once_and_publishes_event(localstripe, payer_org):
    received = []

    def listener(sender, **payload):
        received.append(payload)

    events.payment_succeeded.connect(listener)
    try:
        payment = _new(payer_org)
        assert payment.idempotency_key == f"pay:{payment.id}:create"
        payment = svc.start(payment)
        assert payment.provider_ref.startswith("pi_")
        assert payment.status == PaymentStatus.REQUIRES_ACTION
        payment = svc.confirm(payment, card=GOOD_CARD)
    finally:
        events.payment_succeeded.disconnect(listener)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount_captured == 10_000
    assert _subject_balance() == 10_000
    assert ledger.account_balance("platform:clearing").posted == -10_000
    assert received == [{"payment_id": payment.id, "subject_type": "sme.order", "subject_id": "7",
                         "amount": 10_000, "currency": "CNY"}]
    # applying the same success again (a webhook, a retry) changes nothing
    before = _entries()
    svc.record_success(payment, 10_000)
    svc.apply_result(payment, svc.get_provider("stripe").retrieve(payment))
    assert _entries() == before


def test_manual_capture_holds_then_captures_part(localstripe, payer_org):
    payment = _new(payer_org, capture_method="manual")
    payment = svc.confirm(svc.start(payment), card=GOOD_CARD)
    assert payment.status == PaymentStatus.PROCESSING  # authorized, not captured
    assert _subject_balance() == 0
    payment = svc.capture(payment, 6_000)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount_captured == 6_000
    assert _subject_balance() == 6_000


def test_hold_can_be_canceled_without_ledger_effect(localstripe, payer_org):
    payment = svc.confirm(svc.start(_new(payer_org, capture_method="manual")), card=GOOD_CARD)
    payment = svc.cancel(payment)
    assert payment.status == PaymentStatus.CANCELED
    assert _entries() == 0


def test_partial_refunds_then_full_and_never_above_captured(localstripe, payer_org):
    refunded = []

    def listener(sender, **payload):
        refunded.append(payload["amount"])

    payment = svc.confirm(svc.start(_new(payer_org)), card=GOOD_CARD)
    events.payment_refunded.connect(listener)
    try:
        r1 = svc.refund(payment, 3_000, reason="damaged")
        assert r1.status == RefundStatus.SUCCEEDED and r1.provider_ref.startswith("re_")
        payment = db.session.get(Payment, payment.id)
        assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
        assert payment.amount_refunded == 3_000
        with pytest.raises(ValidationError):
            svc.refund(payment, 7_001)
        svc.refund(payment, 2_000)
        svc.refund(payment, 5_000)
    finally:
        events.payment_refunded.disconnect(listener)
    payment = db.session.get(Payment, payment.id)
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.amount_refunded == 10_000
    assert refunded == [3_000, 2_000, 5_000]
    assert _subject_balance() == 0
    assert ledger.account_balance("platform:clearing").posted == 0
    remote = stripe_provider.get_client().v1.refunds.list(params={"payment_intent": payment.provider_ref})
    assert sorted(r.to_dict()["amount"] for r in remote.auto_paging_iter()) == [2_000, 3_000, 5_000]
    with pytest.raises(Exception):  # noqa: B017 - refunded is terminal
        svc.refund(payment, 1)


def test_refund_through_outbox_is_performed_after_commit(localstripe, payer_org):
    payment = svc.confirm(svc.start(_new(payer_org)), card=GOOD_CARD)
    refund = svc.request_refund(payment, 4_000, reason="late")  # HUEY_IMMEDIATE in tests
    refund = db.session.get(Refund, refund.id)
    db.session.refresh(refund)
    assert refund.status == RefundStatus.SUCCEEDED
    assert db.session.get(Payment, payment.id).amount_refunded == 4_000


def test_declined_card_fails_payment_with_clear_message_and_no_ledger_effect(localstripe, payer_org):
    payment = svc.start(_new(payer_org))
    with pytest.raises(PaymentDeclined) as info:
        svc.confirm(payment, card=DECLINED_CARD)
    assert "declined" in info.value.message
    payment = db.session.get(Payment, payment.id)
    db.session.refresh(payment)
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_message
    assert _entries() == 0


def test_peer_down_leaves_payment_unchanged_and_no_ledger_effect(app, localstripe, payer_org, monkeypatch):
    payment = _new(payer_org)
    from tests.payments.conftest import free_port

    monkeypatch.setitem(app.config, "STRIPE_API_BASE", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderUnavailable) as info:
        svc.start(payment)
    assert "cannot be reached" in info.value.message
    payment = db.session.get(Payment, payment.id)
    db.session.refresh(payment)
    assert payment.status == PaymentStatus.CREATED and payment.provider_ref is None
    assert _entries() == 0


def test_retry_after_timeout_reuses_the_payment_intent(localstripe, payer_org, monkeypatch):
    """The SDK call times out AFTER localstripe created the PaymentIntent; the retry finds it."""
    client = stripe_provider.get_client()
    real_create = client.v1.payment_intents.create
    calls = []

    def create_then_time_out(*args, **kwargs):
        calls.append(kwargs)
        real_create(*args, **kwargs)
        raise stripe.APIConnectionError("Request timed out")

    monkeypatch.setattr(client.v1.payment_intents, "create", create_then_time_out)
    payment = _new(payer_org)
    with pytest.raises(ProviderUnavailable):
        svc.start(payment)
    assert calls[0]["options"] == {"idempotency_key": f"pay:{payment.id}:create"}
    payment = db.session.get(Payment, payment.id)
    db.session.refresh(payment)
    assert payment.provider_ref is None
    monkeypatch.setattr(client.v1.payment_intents, "create", real_create)
    payment = svc.start(payment)
    assert len(calls) == 1  # the retry looked the PaymentIntent up instead of creating another
    intents = [pi.to_dict() for pi in _intents(localstripe) if pi.to_dict()["metadata"].get("canal_payment_id") == str(payment.id)]
    assert len(intents) == 1 and payment.provider_ref == intents[0]["id"]
    payment = svc.confirm(payment, card=GOOD_CARD)
    assert payment.status == PaymentStatus.SUCCEEDED


def test_create_payment_refuses_bad_amounts_and_foreign_return_urls(payer_org):
    for amount in (0, -5, 1.5):
        with pytest.raises(ValidationError):
            _new(payer_org, amount=amount)
    for url in ("https://evil.example/x", "//evil.example", "javascript:alert(1)", "/\\evil"):
        with pytest.raises(ValidationError):
            svc.create_payment(purpose="x", subject_type="sme.order", subject_id="1", payer_org_id=payer_org.id,
                               amount=100, provider="stripe", return_url=url)
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0


def test_server_side_card_numbers_refused_when_disabled(app, localstripe, payer_org, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_SERVER_SIDE_TEST_CARDS", False)
    payment = svc.start(_new(payer_org))
    with pytest.raises(Exception, match="secure card form"):
        svc.confirm(payment, card=GOOD_CARD)
    db.session.refresh(payment)
    assert payment.status == PaymentStatus.REQUIRES_ACTION


def test_card_declined_at_charge_time_fails_payment_without_ledger_effect(localstripe, payer_org):
    payment = svc.start(_new(payer_org))
    with pytest.raises(PaymentDeclined):
        svc.confirm(payment, card={**GOOD_CARD, "number": "4000000000000341"})
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == PaymentStatus.FAILED
    assert _entries() == 0


def test_localstripe_state_goes_to_its_own_file_not_the_shared_default(localstripe, payer_org):
    import os
    import pickle

    shared = "/tmp/localstripe.pickle"  # noqa: S108 - localstripe's hard-coded default
    before = os.stat(shared).st_mtime_ns if os.path.exists(shared) else None
    payment = svc.start(_new(payer_org))
    with open(localstripe.state, "rb") as f:
        state = pickle.load(f)  # noqa: S301 - our test peer's own file
    assert f"payment_intent:{payment.provider_ref}" in state
    after = os.stat(shared).st_mtime_ns if os.path.exists(shared) else None
    assert before == after
