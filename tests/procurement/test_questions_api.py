"""/api/v1/tenders/<id>/questions: public list without the asker, asking, answering."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from accounts.services.tokens import create_token
from core import clock
from core.db import db
from procurement.models import Question, TenderAmendment
from procurement.services import clarifications
from tests.helpers import api_headers
from tests.procurement.factories import draft_tender, make_buyer, make_supplier

pytestmark = pytest.mark.usefixtures("frozen_clock")


def _token(user, org):
    return create_token(user, org.id, "api")[1]


def _url(tender, suffix=""):
    return f"/api/v1/tenders/{tender.id}/questions{suffix}"


def test_a_supplier_asks_and_sees_its_own_question(client, tender):
    org, bidder = make_supplier()
    h = api_headers(_token(bidder, org), **{"Idempotency-Key": "ask-1"})
    r = client.post(_url(tender), json={"text": "Is training included?", "lot_id": tender.lots[0].id}, headers=h)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["text"] == "Is training included?" and body["mine"] is True and body["asker"] is None
    again = client.post(_url(tender), json={"text": "Is training included?", "lot_id": tender.lots[0].id}, headers=h)
    assert again.get_json()["id"] == body["id"]
    assert db.session.scalar(sa.select(sa.func.count(Question.id))) == 1
    mine = client.get(_url(tender), headers=api_headers(_token(bidder, org))).get_json()
    assert [q["id"] for q in mine] == [body["id"]]
    assert client.get(_url(tender)).get_json() == []  # unanswered: not public


def test_asking_outside_the_enquiry_period_is_409(client, tender):
    org, bidder = make_supplier()
    clock.set_time(tender.enquiry_end)
    r = client.post(_url(tender), json={"text": "Too late for this"}, headers=api_headers(_token(bidder, org)))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "enquiry_period_over"


def test_asking_needs_a_token_and_a_bidder(client, buyer, tender):
    r = client.post(_url(tender), json={"text": "Anonymous question"}, headers={"Accept": "application/json"})
    assert r.status_code in (400, 401)
    r = client.post(_url(tender), json={"text": "Officer question"},
                    headers=api_headers(_token(buyer.officer, buyer.org)))
    assert r.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(Question.id))) == 0


def test_public_and_other_suppliers_see_answers_without_asker_officer_sees_asker(client, buyer, tender):
    org, asker = make_supplier(name="API提问人")
    q = clarifications.ask(tender, asker, org, "Which standard applies?")
    q2 = clarifications.ask(tender, asker, org, "Still open question")
    clarifications.answer(q, buyer.officer, "GB/T 9813.")
    public = client.get(_url(tender))
    assert public.status_code == 200
    body = public.get_json()
    assert [x["id"] for x in body] == [q.id]
    assert body[0]["answer"] == "GB/T 9813." and body[0]["asker"] is None and "API提问人" not in public.get_data(as_text=True)
    other_org, other = make_supplier()
    seen = client.get(_url(tender), headers=api_headers(_token(other, other_org))).get_json()
    assert [x["id"] for x in seen] == [q.id] and seen[0]["mine"] is False and seen[0]["asker"] is None
    officer = client.get(_url(tender), headers=api_headers(_token(buyer.officer, buyer.org))).get_json()
    assert {x["id"] for x in officer} == {q.id, q2.id}
    assert all(x["asker"]["name_zh"] == "API提问人" for x in officer)


def test_answer_api_requires_a_new_deadline_when_late(client, buyer, tender):
    org, asker = make_supplier()
    q = clarifications.ask(tender, asker, org, "Late question for the API")
    clock.set_time(tender.submission_deadline - timedelta(days=2))
    h = api_headers(_token(buyer.officer, buyer.org))
    r = client.post(_url(tender, f"/{q.id}/answer"), json={"answer": "Late"}, headers=h)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "deadline_move_required"
    new_deadline = clock.now() + timedelta(days=20)
    r = client.post(_url(tender, f"/{q.id}/answer"),
                    json={"answer": "Late", "new_submission_deadline": new_deadline.isoformat()}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["amendment_number"] == 2 and r.get_json()["answer"] == "Late"
    db.session.refresh(tender)
    assert tender.submission_deadline == new_deadline
    assert db.session.scalar(sa.select(TenderAmendment)).question_id == q.id
    r = client.post(_url(tender, f"/{q.id}/answer"), json={"answer": "Again"}, headers=h)
    assert r.status_code == 409


def test_answer_api_other_buyer_is_404_and_draft_is_hidden(client, buyer, tender):
    org, asker = make_supplier()
    q = clarifications.ask(tender, asker, org, "Hidden from other buyers")
    other = make_buyer()
    r = client.post(_url(tender, f"/{q.id}/answer"), json={"answer": "Mine?"},
                    headers=api_headers(_token(other.officer, other.org)))
    assert r.status_code == 404
    draft = draft_tender(buyer)
    assert client.get(_url(draft)).status_code == 404


def test_questions_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/tenders/{tender_id}/questions" in spec["paths"]
    assert "/api/v1/tenders/{tender_id}/questions/{question_id}/answer" in spec["paths"]
