"""Payments in: create, start (provider create), confirm, capture, cancel, refund, status.

Every status change goes through `set_status` (transition table, audit, events). Provider
calls are made OUTSIDE a unit of work, after our idempotency key was committed; their
result is applied in a new unit of work under the payment's row lock, only forward.

Ledger postings (payments.ledger, balance = credits - debits):
- success (card captured, bank transfer confirmed) of amount A (the amount captured or
  actually received): debit `platform:clearing`, credit `subject:<subject_type>:<subject_id>`,
  idempotency id `payment:<id>:succeeded`. The owning area moves the money on from the
  subject account (e.g. to `order:<id>:escrow`) when it handles `payment_succeeded`.
- refund R of amount B: debit `subject:<subject_type>:<subject_id>`, credit
  `platform:clearing`, idempotency id `refund:<R.id>`.
- failed / canceled / declined / provider down: no ledger effect.

Events (core.events, inside the unit of work): payment_succeeded, payment_failed,
payment_refunded with payment_id, subject_type, subject_id, amount, currency (for a
refund: amount = the refunded amount, plus refund_id and amount_refunded).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask_babel import gettext as _

from core import audit, clock, events, outbox
from core.db import db, for_update, unit_of_work
from core.errors import Conflict, InvalidTransition, NotFound, ValidationError
from payments import ledger
from payments.models import Payment, Refund
from payments.providers import base as providers
from payments.providers.base import ProviderResult
from payments.states import (
    PAID_STATUSES,
    PAYMENT_RANK,
    CaptureMethod,
    PaymentStatus,
    ProviderName,
    RefundStatus,
    can_transition_payment,
)

log = logging.getLogger(__name__)

__all__ = [
    "CLEARING_ACCOUNT",
    "subject_account",
    "create_payment",
    "get_payment",
    "get_provider",
    "set_status",
    "record_success",
    "record_failure",
    "apply_result",
    "start",
    "confirm",
    "capture",
    "cancel",
    "refund",
    "request_refund",
    "execute_refund",
    "check_return_url",
]

CLEARING_ACCOUNT = "platform:clearing"
#: Payment fields a provider may set through ProviderResult.updates.
RESULT_FIELDS = frozenset({"reference_code", "amount_received", "failure_code", "failure_message"})
MAX_PAYMENT_AMOUNT = ledger.MAX_AMOUNT


def subject_account(payment: Payment) -> str:
    return f"subject:{payment.subject_type}:{payment.subject_id}".lower()


def _actor_of(actor: Any) -> audit.Actor | None:
    if actor is None or isinstance(actor, audit.Actor):
        return actor
    # a User: label with its email, org unknown here
    return audit.user_actor(getattr(actor, "id", None), getattr(actor, "current_org_id", None),
                            getattr(actor, "email", "") or "")


def _user_id(actor: Any) -> int | None:
    if actor is None:
        return None
    if isinstance(actor, audit.Actor):
        return actor.user_id
    return getattr(actor, "id", None)


def get_provider(name: str) -> providers.Provider:
    """The provider registered under `name` ("stripe", "bank_transfer")."""
    return providers.get(name)


def check_return_url(url: str | None) -> str:
    """A same-site relative path ("/sme/orders/3"), else a ValidationError."""
    url = (url or "/").strip()
    parts = urlsplit(url)
    if (not url.startswith("/") or url.startswith("//") or "\\" in url or parts.scheme or parts.netloc
            or any(ord(c) < 32 for c in url) or len(url) > 500):
        raise ValidationError(_("The return address must be a path on this site."),
                              fields={"return_url": _("The return address must be a path on this site.")})
    return url


def get_payment(payment_id: int, *, lock: bool = False) -> Payment:
    stmt = sa.select(Payment).where(Payment.id == payment_id)
    if lock:
        stmt = for_update(stmt).execution_options(populate_existing=True)
    payment = db.session.scalars(stmt).first()
    if payment is None:
        raise NotFound(_("Payment not found."))
    return payment


def create_payment(
    *,
    purpose: str,
    subject_type: str,
    subject_id: str | int,
    payer_org_id: int,
    amount: int,
    currency: str = "CNY",
    provider: str,
    return_url: str = "/",
    actor: Any = None,
    capture_method: str = "automatic",
    metadata: dict | None = None,
) -> Payment:
    """Record a payment (status created) and commit our provider idempotency key `pay:<id>:create`."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValidationError(_("The amount must be a positive number of fen."),
                              fields={"amount": _("The amount must be greater than zero.")})
    if amount > MAX_PAYMENT_AMOUNT:
        raise ValidationError(_("The amount is too large."), fields={"amount": _("The amount is too large.")})
    currency = ledger._check_currency(currency)
    if provider not in {p.value for p in ProviderName}:
        raise ValidationError(_("Unknown payment provider."), fields={"provider": _("Unknown payment provider.")})
    if capture_method not in {c.value for c in CaptureMethod}:
        raise ValidationError(_("Unknown capture method."))
    if capture_method == CaptureMethod.MANUAL and provider != ProviderName.STRIPE:
        raise ValidationError(_("Only card payments can be held for a later capture."))
    subject_type, subject_id = str(subject_type).strip().lower(), str(subject_id).strip()
    if not ledger.KEY_RE.match(f"subject:{subject_type}:{subject_id}".lower()) or not purpose:
        raise ValidationError(_("The payment's subject is not valid."))
    return_url = check_return_url(return_url)
    with unit_of_work():
        payment = Payment(
            purpose=str(purpose)[:200], subject_type=subject_type, subject_id=subject_id,
            payer_org_id=payer_org_id, amount=amount, currency=currency, provider=provider,
            status=PaymentStatus.CREATED.value, return_url=return_url, capture_method=capture_method,
            metadata_=dict(metadata or {}), created_by_id=_user_id(actor),
        )
        db.session.add(payment)
        db.session.flush()
        payment.idempotency_key = f"pay:{payment.id}:create"
        audit.record("payment.created", "payment", payment.id, {
            "amount": amount, "currency": currency, "provider": provider, "subject_type": subject_type,
            "subject_ref": subject_id, "purpose": payment.purpose, "capture_method": capture_method,
        }, actor=_actor_of(actor))
    return payment


