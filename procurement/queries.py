"""Read-side queries of procurement: public tender search and lists.

Search works on `Tender.search_tokens`, a space-separated bag of lower-cased latin/digit
words plus, for every run of CJK characters, each single character and each 2-character
bigram (so 1- and 2-character Chinese terms are found without a Chinese tokenizer).

A keyword query is split the same way: a latin word matches as a prefix of a stored
word; a 1- or 2-character CJK term matches its token exactly; a longer CJK term needs
all its bigrams and is then re-checked as a substring of each text (the bigrams alone
do not guarantee they are adjacent; the re-check only runs on rows the tokens matched).

On PostgreSQL the tokens are also stored as a tsvector: the generated column
`tenders.search_vector` (SEARCH_VECTOR_DDL, created by migration 0005 and by the test
set-up; not in the SQLAlchemy model) with the GIN index `ix_tenders_search_vector`.
It is built with `array_to_tsvector` from exactly our tokens (no text parser, no
positions: small), kept inline in the row (STORAGE MAIN, while `search_tokens` goes
out of line), so checking a row costs no function call and no TOAST fetch: the planner
may walk `ix_tenders_published_at` and test each row for frequent terms, or take the
GIN bitmap for rare ones, and both are cheap. The tsquery is built only from our own
tokens (letters, digits, CJK), quoted, never from raw user syntax, and sent as a literal
so every query is planned with its own term frequencies. On SQLite each token is a LIKE.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time as _time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import selectinload

from accounts.models import Organization
from accounts.services.organizations import organizations_by_id
from core import clock
from core.db import db
from core.errors import NotFound
from procurement.models import (
    DocumentDownload,
    ProcedureType,
    Question,
    Tender,
)
from procurement.states import TIME_DRIVEN, TenderStatus

__all__ = [
    "COUNT_CAP",
    "SORT_CAP",
    "TenderSearch",
    "SearchResult",
    "search_tokens_for",
    "query_terms",
    "refresh_search_tokens",
    "search_tenders",
    "public_tender",
    "is_public",
    "published_tender",
    "answered_questions",
    "buyer_orgs",
    "BuyerChoice",
    "TenderListItem",
    "SEARCH_VECTOR_DDL",
    "SEARCH_VECTOR_DROP",
    "install_search_vector",
    "org_tenders",
    "procedure_types",
    "has_downloaded",
]

#: Counting stops here: "more than 200 results" is all a visitor needs to know (narrow
#: the search), and it keeps the count cheap on a large table: a COUNT over a LIMIT-ed
#: subquery reads at most this many matching rows, whatever the term's frequency. The
#: pager still offers the next page while pages are full.
COUNT_CAP = 200
#: Up to this many matches the page is sorted from the matching (id, sort key) pairs, in
#: the same statement that counts them (top-N sort in the database: only the page's ids
#: come back to Python); beyond it the page is read walking the ordered index. Measured
#: on 100,000 tenders: 2,000 costs 13-40 ms for frequent terms (a bitmap heap scan of
#: 2,000 blocks) against about 1 ms for a walk meeting a page within ~1,000 index rows.
SORT_CAP = 200
MAX_PER_PAGE = 100
MAX_QUERY_TERMS = 12

#: PostgreSQL only (migration 0005 runs the same statements, tests/conftest.py runs these
#: after create_all; tests/procurement/test_search.py checks the two are equal). The
#: column is generated from `search_tokens`: nothing in the app writes it.
SEARCH_VECTOR_DDL = (
    "ALTER TABLE tenders ALTER COLUMN search_tokens SET STORAGE EXTERNAL",
    "ALTER TABLE tenders ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
    "(array_to_tsvector(array_remove(string_to_array(search_tokens, ' '), ''))) STORED",
    "ALTER TABLE tenders ALTER COLUMN search_vector SET STORAGE MAIN",
    "CREATE INDEX ix_tenders_search_vector ON tenders USING gin (search_vector)",
)
SEARCH_VECTOR_DROP = (
    "DROP INDEX IF EXISTS ix_tenders_search_vector",
    "ALTER TABLE tenders DROP COLUMN IF EXISTS search_vector",
    "ALTER TABLE tenders ALTER COLUMN search_tokens SET STORAGE EXTENDED",
)


# --------------------------------------------------------------------------- tokens


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x3400 <= cp <= 0x4DBF  # CJK extension A
        or 0x4E00 <= cp <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= cp <= 0xFAFF  # compatibility ideographs
        or 0x20000 <= cp <= 0x3134F  # extensions B..G
    )


def _runs(text: str) -> list[tuple[bool, str]]:
    """Split `text` into (is_cjk, run) pieces of CJK characters or letters/digits."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    runs: list[tuple[bool, str]] = []
    current: list[str] = []
    kind: bool | None = None
    for ch in text:
        if _is_cjk(ch):
            this: bool | None = True
        elif ch.isalnum():
            this = False
        else:
            this = None
        if this != kind and current:
            runs.append((bool(kind), "".join(current)))
            current = []
        kind = this
        if this is not None:
            current.append(ch)
    if current:
        runs.append((bool(kind), "".join(current)))
    return runs


