"""The public tender search index: tokens, the index's documents and its query.

Published tenders are indexed in `TENDER_INDEX` (core.search, tantivy); the database stays
the truth and the index is its read model: it finds, counts and orders the matches, and
stores the columns a result list shows, so a page of results is read from the index alone
(no database round trip; a tender's page reads the database).

Tokens. Chinese has no spaces, and a two-character term (设备) must hit: every run of CJK
characters gives each character and each two-character bigram as a token, latin/digit
words are lower-cased (NFKC, so full-width letters match) and kept whole. A query is split
the same way: a latin word matches as a prefix of an indexed word, a 1- or 2-character CJK
term matches its token, and a longer CJK term must appear as written: its bigrams, in
order, at consecutive positions of one run of text (a phrase query on `bigrams`, which
holds every run's bigram sequence, runs separated by a token no text produces).

What a document holds: the tokens of the titles, descriptions, the buyer's names and the
category code; the raw status, method and category; every prefix of the category code;
the buyer's id; the budget in fen; the enquiry end and submission deadline (microseconds
since the epoch, absent when empty: the clock-derived statuses are ranges on them at
query time); and two sort keys, (publication second, id) and (deadline second, id), so a
page of "newest" or "by deadline" is ordered in the index with the id breaking ties; and,
stored, the list columns (titles, the buyer's names, code, currency, opening and
publication times). Drafts are never indexed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
import tantivy

from accounts.models import Organization
from core import clock
from core.db import db
from core.search import QueryBuilder, SearchIndex
from procurement.models import Tender
from procurement.states import TIME_DRIVEN, TenderStatus

MAX_QUERY_TERMS = 12
#: Longest token kept (a query word is cut to the same length, and matches as a prefix).
MAX_TOKEN = 60
#: Between two runs of CJK text in `bigrams`: no text yields it, so no phrase spans runs.
RUN_BREAK = "|"

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


def _bigrams(run: str) -> list[str]:
    return [run[i:i + 2] for i in range(len(run) - 1)]


def search_tokens_for(*texts: str | None) -> str:
    """Lower-cased latin/digit words, and every CJK character and CJK bigram, of `texts`,
    de-duplicated (first occurrence order) and space separated."""
    seen: dict[str, None] = {}
    for text in texts:
        for is_cjk, run in _runs(text or ""):
            for token in ([*run, *_bigrams(run)] if is_cjk else [run[:MAX_TOKEN]]):
                seen.setdefault(token, None)
    return " ".join(seen)


def bigram_runs_for(*texts: str | None) -> str:
    """Each CJK run's bigrams in order, runs separated by RUN_BREAK (for phrase queries)."""
    runs = [" ".join(_bigrams(run)) for text in texts for is_cjk, run in _runs(text or "") if is_cjk and len(run) > 1]
    return f" {RUN_BREAK} ".join(runs)


@dataclass(frozen=True)
class QueryTerms:
    """A keyword query split like the indexed tokens."""

    words: tuple[str, ...] = ()  # latin/digit words (prefix match)
    cjk_tokens: tuple[str, ...] = ()  # 1- and 2-character CJK terms (exact token)
    cjk_phrases: tuple[str, ...] = ()  # CJK terms of 3+ characters (bigrams in order)

    def __bool__(self) -> bool:
        return bool(self.words or self.cjk_tokens or self.cjk_phrases)


def query_terms(q: str | None) -> QueryTerms:
    words: dict[str, None] = {}
    tokens: dict[str, None] = {}
    phrases: dict[str, None] = {}
    for is_cjk, run in _runs((q or "")[:200]):
        if not is_cjk:
            words.setdefault(run[:MAX_TOKEN], None)
        elif len(run) <= 2:
            tokens.setdefault(run, None)
        else:
            phrases.setdefault(run[:MAX_TOKEN], None)
    return QueryTerms(tuple(words)[:MAX_QUERY_TERMS], tuple(tokens)[:MAX_QUERY_TERMS],
                      tuple(phrases)[:MAX_QUERY_TERMS])


# --------------------------------------------------------------------------- the index


