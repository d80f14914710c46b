"""/api/v1 bids: submit in one call (Idempotency-Key), list own bids, withdraw, receipts."""

from __future__ import annotations

import base64
import copy
import json
from datetime import timedelta

import sqlalchemy as sa

from accounts.services.tokens import create_token
from accounts.states import Role
from core import clock, signing
from core.db import db
from procurement.models import Bid
from procurement.services import bids as svc
from procurement.states import BidStatus
from tests.factories import make_user
from tests.helpers import api_headers
from tests.procurement.factories import draft_tender, make_supplier
from tests.procurement.test_bids import bidding_setup, full_bid, open_part


def _token(user, org):
    return create_token(user, org.id, "api")[1]


def _body(tender, price=5_000_000, attachment=b"api proposal"):
    return {
        "prices": [{"lot_id": tender.lots[0].id, "price": price}],
        "attachments": [{"name": "proposal.txt", "content_base64": base64.b64encode(attachment).decode()}],
    }


def _count():
    return db.session.scalar(sa.select(sa.func.count(Bid.id)))


def test_submit_a_bid_in_one_call_and_read_it_back(client):
    _buyer, tender, keys, org, user = bidding_setup()
    h = api_headers(_token(user, org))
    r = client.post(f"/api/v1/tenders/{tender.id}/bids", json=_body(tender), headers=h)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "submitted" and body["lot_ids"] == [tender.lots[0].id]
    assert sorted(p["name"] for p in body["parts"]) == ["price-lot-1", "proposal.txt"]
    assert "api proposal" not in r.get_data(as_text=True) and "5000000" not in json.dumps(body["parts"])
    assert body["receipt"]["tender_id"] == tender.id and r.headers["Location"].endswith(f"/bids/{body['id']}")
    bid = db.session.get(Bid, body["id"])
    parts = {p.name: p for p in svc.live_parts(bid)}
    assert json.loads(open_part(keys, bid, parts["price-lot-1"]))["price"] == 5_000_000
    assert open_part(keys, bid, parts["proposal.txt"]) == b"api proposal"

    listed = client.get(f"/api/v1/tenders/{tender.id}/bids", headers=h)
    assert [b["id"] for b in listed.get_json()] == [body["id"]]
    receipt = client.get(f"/api/v1/bids/{body['id']}/receipt", headers=h)
    assert receipt.status_code == 200 and receipt.get_json() == body["receipt"]


