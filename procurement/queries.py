"""Read-side queries of procurement: public tender search and lists.

The search reads the tender index alone (procurement.search: tokens, phrases, filters, the
order, the exact count and the stored list columns, in tantivy). Everything else here
reads the database.
"""

from __future__ import annotations

import math
import threading
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from accounts.models import Organization
from accounts.services.organizations import organizations_by_id
from core import clock, events
from core.db import after_commit, db, in_unit_of_work
from core.errors import NotFound
from procurement import search
from procurement.models import (
    DocumentDownload,
    ProcedureType,
    Question,
    Tender,
)
from procurement.states import TIME_DRIVEN, TenderStatus

__all__ = [
    "TenderSearch",
    "SearchResult",
    "search_tenders",
    "public_tender",
    "is_public",
    "published_tender",
    "answered_questions",
    "buyer_orgs",
    "BuyerChoice",
    "TenderListItem",
    "org_tenders",
    "procedure_types",
    "has_downloaded",
]

MAX_PER_PAGE = 100


# --------------------------------------------------------------------------- search


@dataclass
class TenderSearch:
    """Public search parameters (all optional). Budgets are fen; dates are local days."""

    q: str = ""
    buyer_org_id: int | None = None
    category: str | None = None
    category_code: str | None = None  # prefix
    status: str | None = None  # a TenderStatus value (clock-derived for published ones)
    method: str | None = None
    budget_min: int | None = None
    budget_max: int | None = None
    deadline_from: date | None = None
    deadline_to: date | None = None
    sort: str = "newest"  # newest | deadline
    page: int = 1
    per_page: int = 20


@dataclass
class SearchResult:
    """One page of tenders, shaped like Flask-SQLAlchemy's Pagination for the pager macro."""

    items: list[TenderListItem]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.per_page else 1

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


#: The tenders table's columns (org_tenders' status filter, on the database).
_T = Tender.__table__.c


def _status_clause(status: str, now: datetime) -> sa.ColumnElement[bool] | None:
    """SQL for "the tender's status at `now` is `status`" (see states.time_status)."""
    try:
        wanted = TenderStatus(status)
    except ValueError:
        return None
    if wanted not in TIME_DRIVEN:
        return _T.status == wanted.value
    # "not one of the other statuses": the same rows as "one of the three clock-driven
    # ones" (the list is complete, from the enum).
    published = _T.status.not_in([s.value for s in TenderStatus if s not in TIME_DRIVEN])
    in_enquiries = sa.and_(_T.enquiry_end.is_not(None), _T.enquiry_end > now)
    if wanted == TenderStatus.ENQUIRIES:
        return sa.and_(published, in_enquiries)
    if wanted == TenderStatus.TENDERING:
        return sa.and_(published, sa.not_(in_enquiries), _T.submission_deadline > now)
    return sa.and_(published, sa.not_(in_enquiries), _T.submission_deadline <= now)


@dataclass(frozen=True, slots=True)
class TenderListItem:
    """One search result: the list columns of a tender and its buyer, from the index's
    stored fields; attribute names as on Tender, so status_now() and the templates read
    either."""

    id: int
    buyer_org_id: int
    title_zh: str
    title_en: str
    category: str
    category_code: str
    method: str
    budget: int
    currency: str
    status: str
    enquiry_end: datetime | None
    submission_deadline: datetime | None
    opening_time: datetime | None
    published_at: datetime | None
    buyer: BuyerChoice


def _list_item(doc: dict[str, list]) -> TenderListItem:
    """A result from a document's stored fields ({field: [values]})."""
    def first(name: str, default: Any = None) -> Any:
        values = doc.get(name)
        return values[0] if values else default

    buyer = first("buyer")
    return TenderListItem(
        id=first("id"), buyer_org_id=buyer, title_zh=first("title_zh", ""), title_en=first("title_en", ""),
        category=first("category", ""), category_code=first("category_code", ""), method=first("method", ""),
        budget=first("budget", 0), currency=first("currency", ""), status=first("status", ""),
        enquiry_end=search.moment(first("enquiry_end")), submission_deadline=search.moment(first("deadline")),
        opening_time=search.moment(first("opening")), published_at=search.moment(first("published")),
        buyer=BuyerChoice(buyer, first("buyer_zh", ""), first("buyer_en", "")),
    )


def search_tenders(params: TenderSearch | None = None, **kwargs: Any) -> SearchResult:
    """Published tenders matching `params` (or keyword arguments of TenderSearch): one page
    of TenderListItem (the list columns and the buyer's names) and the exact count, read
    from the tender index (procurement.search) alone. The index follows the database through
    the outbox (procurement.services.search_index): once the consumer has handled a change,
    readers in other processes see it within about half a second (tantivy reloads on
    commit); a busy writer delays it by the outbox's retry."""
    params = params or TenderSearch(**kwargs)
    per_page = max(1, min(int(params.per_page or 20), MAX_PER_PAGE))
    page = max(1, int(params.page or 1))
    query = search.tender_query(
        q=params.q, buyer_org_id=params.buyer_org_id, category=params.category, category_code=params.category_code,
        status=params.status, method=params.method, budget_min=params.budget_min, budget_max=params.budget_max,
        deadline_from=params.deadline_from, deadline_to=params.deadline_to, now=clock.now())
    total, docs = search.search_page(query, sort=params.sort, offset=(page - 1) * per_page, limit=per_page)
    return SearchResult([_list_item(doc) for doc in docs], total, page, per_page)


