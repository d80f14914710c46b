"""Sign-in: generic errors, lockout and cool-down, per-IP rate limit, rehash, audit."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from accounts.models import User
from accounts.passwords import _hasher_for, needs_rehash
from core import clock
from core.db import db, unit_of_work
from core.models.audit import AuditEntry
from tests.factories import DEFAULT_PASSWORD, make_org, make_user
from tests.helpers import login, logout, post_form


def _is_logged_in(client) -> bool:
    return client.get("/accounts/security").status_code == 200


def _audit_actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_login_page_renders(client):
    response = client.get("/accounts/login")
    assert response.status_code == 200
    assert b'name="password"' in response.data


def test_correct_password_logs_in_and_is_audited(client):
    user = make_user()
    response = login(client, user)
    assert response.status_code == 303
    assert _is_logged_in(client)
    assert "auth.login" in _audit_actions()
    db.session.refresh(user)
    assert user.last_login_at is not None


def test_wrong_password_and_unknown_email_give_the_same_generic_error(client):
    user = make_user()
    wrong = post_form(client, "/accounts/login", {"email": user.email, "password": "not-the-password"})
    unknown = post_form(client, "/accounts/login", {"email": "nobody@example.test", "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 200
    assert b"Email or password is incorrect" in wrong.data
    assert b"Email or password is incorrect" in unknown.data
    assert not _is_logged_in(client)
    assert _audit_actions().count("auth.login_failed") == 2


def test_email_is_case_insensitive(client):
    user = make_user(email="Mixed.Case@Example.test")
    response = post_form(client, "/accounts/login", {"email": "MIXED.case@example.TEST", "password": DEFAULT_PASSWORD})
    assert response.status_code == 303
    assert user.email == "mixed.case@example.test"


def test_64_char_password_works_and_its_63_char_prefix_does_not(client):
    password = "a very long passphrase of exactly sixty-four characters long!!xy"
    assert len(password) == 64
    user = make_user(password=password)
    assert post_form(client, "/accounts/login", {"email": user.email, "password": password[:63]}).status_code == 200
    assert not _is_logged_in(client)
    assert login(client, user, password=password).status_code == 303
    assert _is_logged_in(client)


def test_lockout_after_max_failures_then_real_user_gets_in_after_cool_down(client, app):
    user = make_user()
    max_failures = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(max_failures - 1):
        r = post_form(client, "/accounts/login", {"email": user.email, "password": "wrong-password-x"})
        assert b"Email or password is incorrect" in r.data
    r = post_form(client, "/accounts/login", {"email": user.email, "password": "wrong-password-x"})
    assert b"locked until" in r.data
    # Even the right password is refused while locked, with the time given.
    r = login(client, user)
    assert r.status_code == 200
    assert b"locked until" in r.data
    assert not _is_logged_in(client)
    assert "auth.lockout" in _audit_actions()
    clock.advance(app.config["LOGIN_LOCKOUT"] + timedelta(seconds=1))
    assert login(client, user).status_code == 303
    assert _is_logged_in(client)
    db.session.refresh(user)
    assert user.failed_logins == 0 and user.locked_until is None


def test_failures_spread_beyond_the_window_do_not_lock(client, app):
    user = make_user()
    for _ in range(app.config["LOGIN_MAX_FAILURES"] + 2):
        post_form(client, "/accounts/login", {"email": user.email, "password": "wrong-password-x"})
        clock.advance(app.config["LOGIN_LOCKOUT"] + timedelta(minutes=1))
    assert login(client, user).status_code == 303


def test_per_ip_rate_limit_gives_429(client, app):
    statuses = []
    for i in range(11):
        r = post_form(client, "/accounts/login", {"email": f"x{i}@example.test", "password": "whatever-pw"})
        statuses.append(r.status_code)
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429
    assert "text/html" in r.content_type
    # Another client address is not affected.
    other = post_form(client, "/accounts/login", {"email": "y@example.test", "password": "whatever-pw"},
                      environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200


def test_rate_limit_applies_to_reset_requests(client):
    statuses = [post_form(client, "/accounts/password/reset", {"email": "a@example.test"}).status_code for _ in range(7)]
    assert 429 in statuses


def test_disabled_user_cannot_log_in(client):
    user = make_user()
    with unit_of_work():
        db.session.get(User, user.id).active = False
    r = login(client, user)
    assert r.status_code == 200
    assert b"Email or password is incorrect" in r.data


def test_outdated_hash_is_upgraded_at_login(client):
    user = make_user()
    weak = _hasher_for(1, 4096, 1).hash(DEFAULT_PASSWORD)
    with unit_of_work():
        db.session.get(User, user.id).password_hash = weak
    assert needs_rehash(weak)
    assert login(client, user).status_code == 303
    db.session.expire_all()
    stored = db.session.get(User, user.id).password_hash
    assert stored != weak and not needs_rehash(stored)


def test_next_parameter_is_followed_only_within_the_site(client):
    user = make_user()
    r = post_form(client, "/accounts/login", {"email": user.email, "password": DEFAULT_PASSWORD, "next": "/accounts/security"})
    assert r.headers["Location"].endswith("/accounts/security")
    logout(client)
    r = post_form(client, "/accounts/login", {"email": user.email, "password": DEFAULT_PASSWORD, "next": "//evil.example/x"})
    assert "evil.example" not in r.headers["Location"]


def test_unauthenticated_page_redirects_to_login_with_next(client):
    r = client.get("/accounts/security")
    assert r.status_code == 302
    assert "/accounts/login" in r.headers["Location"]
    assert "next=" in r.headers["Location"]


def test_logout_is_audited(client):
    user = make_user(make_org())
    login(client, user)
    logout(client)
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "auth.logout")).one()
    assert entry.actor_kind == "user" and entry.actor_user_id == user.id
    assert entry.actor_org_id == user.current_org_id
    assert not _is_logged_in(client)


def test_failed_login_is_audited_as_system_without_the_password(client):
    user = make_user()
    post_form(client, "/accounts/login", {"email": user.email, "password": "Secret-Guess-123"})
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "auth.login_failed")).one()
    assert entry.actor_kind == "system" and entry.obj_id == str(user.id)
    assert "Secret-Guess-123" not in str(entry.data)
