"""Server-side sessions: rotation at login, revocation at logout/disable/reset, idle and absolute limits."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from accounts.auth import revoke_all_sessions
from accounts.models import UserSession
from accounts.services.auth import set_user_active
from core import clock
from core.db import db, unit_of_work
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.helpers import login, logout, post_form

SECURITY = "/accounts/security"


def _cookie(client, app):
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return cookie.value if cookie else None


def _replay(app, value):
    other = app.test_client()
    other.set_cookie(app.config["SESSION_COOKIE_NAME"], value)
    return other


def test_session_cookie_rotates_at_login_and_old_cookie_is_not_authenticated(client, app):
    user = make_user()
    client.get("/accounts/login")
    post_form(client, "/accounts/login", {"email": "nobody@example.test", "password": "whatever-pw"})
    before = _cookie(client, app)
    assert before
    login(client, user)
    after = _cookie(client, app)
    assert after and after != before
    assert _replay(app, before).get(SECURITY).status_code == 302
    assert _replay(app, after).get(SECURITY).status_code == 200


def test_cookie_replayed_after_logout_is_refused(client, app):
    user = make_user()
    login(client, user)
    captured = _cookie(client, app)
    assert _replay(app, captured).get(SECURITY).status_code == 200
    logout(client)
    assert client.get(SECURITY).status_code == 302
    assert _replay(app, captured).get(SECURITY).status_code == 302
    row = db.session.scalars(sa.select(UserSession)).one()
    assert row.revoked_at is not None and row.revoked_reason == "logout"


def test_cookie_replayed_after_user_disabled_is_refused(client, app):
    user = make_user()
    login(client, user)
    captured = _cookie(client, app)
    set_user_active(user, False)
    assert _replay(app, captured).get(SECURITY).status_code == 302
    # Re-enabling the user does not revive the revoked session.
    set_user_active(user, True)
    assert _replay(app, captured).get(SECURITY).status_code == 302


def test_json_request_with_dead_session_gets_401(client, app):
    user = make_user()
    login(client, user)
    with unit_of_work():
        revoke_all_sessions(user, "test")
    r = client.get("/api/v1/me")
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "unauthorized"


def test_idle_31_minutes_requires_login_again(client):
    user = make_user()
    clock.set_time(clock.now())
    login(client, user)
    clock.advance(timedelta(minutes=29))
    assert client.get(SECURITY).status_code == 200
    clock.advance(timedelta(minutes=29))  # activity above kept it alive
    assert client.get(SECURITY).status_code == 200
    clock.advance(timedelta(minutes=31))
    assert client.get(SECURITY).status_code == 302
    row = db.session.scalars(sa.select(UserSession)).one()
    assert row.revoked_reason == "idle_timeout"


def test_absolute_12_hours_requires_login_again_despite_activity(client):
    user = make_user()
    clock.set_time(clock.now())
    login(client, user)
    for _ in range(11 * 4 + 3):  # active every 15 minutes for 11h45
        clock.advance(timedelta(minutes=15))
        assert client.get(SECURITY).status_code == 200
    clock.advance(timedelta(minutes=15))  # 12h after login
    assert client.get(SECURITY).status_code == 302


def test_session_list_and_sign_out_other_sessions(client, app):
    user = make_user()
    other = app.test_client()
    login(other, user)
    login(client, user)
    page = client.get(SECURITY).get_data(as_text=True)
    assert "This session" in page
    assert page.count("/revoke\"") == 1  # the other session has a sign-out button
    r = post_form(client, "/accounts/security/sessions/revoke-others")
    assert r.status_code == 303
    assert other.get(SECURITY).status_code == 302
    assert client.get(SECURITY).status_code == 200


def test_revoking_another_users_session_is_404(client, app):
    alice, bob = make_user(), make_user()
    login(app.test_client(), bob)
    bob_session = db.session.scalars(sa.select(UserSession).where(UserSession.user_id == bob.id)).one()
    login(client, alice)
    r = post_form(client, f"/accounts/security/sessions/{bob_session.id}/revoke")
    assert r.status_code == 404
    db.session.refresh(bob_session)
    assert bob_session.revoked_at is None


def test_password_change_signs_out_other_sessions_but_keeps_this_one(client, app):
    user = make_user()
    other = app.test_client()
    login(other, user)
    login(client, user)
    new = "a brand new passphrase 42"
    r = post_form(client, "/accounts/security/password", {"current_password": DEFAULT_PASSWORD, "new_password": new, "confirm": new})
    assert r.status_code == 303
    assert client.get(SECURITY).status_code == 200
    assert other.get(SECURITY).status_code == 302
    logout(client)
    assert login(client, user, password=new).status_code == 303


def test_password_change_needs_current_password_and_policy(client):
    user = make_user()
    login(client, user)
    r = post_form(client, "/accounts/security/password", {"current_password": "wrong-one-here", "new_password": "another good one", "confirm": "another good one"})
    assert r.status_code == 422 and b"current password is incorrect" in r.data
    r = post_form(client, "/accounts/security/password", {"current_password": DEFAULT_PASSWORD, "new_password": "password1234", "confirm": "password1234"})
    assert r.status_code == 422 and b"too common" in r.data


def test_email_change_needs_current_password(client):
    user = make_user()
    login(client, user)
    r = post_form(client, "/accounts/security/email", {"email": "new.address@example.test", "password": "wrong-one-here"})
    assert r.status_code == 422
    db.session.refresh(user)
    assert user.email != "new.address@example.test"
    r = post_form(client, "/accounts/security/email", {"email": "new.address@example.test", "password": DEFAULT_PASSWORD})
    assert r.status_code == 303
    db.session.refresh(user)
    assert user.email == "new.address@example.test"


def test_session_cookie_flags(client, app):
    user = make_user()
    r = login(client, user)
    header = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith(app.config["SESSION_COOKIE_NAME"]))
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
