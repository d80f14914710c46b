"""`flask seed-demo` (accounts part) and `flask demo otp`."""

from __future__ import annotations

import pyotp
import sqlalchemy as sa

from accounts import seed
from accounts.models import Membership, Organization, User
from accounts.states import TWO_FACTOR_ROLES, CreditStatus, OrgKind, Role, Verification
from accounts.uscc import is_valid_uscc
from core import clock
from core.db import db
from core.models import AppSetting
from tests.accounts.orgs_helpers import _unlink_verifier  # noqa: F401
from tests.factories import make_org, make_user


def _run() -> list[str]:
    lines: list[str] = []
    seed.run(echo=lines.append)
    db.session.expire_all()
    return lines


def _snapshot():
    users = {u.email: (u.password_hash, u.totp_secret, u.current_org_id) for u in db.session.scalars(sa.select(User))}
    orgs = {o.uscc: (o.name_zh, o.verification, o.credit_status, o.debarred_until) for o in db.session.scalars(sa.select(Organization))}
    ms = {(m.user_id, m.org_id, tuple(m.roles)) for m in db.session.scalars(sa.select(Membership))}
    return users, orgs, ms


def test_seed_twice_gives_the_same_users_secrets_and_output():
    first = _run()
    snap = _snapshot()
    second = _run()
    assert second == first
    assert _snapshot() == snap
    assert any(seed.DEMO_PASSWORD in line for line in first)
    assert db.session.get(AppSetting, seed.DEMO_MARKER) is not None


def test_seed_covers_every_role_and_the_required_population():
    _run()
    orgs = list(db.session.scalars(sa.select(Organization)))
    assert all(is_valid_uscc(o.uscc) for o in orgs)
    held = {r for m in db.session.scalars(sa.select(Membership)) for r in m.roles}
    assert held == {r.value for r in Role}

    def count(kind):
        return sum(1 for o in orgs if o.has_kind(kind))

    assert count(OrgKind.BUYER) == 2 and count(OrgKind.SUPPLIER) == 4 and count(OrgKind.SME) == 2
    assert count(OrgKind.PROVIDER) >= 2 and count(OrgKind.CARRIER) == 1 and count(OrgKind.REGULATOR) == 1
    suppliers = [o for o in orgs if o.has_kind(OrgKind.SUPPLIER)]
    assert {o.size_class for o in suppliers} == {"micro", "small", "medium", "large"}
    assert [o.verification for o in orgs].count(Verification.PENDING) == 1
    debarred = [o for o in orgs if o.credit_status == CreditStatus.DEBARRED]
    assert len(debarred) == 1 and debarred[0].is_debarred() and debarred[0].debarred_until > clock.today_local()

    for buyer in (o for o in orgs if o.has_kind(OrgKind.BUYER)):
        roles = [r for m in buyer.memberships for r in m.roles]
        assert roles.count("procurement_officer") == 2 and roles.count("key_custodian") == 3
        assert roles.count("finance") == 1
    evaluators = [m for m in db.session.scalars(sa.select(Membership)) if m.has_role(Role.EVALUATOR)]
    assert len(evaluators) == 7

    for user in db.session.scalars(sa.select(User)):
        roles = {r for m in user.memberships for r in m.roles}
        needs = bool(roles & {r.value for r in TWO_FACTOR_ROLES})
        assert bool(user.totp_secret) is needs, user.email
        assert user.current_org_id is not None


def test_seed_keeps_existing_data_untouched():
    _run()
    user = db.session.scalar(sa.select(User).where(User.email == "officer1@edu.example.com"))
    user.display_name = "改过的名字"
    db.session.commit()
    _run()
    assert db.session.get(User, user.id).display_name == "改过的名字"


def test_demo_otp_refused_on_a_database_not_made_by_seed_demo(app):
    org = make_org([OrgKind.BUYER])
    officer = make_user(org, [Role.PROCUREMENT_OFFICER])
    result = app.test_cli_runner().invoke(args=["demo", "otp", officer.email])
    assert result.exit_code == 1
    assert "not made by `flask seed-demo`" in result.output


def test_demo_otp_prints_the_current_code_and_refuses_users_without_2fa(app):
    _run()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "otp", "officer1@edu.example.com"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.email == "officer1@edu.example.com"))
    assert result.output.strip() == pyotp.TOTP(user.totp_secret).at(clock.now())
    no_2fa = runner.invoke(args=["demo", "otp", "bidder@canalit.example.com"])
    assert no_2fa.exit_code == 1 and "does not use two-factor" in no_2fa.output
    unknown = runner.invoke(args=["demo", "otp", "nobody@example.com"])
    assert unknown.exit_code == 1


def test_demo_otp_names_a_secret_that_no_longer_opens(app, monkeypatch):
    _run()
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-rotated-secret")  # no fallback kept
    db.session.expire_all()
    result = app.test_cli_runner().invoke(args=["demo", "otp", "officer1@edu.example.com"])
    assert result.exit_code == 1 and "no longer opens" in result.output and "reset-2fa" in result.output
