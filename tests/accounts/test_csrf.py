"""The CSRF rule (core.security.csrf_required): cookie-authenticated state changes need a
token; bearer-token requests (cookie ignored) and signed webhooks are the only exemptions."""

from __future__ import annotations

import sqlalchemy as sa
from werkzeug.test import EnvironBuilder

from accounts.models import UserSession
from accounts.services.tokens import create_token
from core import security
from core.db import db
from core.extensions import csrf
from tests.factories import make_user
from tests.helpers import api_headers, csrf_token, login, post_form

REVOKE_OTHERS = "/accounts/security/sessions/revoke-others"


def _live_sessions(user) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(UserSession).where(
            UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
        )
    )


def test_cookie_post_without_token_is_400_and_changes_nothing(client, app):
    user = make_user()
    login(app.test_client(), user)
    login(client, user)
    r = client.post(REVOKE_OTHERS)
    assert r.status_code == 400
    assert _live_sessions(user) == 2


def test_cookie_post_with_valid_token_works(client, app):
    user = make_user()
    login(app.test_client(), user)
    login(client, user)
    r = post_form(client, REVOKE_OTHERS)
    assert r.status_code == 303
    assert _live_sessions(user) == 1


def test_token_from_another_session_is_refused(client, app):
    user = make_user()
    other = app.test_client()
    login(other, user)
    login(client, user)
    foreign = csrf_token(other)
    r = client.post(REVOKE_OTHERS, data={"csrf_token": foreign})
    assert r.status_code == 400


def test_bearer_api_post_needs_no_csrf_token(client):
    user = make_user()
    row, raw = create_token(user, user.current_org_id, "ci")
    r = client.post(f"/api/v1/tokens/{row.id}/revoke", headers=api_headers(raw))
    assert r.status_code == 200
    assert r.get_json()["status"] == "revoked"


def test_cookie_authenticated_api_post_still_needs_csrf(client):
    user = make_user()
    row, _raw = create_token(user, user.current_org_id, "ci")
    login(client, user)
    r = client.post(f"/api/v1/tokens/{row.id}/revoke")
    assert r.status_code == 400
    db.session.refresh(row)
    assert row.revoked_at is None


def test_invalid_bearer_with_valid_cookie_is_401(client):
    user = make_user()
    login(client, user)
    assert client.get("/api/v1/me").status_code == 200  # the cookie alone works
    r = client.get("/api/v1/me", headers=api_headers("cnl_not-a-real-token"))
    assert r.status_code == 401


def test_bearer_header_disables_cookie_auth_so_csrf_bypass_gains_nothing(client, app):
    user = make_user()
    login(app.test_client(), user)
    login(client, user)
    r = client.post(REVOKE_OTHERS, headers={"Authorization": "Bearer junk"})
    assert r.status_code in (302, 401)
    assert _live_sessions(user) == 2


def test_valid_bearer_wins_over_another_users_cookie(client):
    alice, bob = make_user(), make_user()
    _row, raw = create_token(bob, bob.current_org_id, "ci")
    login(client, alice)
    body = client.get("/api/v1/me", headers=api_headers(raw)).get_json()
    assert body["user"]["id"] == bob.id and body["auth"] == "token"


def _rule_requires_csrf(app, rule, method="POST", headers=None) -> bool:
    builder = EnvironBuilder(path="/", method=method, headers=headers or {})
    with app.request_context(builder.get_environ()) as ctx:
        ctx.request.url_rule = rule
        return security.csrf_required(ctx.request)


def test_exemption_set_is_exactly_signed_webhooks_plus_bearer(app):
    # No Flask-WTF per-view exemptions: the only rule is core.security.csrf_required.
    assert not csrf._exempt_views and not csrf._exempt_blueprints
    for endpoint in security.SIGNED_WEBHOOK_ENDPOINTS:
        assert "webhook" in endpoint
    for rule in app.url_map.iter_rules():
        for method in {"POST", "PUT", "PATCH", "DELETE"} & (rule.methods or set()):
            exempt_without_bearer = not _rule_requires_csrf(app, rule, method)
            assert exempt_without_bearer == (rule.endpoint in security.SIGNED_WEBHOOK_ENDPOINTS), rule.endpoint
            assert not _rule_requires_csrf(app, rule, method, {"Authorization": "Bearer x"})
    for method in ("GET", "HEAD", "OPTIONS"):
        builder = EnvironBuilder(path="/", method=method)
        with app.request_context(builder.get_environ()) as ctx:
            assert not security.csrf_required(ctx.request)