def test_idempotent_replay_creates_one_bid(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    h = api_headers(_token(user, org), **{"Idempotency-Key": "bid-1"})
    first = client.post(f"/api/v1/tenders/{tender.id}/bids", json=_body(tender), headers=h)
    second = client.post(f"/api/v1/tenders/{tender.id}/bids", json=_body(tender), headers=h)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert _count() == 1
    other = client.post(f"/api/v1/tenders/{tender.id}/bids", json=_body(tender, price=1), headers=h)
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert _count() == 1


def test_a_second_submission_replaces_the_first_and_withdraw(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    h = api_headers(_token(user, org))
    first = client.post(f"/api/v1/tenders/{tender.id}/bids", json=_body(tender), headers=h).get_json()
    second = client.post(f"/api/v1/tenders/{tender.id}/bids", json=_body(tender, price=4), headers=h).get_json()
    assert second["supersedes_id"] == first["id"]
    statuses = {b["id"]: b["status"] for b in client.get(f"/api/v1/tenders/{tender.id}/bids", headers=h).get_json()}
    assert statuses == {first["id"]: "superseded", second["id"]: "submitted"}
    r = client.post(f"/api/v1/tenders/{tender.id}/bids/{second['id']}/withdraw", headers=h)
    assert r.status_code == 200 and r.get_json()["status"] == "withdrawn"
    again = client.post(f"/api/v1/tenders/{tender.id}/bids/{second['id']}/withdraw", headers=h)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_submitted"


def test_errors_are_json_with_codes_and_nothing_is_half_written(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    h = api_headers(_token(user, org))
    url = f"/api/v1/tenders/{tender.id}/bids"
    bad_attachment = {**_body(tender), "attachments": [{"name": "x.exe", "content_base64": "TVo="}]}
    cases = [
        ({"prices": []}, 422, "validation_error"),
        ({"prices": [{"lot_id": tender.lots[0].id, "price": 0}]}, 422, "validation_error"),
        ({"prices": [{"lot_id": tender.lots[0].id, "price": "10"}]}, 422, "validation_error"),
        ({"prices": [{"lot_id": 999_999, "price": 10}]}, 422, "unknown_lot"),
        ({**_body(tender), "attachments": [{"name": "a.txt", "content_base64": "***"}]}, 422, "invalid_base64"),
        ({**_body(tender), "attachments": [{"name": "a.txt", "content_base64": "YWJj===="}]}, 422, "invalid_base64"),
        ({**_body(tender), "attachments": [{"name": "a.txt", "content_base64": "YWJ\nj"}]}, 422, "invalid_base64"),
        (bad_attachment, 422, "validation_error"),
        ({**_body(tender), "answers": {"424242": "x"}}, 422, "unknown_criterion"),
    ]
    for body, status, code in cases:
        r = client.post(url, json=body, headers=h)
        assert r.status_code == status, (body, r.get_json())
        assert r.get_json()["error"]["code"] == code, (body, r.get_json())
    assert _count() == 0
    clock.set_time(tender.submission_deadline - timedelta(microseconds=1))  # one tick before: accepted
    r = client.post(url, json=_body(tender), headers=h)
    assert r.status_code == 201 and r.get_json()["receipt"]["received_at"].endswith(".999999Z")
    assert _count() == 1
    clock.set_time(tender.submission_deadline)  # at the deadline: refused (server time)
    r = client.post(url, json=_body(tender), headers=h)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "deadline_passed"
    assert _count() == 1
    assert client.post("/api/v1/tenders/999999/bids", json=_body(tender), headers=h).status_code == 404


def test_a_draft_is_not_found_and_an_ineligible_supplier_is_refused_with_its_reason(client):
    buyer, tender, _keys, _org, _user = bidding_setup()
    draft = draft_tender(buyer)
    unverified, bidder = make_supplier(verified=False)
    invited, _invited_user = make_supplier()
    _b, invitation, _k, outsider, outsider_user = bidding_setup(method="invitation", invitees=[invited.id])
    for org, user, url, body, status, code in (
        (_org, _user, f"/api/v1/tenders/{draft.id}/bids", _body(tender), 404, "not_found"),
        (unverified, bidder, f"/api/v1/tenders/{tender.id}/bids", _body(tender), 422, "not_verified"),
        (outsider, outsider_user, f"/api/v1/tenders/{invitation.id}/bids", _body(invitation), 422, "not_invited"),
    ):
        r = client.post(url, json=body, headers=api_headers(_token(user, org)))
        assert r.status_code == status and r.get_json()["error"]["code"] == code, r.get_json()
    assert _count() == 0


def test_other_organizations_and_roles(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    bid = svc.submit(full_bid(tender, org, user), user)
    other_org, other = make_supplier()
    h = api_headers(_token(other, other_org))
    assert client.get(f"/api/v1/tenders/{tender.id}/bids", headers=h).get_json() == []
    assert client.get(f"/api/v1/bids/{bid.id}/receipt", headers=h).status_code == 404
    assert client.get(f"/api/v1/tenders/{tender.id}/bids/{bid.id}", headers=h).status_code == 404
    r = client.post(f"/api/v1/tenders/{tender.id}/bids/{bid.id}/withdraw", headers=h)
    assert r.status_code == 404
    assert db.session.get(Bid, bid.id).status == BidStatus.SUBMITTED
    finance = make_user(org, [Role.FINANCE])
    r = client.post(f"/api/v1/tenders/{tender.id}/bids", json=_body(tender), headers=api_headers(_token(finance, org)))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    assert client.get(f"/api/v1/tenders/{tender.id}/bids", headers={"Accept": "application/json"}).status_code == 401


def test_receipt_verification_api(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    receipt = svc.submit(full_bid(tender, org, user), user).receipt
    h = api_headers(_token(user, org))
    ok = client.post("/api/v1/receipts/verify", json=receipt, headers=h)
    assert ok.status_code == 200
    body = ok.get_json()
    assert body["valid"] is True and body["platform_key_id"] == signing.key_id()
    assert body["tender_id"] == tender.id and body["parts"] == receipt["parts"]
    tampered = copy.deepcopy(receipt)
    tampered["lots"] = [1, 2, 3]
    bad = client.post("/api/v1/receipts/verify", json=tampered, headers=h).get_json()
    assert bad["valid"] is False and bad["reason"]
    junk = client.post("/api/v1/receipts/verify", data="nope", headers={**h, "Content-Type": "application/json"})
    assert junk.status_code == 200 and junk.get_json()["valid"] is False


def test_bids_api_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    for path in ("/api/v1/tenders/{tender_id}/bids", "/api/v1/tenders/{tender_id}/bids/{bid_id}/withdraw",
                 "/api/v1/bids/{bid_id}/receipt", "/api/v1/receipts/verify"):
        assert path in paths, sorted(paths)
    submit = paths["/api/v1/tenders/{tender_id}/bids"]["post"]
    assert "Idempotency-Key" in {p.get("name") for p in submit.get("parameters", [])}
    assert "requestBody" in submit and {"201", "409", "422"} <= set(submit["responses"])


def test_a_one_call_submission_takes_one_connection_and_few_statements(client, postgres_only):
    """The deadline-rush path (bench/deadline_rush.py) stays lean: one pooled connection
    for the whole request (the token read carries on as the unit of work) and 11
    statements: token, Idempotency-Key lock and record, tender lock + bidder lock + bid id
    (the tender is read there, once), lots and criteria, supersede, bid, parts,
    idempotency record, audit head, audit entry + head. Every one of them comes from SQLAlchemy's compiled cache (a
    construct without a cache key would be compiled again on every submission)."""
    _buyer, tender, _keys, org, user = bidding_setup()
    headers = api_headers(_token(user, org))
    url = f"/api/v1/tenders/{tender.id}/bids"
    first = client.post(url, json=_body(tender), headers={**headers, "Idempotency-Key": "lean-1"})
    assert first.status_code == 201  # also stamps the token's last use (once a minute)
    statements: list[str] = []
    checkouts: list[int] = []

    from sqlalchemy.engine.interfaces import CacheStats

    compiled_again: list[str] = []

    def on_statement(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split())[:80])
        if context.compiled is not None and context.cache_hit is not CacheStats.CACHE_HIT:
            compiled_again.append(statements[-1])

    def on_checkout(*args):
        checkouts.append(1)

    db.session.remove()
    sa.event.listen(db.engine, "before_cursor_execute", on_statement)
    sa.event.listen(db.engine.pool, "checkout", on_checkout)
    try:
        r = client.post(url, json=_body(tender, price=4_000_000), headers={**headers, "Idempotency-Key": "lean-2"})
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", on_statement)
        sa.event.remove(db.engine.pool, "checkout", on_checkout)
    assert r.status_code == 201, r.get_json()
    assert len(checkouts) == 1
    assert len(statements) == 11, statements
    assert compiled_again == []
