"""Sealed bids: a bid per supplier and tender, its encrypted parts and its receipt.

Before the opening only ciphertext (with its SHA-256), the bidder, the lots, part sizes
and server times are stored in the clear; the opening fills the `opened_*` columns. A
part's name (an attachment's file name) and the bid's receipt, which lists those names,
are what the bidder sees of its bid, so the platform reads them back: they are sealed at
rest (core.at_rest) under labels naming the bid and the part, so a copy of the database
shows neither.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import at_rest, clock
from core.db import Base, IdMixin
from procurement.sealing.receipts import canonical_json
from procurement.states import BidStatus

__all__ = ["Bid", "BidPart"]

log = logging.getLogger(__name__)


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
    sealed_receipt: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # the signed receipt, at rest

    # filled at the opening
    opened_at: Mapped[datetime | None]
    open_error: Mapped[str] = mapped_column(sa.String(200), default="")  # a part failed its hash / AEAD

    parts: Mapped[list[BidPart]] = relationship(back_populates="bid", order_by="BidPart.seq")

    @staticmethod
    def receipt_label(bid_id: int) -> bytes:
        return b"canal-bid-at-rest-v1|receipt|bid=%d" % bid_id

    @property
    def has_receipt(self) -> bool:
        """A receipt is stored (it may still not open: see `receipt`)."""
        return self.sealed_receipt is not None

    @property
    def receipt(self) -> dict | None:
        """The signed receipt document: None before submission, and (logged) when it no
        longer opens (a SECRET_KEY dropped from SECRET_KEY_FALLBACKS)."""
        if self.sealed_receipt is None:
            return None
        try:
            return json.loads(at_rest.open_on(self, self.receipt_label(self.id), self.sealed_receipt))
        except at_rest.Unreadable:
            log.warning("The receipt of bid %s cannot be opened (SECRET_KEY changed?).", self.id)
            return None

    @receipt.setter
    def receipt(self, document: dict | None) -> None:
        """Seals the document under this bid's label (the bid id must be known)."""
        if document is None:
            self.sealed_receipt = None
            return
        if self.id is None:
            raise ValueError("a receipt is sealed under the bid id: flush the bid first")
        self.sealed_receipt = at_rest.seal_on(self, self.receipt_label(self.id), canonical_json(document))


class BidPart(IdMixin, Base):
    __tablename__ = "tender_bid_parts"
    __table_args__ = (sa.UniqueConstraint("bid_id", "seq"),)

    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("tender_bids.id"), index=True)
    seq: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(20))  # BidPartKind
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tender_lots.id"))
    sealed_name: Mapped[bytes] = mapped_column(sa.LargeBinary)  # file name / part label, at rest (`name`)
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # plaintext bytes
    ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    ciphertext_sha256: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    removed_at: Mapped[datetime | None]  # removed from the draft before submission

    # filled at the opening
    opened_value: Mapped[dict | None] = mapped_column(sa.JSON)  # price / answers parts
    opened_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))  # attachments

    bid: Mapped[Bid] = relationship(back_populates="parts")

    NAME_MAX = 255

    @staticmethod
    def name_label(bid_id: int, seq: int) -> bytes:
        return b"canal-bid-at-rest-v1|part-name|bid=%d|seq=%d" % (bid_id, seq)

    def opened_name(self) -> str | None:
        """The attachment's file name or the part's label, as the bidder gave it; None
        (logged) when it no longer opens (a SECRET_KEY dropped from SECRET_KEY_FALLBACKS)."""
        try:
            return at_rest.open_on(self, self.name_label(self.bid_id, self.seq), self.sealed_name).decode("utf-8")
        except at_rest.Unreadable:
            log.warning("The name of part %s of bid %s cannot be opened (SECRET_KEY changed?).", self.seq, self.bid_id)
            return None

    @property
    def name(self) -> str:
        """The name for pages and the opening: "part-N" when it no longer opens."""
        opened = self.opened_name()
        return f"part-{self.seq}" if opened is None else opened

    @name.setter
    def name(self, value: str) -> None:
        """Seals the name (at most NAME_MAX characters) under this part's label (bid_id and
        seq must be set)."""
        if self.bid_id is None or self.seq is None:
            raise ValueError("a part name is sealed under its bid and seq: set them first")
        label = self.name_label(self.bid_id, self.seq)
        self.sealed_name = at_rest.seal_on(self, label, value[:self.NAME_MAX].encode("utf-8"))
