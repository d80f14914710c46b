"""Public tender search: token building, keyword matching (Chinese 1/2/3+ characters,
English), every filter, the clock-derived status filter, sorting and paging, drafts never
listed. (The index kept in step with the database: test_search_index.py.)"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from accounts.states import OrgKind, Role
from core import clock
from procurement import queries
from procurement.queries import TenderSearch, search_tenders
from procurement.search import bigram_runs_for, query_terms, search_tokens_for
from procurement.services import tenders as svc
from tests.factories import make_org, make_user
from tests.procurement.factories import NOW, Buyer, draft_tender, make_buyer, published_tender


@pytest.fixture(autouse=True)
def _frozen_clock():
    clock.set_time(NOW)
    yield
    clock.reset()


def _buyer(name: str | None = None) -> Buyer:
    org = make_org(kinds=[OrgKind.BUYER], name=name)
    officer = make_user(org, [Role.PROCUREMENT_OFFICER])
    return Buyer(org, officer, [make_user(org, [Role.KEY_CUSTODIAN]) for _ in range(2)])


def _ids(**kwargs) -> set[int]:
    return {t.id for t in search_tenders(TenderSearch(**kwargs)).items}


def _dates(days: int) -> dict:
    deadline = NOW + timedelta(days=days)
    return dict(submission_deadline=deadline, opening_time=deadline + timedelta(hours=1))


# --------------------------------------------------------------------------- tokens


def test_tokens_hold_lowercased_english_words():
    assert search_tokens_for("Office Equipment, LAPTOPS-2026") == "office equipment laptops 2026"


def test_tokens_hold_every_cjk_character_and_bigram():
    tokens = search_tokens_for("办公设备").split()
    assert set(tokens) == {"办", "公", "设", "备", "办公", "公设", "设备"}


def test_tokens_of_a_single_cjk_character_are_that_character():
    assert search_tokens_for("书") == "书"


def test_tokens_split_mixed_text_into_runs_and_deduplicate():
    tokens = search_tokens_for("采购PC电脑 pc", "电脑 A0201").split()
    assert tokens.count("pc") == 1 and tokens.count("电脑") == 1
    assert {"采", "购", "采购", "电", "脑", "电脑", "pc", "a0201"} == set(tokens)
    assert "购p" not in " ".join(tokens) and "购pc" not in tokens  # a CJK run stops at latin letters


def test_tokens_normalize_fullwidth_letters():
    assert search_tokens_for("ＡＢＣ１２３") == "abc123"


def test_bigram_runs_keep_each_run_apart():
    assert bigram_runs_for("办公设备 and 电脑", "书") == "办公 公设 设备 | 电脑"
    assert bigram_runs_for("Office") == ""


def test_query_terms_by_length():
    assert query_terms("书").cjk_tokens == ("书",) and not query_terms("书").cjk_phrases
    assert query_terms("电脑").cjk_tokens == ("电脑",) and not query_terms("电脑").cjk_phrases
    three = query_terms("办公设备 Laptop")
    assert three.cjk_tokens == () and three.cjk_phrases == ("办公设备",)
    assert three.words == ("laptop",)
    assert not query_terms("  ,;'&|!:*  ")  # punctuation only: no keyword filter at all


def test_a_published_tender_is_found_by_title_buyer_and_category_code():
    buyer = _buyer("扬州市教育局")
    tender = published_tender(buyer, title_zh="课桌椅", title_en="Desks", category_code="A0601")
    for q in ("课桌", "桌椅", "desks", "a0601", "A0601", "教育", "扬州市教育局"):
        assert _ids(q=q) == {tender.id}, q


def test_the_published_text_is_what_the_index_holds():
    buyer = make_buyer(2)
    tender = draft_tender(buyer)
    svc.update_draft(tender, buyer.officer, title_zh="会议桌", title_en="Meeting tables")
    assert _ids(q="会议") == set()  # a draft is not indexed
    svc.publish(tender, buyer.officer)
    assert _ids(q="会议") == {tender.id} and _ids(q="meeting") == {tender.id}
    assert _ids(q="办公") == set()


# --------------------------------------------------------------------------- keyword search


@pytest.fixture
def catalogue():
    buyer = _buyer("扬州市教育局")
    other = _buyer("扬州市卫生健康委员会")
    return dict(
        buyer=buyer, other=other,
        office=published_tender(buyer, title_zh="办公设备采购", title_en="Office equipment", category_code="A0201"),
        laptops=published_tender(other, title_zh="笔记本电脑", title_en="Laptops", category_code="A0202",
                                 category="goods", budget=50_000_00),
        apart=published_tender(other, title_zh="公设与办公", title_en="Cleaning services", category="services",
                               category_code="C1204"),
        draft=draft_tender(buyer, title_zh="办公设备草稿", title_en="Office equipment draft"),
    )


def test_one_character_chinese_term_matches(catalogue):
    assert _ids(q="脑") == {catalogue["laptops"].id}


def test_two_character_chinese_term_matches(catalogue):
    assert _ids(q="电脑") == {catalogue["laptops"].id}
    assert _ids(q="办公") == {catalogue["office"].id, catalogue["apart"].id}


def test_longer_chinese_term_needs_the_characters_adjacent(catalogue):
    # "公设与办公" holds the bigrams 办公 and 公设 but not the phrase 办公设
    assert _ids(q="办公设") == {catalogue["office"].id}
    assert _ids(q="办公设备采购") == {catalogue["office"].id}


def test_english_words_match_as_prefixes_and_all_must_match(catalogue):
    assert _ids(q="equip") == {catalogue["office"].id}
    assert _ids(q="OFFICE Equipment") == {catalogue["office"].id}
    assert _ids(q="office laptops") == set()


def test_mixed_chinese_and_english_terms(catalogue):
    assert _ids(q="电脑 laptops") == {catalogue["laptops"].id}
    assert _ids(q="电脑 office") == set()


def test_buyer_name_and_category_code_are_searchable(catalogue):
    assert _ids(q="卫生") == {catalogue["laptops"].id, catalogue["apart"].id}
    assert _ids(q="a0202") == {catalogue["laptops"].id}


def test_user_input_with_query_syntax_is_harmless(catalogue):
    for q in ("办公 & !电脑", "office:* | laptops", "'); drop table tenders; --", "%_\\", "(equipment"):
        search_tenders(TenderSearch(q=q))  # no error
    assert _ids(q="%") == {catalogue["office"].id, catalogue["laptops"].id, catalogue["apart"].id}


def test_drafts_are_never_listed(catalogue):
    assert catalogue["draft"].id not in _ids()
    assert catalogue["draft"].id not in _ids(q="草稿")
    assert _ids(q="草稿") == set()
    assert _ids(status="draft") == set()


# --------------------------------------------------------------------------- filters


def test_filter_by_buyer_category_code_and_method(catalogue):
    assert _ids(buyer_org_id=catalogue["buyer"].org.id) == {catalogue["office"].id}
    assert _ids(category="services") == {catalogue["apart"].id}
    assert _ids(category_code="A02") == {catalogue["office"].id, catalogue["laptops"].id}
    assert _ids(category_code="A02_") == set()  # a code prefix is matched literally, no wildcard
    assert _ids(method="open") == {catalogue["office"].id, catalogue["laptops"].id, catalogue["apart"].id}
    assert _ids(method="inquiry") == set()


def test_filter_by_budget_range_in_fen(catalogue):
    assert _ids(budget_max=50_000_00) == {catalogue["laptops"].id}
    assert _ids(budget_min=50_000_01) == {catalogue["office"].id, catalogue["apart"].id}
    assert _ids(budget_min=50_000_00, budget_max=50_000_00) == {catalogue["laptops"].id}


def test_filter_by_deadline_days_in_beijing_time():
    buyer = make_buyer(2)
    soon = published_tender(buyer, **_dates(25))  # 2026-03-27 10:00 Beijing
    later = published_tender(buyer, **_dates(40))  # 2026-04-11 10:00 Beijing
    assert _ids(deadline_from=date(2026, 3, 27)) == {soon.id, later.id}
    assert _ids(deadline_from=date(2026, 3, 28)) == {later.id}
    assert _ids(deadline_to=date(2026, 3, 27)) == {soon.id}
    assert _ids(deadline_to=date(2026, 3, 26)) == set()


def test_sort_newest_or_by_deadline():
    buyer = make_buyer(2)
    first = published_tender(buyer, **_dates(40))
    clock.advance(timedelta(hours=1))
    second = published_tender(buyer, **_dates(25))
    assert [t.id for t in search_tenders(TenderSearch()).items] == [second.id, first.id]
    assert [t.id for t in search_tenders(TenderSearch(sort="deadline")).items] == [second.id, first.id]
    clock.advance(timedelta(hours=1))
    third = published_tender(buyer, **_dates(30))
    assert [t.id for t in search_tenders(TenderSearch(sort="deadline")).items] == [second.id, third.id, first.id]
    assert [t.id for t in search_tenders(TenderSearch(sort="newest")).items] == [third.id, second.id, first.id]


def test_status_filter_follows_the_clock():
    buyer = make_buyer(2)
    tender = published_tender(buyer)  # enquiries until NOW+10d, deadline NOW+30d
    deadline = tender.submission_deadline
    assert _ids(status="active.enquiries") == {tender.id}
    assert _ids(status="active.tendering") == set()
    clock.set_time(tender.enquiry_end - timedelta(microseconds=1))
    assert _ids(status="active.enquiries") == {tender.id}
    clock.set_time(tender.enquiry_end)
    assert _ids(status="active.tendering") == {tender.id} and _ids(status="active.enquiries") == set()
    clock.set_time(deadline - timedelta(microseconds=1))
    assert _ids(status="active.tendering") == {tender.id}
    clock.set_time(deadline)  # the deadline itself belongs to awaiting_opening
    assert _ids(status="awaiting_opening") == {tender.id} and _ids(status="active.tendering") == set()
    assert _ids(status="opened") == set()


def test_status_filter_without_enquiry_period_and_for_cancelled():
    buyer = make_buyer(2)
    direct = published_tender(buyer, enquiry_end=None)
    cancelled = published_tender(buyer)
    svc.cancel(cancelled, buyer.officer, "Budget withdrawn")
    assert _ids(status="active.tendering") == {direct.id}
    assert _ids(status="cancelled") == {cancelled.id}
    assert _ids(status="active.enquiries") == set()
    assert _ids(status="no-such-status") == {direct.id, cancelled.id}  # an unknown status filters nothing


def test_pagination_and_exact_count():
    buyer = make_buyer(2)
    made = [published_tender(buyer) for _ in range(3)]
    page1 = search_tenders(TenderSearch(per_page=2))
    page2 = search_tenders(TenderSearch(per_page=2, page=2))
    assert page1.total == 3 and page1.pages == 2 and page1.has_next and not page1.has_prev
    assert len(page1.items) == 2 and len(page2.items) == 1 and not page2.has_next
    assert {t.id for t in [*page1.items, *page2.items]} == {t.id for t in made}
    beyond = search_tenders(TenderSearch(per_page=2, page=3))
    assert beyond.items == [] and beyond.total == 3
    pages = [search_tenders(TenderSearch(per_page=1, page=n, sort="deadline")).items for n in (1, 2, 3)]
    assert [p[0].id for p in pages] == [t.id for t in made]  # same deadlines: by id
    same_time = [search_tenders(TenderSearch(per_page=1, page=n)).items[0].id for n in (1, 2, 3)]
    assert same_time == [t.id for t in reversed(made)]  # published at the same moment: newest id first


def test_pages_follow_the_sort_across_page_boundaries():
    buyer = make_buyer(2)
    made = []
    for days in (40, 25, 30, 35):
        made.append(published_tender(buyer, **_dates(days)))
        clock.advance(timedelta(minutes=5))

    def pages(sort: str) -> list[int]:
        return [t.id for n in (1, 2) for t in search_tenders(TenderSearch(per_page=2, page=n, sort=sort)).items]

    assert pages("newest") == [t.id for t in reversed(made)]
    assert pages("deadline") == [made[1].id, made[2].id, made[3].id, made[0].id]


def test_rare_combination_of_frequent_filters_is_found():
    buyer = make_buyer(2)
    services = [published_tender(buyer, title_zh=f"信息化系统运维{n}", category="services") for n in range(3)]
    goods = published_tender(buyer, title_zh="系统集成设备", category="goods")
    assert _ids(q="系统", category="goods") == {goods.id}
    assert _ids(q="系统", category="services") == {t.id for t in services}
    assert _ids(q="系统", category="works") == set()


def test_longer_chinese_term_is_found_in_the_buyer_name_only():
    buyer = _buyer("扬州市人民医院")
    tender = published_tender(buyer, title_zh="空调采购", title_en="Air conditioners")
    published_tender(make_buyer(2), title_zh="人民广场医院路灯", title_en="Street lights")  # bigrams, not the phrase
    assert _ids(q="人民医院") == {tender.id}


def test_a_draft_cancelled_before_publication_is_not_listed():
    buyer = make_buyer(2)
    never = draft_tender(buyer, title_zh="从未发布的项目")
    svc.cancel(never, buyer.officer, "Not needed")
    assert _ids() == set() and _ids(q="发布") == set() and _ids(status="cancelled") == set()


def test_search_accepts_keyword_arguments():
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    assert [t.id for t in search_tenders(q="办公").items] == [tender.id]


def test_results_carry_their_buyer():
    buyer = _buyer("扬州市财政局")
    published_tender(buyer)
    [tender] = search_tenders(TenderSearch()).items
    assert tender.buyer.id == buyer.org.id and tender.buyer.name_zh == "扬州市财政局"


# --------------------------------------------------------------------------- buyer list


def test_buyer_list_holds_buyers_with_published_tenders_only():
    with_tender = _buyer("扬州市教育局")
    only_draft = _buyer("扬州市民政局")
    published_tender(with_tender)
    draft_tender(only_draft)
    assert [(b.id, b.name_zh) for b in queries.buyer_orgs()] == [(with_tender.org.id, "扬州市教育局")]


def test_buyer_list_is_cached_and_dropped_when_a_tender_changes():
    from accounts.models import Organization
    from core import events
    from core.db import db, unit_of_work
    from procurement.models import Tender

    first = _buyer("扬州市教育局")
    published_tender(first)
    assert [b.id for b in queries.buyer_orgs(max_age=60)] == [first.org.id]
    second = _buyer("扬州市财政局")
    theirs = published_tender(second)  # through the services: this process forgets the list
    assert {b.id for b in queries.buyer_orgs(max_age=60)} == {first.org.id, second.org.id}
    with unit_of_work():  # behind the services' back: the cache does not know
        db.session.get(Tender, theirs.id).status = "draft"
    assert {b.id for b in queries.buyer_orgs(max_age=60)} == {first.org.id, second.org.id}  # cached
    assert {b.id for b in queries.buyer_orgs(max_age=0)} == {first.org.id}
    published_tender(first)  # publishing a tender drops the list
    assert {b.id for b in queries.buyer_orgs(max_age=60)} == {first.org.id}
    with unit_of_work():  # renamed behind the services' back: still cached
        db.session.get(Organization, first.org.id).name_zh = "扬州市教育局（新）"
    assert [b.name_zh for b in queries.buyer_orgs(max_age=60)] != ["扬州市教育局（新）"]
    with unit_of_work():  # accounts' rename event drops the list, once committed
        events.publish(events.organization_renamed, "accounts", org_id=first.org.id)
        assert [b.name_zh for b in queries.buyer_orgs(max_age=60)] != ["扬州市教育局（新）"]
    assert [b.name_zh for b in queries.buyer_orgs(max_age=60)] == ["扬州市教育局（新）"]
    queries.forget_buyer_list()


def test_a_draft_cancelled_before_publication_does_not_list_its_buyer():
    from procurement.services import tenders as tender_svc

    buyer = _buyer("扬州市民政局")
    tender_svc.cancel(draft_tender(buyer), buyer.officer, "Not needed after all")
    assert queries.buyer_orgs() == []




def test_the_officer_list_and_the_index_agree_on_clock_driven_statuses():
    """org_tenders filters by status in SQL, the public search in the index: the same rule."""
    buyer = make_buyer(2)
    made = [published_tender(buyer), published_tender(buyer, enquiry_end=None), published_tender(buyer, **_dates(25))]
    svc.cancel(made[2], buyer.officer, "Budget withdrawn")
    for moment in (NOW, NOW + timedelta(days=10), NOW + timedelta(days=29), NOW + timedelta(days=31)):
        clock.set_time(moment)
        for status in ("active.enquiries", "active.tendering", "awaiting_opening", "cancelled"):
            in_sql = {t.id for t in queries.org_tenders(buyer.org.id, status)}
            assert _ids(status=status) == in_sql, (moment, status)
