"""Bid bonds (投标保证金) per lot: bank transfer or guarantee (保函)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdMixin, TimestampMixin
from procurement.states import BondStatus

__all__ = ["Bond"]


class Bond(IdMixin, TimestampMixin, Base):
    __tablename__ = "tender_bonds"
    __table_args__ = (sa.Index("ix_tender_bonds_lot_supplier", "lot_id", "supplier_org_id"),)

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("tender_lots.id"))
    supplier_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # BondKind
    status: Mapped[str] = mapped_column(sa.String(20), default=BondStatus.PENDING.value, index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)  # fen
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    #: Opaque reference shown to finance instead of tender and supplier (confidentiality).
    reference: Mapped[str] = mapped_column(sa.String(40), unique=True)
    reported_at: Mapped[datetime | None]  # when the supplier reported the transfer / filed the guarantee

    # bank transfer: a payments/ bank_transfer payment
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id"))
    # guarantee (保函)
    guarantee_issuer: Mapped[str] = mapped_column(sa.String(200), default="")
    guarantee_number: Mapped[str] = mapped_column(sa.String(100), default="")
    guarantee_valid_until: Mapped[date | None] = mapped_column(sa.Date)
    guarantee_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))

    verified_at: Mapped[datetime | None]
    verified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reject_reason: Mapped[str] = mapped_column(sa.Text, default="")
    refund_reason: Mapped[str] = mapped_column(sa.Text, default="")
    refund_payout_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payouts.id"))
    released_at: Mapped[datetime | None]  # refunded (transfer) or released (guarantee)
