"""Tables of payments in: Payment, Refund, ProviderEvent (webhook deduplication).

A Payment records money coming in for a *subject* (`subject_type`, `subject_id`: opaque
strings, e.g. `procurement.bond` + bond id) from a payer organization. Its status moves
only forward (payments.states.PAYMENT_TRANSITIONS) through payments.services.payments.
`idempotency_key` is OUR key for the provider call (`pay:<id>:create`), persisted and
committed before the call and sent with it (the API's client `Idempotency-Key` is handled
by core.idempotency). The attribute `metadata_` maps the `metadata` column.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base, IdMixin, TimestampMixin

__all__ = ["Payment", "Refund", "ProviderEvent"]


class Payment(IdMixin, TimestampMixin, Base):
    __tablename__ = "payments"

    purpose: Mapped[str] = mapped_column(sa.String(200))
    subject_type: Mapped[str] = mapped_column(sa.String(60))
    subject_id: Mapped[str] = mapped_column(sa.String(60))
    payer_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    provider: Mapped[str] = mapped_column(sa.String(30))  # payments.states.ProviderName
    provider_ref: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    status: Mapped[str] = mapped_column(sa.String(30), default="created", index=True)
    return_url: Mapped[str] = mapped_column(sa.String(500), default="/")
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    capture_method: Mapped[str] = mapped_column(sa.String(20), default="automatic")
    amount_captured: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    amount_refunded: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    amount_received: Mapped[int | None] = mapped_column(sa.BigInteger)  # bank transfer: actually received
    reference_code: Mapped[str | None] = mapped_column(sa.String(40), unique=True)  # bank transfer
    failure_code: Mapped[str | None] = mapped_column(sa.String(100))
    failure_message: Mapped[str | None] = mapped_column(sa.String(500))
    metadata_: Mapped[dict] = mapped_column("metadata", sa.JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    succeeded_at: Mapped[datetime | None] = mapped_column()

    refunds: Mapped[list[Refund]] = relationship(back_populates="payment", order_by="Refund.id")

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("amount_refunded >= 0 AND amount_refunded <= amount_captured", name="refund_within_captured"),
        sa.CheckConstraint("amount_captured >= 0", name="captured_non_negative"),
        sa.Index("ix_payments_subject", "subject_type", "subject_id"),
    )

    @property
    def refundable(self) -> int:
        return self.amount_captured - self.amount_refunded

    def __repr__(self) -> str:
        return f"<Payment {self.id} {self.provider} {self.status} {self.amount} {self.currency}>"


class Refund(IdMixin, Base):
    __tablename__ = "payment_refunds"

    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id"), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")  # payments.states.RefundStatus
    provider_ref: Mapped[str | None] = mapped_column(sa.String(255))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    failure_message: Mapped[str | None] = mapped_column(sa.String(500))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    payment: Mapped[Payment] = relationship(back_populates="refunds")

    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)


class ProviderEvent(IdMixin, Base):
    """A provider event (webhook) already applied: inserted in the same transaction as its effect."""

    __tablename__ = "payment_provider_events"

    provider: Mapped[str] = mapped_column(sa.String(30))
    event_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id"), index=True)