def _event_payload(payment: Payment, amount: int) -> dict:
    return {"payment_id": payment.id, "subject_type": payment.subject_type, "subject_id": payment.subject_id,
            "amount": amount, "currency": payment.currency}


def set_status(payment: Payment, new_status: str, *, actor: Any = None, reason: str | None = None) -> Payment:
    """Move `payment` to `new_status` via the transition table; audit; publish the event.

    payment_succeeded / payment_failed are published here; payment_refunded by the refund
    path (it carries the refunded amount). The ledger effect of success is record_success's.
    """
    new = PaymentStatus(new_status)
    with unit_of_work():
        old = PaymentStatus(payment.status)
        if not can_transition_payment(old, new):
            raise InvalidTransition(_("This payment cannot go from %(old)s to %(new)s.", old=old.value, new=new.value))
        payment.status = new.value
        if new == PaymentStatus.SUCCEEDED:
            payment.succeeded_at = clock.now()
        data = {"from": old.value, "to": new.value}
        if reason:
            data["reason"] = str(reason)[:500]
        audit.record("payment.status", "payment", payment.id, data, actor=_actor_of(actor))
        if new == PaymentStatus.SUCCEEDED:
            events.publish(events.payment_succeeded, "payments", **_event_payload(payment, payment.amount_captured))
        elif new == PaymentStatus.FAILED:
            events.publish(events.payment_failed, "payments", **_event_payload(payment, payment.amount))
    return payment


def record_success(payment: Payment, amount: int, *, actor: Any = None) -> Payment:
    """The payer's money arrived (`amount` captured or actually received): status succeeded,
    ledger posting, payment_succeeded. Idempotent: a paid payment is returned unchanged."""
    with unit_of_work():
        payment = get_payment(payment.id, lock=True)
        if payment.status in PAID_STATUSES or payment.status == PaymentStatus.REFUNDED:
            return payment
        if not isinstance(amount, int) or amount <= 0:
            raise ValidationError(_("The amount must be greater than zero."))
        payment.amount_captured = amount
        set_status(payment, PaymentStatus.SUCCEEDED, actor=actor)
        ledger.post_entry(
            f"payment:{payment.id}:succeeded",
            [ledger.TransferSpec(CLEARING_ACCOUNT, subject_account(payment), amount, payment.currency)],
            description=f"payment {payment.id} received ({payment.provider})",
            metadata={"payment_id": payment.id, "provider": payment.provider},
            actor=_actor_of(actor),
        )
    return payment


def record_failure(payment: Payment, *, code: str | None, message: str | None, actor: Any = None,
                   status: str = PaymentStatus.FAILED) -> Payment:
    """The payment failed (or was canceled): no ledger effect. Ignored when not allowed (forward only)."""
    with unit_of_work():
        payment = get_payment(payment.id, lock=True)
        payment.failure_code = (code or "")[:100] or None
        payment.failure_message = (message or "")[:500] or None
        if can_transition_payment(payment.status, status):
            set_status(payment, status, actor=actor, reason=code)
    return payment


