"""Enums and transition tables of procurement (tenders up to the opening)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l


class TenderStatus(StrEnum):
    DRAFT = "draft"
    ENQUIRIES = "active.enquiries"
    TENDERING = "active.tendering"
    AWAITING_OPENING = "awaiting_opening"
    OPENED = "opened"
    EVALUATION = "evaluation"
    AWARD_PENDING = "award_pending"
    AWARDED = "awarded"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    UNSUCCESSFUL = "unsuccessful"


#: Every status a visitor may see or filter by (all but draft), in the lifecycle's order.
PUBLIC_STATUSES = tuple(s for s in TenderStatus if s != TenderStatus.DRAFT)
TERMINAL = frozenset({TenderStatus.COMPLETE, TenderStatus.CANCELLED, TenderStatus.UNSUCCESSFUL})
#: Statuses from which a tender may still be cancelled (non-terminal, before the award).
CANCELLABLE = frozenset({
    TenderStatus.DRAFT,
    TenderStatus.ENQUIRIES,
    TenderStatus.TENDERING,
    TenderStatus.AWAITING_OPENING,
    TenderStatus.OPENED,
    TenderStatus.EVALUATION,
})
#: Published statuses whose exact value is derived from the clock (see time_status).
TIME_DRIVEN = frozenset({TenderStatus.ENQUIRIES, TenderStatus.TENDERING, TenderStatus.AWAITING_OPENING})

TENDER_TRANSITIONS: dict[TenderStatus, set[TenderStatus]] = {
    TenderStatus.DRAFT: {TenderStatus.ENQUIRIES, TenderStatus.TENDERING, TenderStatus.CANCELLED},
    TenderStatus.ENQUIRIES: {TenderStatus.TENDERING, TenderStatus.CANCELLED},
    TenderStatus.TENDERING: {TenderStatus.AWAITING_OPENING, TenderStatus.CANCELLED},
    TenderStatus.AWAITING_OPENING: {TenderStatus.OPENED, TenderStatus.CANCELLED},
    TenderStatus.OPENED: {TenderStatus.EVALUATION, TenderStatus.UNSUCCESSFUL, TenderStatus.CANCELLED},
    TenderStatus.EVALUATION: {TenderStatus.CANCELLED},  # continued by the evaluation issue
    TenderStatus.AWARD_PENDING: set(),
    TenderStatus.AWARDED: set(),
    TenderStatus.COMPLETE: set(),
    TenderStatus.CANCELLED: set(),
    TenderStatus.UNSUCCESSFUL: set(),
}


def can_transition(current: TenderStatus | str, target: TenderStatus | str) -> bool:
    return TenderStatus(target) in TENDER_TRANSITIONS.get(TenderStatus(current), set())


class LotStatus(StrEnum):
    ACTIVE = "active"
    UNSUCCESSFUL = "unsuccessful"  # 流标
    CANCELLED = "cancelled"
    COMPLETE = "complete"


LOT_TRANSITIONS: dict[LotStatus, set[LotStatus]] = {
    LotStatus.ACTIVE: {LotStatus.UNSUCCESSFUL, LotStatus.CANCELLED, LotStatus.COMPLETE},
    LotStatus.UNSUCCESSFUL: set(),
    LotStatus.CANCELLED: set(),
    LotStatus.COMPLETE: set(),
}


class Method(StrEnum):
    OPEN = "open"
    INVITATION = "invitation"
    COMPETITIVE_NEGOTIATION = "competitive_negotiation"
    COMPETITIVE_CONSULTATION = "competitive_consultation"
    INQUIRY = "inquiry"
    SINGLE_SOURCE = "single_source"


class Category(StrEnum):
    GOODS = "goods"
    SERVICES = "services"
    WORKS = "works"


class EvaluationMethod(StrEnum):
    LOWEST_PRICE = "lowest_price"
    SCORED = "scored"
    NEGOTIATED = "negotiated"


class CriterionKind(StrEnum):
    PRICE = "price"
    TECHNICAL = "technical"
    COMMERCIAL = "commercial"


class OcdsMethod(StrEnum):
    OPEN = "open"
    SELECTIVE = "selective"
    LIMITED = "limited"
    DIRECT = "direct"


TENDER_STATUS_LABELS = {
    TenderStatus.DRAFT: _l("Draft"),
    TenderStatus.ENQUIRIES: _l("Enquiry period"),
    TenderStatus.TENDERING: _l("Accepting bids"),
    TenderStatus.AWAITING_OPENING: _l("Awaiting opening"),
    TenderStatus.OPENED: _l("Opened"),
    TenderStatus.EVALUATION: _l("Evaluation"),
    TenderStatus.AWARD_PENDING: _l("Award pending"),
    TenderStatus.AWARDED: _l("Awarded"),
    TenderStatus.COMPLETE: _l("Complete"),
    TenderStatus.CANCELLED: _l("Cancelled"),
    TenderStatus.UNSUCCESSFUL: _l("Unsuccessful"),
}
LOT_STATUS_LABELS = {
    LotStatus.ACTIVE: _l("Active"),
    LotStatus.UNSUCCESSFUL: _l("Unsuccessful"),
    LotStatus.CANCELLED: _l("Cancelled"),
    LotStatus.COMPLETE: _l("Complete"),
}
METHOD_LABELS = {
    Method.OPEN: _l("Open tender"),
    Method.INVITATION: _l("Invitation tender"),
    Method.COMPETITIVE_NEGOTIATION: _l("Competitive negotiation"),
    Method.COMPETITIVE_CONSULTATION: _l("Competitive consultation"),
    Method.INQUIRY: _l("Inquiry"),
    Method.SINGLE_SOURCE: _l("Single source"),
}
CATEGORY_LABELS = {
    Category.GOODS: _l("Goods"),
    Category.SERVICES: _l("Services"),
    Category.WORKS: _l("Works"),
}
EVALUATION_METHOD_LABELS = {
    EvaluationMethod.LOWEST_PRICE: _l("Lowest price"),
    EvaluationMethod.SCORED: _l("Scored"),
    EvaluationMethod.NEGOTIATED: _l("Negotiated"),
}
CRITERION_KIND_LABELS = {
    CriterionKind.PRICE: _l("Price"),
    CriterionKind.TECHNICAL: _l("Technical"),
    CriterionKind.COMMERCIAL: _l("Commercial"),
}


class BondKind(StrEnum):
    TRANSFER = "transfer"  # bank transfer to the lot's bond account
    GUARANTEE = "guarantee"  # 保函 (bank or insurer guarantee)


class BondStatus(StrEnum):
    PENDING = "pending"  # reported / filed, awaiting finance
    CONFIRMED = "confirmed"  # money received or guarantee verified
    REJECTED = "rejected"
    REFUNDING = "refunding"  # a payout is on its way
    RELEASED = "released"  # refunded (transfer) or returned (guarantee)


BOND_TRANSITIONS: dict[BondStatus, set[BondStatus]] = {
    BondStatus.PENDING: {BondStatus.CONFIRMED, BondStatus.REJECTED, BondStatus.RELEASED},
    BondStatus.CONFIRMED: {BondStatus.REFUNDING, BondStatus.RELEASED},
    BondStatus.REFUNDING: {BondStatus.RELEASED, BondStatus.CONFIRMED},  # CONFIRMED: the payout failed
    BondStatus.REJECTED: set(),
    BondStatus.RELEASED: set(),
}


def can_transition_bond(current: BondStatus | str, target: BondStatus | str) -> bool:
    return BondStatus(target) in BOND_TRANSITIONS.get(BondStatus(current), set())


class BidStatus(StrEnum):
    DRAFT = "draft"  # parts being uploaded
    SUBMITTED = "submitted"  # the current bid of its bidder
    SUPERSEDED = "superseded"  # replaced by a later submission (ciphertext kept)
    WITHDRAWN = "withdrawn"
    OPENED = "opened"  # decrypted at the opening
    INVALID = "invalid"  # failed decryption / hash check at the opening


BID_TRANSITIONS: dict[BidStatus, set[BidStatus]] = {
    BidStatus.DRAFT: {BidStatus.SUBMITTED, BidStatus.WITHDRAWN},
    BidStatus.SUBMITTED: {BidStatus.SUPERSEDED, BidStatus.WITHDRAWN, BidStatus.OPENED, BidStatus.INVALID},
    BidStatus.SUPERSEDED: set(),
    BidStatus.WITHDRAWN: set(),
    BidStatus.OPENED: set(),
    BidStatus.INVALID: set(),
}


def can_transition_bid(current: BidStatus | str, target: BidStatus | str) -> bool:
    return BidStatus(target) in BID_TRANSITIONS.get(BidStatus(current), set())


class BidPartKind(StrEnum):
    PRICE = "price"  # {"lot_id": .., "price": fen}
    ANSWERS = "answers"  # {"criterion_id": text, ...}
    ATTACHMENT = "attachment"


BOND_KIND_LABELS = {
    BondKind.TRANSFER: _l("Bank transfer"),
    BondKind.GUARANTEE: _l("Guarantee"),
}
BOND_STATUS_LABELS = {
    BondStatus.PENDING: _l("Awaiting confirmation"),
    BondStatus.CONFIRMED: _l("Confirmed"),
    BondStatus.REJECTED: _l("Rejected"),
    BondStatus.REFUNDING: _l("Refund in progress"),
    BondStatus.RELEASED: _l("Refunded / released"),
}
BID_STATUS_LABELS = {
    BidStatus.DRAFT: _l("Draft"),
    BidStatus.SUBMITTED: _l("Submitted"),
    BidStatus.SUPERSEDED: _l("Replaced"),
    BidStatus.WITHDRAWN: _l("Withdrawn"),
    BidStatus.OPENED: _l("Opened"),
    BidStatus.INVALID: _l("Invalid"),
}


def time_status(tender: Any, now: datetime) -> TenderStatus:
    """The tender's status at `now`: published tenders move through the enquiry period,
    tendering and awaiting_opening by their dates alone (deadlines are read, not swept).

    The submission deadline itself belongs to awaiting_opening (nothing is accepted from
    the deadline on).
    """
    status = TenderStatus(tender.status)
    if status not in TIME_DRIVEN:
        return status
    enquiry_end = getattr(tender, "enquiry_end", None)
    if enquiry_end is not None and now < enquiry_end:
        return TenderStatus.ENQUIRIES
    if now < tender.submission_deadline:
        return TenderStatus.TENDERING
    return TenderStatus.AWAITING_OPENING
