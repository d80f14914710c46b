"""/api/v1/payments: create with Idempotency-Key, read one (org-scoped), list with pagination."""

from __future__ import annotations

import sqlalchemy as sa

from accounts.services.tokens import create_token
from core.db import db
from payments.models import Payment
from tests.helpers import api_headers
from tests.payments.p2_helpers import new_payment, payer

BODY = {"purpose": "Order 12", "subject_type": "sme.order", "subject_id": "12", "amount": 35_000,
        "return_url": "/sme/orders/12"}


def _token(user, org):
    return create_token(user, org.id, "api")[1]


def _count():
    return db.session.scalar(sa.select(sa.func.count(Payment.id)))


def test_create_and_read_a_payment(client):
    org, user = payer()
    h = api_headers(_token(user, org))
    r = client.post("/api/v1/payments", json=BODY, headers=h)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "created" and body["amount"] == 35_000 and body["payer_org_id"] == org.id
    assert body["pay_url"] == f"/payments/{body['id']}" and body["provider"] == "bank_transfer"
    assert r.headers["Location"].endswith(f"/api/v1/payments/{body['id']}")
    got = client.get(f"/api/v1/payments/{body['id']}", headers=h)
    assert got.status_code == 200 and got.get_json()["id"] == body["id"]


def test_same_idempotency_key_twice_gives_one_payment(client):
    org, user = payer()
    h = api_headers(_token(user, org), **{"Idempotency-Key": "order-12-pay-1"})
    first = client.post("/api/v1/payments", json=BODY, headers=h)
    second = client.post("/api/v1/payments", json=BODY, headers=h)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert _count() == 1


def test_same_idempotency_key_with_another_body_is_422(client):
    org, user = payer()
    h = api_headers(_token(user, org), **{"Idempotency-Key": "k-1"})
    assert client.post("/api/v1/payments", json=BODY, headers=h).status_code == 201
    r = client.post("/api/v1/payments", json={**BODY, "amount": 1}, headers=h)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "idempotency_key_reused"
    assert _count() == 1


def test_invalid_body_is_422_and_creates_nothing(client):
    org, user = payer()
    h = api_headers(_token(user, org))
    for bad in ({**BODY, "amount": 0}, {**BODY, "amount": "12.5"}, {**BODY, "return_url": "https://evil.example/"},
                {k: v for k, v in BODY.items() if k != "purpose"}, {**BODY, "provider": "paypal"}):
        r = client.post("/api/v1/payments", json=bad, headers=h)
        assert r.status_code == 422, (bad, r.get_json())
    assert _count() == 0


def test_another_organization_payment_is_404_json(client):
    org, user = payer()
    other_org, other = payer()
    theirs = new_payment(other_org, other)
    r = client.get(f"/api/v1/payments/{theirs.id}", headers=api_headers(_token(user, org)))
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_without_a_token_is_401(client):
    assert client.get("/api/v1/payments", headers={"Accept": "application/json"}).status_code == 401
    r = client.post("/api/v1/payments", json=BODY, headers={"Accept": "application/json"})
    assert r.status_code in (401, 400)  # never created without authentication
    assert _count() == 0


def test_list_is_the_caller_organization_only_and_paginated(client):
    org, user = payer()
    other_org, other = payer()
    mine = [new_payment(org, user, subject_id=str(i)).id for i in range(5)]
    new_payment(other_org, other, subject_id="x")
    h = api_headers(_token(user, org))
    r = client.get("/api/v1/payments?page=1&page_size=2", headers=h)
    assert r.status_code == 200
    assert [p["id"] for p in r.get_json()] == sorted(mine, reverse=True)[:2]
    assert '"total": 5' in r.headers["X-Pagination"]
    r = client.get("/api/v1/payments?page=3&page_size=2", headers=h)
    assert [p["id"] for p in r.get_json()] == [min(mine)]


def test_allowed_providers_restrict_the_payment_page(client):
    org, user = payer()
    h = api_headers(_token(user, org))
    r = client.post("/api/v1/payments", json={**BODY, "allowed_providers": ["bank_transfer"]}, headers=h)
    assert r.status_code == 201
    row = db.session.get(Payment, r.get_json()["id"])
    assert row.metadata_["allowed_providers"] == ["bank_transfer"]


def test_payments_api_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/payments" in spec["paths"] and "post" in spec["paths"]["/api/v1/payments"]