def _attach_buyers(tenders: Sequence[Tender]) -> None:
    """Load the buyer organizations of `tenders` in one query (tender.buyer is set)."""
    orgs = organizations_by_id(t.buyer_org_id for t in tenders)
    for t in tenders:
        t.buyer = orgs.get(t.buyer_org_id)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- detail and lists


def is_public(tender: Tender) -> bool:
    """Published (anything with the status of a tender: the bids service passes its locked row)."""
    return tender.status != TenderStatus.DRAFT


def published_tender(tender_id: int) -> Tender:
    """The tender if it is published (NotFound for a draft or no such tender: a draft's
    existence is not revealed)."""
    tender = db.session.get(Tender, tender_id)
    if tender is None or not is_public(tender):
        raise NotFound()
    return tender


def public_tender(tender_id: int) -> Tender | None:
    """A tender with its lots, criteria, documents and amendments loaded, and `buyer` set."""
    tender = db.session.scalar(
        sa.select(Tender).where(Tender.id == tender_id).options(
            selectinload(Tender.lots), selectinload(Tender.criteria), selectinload(Tender.documents),
            selectinload(Tender.amendments), selectinload(Tender.custodians),
        )
    )
    if tender is not None:
        _attach_buyers([tender])
    return tender


def answered_questions(tender_id: int) -> list[Question]:
    """Answered questions of a tender, oldest first (the caller never shows the asker)."""
    return list(db.session.scalars(
        sa.select(Question).where(Question.tender_id == tender_id, Question.answered_at.is_not(None))
        .order_by(Question.answered_at, Question.id)
    ))


@dataclass(frozen=True)
class BuyerChoice:
    """A buyer of the search form's list (what the form shows of an Organization)."""

    id: int
    name_zh: str
    name_en: str


_buyer_cache: dict[str, tuple[float, list[BuyerChoice]]] = {}
_buyer_cache_lock = threading.Lock()


def buyer_orgs(max_age: float | None = None) -> list[BuyerChoice]:
    """Organizations that have published at least one tender (the buyer filter), by
    Chinese name: the buyers of the tenders the search index holds (published_at set).

    A small list that changes rarely, asked for by every search page: it is cached per
    process for `max_age` seconds (config PROCUREMENT_BUYER_LIST_SECONDS, default 60; 0 in
    testing) and dropped once this process commits a tender leaving draft or an
    organization's new name. One index probe per organization (EXISTS), not a DISTINCT over
    every tender."""
    if max_age is None:
        max_age = current_app.config.get("PROCUREMENT_BUYER_LIST_SECONDS", 0 if current_app.testing else 60)
    key = db.engine.url.render_as_string(hide_password=True)
    if max_age > 0:
        cached = _buyer_cache.get(key)
        if cached is not None and _time.monotonic() - cached[0] < max_age:
            return cached[1]
    published = sa.select(Tender.id).where(
        Tender.buyer_org_id == Organization.id, Tender.status != TenderStatus.DRAFT.value,
        Tender.published_at.is_not(None)).exists()
    buyers = [BuyerChoice(row.id, row.name_zh or "", row.name_en or "") for row in db.session.execute(
        sa.select(Organization.id, Organization.name_zh, Organization.name_en)
        .where(published).order_by(Organization.name_zh, Organization.id))]
    if max_age > 0:
        with _buyer_cache_lock:
            _buyer_cache[key] = (_time.monotonic(), buyers)
    return buyers


def forget_buyer_list() -> None:
    """Drop the cached buyer list of this process once the current unit of work commits (a
    tender left draft: tenders._move; an organization was renamed). Not before: another
    request could cache the list again as it was meanwhile."""
    if in_unit_of_work():
        after_commit(_clear_buyer_list)
    else:
        _clear_buyer_list()


def _clear_buyer_list() -> None:
    with _buyer_cache_lock:
        _buyer_cache.clear()


def _on_organization_renamed(_sender: str, **_: Any) -> None:
    forget_buyer_list()


events.organization_renamed.connect(_on_organization_renamed, weak=False)


def org_tenders(org_id: int, status: str | None = None) -> list[Tender]:
    """Every tender of a buyer organization (drafts included), newest first."""
    stmt = sa.select(Tender).where(Tender.buyer_org_id == org_id)
    if status:
        clause = _status_clause(status, clock.now())
        if clause is not None:
            stmt = stmt.where(clause)
    return list(db.session.scalars(stmt.order_by(Tender.id.desc())))


def procedure_types() -> list[ProcedureType]:
    return list(db.session.scalars(sa.select(ProcedureType).order_by(ProcedureType.id)))


def has_downloaded(tender_id: int, user_id: int) -> bool:
    """Whether this user downloaded the documents (shown to that user only)."""
    return db.session.scalar(
        sa.select(DocumentDownload.id).where(DocumentDownload.tender_id == tender_id,
                                             DocumentDownload.user_id == user_id)
    ) is not None
