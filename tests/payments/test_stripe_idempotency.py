"""Our idempotency at our layer (localstripe ignores Idempotency-Key): one payment, one provider call."""

from __future__ import annotations

import sqlalchemy as sa

from accounts.services.tokens import create_token
from core.db import db
from payments.models import Payment
from payments.providers import stripe as stripe_provider
from payments.services import payments as svc
from payments.states import PaymentStatus
from tests.helpers import api_headers
from tests.payments.p2_helpers import payer
from tests.payments.test_stripe_payments import GOOD_CARD

BODY = {"purpose": "Order 12", "subject_type": "sme.order", "subject_id": "12", "amount": 35_000,
        "return_url": "/sme/orders/12", "provider": "stripe"}


def _spy_create(monkeypatch) -> list:
    client = stripe_provider.get_client()
    real = client.v1.payment_intents.create
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs.get("options"))
        return real(*args, **kwargs)

    monkeypatch.setattr(client.v1.payment_intents, "create", spy)
    return calls


def test_same_idempotency_key_twice_gives_one_payment_and_one_provider_call(client, localstripe, monkeypatch):
    calls = _spy_create(monkeypatch)
    org, user = payer()
    headers = api_headers(create_token(user, org.id, "api")[1], **{"Idempotency-Key": "order-12-card"})
    first = client.post("/api/v1/payments", json=BODY, headers=headers)
    second = client.post("/api/v1/payments", json=BODY, headers=headers)
    assert first.status_code == second.status_code == 201, first.get_json()
    assert first.get_json()["id"] == second.get_json()["id"]
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 1
    payment = db.session.get(Payment, first.get_json()["id"])
    # paying twice (double click, a retried request) creates one PaymentIntent with our key
    svc.start(payment)
    svc.start(db.session.get(Payment, payment.id))
    assert calls == [{"idempotency_key": f"pay:{payment.id}:create"}]
    payment = svc.confirm(payment, card=GOOD_CARD)
    svc.start(payment)
    assert len(calls) == 1 and payment.status == PaymentStatus.SUCCEEDED


def test_idempotency_key_is_committed_before_the_provider_call(localstripe, monkeypatch):
    org, _user = payer()
    payment = svc.create_payment(purpose="x", subject_type="sme.order", subject_id="1", payer_org_id=org.id,
                                 amount=100, provider="stripe", return_url="/")
    client = stripe_provider.get_client()
    real = client.v1.payment_intents.create
    seen = []

    def check(*args, **kwargs):
        # another connection already sees the key and the attempt count
        with db.engine.connect() as conn:
            seen.append(conn.execute(sa.text("SELECT idempotency_key FROM payments WHERE id = :id"),
                                     {"id": payment.id}).scalar())
        return real(*args, **kwargs)

    monkeypatch.setattr(client.v1.payment_intents, "create", check)
    svc.start(payment)
    assert seen == [f"pay:{payment.id}:create"]
