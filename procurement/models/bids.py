"""Sealed bids: a bid per supplier and tender, its encrypted parts and its receipt.

Before the opening only ciphertext (with its SHA-256), the bidder, the lots, part
names and sizes, and server times are stored; the opening fills the `opened_*` columns.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base, IdMixin
from procurement.states import BidStatus

__all__ = ["Bid", "BidPart"]


class Bid(IdMixin, Base):
    __tablename__ = "tender_bids"
    __table_args__ = (sa.Index("ix_tender_bids_tender_bidder", "tender_id", "bidder_org_id"),)

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    bidder_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(sa.String(20), default=BidStatus.DRAFT.value)
    lot_ids: Mapped[list] = mapped_column(sa.JSON, default=list)  # lots this bid covers
    tender_version: Mapped[int] = mapped_column(sa.Integer, default=1)  # the version it answers
    needs_resubmission: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # a material amendment came after
    supersedes_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tender_bids.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    submitted_at: Mapped[datetime | None]  # server receipt time
    withdrawn_at: Mapped[datetime | None]
    receipt: Mapped[dict | None] = mapped_column(sa.JSON)  # the signed receipt document

    # filled at the opening
    opened_at: Mapped[datetime | None]
    open_error: Mapped[str] = mapped_column(sa.String(200), default="")  # a part failed its hash / AEAD

    parts: Mapped[list[BidPart]] = relationship(back_populates="bid", order_by="BidPart.seq")


class BidPart(IdMixin, Base):
    __tablename__ = "tender_bid_parts"
    __table_args__ = (sa.UniqueConstraint("bid_id", "seq"),)

    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("tender_bids.id"), index=True)
    seq: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(20))  # BidPartKind
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tender_lots.id"))
    name: Mapped[str] = mapped_column(sa.String(255), default="")  # attachment file name / part label
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # plaintext bytes
    ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    ciphertext_sha256: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    removed_at: Mapped[datetime | None]  # removed from the draft before submission

    # filled at the opening
    opened_value: Mapped[dict | None] = mapped_column(sa.JSON)  # price / answers parts
    opened_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))  # attachments

    bid: Mapped[Bid] = relationship(back_populates="parts")
