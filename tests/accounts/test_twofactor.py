"""TOTP second step, replay refusal, recovery codes, set-up, enforcement for 2FA roles."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import sqlalchemy as sa

from accounts.models import RecoveryCode, User
from accounts.services import twofactor
from accounts.states import OrgKind, Role
from core import clock
from core.db import db, unit_of_work
from core.models.audit import AuditEntry
from tests.factories import DEFAULT_PASSWORD, make_org, make_user
from tests.helpers import api_headers, login, post_form

SECURITY = "/accounts/security"
SETUP = "/accounts/security/2fa/setup"


def _code(user) -> str:
    """The TOTP code at core.clock's time (factories.totp_now reads the wall clock)."""
    return pyotp.TOTP(user.totp_secret).at(clock.now())


def _officer(totp=True):
    return make_user(make_org([OrgKind.BUYER]), [Role.PROCUREMENT_OFFICER], totp=totp)


def _password_step(client, user):
    r = post_form(client, "/accounts/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    assert r.status_code == 303 and r.headers["Location"].endswith("/accounts/login/2fa")
    return r


def _actions():
    return list(db.session.scalars(sa.select(AuditEntry.action)))


def test_password_alone_does_not_log_in_a_2fa_user(client):
    user = _officer()
    _password_step(client, user)
    assert client.get(SECURITY).status_code == 302
    assert client.get("/accounts/login/2fa").status_code == 200


def test_wrong_code_refused_correct_code_logs_in(client):
    user = _officer()
    clock.set_time(clock.now())
    _password_step(client, user)
    good = _code(user)
    wrong = "000000" if good != "000000" else "111111"
    r = post_form(client, "/accounts/login/2fa", {"code": wrong})
    assert r.status_code == 200 and b"The code is not valid" in r.data
    assert client.get(SECURITY).status_code == 302
    r = post_form(client, "/accounts/login/2fa", {"code": good})
    assert r.status_code == 303
    assert client.get(SECURITY).status_code == 200


def test_replayed_code_is_refused(client, app):
    user = _officer()
    clock.set_time(clock.now())
    code = _code(user)
    _password_step(client, user)
    assert post_form(client, "/accounts/login/2fa", {"code": code}).status_code == 303
    other = app.test_client()
    _password_step(other, user)
    r = post_form(other, "/accounts/login/2fa", {"code": code})
    assert r.status_code == 200 and b"The code is not valid" in r.data
    assert other.get(SECURITY).status_code == 302


def test_code_from_the_previous_step_is_accepted_but_not_older(client):
    user = _officer()
    clock.set_time(clock.now())
    totp = pyotp.TOTP(user.totp_secret)
    previous = totp.at(clock.now() - timedelta(seconds=30))
    old = totp.at(clock.now() - timedelta(seconds=90))
    _password_step(client, user)
    if old != previous:
        r = post_form(client, "/accounts/login/2fa", {"code": old})
        assert b"The code is not valid" in r.data
    assert post_form(client, "/accounts/login/2fa", {"code": previous}).status_code == 303


def test_pending_marker_expires_after_five_minutes(client):
    user = _officer()
    clock.set_time(clock.now())
    _password_step(client, user)
    clock.advance(timedelta(minutes=6))
    r = post_form(client, "/accounts/login/2fa", {"code": _code(user)})
    assert r.status_code == 302 and "/accounts/login" in r.headers["Location"]
    assert client.get(SECURITY).status_code == 302


def test_repeated_wrong_codes_lock_the_account(client, app):
    user = _officer()
    _password_step(client, user)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        r = post_form(client, "/accounts/login/2fa", {"code": "12345x"})
    assert b"locked until" in r.data
    r = post_form(client, "/accounts/login/2fa", {"code": _code(user)})
    assert client.get(SECURITY).status_code == 302


def _enable_2fa_through_pages(client, user) -> list[str]:
    page = client.get(SETUP)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in html
    secret = re.search(r'<code class="user-select-all fs-6">([A-Z2-7]+)</code>', html).group(1)
    r = post_form(client, SETUP, {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200
    codes = re.findall(r"<li class=\"col\">([a-z0-9]{4}-[a-z0-9]{4})</li>", r.get_data(as_text=True))
    assert len(codes) == 10
    return codes


def test_setup_shows_qr_then_recovery_codes_once_and_recovery_code_works_once(client, app):
    user = make_user(totp=False)
    login(client, user)
    codes = _enable_2fa_through_pages(client, user)
    db.session.refresh(user)
    assert user.two_factor_enabled
    stored = db.session.scalars(sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10 and codes[0] not in stored  # only hashes are kept
    assert "auth.2fa_enabled" in _actions()
    # A recovery code replaces the TOTP code, once.
    c1 = app.test_client()
    _password_step(c1, user)
    assert post_form(c1, "/accounts/login/2fa", {"code": codes[0].upper()}).status_code == 303
    assert c1.get(SECURITY).status_code == 200
    assert "auth.recovery_code_used" in _actions()
    c2 = app.test_client()
    _password_step(c2, user)
    r = post_form(c2, "/accounts/login/2fa", {"code": codes[0]})
    assert b"The code is not valid" in r.data
    assert post_form(c2, "/accounts/login/2fa", {"code": codes[1].replace("-", "")}).status_code == 303


def test_the_totp_secret_is_sealed_at_rest_and_follows_a_key_rotation(client, app, monkeypatch):
    user = make_user(totp=False)
    login(client, user)
    _enable_2fa_through_pages(client, user)
    db.session.expire_all()
    user = db.session.get(User, user.id)
    secret = user.totp_secret
    assert secret and len(secret) >= 16
    stored = db.session.execute(sa.text("SELECT sealed_totp_secret FROM users WHERE id = :id"), {"id": user.id}).scalar()
    assert secret.encode() not in bytes(stored)
    # rotated, the old key kept as a fallback: codes still work (each step once)
    clock.set_time(clock.now() + timedelta(seconds=30))
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-rotated-secret")
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", ["test-secret"])
    assert twofactor.check_code(user, _code_of(secret))
    # the old key dropped: the secret no longer opens and no code is accepted (no error)
    clock.set_time(clock.now() + timedelta(seconds=30))
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])
    assert user.totp_secret is None and not twofactor.check_code(user, _code_of(secret))


def _code_of(secret: str) -> str:
    return pyotp.TOTP(secret).at(clock.now())


def test_the_secret_being_set_up_is_sealed_in_the_session(client, app):
    user = make_user(totp=False)
    login(client, user)
    html = client.get(SETUP).get_data(as_text=True)
    secret = re.search(r'<code class="user-select-all fs-6">([A-Z2-7]+)</code>', html).group(1)
    with client.session_transaction() as sess:
        token = sess["totp_setup_secret"]
    assert secret not in token and twofactor.open_setup_secret(user, token) == secret
    assert re.search(r'<code class="user-select-all fs-6">([A-Z2-7]+)</code>',
                     client.get(SETUP).get_data(as_text=True)).group(1) == secret  # the same secret on reload
    assert twofactor.open_setup_secret(make_user(totp=False), token) is None  # bound to its user
    assert twofactor.open_setup_secret(user, "not-a-token") is None


def test_an_operator_resets_two_factor_from_the_command_line(client, app):
    user = _officer()
    with unit_of_work():
        db.session.add(RecoveryCode(user_id=user.id, code_hash="x" * 64, created_at=clock.now()))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["accounts", "reset-2fa", user.email.upper(), "--reason", "ticket 42: lost phone",
                                 "--yes"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    row = db.session.get(User, user.id)
    assert row.totp_enabled_at is None and row.sealed_totp_secret is None and row.totp_last_step is None
    assert not db.session.scalars(sa.select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "auth.2fa_reset"))
    assert entry.obj_id == str(user.id) and entry.data == {"reason": "ticket 42: lost phone"}
    assert entry.actor_kind == "system"
    # the role needs 2FA: the password alone signs in, for the set-up only
    assert login(client, user).status_code == 303
    r = client.get(SECURITY)
    assert r.status_code == 302 and r.headers["Location"].endswith(SETUP)
    again = runner.invoke(args=["accounts", "reset-2fa", user.email, "--reason", "x", "--yes"])
    assert again.exit_code != 0 and "does not use two-factor" in again.output
    other = _officer()
    blank = runner.invoke(args=["accounts", "reset-2fa", other.email, "--reason", "  ", "--yes"])
    assert blank.exit_code != 0 and "reason" in blank.output
    db.session.expire_all()
    assert db.session.get(User, other.id).two_factor_enabled  # nothing changed
    missing = runner.invoke(args=["accounts", "reset-2fa", "nobody@example.test", "--reason", "x", "--yes"])
    assert missing.exit_code != 0 and "no user" in missing.output


def test_setup_with_wrong_code_does_not_enable(client):
    user = make_user(totp=False)
    login(client, user)
    client.get(SETUP)
    r = post_form(client, SETUP, {"code": "000000"})
    assert r.status_code == 200 and b"The code is not valid" in r.data
    db.session.refresh(user)
    assert not user.two_factor_enabled


def test_officer_without_2fa_is_sent_to_setup_and_api_token_refused(client):
    user = _officer(totp=False)
    r = login(client, user)
    assert r.status_code == 303  # logged in...
    r = client.get(SECURITY)
    assert r.status_code == 302 and r.headers["Location"].endswith(SETUP)  # ...but only for set-up
    assert client.get("/accounts/dashboard").headers["Location"].endswith(SETUP)
    assert client.get(SETUP).status_code == 200
    r = client.get("/accounts/tokens")
    assert r.headers["Location"].endswith(SETUP)
    r = client.get("/api/v1/me", headers={"Accept": "application/json"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "two_factor_required"
    # A token created earlier (e.g. before the role was granted) does not work either.
    import pytest

    from accounts.services.tokens import create_token
    from core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        create_token(user, user.current_org_id, "x")


def test_existing_token_stops_working_when_2fa_becomes_required(client):
    from accounts.models import Membership
    from accounts.services.tokens import create_token
    from core.db import unit_of_work

    org = make_org([OrgKind.BUYER])
    user = make_user(org, [Role.ORG_ADMIN], totp=False)
    _token, raw = create_token(user, org.id, "ci")
    assert client.get("/api/v1/me", headers=api_headers(raw)).status_code == 200
    with unit_of_work():
        m = db.session.scalars(sa.select(Membership).where(Membership.user_id == user.id)).one()
        m.roles = [Role.ORG_ADMIN.value, Role.PROCUREMENT_OFFICER.value]
    assert client.get("/api/v1/me", headers=api_headers(raw)).status_code == 401


def test_officer_can_set_up_2fa_then_reach_pages(client):
    user = _officer(totp=False)
    login(client, user)
    _enable_2fa_through_pages(client, user)
    assert client.get(SECURITY).status_code == 200


def test_disable_needs_password_and_code_and_is_refused_for_required_roles(client, app):
    user = make_user(totp=True)
    clock.set_time(clock.now())
    login(client, user)
    clock.advance(timedelta(seconds=30))
    r = post_form(client, "/accounts/security/2fa/disable", {"password": "wrong-password-1", "code": _code(user)})
    assert r.status_code == 422
    db.session.refresh(user)
    assert user.two_factor_enabled
    r = post_form(client, "/accounts/security/2fa/disable", {"password": DEFAULT_PASSWORD, "code": _code(user)})
    assert r.status_code == 303, re.findall(r'invalid-feedback">([^<]*)', r.get_data(as_text=True))
    db.session.refresh(user)
    assert not user.two_factor_enabled
    assert "auth.2fa_disabled" in _actions()

    officer = _officer()
    other = app.test_client()
    login(other, officer)
    clock.advance(timedelta(seconds=30))
    r = post_form(other, "/accounts/security/2fa/disable", {"password": DEFAULT_PASSWORD, "code": _code(officer)})
    assert r.status_code == 403
    db.session.refresh(officer)
    assert officer.two_factor_enabled


def test_regenerating_recovery_codes_invalidates_old_ones(client):
    user = make_user(totp=True)
    login(client, user)
    r = post_form(client, "/accounts/security/recovery-codes", {"password": DEFAULT_PASSWORD})
    codes = re.findall(r"<li class=\"col\">([a-z0-9]{4}-[a-z0-9]{4})</li>", r.get_data(as_text=True))
    assert len(codes) == 10
    r = post_form(client, "/accounts/security/recovery-codes", {"password": DEFAULT_PASSWORD})
    db.session.expire_all()
    assert twofactor.remaining_recovery_codes(db.session.get(User, user.id)) == 10
    u = db.session.get(User, user.id)
    from tests.helpers import logout

    logout(client)
    _password_step(client, u)
    r = post_form(client, "/accounts/login/2fa", {"code": codes[0]})
    assert b"The code is not valid" in r.data


def test_same_code_submitted_concurrently_is_accepted_once(app, postgres_only):
    import threading

    from core.errors import DomainError

    user = _officer()
    code = _code(user)
    results: list[str] = []
    barrier = threading.Barrier(6)

    def attempt():
        with app.app_context():
            barrier.wait()
            try:
                twofactor.verify_second_factor(user.id, code)
                results.append("ok")
            except DomainError:
                results.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] + ["refused"] * 5


def test_login_helper_handles_repeated_logins_of_a_2fa_user(app):
    user = _officer()
    clock.set_time(clock.now())
    for _ in range(4):
        c = app.test_client()
        assert login(c, user).status_code == 303
        assert c.get(SECURITY).status_code == 200