def _schema(builder: tantivy.SchemaBuilder) -> None:
    builder.add_integer_field("id", indexed=True, fast=True, stored=True)
    builder.add_text_field("tokens", tokenizer_name="whitespace", index_option="basic")
    builder.add_text_field("bigrams", tokenizer_name="whitespace", index_option="position")
    builder.add_text_field("code", tokenizer_name="raw", index_option="basic")
    for name in ("status", "method", "category"):
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic", stored=True)
    builder.add_integer_field("buyer", indexed=True, stored=True)
    for name in ("budget", "enquiry_end", "deadline"):
        builder.add_integer_field(name, indexed=True, fast=True, stored=True)
    for name in ("newest", "soonest"):
        builder.add_integer_field(name, fast=True)
    # Shown in a result list, never searched on (text fields are indexed whole: one term).
    for name in ("title_zh", "title_en", "buyer_zh", "buyer_en", "category_code", "currency"):
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic", stored=True)
    for name in ("opening", "published"):
        builder.add_integer_field(name, stored=True)


#: Sort keys count seconds from here (32 bits: until 2156) above the tender id (31 bits).
_KEY_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_ID_BITS = 31
_LAST = (1 << 32) - 1  # a tender without a deadline sorts after every dated one
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _aware(moment: datetime) -> datetime:
    """A naive value is UTC; an aware one is kept as it is (not clock.as_utc: converting
    the first day of year 1 in Beijing time to UTC overflows, subtracting it does not)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch (the index's time fields)."""
    delta = _aware(moment) - _UNIX_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _sort_key(moment: datetime | None, tender_id: int) -> int:
    if moment is None:
        return (_LAST << _ID_BITS) | tender_id
    seconds = min(max(int((_aware(moment) - _KEY_EPOCH).total_seconds()), 0), _LAST - 1)
    return (seconds << _ID_BITS) | tender_id


def moment(value: int | None) -> datetime | None:
    """The datetime (UTC) of a time field's microseconds."""
    return None if value is None else _UNIX_EPOCH + timedelta(microseconds=value)


#: The columns a document is made of (a tender joined with its buyer).
_DOCUMENT_COLUMNS = (
    Tender.id, Tender.title_zh, Tender.title_en, Tender.description_zh, Tender.description_en,
    Tender.category, Tender.category_code, Tender.method, Tender.status, Tender.budget, Tender.currency,
    Tender.enquiry_end, Tender.submission_deadline, Tender.opening_time, Tender.published_at, Tender.buyer_org_id,
    Organization.name_zh, Organization.name_en,
)


def indexed_rows() -> sa.Select:
    """Published tenders (a draft cancelled before publication never was public)."""
    return (sa.select(*_DOCUMENT_COLUMNS).join(Organization, Organization.id == Tender.buyer_org_id)
            .where(Tender.status != TenderStatus.DRAFT.value, Tender.published_at.is_not(None)))


def document(row) -> tantivy.Document:
    (tender_id, title_zh, title_en, description_zh, description_en, category, category_code, method, status,
     budget, currency, enquiry_end, deadline, opening, published_at, buyer_id, buyer_zh, buyer_en) = row
    code = (category_code or "").strip()
    texts = (title_zh, title_en, description_zh, description_en, buyer_zh, buyer_en)
    doc = tantivy.Document(
        id=tender_id, tokens=search_tokens_for(*texts, code), bigrams=bigram_runs_for(*texts),
        status=status, method=method, category=category, buyer=buyer_id, budget=int(budget or 0),
        newest=_sort_key(published_at, tender_id), soonest=_sort_key(deadline, tender_id),
        title_zh=title_zh or "", title_en=title_en or "", buyer_zh=buyer_zh or "", buyer_en=buyer_en or "",
        category_code=category_code or "", currency=currency or "",
    )
    for n in range(1, len(code) + 1):
        doc.add_text("code", code[:n])
    for name, value in (("enquiry_end", enquiry_end), ("deadline", deadline), ("opening", opening),
                        ("published", published_at)):
        if value is not None:
            doc.add_integer(name, micros(value))
    return doc


def _fill(writer: tantivy.IndexWriter) -> int:
    count = 0
    with db.engine.connect() as conn:
        result = conn.execution_options(yield_per=2000).execute(indexed_rows().order_by(Tender.id))
        for row in result:
            writer.add_document(document(row))
            count += 1
    return count


TENDER_INDEX = SearchIndex("tenders", 2, _schema, _fill)


def reindex_tenders(tender_ids: Iterable[int]) -> int:
    """Rewrite the documents of these tenders from the database (a draft or a missing
    tender leaves none); returns how many documents they now have.

    The rows are read while this process holds the index's writer, on a connection of
    their own (a statement sees every transaction committed before it): of two messages
    about one tender handled at once, the one that writes last also read last, so a
    slower handler never puts an older row back."""
    ids = sorted({int(i) for i in tender_ids})
    if not ids:
        return 0
    with TENDER_INDEX.writer() as writer:
        with db.engine.connect() as conn:
            rows = conn.execute(indexed_rows().where(Tender.id.in_(ids))).all()
        for tender_id in ids:
            writer.delete_documents_by_term("id", tender_id)
        for row in rows:
            writer.add_document(document(row))
    return len(rows)


