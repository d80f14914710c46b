"""Public tender pages: the list with search and filters, the detail page, document
downloads (recorded once per supplier user, never shown to others)."""

from __future__ import annotations

from datetime import timedelta

import flask_babel
import pytest
import sqlalchemy as sa
from flask import current_app

from core import clock
from core.db import db, unit_of_work
from procurement.models import DocumentDownload, Question, Tender, TenderAmendment, TenderDocument
from procurement.services import keys
from procurement.services import tenders as svc
from tests.helpers import login, logout, post_form
from tests.procurement.factories import NOW, PDF, draft_tender, make_buyer, make_supplier, published_tender

# The procurement forms give WTForms SelectChoice objects (tuples are deprecated).
pytestmark = pytest.mark.filterwarnings("error:Passing SelectField choices:DeprecationWarning")


@pytest.fixture(autouse=True)
def _frozen_clock():
    clock.set_time(NOW)
    yield
    clock.reset()


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _speak_chinese(client) -> None:
    """Switch the client's language; forget the locale Flask-Babel cached in the test's
    long-lived app context (each real request has its own)."""
    post_form(client, "/lang", {"lang": "zh_Hans_CN"})
    flask_babel.refresh()


def _doc(tender: Tender) -> TenderDocument:
    return db.session.scalars(sa.select(TenderDocument).where(TenderDocument.tender_id == tender.id)).first()


# --------------------------------------------------------------------------- list


def test_list_renders_in_chinese_and_in_english(client):
    buyer = make_buyer(2)
    tender = published_tender(buyer, title_zh="办公设备采购", title_en="Office equipment")
    _speak_chinese(client)
    zh = _html(client.get("/procurement/tenders"))
    assert "办公设备采购" in zh and f"/procurement/tenders/{tender.id}" in zh
    assert 'lang="zh-CN"' in zh and "Office equipment" not in zh
    post_form(client, "/lang", {"lang": "en"})
    flask_babel.refresh()
    en = _html(client.get("/procurement/tenders"))
    assert "Office equipment" in en and "Enquiry period" in en and "¥1,000,000.00" in en
    assert "1 tenders found." in en or "tenders found" in en


def test_list_never_shows_drafts(client):
    buyer = make_buyer(2)
    draft_tender(buyer, title_zh="秘密草稿")
    published_tender(buyer, title_zh="公开公告")
    _speak_chinese(client)
    page = _html(client.get("/procurement/tenders"))
    assert "公开公告" in page and "秘密草稿" not in page


def test_list_keyword_and_filters_from_the_form(client):
    buyer = make_buyer(2)
    laptops = published_tender(buyer, title_zh="笔记本电脑", title_en="Laptops", budget=50_000_00)
    desks = published_tender(buyer, title_zh="课桌椅", title_en="Desks", category="services",
                             evaluation_method="lowest_price")
    page = _html(client.get("/procurement/tenders", query_string={"q": "电脑", "lang": "en"}))
    assert "Laptops" in page and "Desks" not in page
    # budget in yuan on the form: 50,000.00 yuan == 5,000,000 fen
    page = _html(client.get("/procurement/tenders", query_string={"budget_max": "50000", "lang": "en"}))
    assert "Laptops" in page and "Desks" not in page
    page = _html(client.get("/procurement/tenders", query_string={"category": "services", "lang": "en"}))
    assert "Desks" in page and "Laptops" not in page
    page = _html(client.get("/procurement/tenders", query_string={"status": "active.tendering", "lang": "en"}))
    assert "Desks" not in page and "Laptops" not in page
    page = _html(client.get("/procurement/tenders",
                            query_string={"buyer": str(buyer.org.id), "method": "open", "lang": "en"}))
    assert "Desks" in page and "Laptops" in page
    assert laptops.id != desks.id


def test_list_shows_bad_filter_input_next_to_the_field(client):
    buyer = make_buyer(2)
    published_tender(buyer, title_en="Office equipment")
    page = _html(client.get("/procurement/tenders", query_string={"budget_min": "lots", "lang": "en"}))
    assert "Enter an amount in yuan" in page and "Office equipment" in page


