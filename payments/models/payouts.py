"""Payouts: money going out to an organization's bank account, exported in CSV batches.

A payout snapshots the payee's bank account when it is created (a later change of the
organization's profile does not redirect money already on its way). Ledger postings:
see payments/services/payouts.py.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base, IdMixin, TimestampMixin

__all__ = ["Payout", "PayoutBatch"]


class PayoutBatch(IdMixin, Base):
    """One CSV file of payouts handed to the bank (all in one currency)."""

    __tablename__ = "payout_batches"

    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_by_label: Mapped[str] = mapped_column(sa.String(255), default="")
    file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    count: Mapped[int] = mapped_column(sa.Integer, default=0)
    total: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    file = relationship("StoredFile", foreign_keys=[file_id], viewonly=True)
    payouts: Mapped[list[Payout]] = relationship(back_populates="batch", order_by="Payout.id", viewonly=True)

    def __repr__(self) -> str:
        return f"<PayoutBatch {self.id} {self.count} {self.total} {self.currency}>"


class Payout(IdMixin, TimestampMixin, Base):
    """Money owed to `payee_org_id`, reserved in the ledger until paid or failed."""

    __tablename__ = "payouts"

    #: The caller's idempotency id (e.g. "bond:12:refund"): one payout per id.
    idempotency_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    payee_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    payee_name: Mapped[str] = mapped_column(sa.String(200), default="")
    bank_name: Mapped[str] = mapped_column(sa.String(200), default="")
    bank_account_name: Mapped[str] = mapped_column(sa.String(200), default="")
    bank_account_number: Mapped[str] = mapped_column(sa.String(64), default="")
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    #: Ledger account the money came from and returns to on failure ("org:5:payable").
    source_key: Mapped[str] = mapped_column(sa.String(200), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")  # PayoutStatus (indexed with currency)
    batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payout_batches.id"), index=True)
    #: source -> payouts:pending, at creation.
    reserve_entry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("journal_entries.id"))
    #: payouts:pending -> platform:clearing (paid) or -> source (failed).
    settle_entry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("journal_entries.id"))
    bank_reference: Mapped[str] = mapped_column(sa.String(100), default="")
    failure_reason: Mapped[str] = mapped_column(sa.String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_by_label: Mapped[str] = mapped_column(sa.String(255), default="")
    exported_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]

    batch: Mapped[PayoutBatch | None] = relationship(back_populates="payouts", viewonly=True)
    payee = relationship("Organization", foreign_keys=[payee_org_id], viewonly=True)

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="payout_amount_positive"),
        sa.Index("ix_payouts_status_currency", "status", "currency"),
    )

    @property
    def reference(self) -> str:
        """The reference printed on the bank transfer (and in the CSV)."""
        return f"CANAL-PO-{self.id}"

    def __repr__(self) -> str:
        return f"<Payout {self.id} {self.amount} {self.currency} {self.status}>"