def _cjk_tokens(run: str) -> list[str]:
    return list(run) + [run[i:i + 2] for i in range(len(run) - 1)]


def search_tokens_for(*texts: str | None) -> str:
    """Lower-cased latin/digit words, and every CJK character and CJK bigram, of `texts`,
    de-duplicated (first occurrence order) and space separated."""
    seen: dict[str, None] = {}
    for text in texts:
        for is_cjk, run in _runs(text or ""):
            for token in (_cjk_tokens(run) if is_cjk else [run]):
                seen.setdefault(token, None)
    return " ".join(seen)


@dataclass(frozen=True)
class QueryTerms:
    """A keyword query split like the stored tokens."""

    words: tuple[str, ...] = ()  # latin/digit words (prefix match)
    cjk_tokens: tuple[str, ...] = ()  # 1- and 2-character CJK tokens (exact match)
    cjk_phrases: tuple[str, ...] = ()  # CJK terms of 3+ characters (substring re-check)

    def __bool__(self) -> bool:
        return bool(self.words or self.cjk_tokens)


def query_terms(q: str | None) -> QueryTerms:
    words: dict[str, None] = {}
    tokens: dict[str, None] = {}
    phrases: dict[str, None] = {}
    for is_cjk, run in _runs((q or "")[:200]):
        if not is_cjk:
            words.setdefault(run[:60], None)
        elif len(run) <= 2:
            tokens.setdefault(run, None)
        else:
            phrases.setdefault(run[:60], None)
            for i in range(len(run) - 1):
                tokens.setdefault(run[i:i + 2], None)
    return QueryTerms(tuple(words)[:MAX_QUERY_TERMS], tuple(tokens)[:MAX_QUERY_TERMS * 3],
                      tuple(phrases)[:MAX_QUERY_TERMS])


def refresh_search_tokens(tender: Tender) -> None:
    """Recompute `tender.search_tokens` (inside the caller's unit of work)."""
    forget_buyer_list()
    buyer = db.session.get(Organization, tender.buyer_org_id) if tender.buyer_org_id else None
    tender.search_tokens = search_tokens_for(
        tender.title_zh, tender.title_en, tender.description_zh, tender.description_en,
        buyer.name_zh if buyer else "", buyer.name_en if buyer else "", tender.category_code,
    )


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
    capped: bool = False  # the total is at least `total` (counting stopped at COUNT_CAP)
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        pages = max(1, math.ceil(self.total / self.per_page)) if self.per_page else 1
        if self.capped and len(self.items) == self.per_page:
            pages = max(pages, self.page + 1)  # counting stopped: a full page may have a next one
        return pages

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


#: Search is written with the tables' columns (Core): no ORM entity is loaded, and Core
#: columns build a statement with less work per request than the mapped attributes.
_T = Tender.__table__.c
_O = Organization.__table__.c


