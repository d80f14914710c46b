"""The payment page's commands: which methods a payment offers, choosing one and paying.

Methods: `card`, `alipay`, `wechat_pay` (all through the `stripe` provider, offered when
Stripe is configured and STRIPE_PAYMENT_METHOD_TYPES lists them) and `bank_transfer`
(always). A payment may restrict them with `metadata["allowed_providers"]`, a list of
method or provider names (e.g. ["bank_transfer"] for tender bonds; "stripe" means every
Stripe method).

Paying: the chosen provider is recorded (audited) in its own committed unit of work,
then payments.services.payments does the provider call outside any transaction, after
our idempotency key was committed (P1's `start` / `confirm`).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core import audit
from core.db import unit_of_work
from core.errors import Conflict, InvalidTransition, ValidationError
from payments.models.payments import Payment
from payments.providers import base as providers
from payments.states import (
    OPEN_STATUSES,
    PAYMENT_STATUS_LABELS,
    TERMINAL_STATUSES,
    PaymentStatus,
    ProviderName,
)

STRIPE_METHODS = ("card", "alipay", "wechat_pay")
METHODS = (*STRIPE_METHODS, "bank_transfer")
METHOD_PROVIDER = {"card": "stripe", "alipay": "stripe", "wechat_pay": "stripe", "bank_transfer": "bank_transfer"}
METHOD_LABELS = {
    "card": _l("Bank card (Stripe)"),
    "alipay": _l("Alipay (Stripe)"),
    "wechat_pay": _l("WeChat Pay (Stripe)"),
    "bank_transfer": _l("Bank transfer"),
}


def stripe_configured() -> bool:
    return bool(current_app.config.get("STRIPE_SECRET_KEY")) and ProviderName.STRIPE.value in providers.names()


def show_test_card() -> bool:
    """The page may take a TEST card number (localstripe has no Stripe.js); never in production."""
    cfg = current_app.config
    return bool(cfg.get("STRIPE_SERVER_SIDE_TEST_CARDS", not cfg.get("PRODUCTION"))) and not cfg.get("PRODUCTION")


def allowed_methods(payment: Payment) -> list[str]:
    """The methods the payer may choose for this payment, in display order."""
    offered: list[str] = []
    if stripe_configured():
        types = current_app.config.get("STRIPE_PAYMENT_METHOD_TYPES") or ["card"]
        offered += [m for m in STRIPE_METHODS if m in types]
    offered.append("bank_transfer")
    restriction = (payment.metadata_ or {}).get("allowed_providers")
    if restriction:
        wanted = {str(x) for x in restriction}
        if "stripe" in wanted:
            wanted |= set(STRIPE_METHODS)
        offered = [m for m in offered if m in wanted]
    return offered


def awaiting_transfer(payment: Payment) -> bool:
    return (
        payment.provider == ProviderName.BANK_TRANSFER
        and bool(payment.reference_code)
        and payment.status in {s.value for s in OPEN_STATUSES}
    )


def can_pay(payment: Payment) -> bool:
    """The payer may still choose a method and pay (nothing is under way at a provider)."""
    if awaiting_transfer(payment):
        return False
    if payment.status == PaymentStatus.CREATED:
        return True
    # a card payment whose PaymentIntent waits for a (new) payment method: try again
    return payment.status == PaymentStatus.REQUIRES_ACTION and payment.provider == ProviderName.STRIPE


def _choose(payment_id: int, method: str, actor: Any) -> Payment:
    from payments.services import payments as payment_svc

    provider = METHOD_PROVIDER[method]
    with unit_of_work():
        payment = payment_svc.get_payment(payment_id, lock=True)
        if not can_pay(payment):
            if payment.status in {s.value for s in TERMINAL_STATUSES} or payment.status in (
                PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED,
            ):
                raise InvalidTransition(_("This payment cannot be paid any more."))
            raise Conflict(_("This payment is already under way by another method."))
        if payment.provider_ref and payment.provider != provider:
            raise Conflict(_("This payment is already under way by another method."))
        if payment.provider != provider or (payment.metadata_ or {}).get("method") != method:
            old = payment.provider
            payment.provider = provider
            meta = dict(payment.metadata_ or {})
            meta["method"] = method
            payment.metadata_ = meta
            audit.record(
                "payment.method_chosen", "payment", payment.id,
                {"method": method, "provider": provider, "previous_provider": old},
                actor=payment_svc._actor_of(actor),
            )
    return payment


def pay(payment: Payment, method: str, *, actor: Any, card_number: str | None = None) -> Payment:
    """The payer chose `method` on the payment page: record it, then start / confirm at the provider."""
    from payments.services import payments as payment_svc

    if method not in allowed_methods(payment):
        raise ValidationError(fields={"provider": _("This payment method is not available for this payment.")})
    card = (card_number or "").replace(" ", "").replace("-", "")
    if method == "card" and show_test_card() and not card:
        raise ValidationError(fields={"card_number": _("Enter a test card number.")})
    payment = _choose(payment.id, method, actor)
    if method == "bank_transfer":
        return payment_svc.start(payment, actor=actor)
    if method != "card":
        # Alipay / WeChat Pay: the PaymentIntent is created; the payer continues on Stripe's
        # page (Stripe.js with the client secret, production only: localstripe has neither).
        return payment_svc.start(payment, actor=actor)
    params: dict[str, Any] = {"card": {"number": card}} if show_test_card() else {}
    return payment_svc.confirm(payment, actor=actor, **params)


def is_final(payment: Payment) -> bool:
    return payment.status not in {s.value for s in OPEN_STATUSES}


def status_payload(payment: Payment) -> dict[str, Any]:
    """The JSON the payment page polls (GET /payments/<id>/status.json)."""
    status = PaymentStatus(payment.status)
    return {
        "id": payment.id,
        "status": status.value,
        "status_label": str(PAYMENT_STATUS_LABELS.get(status, status.value)),
        "final": is_final(payment),
        "amount": payment.amount,
        "amount_received": payment.amount_received,
        "currency": payment.currency,
        "reference_code": payment.reference_code,
        "return_url": payment.return_url,
    }