def apply_result(payment: Payment, result: ProviderResult, *, actor: Any = None) -> Payment:
    """Apply what the provider reports, only forward (a stale or older status is ignored)."""
    with unit_of_work():
        payment = get_payment(payment.id, lock=True)
        if result.provider_ref and not payment.provider_ref:
            payment.provider_ref = result.provider_ref
        for name, value in (result.updates or {}).items():
            if name in RESULT_FIELDS:
                setattr(payment, name, value)
        target = PaymentStatus(result.status) if result.status else None
        if target is None or target == payment.status:
            return payment
        if target == PaymentStatus.SUCCEEDED:
            amount = result.amount_captured if result.amount_captured else payment.amount
            return record_success(payment, amount, actor=actor)
        if target in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
            return record_failure(payment, code=result.failure_code, message=result.failure_message,
                                  actor=actor, status=target)
        if (target in (PaymentStatus.REQUIRES_ACTION, PaymentStatus.PROCESSING)
                and PAYMENT_RANK[target] > PAYMENT_RANK[PaymentStatus(payment.status)]
                and can_transition_payment(payment.status, target)):
            set_status(payment, target, actor=actor)
        elif result.failure_message:
            payment.failure_code = (result.failure_code or "")[:100] or None
            payment.failure_message = result.failure_message[:500]
    return payment


def _call(payment: Payment, method: str, *args: Any, actor: Any = None, **kwargs: Any) -> Payment:
    """Call the provider outside any unit of work, then apply the result. Declines are applied
    (payment failed) and re-raised with a clear message; an unreachable provider changes nothing."""
    provider = get_provider(payment.provider)
    try:
        result = getattr(provider, method)(payment, *args, **kwargs)
    except providers.PaymentDeclined as exc:
        record_failure(payment, code=exc.code, message=exc.message, actor=actor)
        raise
    return apply_result(payment, result, actor=actor)


def start(payment: Payment, *, actor: Any = None) -> Payment:
    """Create the payment at its provider (Stripe: the PaymentIntent). Safe to retry."""
    if payment.provider_ref and payment.status != PaymentStatus.CREATED:
        return payment
    if not payment.idempotency_key:
        raise Conflict(_("This payment has no idempotency key."))
    if payment.status not in (PaymentStatus.CREATED, PaymentStatus.REQUIRES_ACTION):
        raise InvalidTransition(_("This payment cannot be paid any more."))
    # Count the attempt (committed before the call): a retry makes the provider look first.
    with unit_of_work():
        payment = get_payment(payment.id, lock=True)
        meta = dict(payment.metadata_ or {})
        meta["provider_attempts"] = int(meta.get("provider_attempts", 0)) + 1
        payment.metadata_ = meta
    return _call(payment, "create", actor=actor)


def confirm(payment: Payment, *, actor: Any = None, **params: Any) -> Payment:
    """Confirm with a payment method (Stripe: `payment_method=` id or, in test mode, `card=`)."""
    if payment.status not in (PaymentStatus.CREATED, PaymentStatus.REQUIRES_ACTION):
        raise InvalidTransition(_("This payment cannot be paid any more."))
    if not payment.provider_ref:
        payment = start(payment, actor=actor)
    return _call(payment, "confirm", actor=actor, **params)


def capture(payment: Payment, amount: int | None = None, *, actor: Any = None) -> Payment:
    """Capture a held (manual capture) payment, fully or partly (the rest is released)."""
    if payment.capture_method != CaptureMethod.MANUAL or payment.status != PaymentStatus.PROCESSING:
        raise InvalidTransition(_("This payment has no hold to capture."))
    if amount is not None and (not isinstance(amount, int) or amount <= 0 or amount > payment.amount):
        raise ValidationError(_("The amount to capture must be between 0.01 and the amount held."))
    return _call(payment, "capture", amount, actor=actor)


def cancel(payment: Payment, *, actor: Any = None) -> Payment:
    """Cancel an unpaid payment or release a hold."""
    if payment.status not in (PaymentStatus.CREATED, PaymentStatus.REQUIRES_ACTION, PaymentStatus.PROCESSING):
        raise InvalidTransition(_("This payment can no longer be canceled."))
    if payment.provider_ref:
        return _call(payment, "cancel", actor=actor)
    return record_failure(payment, code="canceled", message=None, actor=actor, status=PaymentStatus.CANCELED)


# --------------------------------------------------------------------------- refunds