def _status_clause(status: str, now: datetime) -> sa.ColumnElement[bool] | None:
    """SQL for "the tender's status at `now` is `status`" (see states.time_status)."""
    try:
        wanted = TenderStatus(status)
    except ValueError:
        return None
    if wanted == TenderStatus.DRAFT:
        return sa.false()
    if wanted not in TIME_DRIVEN:
        return _T.status == wanted.value
    # "not one of the other statuses" rather than "one of the three clock-driven ones": the
    # same rows (the list is complete, from the enum), but not an index condition: the
    # three statuses are most published tenders, and as an index condition PostgreSQL ANDs
    # a bitmap of all of them with the deadline's (8-9 ms at 100,000 tenders, against 1 ms
    # for a scan or the keyword index filtered by it).
    published = _T.status.not_in([s.value for s in TenderStatus if s not in TIME_DRIVEN])
    in_enquiries = sa.and_(_T.enquiry_end.is_not(None), _T.enquiry_end > now)
    if wanted == TenderStatus.ENQUIRIES:
        return sa.and_(published, in_enquiries)
    if wanted == TenderStatus.TENDERING:
        return sa.and_(published, sa.not_(in_enquiries), _T.submission_deadline > now)
    return sa.and_(published, sa.not_(in_enquiries), _T.submission_deadline <= now)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.LOCAL_TZ)


def _is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def install_search_vector(conn: sa.Connection) -> None:
    """Create the search column and its index on a PostgreSQL connection (tests, after
    `create_all`); a no-op elsewhere or when the column exists."""
    if conn.dialect.name != "postgresql":
        return
    exists = conn.scalar(sa.text(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'tenders' AND column_name = 'search_vector'"
        " AND table_schema = current_schema()"))
    if not exists:
        for statement in SEARCH_VECTOR_DDL:
            conn.exec_driver_sql(statement)


#: The generated tsvector column (PostgreSQL only; not part of the model).
_SEARCH_VECTOR = sa.literal_column("tenders.search_vector", type_=postgresql.TSVECTOR)


def _tsquery(terms: QueryTerms) -> str:
    """`'word':* & 'token' ...` from our own tokens: letters, digits and CJK only (see
    _runs), so quoting them leaves no tsquery or SQL syntax to the user."""
    parts = [f"'{w}':*" for w in terms.words] + [f"'{t}'" for t in terms.cjk_tokens]
    return " & ".join(parts)


def _phrase_clause(phrase: str) -> sa.ColumnElement[bool]:
    """`phrase` (CJK, no spaces) is a substring of a title, a description or the buyer's
    name: field by field (a phrase without spaces cannot span two of them), the buyers
    through one uncorrelated subquery (evaluated once, not per row)."""
    pattern = f"%{_like_escape(phrase)}%"
    buyers = sa.select(_O.id).where(sa.or_(
        _O.name_zh.like(pattern, escape="\\"), _O.name_en.like(pattern, escape="\\"))).correlate(None)
    return sa.or_(*(col.like(pattern, escape="\\") for col in (
        _T.title_zh, _T.description_zh, _T.title_en, _T.description_en)),
        _T.buyer_org_id.in_(buyers))


def _keyword_clauses(terms: QueryTerms) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if not terms:
        return clauses
    if _is_postgres():
        # A literal (rendered and escaped by SQLAlchemy at execution): the planner sees
        # the terms, also when the driver prepares the statement.
        query = sa.cast(sa.bindparam("tsquery", _tsquery(terms), literal_execute=True), postgresql.TSQUERY)
        clauses.append(_SEARCH_VECTOR.op("@@")(query))
    else:
        padded = sa.literal(" ") + _T.search_tokens
        for w in terms.words:
            clauses.append(padded.like(f"% {_like_escape(w)}%", escape="\\"))
        padded_both = padded + sa.literal(" ")
        for t in terms.cjk_tokens:
            clauses.append(padded_both.like(f"% {_like_escape(t)} %", escape="\\"))
    clauses += [_phrase_clause(phrase) for phrase in terms.cjk_phrases]
    return clauses


