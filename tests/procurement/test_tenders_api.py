"""/api/v1/tenders: public search (paginated) and detail; drafts 404 except to the buyer."""

from __future__ import annotations

import json

import pytest

from accounts.services.tokens import create_token
from core import clock
from core.db import db, unit_of_work
from procurement.models import Question, Tender
from procurement.services import tenders as svc
from tests.helpers import api_headers
from tests.procurement.factories import NOW, draft_tender, make_buyer, make_supplier, published_tender


@pytest.fixture(autouse=True)
def _frozen_clock():
    clock.set_time(NOW)
    yield
    clock.reset()


def _token(user, org) -> str:
    return create_token(user, org.id, "api")[1]


def test_list_is_public_paginated_and_never_lists_drafts(client):
    buyer = make_buyer(2)
    made = [published_tender(buyer, title_en=f"Chairs {i}") for i in range(3)]
    draft_tender(buyer, title_en="Chairs draft")
    r = client.get("/api/v1/tenders?page_size=2")
    assert r.status_code == 200
    body = r.get_json()
    assert [t["id"] for t in body] == [made[2].id, made[1].id]
    assert json.loads(r.headers["X-Pagination"])["total"] == 3
    first = body[0]
    assert first["status"] == "active.enquiries" and first["budget"] == 100_000_000 and first["currency"] == "CNY"
    assert first["buyer_name_en"] == buyer.org.name_en and first["url"].endswith(f"/procurement/tenders/{made[2].id}")
    page2 = client.get("/api/v1/tenders?page_size=2&page=2").get_json()
    assert [t["id"] for t in page2] == [made[0].id]


def test_list_items_are_exactly_what_the_documented_schema_dumps(app, client):
    """The list is serialized by hand (speed): it must equal TenderSummarySchema's dump of
    the same results, byte for byte once parsed, datetimes included."""
    from procurement.api.tenders import TenderSummarySchema, _summary
    from procurement.queries import TenderSearch, search_tenders

    buyer = make_buyer(2)
    published_tender(buyer, title_zh="办公桌椅", title_en="Desks")
    published_tender(buyer, title_en="Servers", category="goods", enquiry_end=None)
    body = client.get("/api/v1/tenders").get_json()
    with app.test_request_context("/api/v1/tenders"):
        expected = TenderSummarySchema(many=True).dump([_summary(t) for t in search_tenders(TenderSearch()).items])
    assert body == json.loads(json.dumps(expected)) and len(body) == 2
    assert body[0]["submission_deadline"].endswith("+00:00") and any(t["enquiry_end"] is None for t in body)


def test_list_search_parameters(client):
    buyer = make_buyer(2)
    laptops = published_tender(buyer, title_zh="笔记本电脑", title_en="Laptops", budget=50_000_00)
    services = published_tender(buyer, title_zh="保洁服务", title_en="Cleaning", category="services",
                                category_code="C1204")

    def ids(**query):
        r = client.get("/api/v1/tenders", query_string=query)
        assert r.status_code == 200, r.get_json()
        return {t["id"] for t in r.get_json()}

    assert ids(q="电脑") == {laptops.id}
    assert ids(q="保洁") == {services.id}
    assert ids(q="clean") == {services.id}
    assert ids(category="services") == {services.id}
    assert ids(category_code="C12") == {services.id}
    assert ids(budget_max=50_000_00) == {laptops.id}
    assert ids(budget_min=50_000_01) == {services.id}
    assert ids(buyer_org_id=buyer.org.id) == {laptops.id, services.id}
    assert ids(status="active.tendering") == set()
    assert ids(status="active.enquiries") == {laptops.id, services.id}
    assert ids(deadline_from="2026-04-01", deadline_to="2026-04-01") == {laptops.id, services.id}
    assert ids(method="inquiry") == set()
    assert ids(sort="deadline") == {laptops.id, services.id}


def test_list_refuses_bad_parameters_with_422(client):
    r = client.get("/api/v1/tenders?status=draft")
    assert r.status_code == 422
    assert client.get("/api/v1/tenders?budget_min=abc").status_code == 422