def test_list_form_keeps_the_choices_and_names_buyers_in_the_page_language(client):
    from accounts.states import OrgKind, Role
    from tests.factories import make_org, make_user
    from tests.procurement.factories import Buyer

    org = make_org(kinds=[OrgKind.BUYER], name="扬州市图书馆")
    org.name_en = "Yangzhou Library"
    db.session.commit()
    buyer = Buyer(org, make_user(org, [Role.PROCUREMENT_OFFICER]), [make_user(org, [Role.KEY_CUSTODIAN]) for _ in range(2)])
    published_tender(buyer, title_en="Books")
    query = {"buyer": str(org.id), "method": "open", "sort": "deadline", "lang": "en"}
    en = _html(client.get("/procurement/tenders", query_string=query))
    assert f'<option selected value="{org.id}">Yangzhou Library</option>' in en
    assert '<option selected value="open">' in en and '<option selected value="deadline">' in en
    assert '<select class="form-select" id="buyer" name="buyer">' in en and "Books" in en
    bad = _html(client.get("/procurement/tenders", query_string={"status": "bogus", "lang": "en"}))
    assert "Not a valid choice" in bad and 'class="form-select is-invalid" id="status"' in bad and "Books" in bad
    _speak_chinese(client)
    zh = _html(client.get("/procurement/tenders", query_string={k: v for k, v in query.items() if k != "lang"}))
    assert f'<option selected value="{org.id}">扬州市图书馆</option>' in zh


def test_list_paginates_and_keeps_the_filters(client):
    buyer = make_buyer(2)
    for _ in range(21):
        published_tender(buyer, title_en="Chairs")
    page = _html(client.get("/procurement/tenders", query_string={"q": "chairs", "lang": "en"}))
    assert "Page 1 of 2" in page and "q=chairs" in page and "page=2" in page
    assert "Page 2 of 2" in _html(client.get("/procurement/tenders?q=chairs&page=2&lang=en"))


# --------------------------------------------------------------------------- detail


def test_detail_shows_the_public_facts(client):
    buyer = make_buyer(3)
    supplier_org, bidder = make_supplier()
    tender = published_tender(buyer, title_zh="办公设备采购", title_en="Office equipment",
                              evaluation_method="scored", criteria=[
                                  dict(name_zh="价格", name_en="Price", kind="price", weight=40),
                                  dict(name_zh="技术", name_en="Technical merit", kind="technical", weight=60)])
    with unit_of_work():
        row = db.session.get(Tender, tender.id)
        row.public_key = bytes(range(32))
        row.key_fingerprint = keys.fingerprint(row).replace(" ", "")
        db.session.add(Question(tender_id=tender.id, asker_org_id=supplier_org.id, asker_user_id=bidder.id,
                                text="Which warranty?", answer="Three years.", answered_at=NOW))
        db.session.add(Question(tender_id=tender.id, asker_org_id=supplier_org.id, asker_user_id=bidder.id,
                                text="Unanswered secret question"))
        db.session.add(TenderAmendment(tender_id=tender.id, number=2, reason="Deadline extended",
                                       changes={"submission_deadline": [tender.submission_deadline.isoformat(),
                                                                        (tender.submission_deadline
                                                                         + timedelta(days=5)).isoformat()]},
                                       created_at=NOW))
    page = _html(client.get(f"/procurement/tenders/{tender.id}?lang=en"))
    for text in ("Office equipment", "Desktops", "¥20,000.00", "100 set", "30 days", "Technical merit", "60%",
                 "2 of 3 needed to open", "Which warranty?", "Three years.", "Amendment 2",
                 "Deadline extended", "Timeline", "Tender documents", "At least 20 days to the deadline",
                 "SME price deduction 10%"):
        assert text in page, text
    assert "Unanswered secret question" not in page
    assert bidder.email not in page and supplier_org.name_en not in page  # the asker is never shown
    # the countdown is canal.js's, counting on the server clock (core.clock.now() at render)
    assert f'data-countdown="{tender.submission_deadline.isoformat()}"' in page
    assert f'data-server-now="{NOW.isoformat()}"' in page
    assert "js/tenders.js" not in page  # the duplicate countdown is gone
    # the key fingerprint is grouped in blocks of 4 as on the custodian and opening pages
    assert keys.fingerprint(tender) in page and keys.fingerprint(tender).count(" ") == 15
    _speak_chinese(client)
    zh = _html(client.get(f"/procurement/tenders/{tender.id}"))
    assert "<h1 class=\"h3 mb-1\">办公设备采购</h1>" in zh and "台式电脑" in zh


def test_detail_of_a_cancelled_tender_shows_the_reason(client):
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    svc.cancel(tender, buyer.officer, "Budget withdrawn by the finance bureau")
    page = _html(client.get(f"/procurement/tenders/{tender.id}?lang=en"))
    assert "Budget withdrawn by the finance bureau" in page and "was cancelled" in page
    assert "data-countdown" not in page  # no countdown any more


