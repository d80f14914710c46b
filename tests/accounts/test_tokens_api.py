"""API tokens (created on the page, shown once, stored hashed) and /api/v1 with bearer auth."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import sqlalchemy as sa

from accounts.models import ApiToken, Membership
from accounts.services.tokens import create_token, revoke_token
from accounts.states import OrgKind, Role
from core import clock
from core.db import db, unit_of_work
from core.models.audit import AuditEntry
from tests.factories import make_org, make_user
from tests.helpers import api_headers, login, post_form


def _token_for(user, org=None, **kw):
    _row, raw = create_token(user, (org or user.memberships[0].organization).id, "test token", **kw)
    return raw


def test_token_created_on_page_is_shown_once_and_stored_hashed(client):
    org = make_org([OrgKind.SUPPLIER])
    user = make_user(org, [Role.BIDDER])
    login(client, user)
    r = post_form(client, "/accounts/tokens", {"name": "ERP", "org_id": org.id})
    assert r.status_code == 200
    raw = re.search(r'id="new-token">(cnl_[A-Za-z0-9_-]+)<', r.get_data(as_text=True)).group(1)
    assert len(raw) >= 4 + 43
    row = db.session.scalars(sa.select(ApiToken)).one()
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert row.prefix == raw[:12] and raw not in row.prefix + row.token_hash
    page = client.get("/accounts/tokens").get_data(as_text=True)
    assert raw not in page and row.prefix in page and "ERP" in page
    assert "auth.token_created" in db.session.scalars(sa.select(AuditEntry.action)).all()


def test_token_for_an_org_the_user_is_not_in_is_refused(client):
    user = make_user()
    stranger_org = make_org()
    login(client, user)
    r = post_form(client, "/accounts/tokens", {"name": "x", "org_id": stranger_org.id})
    assert r.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_me_with_token_is_scoped_to_the_tokens_org(client):
    org_a = make_org([OrgKind.SUPPLIER], name="Alpha")
    org_b = make_org([OrgKind.SME], name="Beta")
    user = make_user(org_a, [Role.BIDDER])
    with unit_of_work():
        db.session.add(Membership(user_id=user.id, org_id=org_b.id, roles=[Role.BUYER.value]))
    raw = _token_for(user, org_b)
    r = client.get("/api/v1/me", headers=api_headers(raw))
    assert r.status_code == 200
    body = r.get_json()
    assert body["user"]["email"] == user.email
    assert body["user"]["two_factor_enabled"] is False
    assert body["organization"]["id"] == org_b.id and body["organization"]["uscc"] == org_b.uscc
    assert body["roles"] == ["buyer"]
    assert body["auth"] == "token"
    assert "password_hash" not in r.get_data(as_text=True)
    row = db.session.scalars(sa.select(ApiToken)).one()
    db.session.refresh(row)
    assert row.last_used_at is not None


def test_revoked_unknown_and_expired_tokens_get_401_json(client):
    user = make_user()
    raw = _token_for(user)
    assert client.get("/api/v1/me", headers=api_headers(raw)).status_code == 200
    row = db.session.scalars(sa.select(ApiToken)).one()
    revoke_token(user, row.id)
    for token in (raw, "cnl_unknown", ""):
        r = client.get("/api/v1/me", headers=api_headers(token))
        assert r.status_code == 401
        assert r.get_json()["error"]["code"] == "unauthorized"
    expiring = _token_for(user, expires_at=clock.now() + timedelta(days=1))
    assert client.get("/api/v1/me", headers=api_headers(expiring)).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    assert client.get("/api/v1/me", headers=api_headers(expiring)).status_code == 401


def test_token_stops_working_when_membership_or_user_deactivated(client):
    from accounts.services.auth import set_user_active

    user = make_user()
    raw = _token_for(user)
    with unit_of_work():
        db.session.scalars(sa.select(Membership)).one().active = False
    assert client.get("/api/v1/me", headers=api_headers(raw)).status_code == 401
    with unit_of_work():
        db.session.scalars(sa.select(Membership)).one().active = True
    assert client.get("/api/v1/me", headers=api_headers(raw)).status_code == 200
    set_user_active(user, False)
    assert client.get("/api/v1/me", headers=api_headers(raw)).status_code == 401


def test_revoke_on_page_and_other_users_token_is_404(client):
    alice, bob = make_user(), make_user()
    _token_for(bob)
    bob_token = db.session.scalars(sa.select(ApiToken)).one()
    login(client, alice)
    assert post_form(client, f"/accounts/tokens/{bob_token.id}/revoke").status_code == 404
    db.session.refresh(bob_token)
    assert bob_token.revoked_at is None
    raw = _token_for(alice)
    mine = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == alice.id)).one()
    assert post_form(client, f"/accounts/tokens/{mine.id}/revoke").status_code == 303
    assert client.get("/api/v1/me", headers=api_headers(raw)).status_code == 401


def test_token_creation_is_rate_limited(client):
    user = make_user()
    login(client, user)
    org_id = user.memberships[0].org_id
    statuses = [post_form(client, "/accounts/tokens", {"name": f"t{i}", "org_id": org_id}).status_code for i in range(11)]
    assert statuses[-1] == 429


def test_openapi_lists_me_with_bearer_auth(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/me" in spec["paths"]
    assert {"bearerAuth": []} in spec["paths"]["/api/v1/me"]["get"]["security"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_renders_paths_and_schemas(client):
    r = client.get("/api/v1/docs")
    assert r.status_code == 200 and "text/html" in r.content_type
    html = r.get_data(as_text=True)
    assert "/api/v1/me" in html and "bearerAuth" in html and "Me" in html
    assert "cdn" not in html.lower()
