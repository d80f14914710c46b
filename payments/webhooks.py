"""POST /payments/webhooks/stripe: verified Stripe events, applied once, only forward.

1. The raw body is verified with stripe.Webhook.construct_event (300 s tolerance): a bad
   signature or a stale timestamp -> 400 JSON. CSRF-exempt via core.security.signed_webhook.
2. An event id already stored -> 200 {"status": "duplicate"} without effect.
3. The PaymentIntent is re-fetched from the API (the event body is not trusted); Stripe
   down -> 503 (Stripe retries later; nothing stored).
4. In ONE unit of work: insert ProviderEvent(event_id) (unique) and apply the re-fetched
   state through payments.services.payments.apply_result (forward only: a `processing`
   arriving after `succeeded` changes nothing). A concurrent delivery of the same event
   fails on the unique constraint (PostgreSQL waits for the first transaction) -> 200.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from core import audit
from core.db import db, unit_of_work
from core.extensions import limiter
from core.security import signed_webhook
from payments import bp
from payments.models import Payment, ProviderEvent
from payments.providers.base import ProviderError, ProviderUnavailable, WebhookEvent
from payments.services import payments as payment_services

log = logging.getLogger(__name__)

__all__ = ["stripe_webhook", "process_event"]

ENDPOINT = "payments.stripe_webhook"
#: Event types whose object is a PaymentIntent (re-fetched and applied).
PAYMENT_INTENT_EVENTS = frozenset({
    "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.processing",
    "payment_intent.canceled", "payment_intent.requires_action", "payment_intent.amount_capturable_updated",
})


def _rate_limit() -> str:
    return current_app.config.get("STRIPE_WEBHOOK_RATE_LIMIT", "300 per minute")


def _seen(event_id: str) -> bool:
    return db.session.scalar(sa.select(ProviderEvent.id).where(ProviderEvent.event_id == event_id)) is not None


def _find_payment(event: WebhookEvent) -> Payment | None:
    if event.canal_payment_id is not None:
        payment = db.session.get(Payment, event.canal_payment_id)
        # the metadata must agree with the object: a PaymentIntent of another payment is not this one
        if (payment is not None and payment.provider == event.provider
                and (not payment.provider_ref or not event.object_id or payment.provider_ref == event.object_id)):
            return payment
    if event.object_id:
        return db.session.scalars(
            sa.select(Payment).where(Payment.provider == event.provider, Payment.provider_ref == event.object_id)
        ).first()
    return None


def process_event(event: WebhookEvent) -> tuple[dict, int]:
    """Apply a verified event once. Returns (JSON body, HTTP status)."""
    if _seen(event.event_id):
        return {"status": "duplicate"}, 200
    payment = _find_payment(event) if event.type in PAYMENT_INTENT_EVENTS else None
    result = None
    if payment is not None:
        provider = payment_services.get_provider(payment.provider)
        try:
            result = provider.retrieve(payment)  # re-fetched: the event body is not trusted
        except ProviderUnavailable:
            return {"status": "retry"}, 503
        except ProviderError as exc:
            log.warning("webhook %s: could not re-fetch payment %s: %s", event.event_id, payment.id, exc)
            return {"status": "retry"}, 503
    actor = audit.system("stripe-webhook")
    try:
        with unit_of_work():
            db.session.add(ProviderEvent(provider=event.provider, event_id=event.event_id, type=event.type,
                                         payment_id=payment.id if payment is not None else None))
            db.session.flush()  # the unique event id, in the same transaction as the effect
            if payment is not None and result is not None:
                payment_services.apply_result(payment, result, actor=actor)
    except IntegrityError:
        db.session.rollback()
        return {"status": "duplicate"}, 200
    return {"status": "applied" if payment is not None else "ignored"}, 200


@bp.post("/webhooks/stripe")
@limiter.limit(_rate_limit)
@signed_webhook(ENDPOINT)
def stripe_webhook():
    raw = request.get_data()
    provider = payment_services.get_provider("stripe")
    try:
        event = provider.handle_webhook(raw, request.headers)
    except ProviderError as exc:
        return jsonify(exc.to_dict()), 400
    body, status = process_event(event)
    return jsonify(body), status