def request_refund(payment: Payment, amount: int, *, reason: str = "", actor: Any = None,
                   deliver: str = "outbox") -> Refund:
    """Decide a refund: a pending Refund (key `refund:<id>`) and, with deliver="outbox", an
    outbox message that performs it at the provider after commit. Never more than captured
    minus refunded (pending refunds count)."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValidationError(_("The refund amount must be greater than zero."),
                              fields={"amount": _("The refund amount must be greater than zero.")})
    with unit_of_work():
        payment = get_payment(payment.id, lock=True)
        if payment.status not in PAID_STATUSES:
            raise InvalidTransition(_("Only a paid payment can be refunded."))
        pending = db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0))
            .where(Refund.payment_id == payment.id, Refund.status == RefundStatus.PENDING.value)
        ) or 0
        if amount > payment.amount_captured - payment.amount_refunded - pending:
            raise ValidationError(_("A refund cannot exceed what was paid and not yet refunded."),
                                  fields={"amount": _("Too large.")})
        refund_row = Refund(payment_id=payment.id, amount=amount, reason=str(reason or "")[:500],
                            status=RefundStatus.PENDING.value, created_by_id=_user_id(actor))
        db.session.add(refund_row)
        db.session.flush()
        refund_row.idempotency_key = f"refund:{refund_row.id}"
        audit.record("payment.refund_requested", "payment", payment.id,
                     {"refund_id": refund_row.id, "amount": amount, "reason": refund_row.reason},
                     actor=_actor_of(actor))
        if deliver == "outbox":
            outbox.enqueue("payments.refund", {"refund_id": refund_row.id}, dedup_key=refund_row.idempotency_key)
    return refund_row


def _finish_refund(refund_row: Refund, result: ProviderResult | None, *, failed_message: str | None,
                   actor: Any = None) -> Refund:
    with unit_of_work():
        payment = get_payment(refund_row.payment_id, lock=True)
        refund_row = db.session.scalars(
            for_update(sa.select(Refund).where(Refund.id == refund_row.id)).execution_options(populate_existing=True)
        ).one()
        if refund_row.status != RefundStatus.PENDING:
            return refund_row
        if result is not None and result.provider_ref:
            refund_row.provider_ref = result.provider_ref
        if failed_message is not None:
            refund_row.status = RefundStatus.FAILED.value
            refund_row.failure_message = failed_message[:500]
            audit.record("payment.refund_failed", "payment", payment.id,
                         {"refund_id": refund_row.id, "amount": refund_row.amount}, actor=_actor_of(actor))
            return refund_row
        refund_row.status = RefundStatus.SUCCEEDED.value
        payment.amount_refunded += refund_row.amount
        target = (PaymentStatus.REFUNDED if payment.amount_refunded >= payment.amount_captured
                  else PaymentStatus.PARTIALLY_REFUNDED)
        set_status(payment, target, actor=actor, reason=f"refund {refund_row.id}")
        ledger.post_entry(
            f"refund:{refund_row.id}",
            [ledger.TransferSpec(subject_account(payment), CLEARING_ACCOUNT, refund_row.amount, payment.currency)],
            description=f"refund {refund_row.id} of payment {payment.id}",
            metadata={"payment_id": payment.id, "refund_id": refund_row.id},
            actor=_actor_of(actor),
        )
        events.publish(events.payment_refunded, "payments", **_event_payload(payment, refund_row.amount),
                       refund_id=refund_row.id, amount_refunded=payment.amount_refunded)
    return refund_row


def execute_refund(refund_id: int, *, actor: Any = None) -> Refund:
    """Perform a pending refund at the provider (idempotent: our key and a look-up first)."""
    refund_row = db.session.get(Refund, refund_id)
    if refund_row is None:
        raise NotFound(_("Refund not found."))
    if refund_row.status != RefundStatus.PENDING:
        return refund_row
    payment = db.session.get(Payment, refund_row.payment_id)
    provider = get_provider(payment.provider)
    try:
        result = provider.refund(payment, refund_row.amount, refund_row)
    except providers.PaymentDeclined as exc:
        return _finish_refund(refund_row, None, failed_message=exc.message, actor=actor)
    if result.status == RefundStatus.FAILED:
        return _finish_refund(refund_row, result, failed_message=result.failure_message or "failed", actor=actor)
    return _finish_refund(refund_row, result, failed_message=None, actor=actor)


def refund(payment: Payment, amount: int, *, reason: str = "", actor: Any = None) -> Refund:
    """A user-initiated refund done now: decided (committed), then performed at the provider.
    A provider that cannot be reached leaves the refund pending (retry with execute_refund)."""
    refund_row = request_refund(payment, amount, reason=reason, actor=actor, deliver="now")
    return execute_refund(refund_row.id, actor=actor)


@outbox.handler("payments.refund")
def _refund_handler(payload: dict) -> None:
    execute_refund(int(payload["refund_id"]), actor=audit.system("outbox"))