# --------------------------------------------------------------------------- query


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.LOCAL_TZ)


#: Published statuses the clock does not drive (a draft is never indexed, listed anyway).
_SETTLED = sorted(s.value for s in TenderStatus if s not in TIME_DRIVEN)


def _status(query: QueryBuilder, status: str, now: int) -> None:
    """The tender's status at `now` (microseconds) is `status` (see states.time_status).

    A clock-driven status is a date range that is not one of the settled statuses: "not
    settled" rather than "one of the three clock-driven ones" (the same documents: the
    lists are complementary), so the index walks the range's few thousand documents
    instead of the ~85% of all tenders that are clock-driven (0.6 against 0.9 ms)."""
    try:
        wanted = TenderStatus(status)
    except ValueError:
        return  # an unknown status filters nothing (the form and the API validate it)
    if wanted not in TIME_DRIVEN:
        query.must(query.term("status", wanted.value))
        return
    in_enquiries = query.int_range("enquiry_end", now, include_low=False)
    if wanted == TenderStatus.ENQUIRIES:
        query.must(in_enquiries)
    else:
        query.must_not(in_enquiries)
        if wanted == TenderStatus.TENDERING:
            query.must(query.int_range("deadline", now, include_low=False))
        else:
            query.must(query.int_range("deadline", None, now))
    query.must_not(query.any_term("status", _SETTLED))


#: Integer fields hold signed 64 bits: a bound beyond them bounds nothing (clamped), an id
#: beyond them matches nothing.
_I64_MAX = (1 << 63) - 1


def _clamp(value: int) -> int:
    return max(-_I64_MAX, min(int(value), _I64_MAX))


def tender_query(*, q: str = "", buyer_org_id: int | None = None, category: str | None = None,
                 category_code: str | None = None, status: str | None = None, method: str | None = None,
                 budget_min: int | None = None, budget_max: int | None = None, deadline_from: date | None = None,
                 deadline_to: date | None = None, now: datetime) -> tantivy.Query:
    query = TENDER_INDEX.query()
    terms = query_terms(q)
    for word in terms.words:
        query.must(query.prefix("tokens", word))
    for token in terms.cjk_tokens:
        query.must(query.term("tokens", token))
    for phrase in terms.cjk_phrases:
        query.must(query.phrase("bigrams", _bigrams(phrase)))
    if buyer_org_id:
        query.must(query.term("buyer", int(buyer_org_id)) if 0 < buyer_org_id <= _I64_MAX else query.nothing())
    if category:
        query.must(query.term("category", category))
    code = (category_code or "").strip()
    if code:
        query.must(query.term("code", code))
    if status:
        _status(query, status, micros(now))
    if method:
        query.must(query.term("method", method))
    if budget_min is not None or budget_max is not None:
        query.must(query.int_range("budget", None if budget_min is None else _clamp(budget_min),
                                   None if budget_max is None else _clamp(budget_max)))
    if deadline_from is not None or deadline_to is not None:
        low = micros(_day_start(deadline_from)) if deadline_from is not None else None
        high = None if deadline_to is None or deadline_to >= date.max else micros(
            _day_start(deadline_to + timedelta(days=1)))
        if low is not None or high is not None:  # (to the last day there is: no upper bound)
            query.must(query.int_range("deadline", low, high, include_high=high is None))
    return query.build()


#: Results reachable by paging (tantivy keeps offset + limit candidates per segment: an
#: unbounded page number would be unbounded memory). A page beyond is empty.
MAX_OFFSET = 10_000


def search_page(query: tantivy.Query, *, sort: str, offset: int, limit: int) -> tuple[int, list[dict]]:
    """(how many tenders match, the stored fields of one page's documents in the sort's
    order: {field: [values]})."""
    searcher = TENDER_INDEX.searcher()
    if offset > MAX_OFFSET:
        return searcher.search(query, limit=1, count=True).count, []
    field, order = ("soonest", tantivy.Order.Asc) if sort == "deadline" else ("newest", tantivy.Order.Desc)
    result = searcher.search(query, limit=limit, offset=offset, count=True, order_by_field=field, order=order)
    return result.count, [searcher.doc(address).to_dict() for _key, address in result.hits]