def test_detail_holds_the_public_tender(client):
    buyer = make_buyer(3)
    supplier_org, bidder = make_supplier()
    tender = published_tender(buyer, evaluation_method="scored", criteria=[
        dict(name_zh="价格", name_en="Price", kind="price", weight=40),
        dict(name_zh="技术", name_en="Technical", kind="technical", weight=60)])
    with unit_of_work():
        db.session.add(Question(tender_id=tender.id, asker_org_id=supplier_org.id, asker_user_id=bidder.id,
                                text="Which warranty?", answer="Three years.", answered_at=NOW))
        db.session.add(Question(tender_id=tender.id, asker_org_id=supplier_org.id, asker_user_id=bidder.id,
                                text="Not answered"))
    r = client.get(f"/api/v1/tenders/{tender.id}")
    assert r.status_code == 200
    body = r.get_json()
    assert body["title_zh"] == "办公设备采购" and body["status"] == "active.enquiries"
    assert body["custodian_threshold"] == 2 and body["custodian_count"] == 3
    assert body["key_fingerprint"] == db.session.get(Tender, tender.id).key_fingerprint
    assert body["procedure"]["min_days"] == 20 and body["procedure"]["min_bids"] == 3
    assert [lot["bond_amount"] for lot in body["lots"]] == [2_000_000]
    assert sorted(c["weight"] for c in body["criteria"]) == [40, 60]
    [doc] = body["documents"]
    assert doc["current"] and doc["filename"] == "tender.pdf" and len(doc["sha256"]) == 64
    assert doc["download_url"].endswith(f"/procurement/tenders/{tender.id}/documents/{doc['id']}")
    assert client.get(doc["download_url"].split("localhost", 1)[-1]).status_code == 200
    assert [q["question"] for q in body["questions"]] == ["Which warranty?"]
    assert "asker_org_id" not in body["questions"][0] and "asker_user_id" not in body["questions"][0]
    assert body["amendments"] == [] and body["opening_record"] is None
    text = r.get_data(as_text=True)
    assert bidder.email not in text and "Not answered" not in text


def test_detail_includes_the_opening_record_once_opened(client):
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    with unit_of_work():
        row = db.session.get(Tender, tender.id)
        row.status, row.opened_at = "opened", NOW
        row.opening_record = {"bidders": [{"name": "Acme", "prices": {"1": 9_000_000}}], "withdrawn": 0}
    body = client.get(f"/api/v1/tenders/{tender.id}").get_json()
    assert body["status"] == "opened" and body["opening_record"]["bidders"][0]["name"] == "Acme"


def test_detail_of_a_cancelled_tender_has_its_reason(client):
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    svc.cancel(tender, buyer.officer, "No budget")
    body = client.get(f"/api/v1/tenders/{tender.id}").get_json()
    assert body["status"] == "cancelled" and body["cancel_reason"] == "No budget" and body["cancelled_at"]


def test_draft_detail_is_404_except_to_the_buyers_officer(client):
    buyer = make_buyer(2)
    draft = draft_tender(buyer)
    r = client.get(f"/api/v1/tenders/{draft.id}")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    other = make_buyer(0)
    assert client.get(f"/api/v1/tenders/{draft.id}",
                      headers=api_headers(_token(other.officer, other.org))).status_code == 404
    supplier_org, bidder = make_supplier()
    assert client.get(f"/api/v1/tenders/{draft.id}",
                      headers=api_headers(_token(bidder, supplier_org))).status_code == 404
    own = client.get(f"/api/v1/tenders/{draft.id}", headers=api_headers(_token(buyer.officer, buyer.org)))
    assert own.status_code == 200 and own.get_json()["status"] == "draft"
    assert client.get("/api/v1/tenders/999999").status_code == 404


def test_tenders_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/tenders" in spec["paths"] and "/api/v1/tenders/{tender_id}" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert "TenderDetail" in schemas and "TenderSummary" in schemas
    params = {p["name"] for p in spec["paths"]["/api/v1/tenders"]["get"]["parameters"]}
    assert {"q", "status", "method", "budget_min", "budget_max", "deadline_from", "page"} <= params
