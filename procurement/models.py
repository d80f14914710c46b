"""Tender models: procedure types (configuration rows), tenders, lots, criteria, documents."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    category: Mapped[str] = mapped_column(sa.String(20), index=True)
    category_code: Mapped[str] = mapped_column(sa.String(40), default="")
    budget: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # fen
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    method: Mapped[str] = mapped_column(sa.String(40), index=True)
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
    published_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str] = mapped_column(sa.Text, default="")

    lots: Mapped[list[Lot]] = relationship(back_populates="tender", order_by="Lot.number")
    criteria: Mapped[list[Criterion]] = relationship(back_populates="tender", order_by="Criterion.id")
    documents: Mapped[list[TenderDocument]] = relationship(back_populates="tender", order_by="TenderDocument.id")
    custodians: Mapped[list[TenderCustodian]] = relationship(back_populates="tender", order_by="TenderCustodian.id")
    invitees: Mapped[list[TenderInvitee]] = relationship(back_populates="tender", order_by="TenderInvitee.id")


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
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    title: Mapped[str] = mapped_column(sa.String(255), default="")

    tender: Mapped[Tender] = relationship(back_populates="documents")


class TenderCustodian(IdMixin, TimestampMixin, Base):
    __tablename__ = "tender_custodians"
    __table_args__ = (sa.UniqueConstraint("tender_id", "user_id"),)

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)

    tender: Mapped[Tender] = relationship(back_populates="custodians")


class TenderInvitee(IdMixin, TimestampMixin, Base):
    __tablename__ = "tender_invitees"
    __table_args__ = (sa.UniqueConstraint("tender_id", "org_id"),)

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)

    tender: Mapped[Tender] = relationship(back_populates="invitees")
