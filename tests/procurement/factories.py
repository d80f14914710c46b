"""Shared builders for procurement tests: a buyer with its officer and custodians, draft
and published tenders, suppliers able to bid."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from accounts.models import Organization, User
from accounts.states import OrgKind, Role
from core import clock
from core.db import db, unit_of_work
from core.files import save_file
from core.models.notifications import Notification
from procurement.models import Tender
from procurement.services import tenders as svc
from tests.factories import make_org, make_user

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LOT_BUDGET = 100_000_000  # 1,000,000.00 yuan in fen


@dataclass
class Buyer:
    org: Organization
    officer: User
    custodians: list[User] = field(default_factory=list)


def make_buyer(custodians: int = 3) -> Buyer:
    org = make_org(kinds=[OrgKind.BUYER])
    officer = make_user(org, [Role.PROCUREMENT_OFFICER])
    return Buyer(org, officer, [make_user(org, [Role.KEY_CUSTODIAN]) for _ in range(custodians)])


def make_supplier(**org_fields) -> tuple[Organization, User]:
    """A verified supplier organization and its bidder (2FA as the role requires)."""
    org = make_org(kinds=[OrgKind.SUPPLIER], **org_fields)
    return org, make_user(org, [Role.BIDDER])


def add_document(tender: Tender, officer: User, content: bytes = PDF, name: str = "tender.pdf") -> None:
    with unit_of_work():
        stored = save_file(content, filename=name, allowed={"pdf"}, purpose="tender_document")
    svc.add_document(tender, officer, stored, title="Tender documents")


def draft_tender(buyer: Buyer, *, documents: bool = True, lots=None, criteria=None, invitees=(),
                 now: datetime | None = None, **overrides) -> Tender:
    """A draft that passes every publishing rule (30 days to the deadline, 10 of enquiries)."""
    now = now or clock.now()
    deadline = now + timedelta(days=30)
    fields = dict(
        title_zh="办公设备采购", title_en="Office equipment", category="goods", category_code="A0201",
        budget=LOT_BUDGET, method="open", enquiry_end=now + timedelta(days=10), submission_deadline=deadline,
        opening_time=deadline + timedelta(hours=1), custodian_threshold=2, custodian_count=len(buyer.custodians),
        evaluation_method="lowest_price", sme_deduction_pct=10,
    )
    fields.update(overrides)
    if lots is None:
        lots = [dict(title_zh="台式电脑", title_en="Desktops", budget=LOT_BUDGET, bond_amount=LOT_BUDGET // 50,
                     quantity=100, unit="set", delivery_terms="30 days")]
    tender = svc.create_draft(
        buyer.org, buyer.officer, lots=lots, criteria=criteria or [],
        custodian_ids=[u.id for u in buyer.custodians], invitee_org_ids=list(invitees), **fields,
    )
    if documents:
        add_document(tender, buyer.officer)
    return tender


def published_tender(buyer: Buyer, **kwargs) -> Tender:
    """A published tender (keys set up; custodian shares not yet collected)."""
    tender = draft_tender(buyer, **kwargs)
    return svc.publish(tender, buyer.officer)


def negotiated_tender(buyer: Buyer, now: datetime | None = None) -> Tender:
    """A published competitive negotiation (no enquiry period): deadline now+10 days, opening an hour later."""
    now = now or clock.now()
    return published_tender(buyer, method="competitive_negotiation", enquiry_end=None,
                            submission_deadline=now + timedelta(days=10),
                            opening_time=now + timedelta(days=10, hours=1))


def inbox_of(user: User, kind: str | None = None) -> list[Notification]:
    """The user's on-site notifications (of one kind if given)."""
    stmt = sa.select(Notification).where(Notification.user_id == user.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt))
