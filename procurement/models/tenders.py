"""Tender models: procedure types (configuration rows), tenders, lots, criteria, documents."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base, IdMixin, TimestampMixin
from procurement.states import LotStatus, TenderStatus

__all__ = [
    "ProcedureType",
    "Tender",
    "Lot",
    "Criterion",
    "TenderDocument",
    "TenderCustodian",
    "TenderInvitee",
    "TenderAmendment",
    "DocumentDownload",
]


class ProcedureType(IdMixin, TimestampMixin, Base):
    """One row per method (DESIGN.md section 7 table); editable by a platform admin."""

    __tablename__ = "procedure_types"

    code: Mapped[str] = mapped_column(sa.String(40), unique=True)  # Method value
    name_zh: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100))
    min_days: Mapped[int] = mapped_column(sa.Integer)
    min_days_working: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    min_bids: Mapped[int] = mapped_column(sa.Integer)
    committee_min: Mapped[int] = mapped_column(sa.Integer)
    bond_allowed: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    evaluation_methods: Mapped[list] = mapped_column(default=list)  # EvaluationMethod values
    ocds_method: Mapped[str] = mapped_column(sa.String(20))


class Tender(IdMixin, TimestampMixin, Base):
    __tablename__ = "tenders"

    buyer_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    title_zh: Mapped[str] = mapped_column(sa.String(300), default="")
    title_en: Mapped[str] = mapped_column(sa.String(300), default="")
    description_zh: Mapped[str] = mapped_column(sa.Text, default="")
    description_en: Mapped[str] = mapped_column(sa.Text, default="")
    category: Mapped[str] = mapped_column(sa.String(20))  # 3 values: no index (see migration 0006)
    category_code: Mapped[str] = mapped_column(sa.String(40), default="")
    budget: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # fen
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    method: Mapped[str] = mapped_column(sa.String(40))  # a handful of values: no index (0006)
    status: Mapped[str] = mapped_column(sa.String(30), default=TenderStatus.DRAFT.value, index=True)
    enquiry_end: Mapped[datetime | None]
    submission_deadline: Mapped[datetime | None] = mapped_column(index=True)
    opening_time: Mapped[datetime | None]
    custodian_threshold: Mapped[int] = mapped_column(sa.Integer, default=2)  # k
    custodian_count: Mapped[int] = mapped_column(sa.Integer, default=3)  # n
    evaluation_method: Mapped[str] = mapped_column(sa.String(20), default="lowest_price")
    price_weight: Mapped[int | None] = mapped_column(sa.Integer)  # percent, scored evaluation
    sme_deduction_pct: Mapped[int] = mapped_column(sa.Integer, default=10)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str] = mapped_column(sa.Text, default="")

    # Sealed-bid key set-up (procurement.services.keys); never the KEK or private key.
    public_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # X25519, 32 raw bytes
    wrapped_private_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # AES-GCM under the KEK
    key_fingerprint: Mapped[str] = mapped_column(sa.String(64), default="")
    recovery_share: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # sealed to the offline recovery key
    recovery_commitment: Mapped[str] = mapped_column(sa.String(64), default="")
    recovery_key_id: Mapped[str] = mapped_column(sa.String(64), default="")

    # Opening (procurement.services.opening)
    opened_at: Mapped[datetime | None]
    opening_record: Mapped[dict | None] = mapped_column(sa.JSON)  # the published record

    lots: Mapped[list[Lot]] = relationship(back_populates="tender", order_by="Lot.number")
    criteria: Mapped[list[Criterion]] = relationship(back_populates="tender", order_by="Criterion.id")
    documents: Mapped[list[TenderDocument]] = relationship(back_populates="tender", order_by="TenderDocument.id")
    custodians: Mapped[list[TenderCustodian]] = relationship(back_populates="tender", order_by="TenderCustodian.id")
    invitees: Mapped[list[TenderInvitee]] = relationship(back_populates="tender", order_by="TenderInvitee.id")
    amendments: Mapped[list[TenderAmendment]] = relationship(back_populates="tender", order_by="TenderAmendment.number")


class Lot(IdMixin, TimestampMixin, Base):
    __tablename__ = "tender_lots"
    __table_args__ = (sa.UniqueConstraint("tender_id", "number"),)

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    number: Mapped[int] = mapped_column(sa.Integer)
    title_zh: Mapped[str] = mapped_column(sa.String(300), default="")
    title_en: Mapped[str] = mapped_column(sa.String(300), default="")
    budget: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # fen
    bond_amount: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # fen
    quantity: Mapped[int] = mapped_column(sa.Integer, default=1)
    unit: Mapped[str] = mapped_column(sa.String(40), default="")
    delivery_terms: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(20), default=LotStatus.ACTIVE.value)

    tender: Mapped[Tender] = relationship(back_populates="lots")

    @property
    def asks_bond(self) -> bool:
        """Bidders on this lot must lodge a bid bond (its amount is more than zero)."""
        return (self.bond_amount or 0) > 0


class Criterion(IdMixin, Base):
    __tablename__ = "tender_criteria"

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    name_zh: Mapped[str] = mapped_column(sa.String(200), default="")
    name_en: Mapped[str] = mapped_column(sa.String(200), default="")
    weight: Mapped[int] = mapped_column(sa.Integer)  # percent
    kind: Mapped[str] = mapped_column(sa.String(20))  # CriterionKind

    tender: Mapped[Tender] = relationship(back_populates="criteria")


class TenderDocument(IdMixin, TimestampMixin, Base):
    __tablename__ = "tender_documents"

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    stored_file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)  # tender version that added it
    title: Mapped[str] = mapped_column(sa.String(255), default="")
    #: Tender version from which this document is no longer part of the documents (an
    #: amendment replaced or removed it); None while current.
    removed_in_version: Mapped[int | None] = mapped_column(sa.Integer)

    tender: Mapped[Tender] = relationship(back_populates="documents")


class TenderCustodian(IdMixin, TimestampMixin, Base):
    __tablename__ = "tender_custodians"
    __table_args__ = (sa.UniqueConstraint("tender_id", "user_id"),)

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    share_index: Mapped[int | None] = mapped_column(sa.Integer)  # Shamir x coordinate, 1..n
    share_commitment: Mapped[str] = mapped_column(sa.String(64), default="")  # public SHA-256
    #: The share until its custodian collects it, encrypted under the platform's share
    #: key (procurement.services.keys); erased (None) at collection.
    pending_share: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    collected_at: Mapped[datetime | None]
    safekeeping_confirmed_at: Mapped[datetime | None]
    #: The share presented at the opening, encrypted at rest until k have arrived;
    #: erased once the bids are opened.
    presented_share: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    presented_at: Mapped[datetime | None]

    tender: Mapped[Tender] = relationship(back_populates="custodians")


class TenderInvitee(IdMixin, TimestampMixin, Base):
    __tablename__ = "tender_invitees"
    __table_args__ = (sa.UniqueConstraint("tender_id", "org_id"),)

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)

    tender: Mapped[Tender] = relationship(back_populates="invitees")


class TenderAmendment(IdMixin, Base):
    """One published change of a tender: dates and/or documents, with its reason."""

    __tablename__ = "tender_amendments"
    __table_args__ = (sa.UniqueConstraint("tender_id", "number"),)

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    number: Mapped[int] = mapped_column(sa.Integer)  # the tender version it creates (2, 3...)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    #: {"submission_deadline": [old, new], "documents_added": [...], "documents_removed": [...], ...}
    changes: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    material: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # bids before it must be resubmitted
    question_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tender_questions.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    tender: Mapped[Tender] = relationship(back_populates="amendments")


class DocumentDownload(IdMixin, Base):
    """Who downloaded a tender's documents (visible only to that supplier; used to notify
    downloaders of amendments)."""

    __tablename__ = "tender_document_downloads"
    __table_args__ = (sa.UniqueConstraint("tender_id", "user_id"),)

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"))
    first_at: Mapped[datetime] = mapped_column(default=clock.now)