#: Published at some time (a draft cancelled before publication never was public); also
#: keeps the NULLs a backward walk of ix_tenders_published_at would meet first. Built
#: once: a clause is immutable and goes into every search.
_PUBLISHED = (_T.status != sa.literal_column(f"'{TenderStatus.DRAFT.value}'"), _T.published_at.is_not(None))


def _filters(params: TenderSearch, now: datetime) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = list(_PUBLISHED)
    where += _keyword_clauses(query_terms(params.q))
    if params.buyer_org_id:
        where.append(_T.buyer_org_id == params.buyer_org_id)
    if params.category:
        where.append(_T.category == params.category)
    if params.category_code:
        code = params.category_code.strip()
        if code:
            where.append(_T.category_code.like(f"{_like_escape(code)}%", escape="\\"))
    if params.status:
        clause = _status_clause(params.status, now)
        if clause is not None:
            where.append(clause)
    if params.method:
        where.append(_T.method == params.method)
    if params.budget_min is not None:
        where.append(_T.budget >= params.budget_min)
    if params.budget_max is not None:
        where.append(_T.budget <= params.budget_max)
    if params.deadline_from is not None:
        where.append(_T.submission_deadline >= _day_start(params.deadline_from))
    if params.deadline_to is not None:
        where.append(_T.submission_deadline < _day_start(params.deadline_to + timedelta(days=1)))
    return where


@dataclass(frozen=True, slots=True)
class TenderListItem:
    """One search result: the list columns of a tender and its buyer, read as plain rows
    (a page is 20 tuples, not 40 ORM objects with an identity map and loader state);
    attribute names as on Tender, so status_now() and the templates read either."""

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


#: The columns a result list shows or needs (status_now reads the dates): the row's
#: fields, in their order (rows are read positionally).
LIST_COLUMNS = tuple(f.name for f in dataclasses.fields(TenderListItem) if f.name != "buyer")
_LIST_SELECT = tuple(getattr(_T, name) for name in LIST_COLUMNS)
#: A page's rows by id, with the buyer's names (built once: the same statement for every
#: search whose matches are sorted in the database).
_PAGE_ROWS = (sa.select(*_LIST_SELECT, _O.name_zh, _O.name_en)
              .join(Organization.__table__, _O.id == _T.buyer_org_id)
              .where(_T.id.in_(sa.bindparam("ids", expanding=True))))


