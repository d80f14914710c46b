"""The provider interface (DESIGN.md section 5) and the registry of providers.

A provider talks to the outside (Stripe, the bank) and reports what happened as a
`ProviderResult`; it never changes a Payment's status itself: payments.services.payments
applies the result through the transition table (audit, events, ledger).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flask_babel import gettext as _

from core.errors import DomainError

if TYPE_CHECKING:
    from payments.models import Payment, Refund

__all__ = [
    "Provider",
    "ProviderResult",
    "WebhookEvent",
    "ProviderError",
    "ProviderUnavailable",
    "PaymentDeclined",
    "register",
    "get",
    "names",
]


class ProviderError(DomainError):
    """The provider refused or failed a call (the message is safe to show)."""

    code = "provider_error"
    status = 502


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    status = 503


class PaymentDeclined(ProviderError):
    code = "payment_declined"
    status = 402


@dataclass
class ProviderResult:
    """What the provider says about a payment after a call (or a re-fetch).

    status: a payments.states.PaymentStatus value (or None: no change known);
    amount_captured / amount_refunded: totals known at the provider (None: unknown).
    """

    status: str | None = None
    provider_ref: str | None = None
    amount_captured: int | None = None
    amount_refunded: int | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    client_secret: str | None = None
    next_action: dict | None = None
    raw: dict = field(default_factory=dict)
    #: other Payment fields to set (whitelisted in services.payments.RESULT_FIELDS: reference_code...)
    updates: dict = field(default_factory=dict)


@dataclass
class WebhookEvent:
    """A verified provider event: id (unique per provider), type and the object id it is about."""

    provider: str
    event_id: str
    type: str
    object_id: str | None
    canal_payment_id: int | None = None
    data: dict = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    name: str

    def create(self, payment: Payment) -> ProviderResult: ...

    def confirm(self, payment: Payment, **params: Any) -> ProviderResult: ...

    def capture(self, payment: Payment, amount: int | None = None) -> ProviderResult: ...

    def cancel(self, payment: Payment) -> ProviderResult: ...

    def refund(self, payment: Payment, amount: int, refund: Refund) -> ProviderResult: ...

    def retrieve(self, payment: Payment) -> ProviderResult: ...

    def handle_webhook(self, raw_body: bytes, headers: Any) -> WebhookEvent: ...


_REGISTRY: dict[str, Any] = {}


def register(name: str, factory: Any) -> None:
    """Register a provider factory (a class or a zero-argument callable) under `name`."""
    _REGISTRY[name] = factory


def get(name: str) -> Provider:
    factory = _REGISTRY.get(name)
    if factory is None:
        raise DomainError(_("Unknown payment provider."), code="unknown_provider", status=422)
    return factory()


def names() -> list[str]:
    return sorted(_REGISTRY)
