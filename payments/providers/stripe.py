"""Stripe, through the official SDK (`stripe.StripeClient`, `client.v1.*`).

Configuration: STRIPE_SECRET_KEY, STRIPE_API_BASE (localstripe in tests and the demo),
STRIPE_WEBHOOK_SECRET, STRIPE_PAYMENT_METHOD_TYPES (["card"]; "alipay", "wechat_pay" where
the Stripe account allows them), STRIPE_CURRENCY, STRIPE_TIMEOUT.

- create: one PaymentIntent per payment, metadata {"canal_payment_id": id}, sent with our
  idempotency key `pay:<id>:create`. A retry (attempts recorded by the service before each
  call) first looks the PaymentIntent up by our stored reference, then by metadata in the
  list (localstripe ignores idempotency keys and has no search), so nothing is charged twice.
- confirm: production collects the card with Stripe Elements (a `payment_method` id comes
  back from the browser). In TEST/DEV only (STRIPE_SERVER_SIDE_TEST_CARDS) the payment page
  may post a Stripe TEST card number; we create the PaymentMethod through the API.
- capture (manual capture = a hold, full or partial), cancel, refund (several, partial).
- Stripe statuses map to ours: requires_payment_method / requires_confirmation /
  requires_action -> requires_action; processing / requires_capture -> processing;
  succeeded -> succeeded; canceled -> canceled.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe as stripe_sdk
from flask import current_app
from flask_babel import gettext as _

from payments.models import Payment, Refund
from payments.providers.base import (
    PaymentDeclined,
    ProviderError,
    ProviderResult,
    ProviderUnavailable,
    WebhookEvent,
    register,
)
from payments.states import PaymentStatus, RefundStatus

log = logging.getLogger(__name__)

__all__ = ["StripeProvider", "get_client", "map_status", "WebhookSignatureError", "TEST_CARD_PREFIXES"]

STATUS_MAP = {
    "requires_payment_method": PaymentStatus.REQUIRES_ACTION,
    "requires_confirmation": PaymentStatus.REQUIRES_ACTION,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELED,
}

#: Stripe's documented test cards start like this (the only numbers accepted server-side).
TEST_CARD_PREFIXES = ("4242", "4000", "5555", "3782", "6011", "3056", "6200")


class WebhookSignatureError(ProviderError):
    code = "bad_signature"
    status = 400


def map_status(stripe_status: str | None) -> PaymentStatus | None:
    return STATUS_MAP.get(stripe_status or "")


def get_client() -> stripe_sdk.StripeClient:
    """The StripeClient of the current app (cached per key and API base)."""
    cfg = current_app.config
    key = (cfg.get("STRIPE_SECRET_KEY"), cfg.get("STRIPE_API_BASE"), cfg.get("STRIPE_TIMEOUT", 20))
    cache = current_app.extensions.setdefault("canal_stripe_clients", {})
    client = cache.get(key)
    if client is None:
        client = stripe_sdk.StripeClient(
            key[0] or "sk_test_missing",
            base_addresses={"api": key[1] or "https://api.stripe.com"},
            max_network_retries=0,
            http_client=stripe_sdk.RequestsClient(timeout=float(key[2])),
        )
        cache[key] = client
    return client


def _msg_declined() -> str:
    return _("The card was declined. Please use another card or another payment method.")


def _msg_unavailable() -> str:
    return _("The card payment service cannot be reached. Nothing was charged; please try again later.")


def _translate(exc: Exception) -> ProviderError:
    """A Stripe SDK error -> our translatable DomainError (details go to the log only)."""
    if isinstance(exc, stripe_sdk.CardError):
        err = PaymentDeclined(_msg_declined())
        err.provider_code = getattr(exc, "code", None) or "card_declined"
        return err
    if isinstance(exc, (stripe_sdk.APIConnectionError, stripe_sdk.RateLimitError)):
        return ProviderUnavailable(_msg_unavailable())
    if isinstance(exc, stripe_sdk.AuthenticationError):
        log.error("stripe authentication failed: %s", exc)
        return ProviderUnavailable(_msg_unavailable())
    if isinstance(exc, stripe_sdk.StripeError) and (getattr(exc, "http_status", None) or 500) >= 500:
        return ProviderUnavailable(_msg_unavailable())
    log.warning("stripe refused a call: %s", exc)
    return ProviderError(_("The card payment service refused the request."))


def _d(obj: Any) -> dict:
    """A StripeObject as a plain dict (StripeObjects are not dicts in SDK v15+)."""
    if obj is None:
        return {}
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _result(pi: Any) -> ProviderResult:
    pi = _d(pi)
    status = map_status(pi.get("status"))
    amount_captured = None
    if status == PaymentStatus.SUCCEEDED:
        amount_captured = int(pi.get("amount_received") or pi.get("amount"))
    error = pi.get("last_payment_error") or {}
    return ProviderResult(
        status=status.value if status else None,
        provider_ref=pi.get("id"),
        amount_captured=amount_captured,
        failure_code=(error.get("code") if error else None),
        failure_message=(_msg_declined() if error else None),
        client_secret=pi.get("client_secret"),
        next_action=pi.get("next_action"),
        raw={"id": pi.get("id"), "status": pi.get("status")},
    )


class StripeProvider:
    name = "stripe"

    def __init__(self, client: stripe_sdk.StripeClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> stripe_sdk.StripeClient:
        return self._client or get_client()

    # ------------------------------------------------------------------ look-ups

    def find_intent(self, payment: Payment) -> Any | None:
        """The PaymentIntent of `payment` at Stripe: by stored reference, else by our metadata."""
        try:
            if payment.provider_ref:
                return self.client.v1.payment_intents.retrieve(payment.provider_ref)
            page = self.client.v1.payment_intents.list(params={"limit": 100})
            for count, pi in enumerate(page.auto_paging_iter()):
                if (_d(pi).get("metadata") or {}).get("canal_payment_id") == str(payment.id):
                    return pi
                if count >= 2000:  # a retry happens within minutes: newest first in real Stripe
                    break
        except stripe_sdk.StripeError as exc:
            raise _translate(exc) from exc
        return None

    def retrieve(self, payment: Payment) -> ProviderResult:
        pi = self.find_intent(payment)
        return _result(pi) if pi is not None else ProviderResult()

    # ------------------------------------------------------------------ interface

    def create(self, payment: Payment) -> ProviderResult:
        attempts = int((payment.metadata_ or {}).get("provider_attempts", 1))
        if payment.provider_ref or attempts > 1:
            existing = self.find_intent(payment)
            if existing is not None:
                return _result(existing)
        cfg = current_app.config
        params: dict[str, Any] = {
            "amount": payment.amount,
            "currency": (payment.currency or cfg.get("STRIPE_CURRENCY", "CNY")).lower(),
            "payment_method_types": list(cfg.get("STRIPE_PAYMENT_METHOD_TYPES") or ["card"]),
            "capture_method": payment.capture_method,
            "metadata": {"canal_payment_id": str(payment.id), "subject": f"{payment.subject_type}:{payment.subject_id}"},
        }
        try:
            pi = self.client.v1.payment_intents.create(
                params=params, options={"idempotency_key": payment.idempotency_key})
        except stripe_sdk.StripeError as exc:
            raise _translate(exc) from exc
        return _result(pi)

    def _payment_method_from_card(self, card: dict, payment_id: int) -> tuple[str, str]:
        if not current_app.config.get("STRIPE_SERVER_SIDE_TEST_CARDS"):
            raise ProviderError(_("Card numbers are only accepted by the secure card form."), status=400)
        number = "".join(ch for ch in str(card.get("number", "")) if ch.isdigit())
        if len(number) != 16 or not number.startswith(TEST_CARD_PREFIXES):
            raise ProviderError(_("Only Stripe test card numbers are accepted here."), status=422)
        try:
            pm = self.client.v1.payment_methods.create(params={
                "type": "card",
                "card": {"number": number, "exp_month": int(card.get("exp_month", 12)),
                         "exp_year": int(card.get("exp_year", 2034)), "cvc": str(card.get("cvc", "123"))},
            })
            # Attach it to a customer, as Stripe.js + a saved card would: Stripe (and localstripe)
            # check the card there, so a declined test card (4000000000000002) fails here.
            customer = self.client.v1.customers.create(params={"metadata": {"canal_payment_id": str(payment_id)}})
            customer_id = _d(customer)["id"]
            self.client.v1.payment_methods.attach(_d(pm)["id"], params={"customer": customer_id})
        except (TypeError, ValueError) as exc:
            raise ProviderError(_("The card details are not valid."), status=422) from exc
        except stripe_sdk.StripeError as exc:
            raise _translate(exc) from exc
        return _d(pm)["id"], customer_id

    def confirm(self, payment: Payment, **params: Any) -> ProviderResult:
        """params: payment_method="pm_..." (Stripe Elements) or, test/dev only, card={number,...}."""
        payment_method = params.get("payment_method")
        update: dict[str, Any] = {}
        if not payment_method and params.get("card"):
            payment_method, update["customer"] = self._payment_method_from_card(params["card"], payment.id)
        if not payment_method:
            raise ProviderError(_("Choose a payment method."), status=422)
        intents = self.client.v1.payment_intents
        try:
            pi = intents.retrieve(payment.provider_ref)
            if _d(pi).get("status") not in ("requires_payment_method", "requires_confirmation"):
                return _result(pi)
            # update + confirm (localstripe does not take payment_method on confirm)
            intents.update(payment.provider_ref, params={"payment_method": payment_method, **update})
            pi = intents.confirm(payment.provider_ref)
        except stripe_sdk.StripeError as exc:
            raise _translate(exc) from exc
        return _result(pi)

    def capture(self, payment: Payment, amount: int | None = None) -> ProviderResult:
        try:
            params = {"amount_to_capture": amount} if amount is not None else {}
            pi = self.client.v1.payment_intents.capture(
                payment.provider_ref, params=params,
                options={"idempotency_key": f"pay:{payment.id}:capture"})
        except stripe_sdk.StripeError as exc:
            raise _translate(exc) from exc
        result = _result(pi)
        if result.status == PaymentStatus.SUCCEEDED:
            result.amount_captured = amount if amount is not None else payment.amount
        return result

    def cancel(self, payment: Payment) -> ProviderResult:
        try:
            pi = self.client.v1.payment_intents.cancel(payment.provider_ref)
        except stripe_sdk.StripeError as exc:
            raise _translate(exc) from exc
        return _result(pi)

    def refund(self, payment: Payment, amount: int, refund: Refund) -> ProviderResult:
        """Refund `amount` of the PaymentIntent; a retry finds an earlier attempt by metadata."""
        refunds = self.client.v1.refunds
        try:
            for existing in refunds.list(params={"payment_intent": payment.provider_ref, "limit": 100}).auto_paging_iter():
                if (_d(existing).get("metadata") or {}).get("canal_refund_id") == str(refund.id):
                    return self._refund_result(existing)
            created = refunds.create(
                params={"payment_intent": payment.provider_ref, "amount": amount,
                        "metadata": {"canal_refund_id": str(refund.id), "canal_payment_id": str(payment.id)}},
                options={"idempotency_key": refund.idempotency_key},
            )
        except stripe_sdk.StripeError as exc:
            raise _translate(exc) from exc
        return self._refund_result(created)

    @staticmethod
    def _refund_result(obj: Any) -> ProviderResult:
        obj = _d(obj)
        status = obj.get("status")
        mapped = (RefundStatus.SUCCEEDED if status in ("succeeded", "pending")
                  else RefundStatus.FAILED if status in ("failed", "canceled") else RefundStatus.PENDING)
        return ProviderResult(status=mapped.value, provider_ref=obj.get("id"),
                              failure_message=obj.get("failure_reason"))

    def handle_webhook(self, raw_body: bytes, headers: Any) -> WebhookEvent:
        """Verify the signature (300 s tolerance) and return the event; raises WebhookSignatureError."""
        secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
        try:
            event = stripe_sdk.Webhook.construct_event(
                raw_body, headers.get("Stripe-Signature"), secret, tolerance=300)
        except (stripe_sdk.SignatureVerificationError, ValueError) as exc:
            raise WebhookSignatureError(_("The webhook signature is not valid or too old.")) from exc
        event = _d(event)
        obj = (event.get("data") or {}).get("object") or {}
        canal_id = (obj.get("metadata") or {}).get("canal_payment_id")
        return WebhookEvent(
            provider=self.name,
            event_id=str(event.get("id")),
            type=str(event.get("type")),
            object_id=obj.get("id"),
            canal_payment_id=int(canal_id) if canal_id and str(canal_id).isdigit() else None,
            data={"object": obj.get("object")},
        )


register("stripe", StripeProvider)