def test_draft_detail_is_404_except_for_the_buyers_officer(client):
    buyer = make_buyer(2)
    tender = draft_tender(buyer, title_en="Unpublished")
    assert client.get(f"/procurement/tenders/{tender.id}").status_code == 404
    other = make_buyer(0)
    login(client, other.officer)
    assert client.get(f"/procurement/tenders/{tender.id}").status_code == 404
    own = _html_for(buyer.officer, f"/procurement/tenders/{tender.id}?lang=en")
    assert "Unpublished" in own and "This is a draft" in own
    assert f"/procurement/manage/tenders/{tender.id}/edit" in own


def _html_for(user, url: str) -> str:
    """The page as `user` sees it, through a fresh client (a session of its own)."""
    fresh = current_app.test_client()
    login(fresh, user)
    return _html(fresh.get(url))


def test_bidder_sees_only_its_own_download_and_the_supplier_links(client):
    buyer = make_buyer(2)
    _org, bidder = make_supplier()
    tender = published_tender(buyer)
    login(client, bidder)
    page = _html(client.get(f"/procurement/tenders/{tender.id}?lang=en"))
    assert "You have downloaded the documents" not in page
    assert client.get(f"/procurement/tenders/{tender.id}/documents/{_doc(tender).id}").status_code == 200
    page = _html(client.get(f"/procurement/tenders/{tender.id}?lang=en"))
    assert "You have downloaded the documents" in page
    # the officer of the buyer sees no trace of who downloaded
    officer_page = _html_for(buyer.officer, f"/procurement/tenders/{tender.id}?lang=en")
    assert "downloaded" not in officer_page.lower()
    assert bidder.email not in officer_page


def test_opened_tender_links_the_opening_record(client, app):
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    with unit_of_work():
        row = db.session.get(Tender, tender.id)
        row.status = "opened"
        row.opened_at = NOW
    page = _html(client.get(f"/procurement/tenders/{tender.id}?lang=en"))
    if "procurement.opening_record" in app.view_functions:
        assert f"/procurement/tenders/{tender.id}/opening" in page
    assert "Opened" in page


# --------------------------------------------------------------------------- documents


def _downloads(tender_id: int) -> list[DocumentDownload]:
    return list(db.session.scalars(sa.select(DocumentDownload).where(DocumentDownload.tender_id == tender_id)))


def test_anonymous_download_is_allowed_and_not_recorded(client):
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    r = client.get(f"/procurement/tenders/{tender.id}/documents/{_doc(tender).id}")
    assert r.status_code == 200 and r.data == PDF
    assert _downloads(tender.id) == []


def test_a_suppliers_download_is_recorded_once(client):
    buyer = make_buyer(2)
    org, bidder = make_supplier()
    tender = published_tender(buyer)
    login(client, bidder)
    url = f"/procurement/tenders/{tender.id}/documents/{_doc(tender).id}"
    assert client.get(url).status_code == 200
    clock.advance(timedelta(hours=1))
    assert client.get(url).status_code == 200
    rows = _downloads(tender.id)
    assert len(rows) == 1
    assert rows[0].user_id == bidder.id and rows[0].org_id == org.id and rows[0].first_at == NOW


def test_the_buyers_own_downloads_are_not_recorded(client):
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    login(client, buyer.officer)
    assert client.get(f"/procurement/tenders/{tender.id}/documents/{_doc(tender).id}").status_code == 200
    assert _downloads(tender.id) == []


def test_document_of_a_draft_or_of_another_tender_is_404(client):
    buyer = make_buyer(2)
    draft = draft_tender(buyer)
    tender = published_tender(buyer)
    assert client.get(f"/procurement/tenders/{draft.id}/documents/{_doc(draft).id}").status_code == 404
    assert client.get(f"/procurement/tenders/{tender.id}/documents/{_doc(draft).id}").status_code == 404
    assert client.get(f"/procurement/tenders/{tender.id}/documents/999999").status_code == 404


