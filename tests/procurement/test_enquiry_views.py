"""Pages of clarifications, amendments and alerts through the Flask client."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import clock
from core.clock import LOCAL_TZ
from core.db import db
from core.models.files import StoredFile
from procurement.models import AlertSubscription, Question, TenderAmendment, TenderDocument
from procurement.services import clarifications
from tests.helpers import login, post_form
from tests.procurement.factories import PDF, make_buyer, make_supplier

# The procurement forms give WTForms SelectChoice objects (tuples are deprecated).
pytestmark = [
    pytest.mark.filterwarnings("error:Passing SelectField choices:DeprecationWarning"),
    pytest.mark.usefixtures("frozen_clock"),
]


def _local(dt):
    return dt.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")


def _html(response):
    return response.get_data(as_text=True)


# --------------------------------------------------------------------------- asking


def test_a_bidder_asks_through_the_page(client, tender):
    org, bidder = make_supplier(name="提问供应商甲")
    login(client, bidder)
    page = client.get(f"/procurement/tenders/{tender.id}/questions/new")
    assert page.status_code == 200 and 'id="ask-form"' in _html(page)
    r = post_form(client, f"/procurement/tenders/{tender.id}/questions/new", {"text": "Is delivery included?"})
    assert r.status_code == 303
    q = db.session.scalar(sa.select(Question))
    assert q.asker_org_id == org.id and q.text == "Is delivery included?"
    page = client.get(r.headers["Location"])
    assert "Is delivery included?" in _html(page) and "Awaiting an answer" in _html(page)


def test_asking_after_the_enquiry_period_shows_the_refusal(client, tender):
    _org, bidder = make_supplier()
    clock.set_time(tender.enquiry_end + timedelta(minutes=1))
    login(client, bidder)
    page = client.get(f"/procurement/tenders/{tender.id}/questions/new")
    assert 'id="ask-form"' not in _html(page)
    r = post_form(client, f"/procurement/tenders/{tender.id}/questions/new", {"text": "Too late question"})
    assert r.status_code == 409
    assert "no longer accepted" in _html(r)
    assert db.session.scalar(sa.select(sa.func.count(Question.id))) == 0


def test_the_ask_page_needs_the_bidder_role_and_a_published_tender(client, buyer, tender):
    login(client, buyer.officer)
    assert client.get(f"/procurement/tenders/{tender.id}/questions/new").status_code == 403
    _org, bidder = make_supplier()
    client2 = client.application.test_client()
    login(client2, bidder)
    from tests.procurement.factories import draft_tender

    draft = draft_tender(buyer)
    assert client2.get(f"/procurement/tenders/{draft.id}/questions/new").status_code == 404


def test_asker_is_hidden_from_the_public_and_other_suppliers_and_shown_to_the_officer(client, app, buyer, tender):
    org, asker = make_supplier(name="保密供应商乙")
    q = clarifications.ask(tender, asker, org, "Which warranty period applies?")
    clarifications.answer(q, buyer.officer, "Three years on site.")

    public = app.test_client().get(f"/procurement/tenders/{tender.id}")
    assert public.status_code == 200
    assert "Three years on site." in _html(public) and "保密供应商乙" not in _html(public)

    _other_org, other = make_supplier()
    other_client = app.test_client()
    login(other_client, other)
    page = other_client.get(f"/procurement/tenders/{tender.id}/questions/new")
    assert "Which warranty period applies?" not in _html(page)  # not among "my questions"
    assert "保密供应商乙" not in _html(page)
    detail = other_client.get(f"/procurement/tenders/{tender.id}")
    assert "保密供应商乙" not in _html(detail)

    login(client, buyer.officer)
    inbox = client.get("/procurement/manage/questions")
    assert inbox.status_code == 200 and "保密供应商乙" in _html(inbox)
    answer_page = client.get(f"/procurement/manage/questions/{q.id}/answer")
    assert "保密供应商乙" in _html(answer_page)


# --------------------------------------------------------------------------- answering


def test_an_officer_answers_through_the_page(client, buyer, tender):
    org, asker = make_supplier()
    q = clarifications.ask(tender, asker, org, "Are spare parts included?")
    login(client, buyer.officer)
    inbox = client.get(f"/procurement/manage/questions?tender_id={tender.id}")
    assert "Are spare parts included?" in _html(inbox)
    r = post_form(client, f"/procurement/manage/questions/{q.id}/answer", {"answer": "Yes, for two years."})
    assert r.status_code == 303
    db.session.refresh(q)
    assert q.answer == "Yes, for two years." and q.answered_by_id == buyer.officer.id


def test_a_late_answer_page_requires_a_new_deadline(client, buyer, tender):
    org, asker = make_supplier()
    q = clarifications.ask(tender, asker, org, "A question answered late")
    clock.set_time(tender.submission_deadline - timedelta(days=3))
    login(client, buyer.officer)
    page = client.get(f"/procurement/manage/questions/{q.id}/answer")
    assert "new_submission_deadline" in _html(page)
    r = post_form(client, f"/procurement/manage/questions/{q.id}/answer", {"answer": "Late answer"})
    assert r.status_code == 422 and "set a new deadline" in _html(r)
    new_deadline = (clock.now() + timedelta(days=16)).replace(second=0, microsecond=0)
    r = post_form(client, f"/procurement/manage/questions/{q.id}/answer",
                  {"answer": "Late answer", "new_submission_deadline": _local(new_deadline)})
    assert r.status_code == 303, _html(r)
    db.session.refresh(tender)
    assert tender.submission_deadline == new_deadline
    assert db.session.scalar(sa.select(TenderAmendment)).question_id == q.id


def test_officers_of_another_buyer_get_404_and_suppliers_403(client, app, buyer, tender):
    org, asker = make_supplier()
    q = clarifications.ask(tender, asker, org, "Who may see this question?")
    other = make_buyer()
    login(client, other.officer)
    assert client.get(f"/procurement/manage/questions/{q.id}/answer").status_code == 404
    assert client.get(f"/procurement/manage/tenders/{tender.id}/amend").status_code == 404
    assert "Who may see this question?" not in _html(client.get("/procurement/manage/questions"))
    supplier_client = app.test_client()
    login(supplier_client, asker)
    assert supplier_client.get("/procurement/manage/questions").status_code == 403


# --------------------------------------------------------------------------- amending


def test_an_officer_amends_through_the_page(client, buyer, tender):
    old_doc = db.session.scalar(sa.select(TenderDocument))
    login(client, buyer.officer)
    page = client.get(f"/procurement/manage/tenders/{tender.id}/amend")
    assert page.status_code == 200 and 'id="amend-form"' in _html(page)
    new_deadline = (tender.submission_deadline + timedelta(days=5)).replace(second=0, microsecond=0)
    r = post_form(client, f"/procurement/manage/tenders/{tender.id}/amend", {
        "reason": "Specification corrected",
        "submission_deadline": _local(new_deadline),
        "remove_document_ids": str(old_doc.id),
        "documents": [(io.BytesIO(PDF), "spec-v2.pdf")],
        "material": "y",
    }, content_type="multipart/form-data")
    assert r.status_code == 303, _html(r)
    amendment = db.session.scalar(sa.select(TenderAmendment))
    assert amendment.number == 2 and amendment.material is True
    assert amendment.changes["documents_added"][0]["title"] == "spec-v2.pdf"
    db.session.refresh(old_doc)
    assert old_doc.removed_in_version == 2
    db.session.refresh(tender)
    assert tender.submission_deadline == new_deadline and tender.version == 2
    detail = client.get(r.headers["Location"])
    assert "Specification corrected" in _html(detail)


def _stored_now(client) -> tuple[int, int, int]:
    """(stored file rows, tender document rows, files on disk)."""
    db.session.expire_all()
    files_dir = Path(client.application.config["FILES_DIR"])
    return (db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile)),
            db.session.scalar(sa.select(sa.func.count()).select_from(TenderDocument)),
            sum(1 for f in files_dir.rglob("*") if f.is_file()))


def test_amend_page_shows_the_15_day_refusal_and_keeps_no_upload(client, buyer, tender, monkeypatch):
    import core.files
    from procurement.services import tenders as tender_svc

    written: list = []
    for module in (core.files, tender_svc):  # any way a file could be written
        monkeypatch.setattr(module, "store_bytes", lambda *a, **k: written.append(k) or pytest.fail("stored"))
    clock.set_time(tender.submission_deadline - timedelta(days=5))
    login(client, buyer.officer)
    before = _stored_now(client)
    r = post_form(client, f"/procurement/manage/tenders/{tender.id}/amend", {
        "reason": "Late addendum", "documents": [(io.BytesIO(PDF), "addendum.pdf")],
    }, content_type="multipart/form-data")
    assert r.status_code == 422 and "must move the deadline" in _html(r)
    assert db.session.scalar(sa.select(sa.func.count(TenderAmendment.id))) == 0
    assert _stored_now(client) == before and written == []  # the upload was checked, never stored


def test_an_amendment_with_a_refused_file_names_it_and_stores_nothing(client, buyer, tender):
    login(client, buyer.officer)
    before = _stored_now(client)
    r = post_form(client, f"/procurement/manage/tenders/{tender.id}/amend", {
        "reason": "Addendum", "documents": [(io.BytesIO(PDF), "good.pdf"), (io.BytesIO(b"MZ\x90\x00"), "tool.exe")],
    }, content_type="multipart/form-data")
    assert r.status_code == 422 and "tool.exe: Files of this type are not accepted" in _html(r)
    assert db.session.scalar(sa.select(sa.func.count(TenderAmendment.id))) == 0
    assert _stored_now(client) == before


# --------------------------------------------------------------------------- alerts


def test_a_supplier_manages_alerts_through_the_page(client, buyer, tender):
    _org, bidder = make_supplier()
    login(client, bidder)
    assert client.get("/procurement/alerts").status_code == 200
    r = post_form(client, "/procurement/alerts", {"categories": ["goods"], "category_codes": "A02",
                                                  "keywords": "办公, printer"})
    assert r.status_code == 303
    sub = db.session.scalar(sa.select(AlertSubscription))
    assert sub.categories == ["goods"] and sub.category_codes == ["A02"] and sub.keywords == ["办公", "printer"]
    page = client.get("/procurement/alerts")
    assert "Office equipment" in _html(page)  # what it matches now (English user)
    r = post_form(client, f"/procurement/alerts/{sub.id}/delete")
    assert r.status_code == 303
    db.session.refresh(sub)
    assert sub.active is False


def test_alerts_page_needs_a_bidder(client, buyer):
    login(client, buyer.officer)
    assert client.get("/procurement/alerts").status_code == 403