def search_tenders(params: TenderSearch | None = None, **kwargs: Any) -> SearchResult:
    """Published tenders matching `params` (or keyword arguments of TenderSearch), one page
    of TenderListItem rows (the list columns and the buyer's names).

    One statement takes up to SORT_CAP + 1 matching (id, sort key) pairs, counts them and
    sorts the page's ids from them (top-N, in the database); the page's rows are then read
    by primary key (plain rows of LIST_COLUMNS, no ORM objects): no plan walks an ordered
    index past thousands of rows hoping for a few matches (terms frequent alone but rare
    together: 系统 + goods). Only with more than SORT_CAP matches (a frequent filter, so
    matches come quickly) is the page read in index order. The total shown stops at
    COUNT_CAP (`capped`): "more than 200 results" is all a visitor needs to know."""
    params = params or TenderSearch(**kwargs)
    now = clock.now()
    per_page = max(1, min(int(params.per_page or 20), MAX_PER_PAGE))
    page = max(1, int(params.page or 1))
    where = _filters(params, now)
    if params.sort == "deadline":
        # ix_tenders_submission_deadline; a tender without a deadline comes last
        key_col = _T.submission_deadline
        order = [_T.submission_deadline.asc(), _T.id.asc()]
    else:
        # Newest publication first (ix_tenders_published_at: a page is read from the
        # index without sorting every match).
        key_col = _T.published_at
        order = [_T.published_at.desc(), _T.id.desc()]
    cap = COUNT_CAP
    # Up to SORT_CAP + 1 matches (id, sort key), unordered: the GIN bitmap for rare
    # terms, a short scan stopping at the limit for frequent ones. The page is sorted
    # from them in the database (top-N: only the page's ids and the count come back).
    matched = sa.select(_T.id.label("id"), key_col.label("k")).where(*where).limit(SORT_CAP + 1).cte("matched")
    if params.sort == "deadline":
        page_order = [matched.c.k.asc().nulls_last(), matched.c.id.asc()]
    else:
        page_order = [matched.c.k.desc(), matched.c.id.desc()]
    count = sa.select(sa.func.count()).select_from(matched).scalar_subquery()
    # Core statements on the session's connection (same transaction): no ORM entity is
    # loaded, so the session's ORM execution layer would only add work.
    conn = db.session.connection()
    page_rows = conn.execute(
        sa.select(matched.c.id, count.label("n")).order_by(*page_order)
        .offset((page - 1) * per_page).limit(per_page)).all()
    if page_rows:
        total = page_rows[0][1]
    else:
        total = conn.scalar(sa.select(count))
    capped = total > cap
    in_order = total <= SORT_CAP
    if in_order:
        ids = [r[0] for r in page_rows]
        if not ids:
            return SearchResult([], min(total, cap), page, per_page, capped)
        result = conn.execute(_PAGE_ROWS, {"ids": ids})
    else:
        # Frequent terms or filters (over SORT_CAP matches): the page comes soon when
        # walking the ordered index.
        result = conn.execute(
            sa.select(*_LIST_SELECT, _O.name_zh, _O.name_en)
            .join(Organization.__table__, _O.id == _T.buyer_org_id)
            .where(*where).order_by(*order).offset((page - 1) * per_page).limit(per_page))
    width = len(LIST_COLUMNS)
    rows = [TenderListItem(*row[:width], buyer=BuyerChoice(row[1], row[width] or "", row[width + 1] or ""))
            for row in result]
    if in_order:
        position = {tender_id: n for n, tender_id in enumerate(ids)}
        rows.sort(key=lambda t: position[t.id])
    return SearchResult(rows, min(total, cap), page, per_page, capped)


def _attach_buyers(tenders: Sequence[Tender]) -> None:
    """Load the buyer organizations of `tenders` in one query (tender.buyer is set)."""
    orgs = organizations_by_id(t.buyer_org_id for t in tenders)
    for t in tenders:
        t.buyer = orgs.get(t.buyer_org_id)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- detail and lists


def is_public(tender: Tender) -> bool:
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
    Chinese name.

    A small list that changes rarely, asked for by every search page: it is cached per
    process for `max_age` seconds (config PROCUREMENT_BUYER_LIST_SECONDS, default 60; 0 in
    testing) and dropped whenever this process changes a tender's search tokens. One
    index probe per organization (EXISTS), not a DISTINCT over every tender."""
    if max_age is None:
        max_age = current_app.config.get("PROCUREMENT_BUYER_LIST_SECONDS", 0 if current_app.testing else 60)
    key = db.engine.url.render_as_string(hide_password=True)
    if max_age > 0:
        cached = _buyer_cache.get(key)
        if cached is not None and _time.monotonic() - cached[0] < max_age:
            return cached[1]
    published = sa.select(Tender.id).where(
        Tender.buyer_org_id == Organization.id, Tender.status != TenderStatus.DRAFT.value).exists()
    buyers = [BuyerChoice(row.id, row.name_zh or "", row.name_en or "") for row in db.session.execute(
        sa.select(Organization.id, Organization.name_zh, Organization.name_en)
        .where(published).order_by(Organization.name_zh, Organization.id))]
    if max_age > 0:
        with _buyer_cache_lock:
            _buyer_cache[key] = (_time.monotonic(), buyers)
    return buyers


def forget_buyer_list() -> None:
    """Drop the cached buyer list of this process (a tender was created or changed)."""
    with _buyer_cache_lock:
        _buyer_cache.clear()


def org_tenders(org_id: int, status: str | None = None) -> list[Tender]:
    """Every tender of a buyer organization (drafts included), newest first."""
    stmt = sa.select(Tender).where(Tender.buyer_org_id == org_id)
    if status:
        clause = _status_clause(status, clock.now()) if status != TenderStatus.DRAFT else (
            Tender.status == TenderStatus.DRAFT.value)
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