def test_the_action_buttons_follow_the_services_rules(client):
    """What the tender page offers a bidder and the buyer's officer is what the services
    allow at this moment: questions during tendering when there is no enquiry period, the
    bid workspace already in the enquiry period, amending and cancelling before the
    deadline, nothing after it but cancelling."""
    buyer = make_buyer(2)
    with_enquiries = published_tender(buyer)  # enquiries until NOW+10d, deadline NOW+30d
    without = published_tender(buyer, enquiry_end=None)
    org, bidder = make_supplier()
    login(client, bidder)
    page = client.get(f"/procurement/tenders/{with_enquiries.id}").get_data(as_text=True)
    assert f"/procurement/tenders/{with_enquiries.id}/questions/new" in page
    assert f"/procurement/tenders/{with_enquiries.id}/bid" in page  # drafting during the enquiry period
    page = client.get(f"/procurement/tenders/{without.id}").get_data(as_text=True)
    assert f"/procurement/tenders/{without.id}/questions/new" in page  # no enquiry period: asked while tendering
    # bonds: offered while a lot asks for one (the factory's lot does), not for a tender whose lots ask none
    assert f"/procurement/tenders/{without.id}/bonds" in page
    no_bond = published_tender(buyer, enquiry_end=None, lots=[dict(title_en="A", budget=1_000_000, bond_amount=0)])
    page = client.get(f"/procurement/tenders/{no_bond.id}").get_data(as_text=True)
    assert f"/procurement/tenders/{no_bond.id}/bonds" not in page
    clock.set_time(NOW + timedelta(days=31))  # past both deadlines
    login(client, bidder)  # the session's absolute lifetime ended with the clock jump
    page = client.get(f"/procurement/tenders/{without.id}").get_data(as_text=True)
    assert 'href="/procurement/bids"' in page  # signed in (the menu offers My bids)
    assert "/questions/new" not in page and f"/procurement/tenders/{without.id}/bid\"" not in page
    assert f"/procurement/tenders/{without.id}/bonds" not in page

    logout(client)
    clock.set_time(NOW)
    login(client, buyer.officer)
    page = client.get(f"/procurement/tenders/{with_enquiries.id}").get_data(as_text=True)
    assert f"/procurement/manage/tenders/{with_enquiries.id}/amend" in page
    assert f"/procurement/manage/tenders/{with_enquiries.id}/cancel" in page
    clock.set_time(NOW + timedelta(days=31))
    login(client, buyer.officer)
    page = client.get(f"/procurement/tenders/{with_enquiries.id}").get_data(as_text=True)
    assert f"/procurement/manage/tenders/{with_enquiries.id}/amend\"" not in page
    assert f"/procurement/manage/tenders/{with_enquiries.id}/cancel" in page


def test_every_status_has_its_badge_in_each_language_and_an_unknown_one_is_grey(app):
    from procurement.states import TENDER_STATUS_LABELS, TenderStatus
    from procurement.views.public import STATUS_BADGES, tender_badge

    for language in ("zh_Hans_CN", "en"):
        with app.app_context(), app.test_request_context(f"/?lang={language}"):
            for status in TenderStatus:
                colour = STATUS_BADGES.get(status, "secondary")
                assert str(tender_badge(status)) == (
                    f'<span class="badge text-bg-{colour}">{TENDER_STATUS_LABELS[status]}</span>')
                assert tender_badge(status.value) == tender_badge(status)
            assert str(tender_badge("<odd>")) == '<span class="badge text-bg-secondary">&lt;odd&gt;</span>'
            expected = "澄清期" if language.startswith("zh") else "Enquiry period"
            assert str(tender_badge(TenderStatus.ENQUIRIES)) == f'<span class="badge text-bg-info">{expected}</span>'
            # written out: open tenders green, cancelled red
            assert 'class="badge text-bg-success"' in str(tender_badge(TenderStatus.TENDERING))
            assert 'class="badge text-bg-danger"' in str(tender_badge(TenderStatus.CANCELLED))


def test_each_cell_of_a_result_row_in_both_languages(client):
    import re

    from core.i18n import local_datetime

    buyer = make_buyer(2)
    with unit_of_work():
        buyer.org.name_zh, buyer.org.name_en = "扬州市卫生健康委员会", "Yangzhou Health Commission"
    tender = published_tender(buyer, title_zh="医疗设备采购", title_en="Medical equipment",
                              category="goods", category_code="A0232")
    deadline = local_datetime(tender.submission_deadline)
    expected = {
        "zh_Hans_CN": ["医疗设备采购", "货物 · A0232", "扬州市卫生健康委员会", "公开招标", "¥1,000,000.00", "澄清期", deadline],
        "en": ["Medical equipment", "Goods · A0232", "Yangzhou Health Commission", "Open tender",
               "¥1,000,000.00", "Enquiry period", deadline],
    }
    for language, cells in expected.items():
        post_form(client, "/lang", {"lang": language})
        flask_babel.refresh()
        html = _html(client.get("/procurement/tenders"))
        row = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
        texts = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
                 for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        assert texts == [" ".join(cells[:2]), *cells[2:]], language
        assert f'href="/procurement/tenders/{tender.id}"' in row
