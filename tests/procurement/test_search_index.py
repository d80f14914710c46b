"""The tender search index follows the database: every change of what a document holds goes
through an outbox message (committed with the change, applied after commit, retried until
it succeeds), `flask search rebuild` and
the sweep rewrite it from the rows, results carry the rows' list columns, and odd input
(huge pages, numbers, dates) gets a page, never an error."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import tantivy

from core import clock, outbox
from core import search as core_search
from core.db import db, unit_of_work
from core.models.outbox import OutboxMessage, OutboxStatus
from core.tasks import SWEEPS
from procurement import search
from procurement.models import Tender
from procurement.queries import TenderSearch, search_tenders
from procurement.services import amendments
from procurement.services import search_index as index_svc
from procurement.services import tenders as svc
from tests.procurement.factories import NOW, draft_tender, make_buyer, published_tender


@pytest.fixture(autouse=True)
def _frozen_clock():
    clock.set_time(NOW)
    yield
    clock.reset()


def _ids(**kwargs) -> list[int]:
    return [t.id for t in search_tenders(TenderSearch(**kwargs)).items]


def _documents(tender_id: int) -> int:
    """How many documents the index holds for this tender."""
    searcher = search.TENDER_INDEX.searcher()
    return searcher.search(search.TENDER_INDEX.query().must(
        search.TENDER_INDEX.query().term("id", tender_id)).build(), limit=1).count


def _messages() -> list[OutboxMessage]:
    return list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == index_svc.KIND)
                                   .order_by(OutboxMessage.id)))


def test_publishing_sends_one_message_and_indexes_the_tender():
    buyer = make_buyer(2)
    tender = draft_tender(buyer)
    assert _messages() == [] and _documents(tender.id) == 0  # drafts are not indexed
    svc.publish(tender, buyer.officer)
    [message] = _messages()
    assert message.payload == {"tender_ids": [tender.id]} and message.status == OutboxStatus.SENT
    assert _documents(tender.id) == 1 and _ids(q="办公") == [tender.id]


def test_cancelling_moves_the_tender_to_the_cancelled_filter():
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    svc.cancel(tender, buyer.officer, "Budget withdrawn")
    assert _ids(status="cancelled") == [tender.id] and _ids(status="active.enquiries") == []
    assert _documents(tender.id) == 1


def test_an_amended_deadline_is_searched_at_its_new_date():
    buyer = make_buyer(2)
    tender = published_tender(buyer)  # deadline NOW + 30 days (2026-04-01 Beijing)
    new_deadline = tender.submission_deadline + timedelta(days=10)
    amendments.amend(tender, buyer.officer, reason="More time for the bidders",
                     submission_deadline=new_deadline, opening_time=new_deadline + timedelta(hours=1))
    assert _ids(deadline_from=new_deadline.date(), deadline_to=new_deadline.date()) == [tender.id]
    assert _ids(deadline_to=(new_deadline - timedelta(days=2)).date()) == []


def test_a_refused_change_sends_no_message_and_the_next_change_sends_its_own():
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    before = len(_messages())
    with pytest.raises(RuntimeError), unit_of_work():
        index_svc.tender_changed(tender.id)
        db.session.get(Tender, tender.id).title_zh = "会议桌"
        raise RuntimeError("the unit of work fails")
    assert len(_messages()) == before and _ids(q="办公") == [tender.id]
    with unit_of_work():  # the same tender again, in the same session: not forgotten as "already queued"
        index_svc.tender_changed(tender.id)
    assert len(_messages()) == before + 1 and _messages()[-1].payload == {"tender_ids": [tender.id]}


def test_a_plain_rollback_forgets_the_queued_tenders():
    """Queued outside a unit of work, then rolled back by the session itself (not by
    unit_of_work): the next transaction does not send them."""
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    before = len(_messages())
    index_svc.tender_changed(tender.id)
    db.session.rollback()
    with unit_of_work():
        pass
    assert len(_messages()) == before


def test_one_message_per_unit_of_work_for_all_its_tenders():
    buyer = make_buyer(2)
    first, second = published_tender(buyer), published_tender(buyer)
    before = len(_messages())
    with unit_of_work():
        index_svc.tender_changed(second.id)
        index_svc.tender_changed(first.id)
        index_svc.tender_changed(second.id)
    assert len(_messages()) == before + 1
    assert _messages()[-1].payload == {"tender_ids": sorted([first.id, second.id])}
    with unit_of_work():
        index_svc.tender_changed(first.id)  # a later unit of work sends its own
    assert len(_messages()) == before + 2


def test_a_message_applied_twice_leaves_one_document():
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    assert search.reindex_tenders([tender.id]) == 1
    assert search.reindex_tenders([tender.id, tender.id]) == 1
    assert _documents(tender.id) == 1 and _ids() == [tender.id]


def test_a_change_behind_the_services_back_shows_once_reindexed():
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    with unit_of_work():  # behind the services' back: no message
        db.session.get(Tender, tender.id).status = "draft"
        db.session.get(Tender, tender.id).title_zh = "改名"
    assert _ids() == [tender.id]  # the list is the index's: as last indexed
    assert search_tenders(TenderSearch()).items[0].title_zh == "办公设备采购"
    search.reindex_tenders([tender.id])
    assert _documents(tender.id) == 0 and search_tenders(TenderSearch()).total == 0


def test_a_result_carries_the_list_columns_as_the_database_holds_them():
    buyer = make_buyer(2)
    tender = published_tender(buyer, title_en="Office equipment", category_code="A0201")
    [item] = search_tenders(TenderSearch()).items
    row = db.session.get(Tender, tender.id)
    for name in ("id", "buyer_org_id", "title_zh", "title_en", "category", "category_code", "method", "budget",
                 "currency", "status", "enquiry_end", "submission_deadline", "opening_time", "published_at"):
        assert getattr(item, name) == getattr(row, name), name
    assert item.buyer.id == buyer.org.id and item.buyer.name_zh == buyer.org.name_zh
    assert item.buyer.name_en == buyer.org.name_en


def test_rebuild_writes_the_index_from_the_rows(app):
    buyer = make_buyer(2)
    first = published_tender(buyer)
    second = published_tender(buyer, title_zh="会议桌椅")
    draft_tender(buyer, title_zh="草稿")
    with unit_of_work():  # behind the index's back
        db.session.get(Tender, second.id).title_zh = "空调采购"
    search.TENDER_INDEX.clear()
    assert _ids() == []
    result = app.test_cli_runner().invoke(args=["search", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "tenders: 2 documents indexed" in result.output
    assert sorted(_ids()) == sorted([first.id, second.id])
    assert _ids(q="空调") == [second.id] and _ids(q="会议") == [] and _ids(q="草稿") == []


def test_rebuild_refuses_an_unknown_index(app):
    result = app.test_cli_runner().invoke(args=["search", "rebuild", "nothing"])
    assert result.exit_code != 0 and "unknown index: nothing" in result.output


def test_a_busy_writer_leaves_the_message_pending_for_a_retry(monkeypatch):
    buyer = make_buyer(2)
    tender = draft_tender(buyer)
    monkeypatch.setattr(core_search, "WRITER_WAIT", 0.05)
    other_process = tantivy.Index.open(str(search.TENDER_INDEX.directory()))  # as another process would
    holder = other_process.writer(heap_size=15_000_000, num_threads=1)
    try:
        svc.publish(tender, buyer.officer)  # the publication commits; the index cannot be written
        [message] = _messages()
        assert message.status == OutboxStatus.PENDING and message.attempts == 1
        assert "another writer holds it" in message.last_error
        assert _ids() == []
    finally:
        holder.rollback()
        del holder
    clock.advance(timedelta(minutes=5))  # past the retry's backoff
    assert outbox.drain()["sent"] == 1
    db.session.expire_all()
    assert _messages()[0].status == OutboxStatus.SENT and _ids() == [tender.id]


def test_every_tender_status_change_reindexes(monkeypatch):
    """Every status change goes through tenders._move (the transition table: publication,
    cancellation, the time steps, the opening's opened / unsuccessful); publication,
    cancellation and a direct _move are checked to reindex through it."""
    from procurement.states import TenderStatus

    seen: list[int] = []
    monkeypatch.setattr(index_svc, "tender_changed", seen.append)
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    svc.cancel(tender, buyer.officer, "Budget withdrawn")
    assert seen == [tender.id, tender.id]  # published, then cancelled
    other = published_tender(buyer)
    with unit_of_work():
        svc._move(db.session.get(Tender, other.id), TenderStatus.TENDERING, "moved")
    assert seen[-1] == other.id and len(seen) == 4


def test_a_longer_enquiry_period_is_followed_by_the_status_filter():
    buyer = make_buyer(2)
    tender = published_tender(buyer)  # enquiries until NOW + 10 days
    later = tender.enquiry_end + timedelta(days=5)
    amendments.amend(tender, buyer.officer, reason="More time for questions", enquiry_end=later)
    clock.set_time(later - timedelta(days=1))
    assert _ids(status="active.enquiries") == [tender.id] and _ids(status="active.tendering") == []
    clock.set_time(later)
    assert _ids(status="active.tendering") == [tender.id]


def test_index_messages_are_retried_until_they_succeed(app, monkeypatch):
    """A document rewrite is never given up (a dead one would leave the tender listed as it
    was): past OUTBOX_MAX_ATTEMPTS the message is still pending, and it lands once the
    index can be written."""
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 2)
    monkeypatch.setattr(core_search, "WRITER_WAIT", 0.01)
    buyer = make_buyer(2)
    tender = draft_tender(buyer)
    holder = tantivy.Index.open(str(search.TENDER_INDEX.directory())).writer(heap_size=15_000_000, num_threads=1)
    try:
        svc.publish(tender, buyer.officer)
        for _ in range(3):
            clock.advance(timedelta(hours=2))
            outbox.drain()
        [message] = _messages()
        assert message.status == OutboxStatus.PENDING and message.attempts == 4
    finally:
        holder.rollback()
        del holder
    clock.advance(timedelta(hours=2))
    outbox.drain()
    db.session.expire_all()
    assert _messages()[0].status == OutboxStatus.SENT and _ids() == [tender.id]


@pytest.mark.parametrize(("params", "listed"), [
    (dict(page=10**12), 0), (dict(page=2**70), 0),  # beyond MAX_OFFSET: an empty page, the count kept
    (dict(budget_min=10**30), 0), (dict(budget_max=10**30), 1), (dict(budget_min=-(10**30)), 1),
    (dict(buyer_org_id=2**70), 0), (dict(buyer_org_id=-5), 0),
    (dict(deadline_to=date.max), 1), (dict(deadline_from=date.min), 1),
    (dict(budget_min=10, budget_max=5), 0), (dict(deadline_from=date(2026, 5, 1), deadline_to=date(2026, 4, 1)), 0),
])
def test_extreme_input_gets_a_page_not_an_error(params, listed):
    buyer = make_buyer(2)
    published_tender(buyer)
    result = search_tenders(TenderSearch(**params))
    assert len(result.items) == listed
    assert result.total == (1 if "page" in params else listed)


def test_extreme_input_through_the_page_and_the_api(client):
    buyer = make_buyer(2)
    published_tender(buyer, title_en="Office equipment")
    for query in ("page=99999999999999999999", "budget_min=1e30", "buyer=99999999999999999999999",
                  "deadline_to=9999-12-31", "page=-3"):
        assert client.get(f"/procurement/tenders?{query}&lang=en").status_code == 200, query
    for query, listed in (("page=99999999999", 0), ("budget_min=99999999999999999999999", 0),
                          ("buyer_org_id=99999999999999999999999", 0), ("deadline_to=9999-12-31", 1)):
        response = client.get(f"/api/v1/tenders?{query}")
        assert response.status_code == 200 and len(response.get_json()) == listed, query


def test_the_query_builder_refuses_regex_syntax_in_a_prefix():
    query = search.TENDER_INDEX.query()
    with pytest.raises(ValueError):
        query.prefix("tokens", "a.*")


def test_a_non_ascii_latin_word_matches_as_a_prefix():
    buyer = make_buyer(2)
    tender = published_tender(buyer, title_en="Équipement de bureau")
    assert _ids(q="équipe") == [tender.id] and _ids(q="ÉQUIPEMENT") == [tender.id]
    assert _ids(q="equipe") == []  # accents are kept (NFKC, not folded)


def test_search_input_errors_are_not_index_errors():
    """Odd input reaches the index only as our own tokens: nothing raises."""
    buyer = make_buyer(2)
    published_tender(buyer)
    for q in ("a" * 500, "设" * 500, "équipement", "办公.*空调"):
        assert search_tenders(TenderSearch(q=q)).items == [], q
    for q in ("\x00", "*", '"办公"', "办公 *", "offi"):  # no term, or terms the tender holds
        assert len(search_tenders(TenderSearch(q=q)).items) == 1, q


def test_the_sweep_rebuilds_an_empty_index_when_tenders_are_published():
    assert index_svc.rebuild_if_empty() is None  # nothing published: nothing to do
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    assert index_svc.rebuild_if_empty() is None  # the index holds it
    search.TENDER_INDEX.clear()  # a lost index directory, a new index version
    assert _ids() == []
    assert index_svc.rebuild_if_empty() == 1
    assert _ids() == [tender.id]
    assert index_svc.rebuild_if_empty in SWEEPS


def test_a_renamed_buyer_is_searched_by_its_new_name():
    from accounts.services.organizations import update_profile
    from accounts.states import Role
    from tests.factories import make_user

    buyer = make_buyer(2)
    tender = published_tender(buyer)
    admin = make_user(buyer.org, [Role.ORG_ADMIN])
    update_profile(buyer.org, admin, name_zh="扬州市图书馆", name_en="Yangzhou Library")
    assert _ids(q="图书馆") == [tender.id] and _ids(q="library") == [tender.id]
    [item] = search_tenders(TenderSearch()).items
    assert item.buyer.name_zh == "扬州市图书馆" and item.buyer.name_en == "Yangzhou Library"
    before = len(_messages())
    update_profile(buyer.org, admin, contact_phone="0514-12345678")  # not a name: no message
    assert len(_messages()) == before


def test_reindex_reads_the_rows_once_it_holds_the_writer(monkeypatch):
    """A change committed while a handler waits for the writer is what that handler writes
    (so of two handlers of one tender, the later writer never writes the older row)."""
    from contextlib import contextmanager

    buyer = make_buyer(2)
    tender = published_tender(buyer)
    real_writer = search.TENDER_INDEX.writer

    @contextmanager
    def writer_after_a_commit():
        with unit_of_work():  # another transaction commits while this one waits for the lock
            db.session.get(Tender, tender.id).title_zh = "会议室家具"
        with real_writer() as writer:
            yield writer

    monkeypatch.setattr(search.TENDER_INDEX, "writer", writer_after_a_commit)
    search.reindex_tenders([tender.id])
    monkeypatch.undo()
    assert _ids(q="会议") == [tender.id] and _ids(q="办公") == []
