"""Members, invitations, roles, deactivation and the organization switch."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from accounts.models import Membership, User, UserSession
from accounts.services import members
from accounts.states import OrgKind, Role
from core import clock
from core.db import db
from core.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.notifications import last_email
from tests.accounts.orgs_helpers import (  # noqa: F401
    GOOD_PASSWORD,
    _unlink_verifier,
    audit_actions,
    english,
    reload,
)
from tests.factories import make_org, make_user
from tests.helpers import login, post_form


@pytest.fixture
def supplier():
    org = make_org([OrgKind.SUPPLIER])
    admin = make_user(org, [Role.ORG_ADMIN])
    return org, admin


# --------------------------------------------------------------------------- invitations


def test_invitation_stores_only_a_hash_and_emails_the_link(supplier):
    org, admin = supplier
    inv, token = members.invite(org, admin, "New.Bidder@Example.com", ["bidder"])
    assert inv.email == "new.bidder@example.com"
    assert inv.token_hash == members.hash_token(token) and token not in inv.token_hash
    assert inv.expires_at == clock.now() + timedelta(days=7) or inv.expires_at > clock.now() + timedelta(days=6)
    mail = last_email("new.bidder@example.com")
    assert mail is not None and token in mail["text"]
    entry_actions = audit_actions("invitation", inv.id)
    assert entry_actions == ["invitation.created"]


def test_invitable_roles_follow_the_org_kinds(supplier):
    org, admin = supplier
    assert set(members.grantable_roles(org)) == {Role.ORG_ADMIN, Role.BIDDER, Role.FINANCE}
    with pytest.raises(ValidationError):
        members.invite(org, admin, "x@example.com", ["procurement_officer"])
    with pytest.raises(ValidationError):
        members.invite(org, admin, "x@example.com", ["platform_admin"])
    with pytest.raises(ValidationError):
        members.invite(org, admin, "x@example.com", [])


def test_invited_person_creates_an_account_once(client, supplier):
    org, admin = supplier
    _inv, token = members.invite(org, admin, "newcomer@example.com", ["bidder"])
    page = client.get(f"/accounts/invitations/{token}")
    assert page.status_code == 200 and org.name_en in page.get_data(as_text=True)
    response = post_form(
        client,
        f"/accounts/invitations/{token}",
        {"signup-display_name": "新同事", "signup-password": GOOD_PASSWORD, "signup-password2": GOOD_PASSWORD,
         "signup-locale": "en"},
    )
    assert response.status_code == 303
    user = db.session.scalar(sa.select(User).where(User.email == "newcomer@example.com"))
    m = db.session.scalar(sa.select(Membership).where(Membership.user_id == user.id))
    assert m.org_id == org.id and m.roles == ["bidder"]
    assert client.get("/accounts/dashboard").status_code == 200  # signed in
    # used once
    assert client.get(f"/accounts/invitations/{token}").status_code == 410
    with pytest.raises(InvalidTransition):
        members.accept_invitation(token, admin)


def test_logged_in_user_accepts_with_the_current_account(client, supplier):
    org, admin = supplier
    other_org = make_org([OrgKind.SME])
    person = make_user(other_org, [Role.BUYER])
    _inv, token = members.invite(org, admin, person.email, ["bidder"])
    login(client, person)
    assert post_form(client, f"/accounts/invitations/{token}", {"accept-submit": "1"}).status_code == 303
    person = reload(person)
    assert {m.org_id for m in person.memberships if m.active} == {org.id, other_org.id}
    assert person.current_org_id == org.id


def test_expired_and_revoked_invitations_cannot_be_used(client, supplier):
    org, admin = supplier
    inv, token = members.invite(org, admin, "late@example.com", ["bidder"])
    clock.advance(timedelta(days=7, seconds=1))
    assert client.get(f"/accounts/invitations/{token}").status_code == 410
    with pytest.raises(InvalidTransition):
        members.accept_invitation_new_user(token, "Late", GOOD_PASSWORD)
    clock.reset()

    inv2, token2 = members.invite(org, admin, "revoked@example.com", ["bidder"])
    login(client, admin)
    assert post_form(client, f"/accounts/org/invitations/{inv2.id}/revoke").status_code == 303
    assert reload(inv2).revoked_at is not None
    client2 = client.application.test_client()
    assert client2.get(f"/accounts/invitations/{token2}").status_code == 410
    assert client2.get("/accounts/invitations/not-a-real-token").status_code == 404
    with pytest.raises(NotFound):
        members.accept_invitation("not-a-real-token", admin)
    assert db.session.scalar(sa.select(sa.func.count(User.id)).where(User.email.in_(["late@example.com", "revoked@example.com"]))) == 0
    assert "invitation.revoked" in audit_actions("invitation", inv2.id)


def test_invite_through_the_page_shows_the_link_once(client, supplier):
    org, admin = supplier
    login(client, admin)
    response = post_form(client, "/accounts/org/members/invite", {"invite-email": "fresh@example.com", "invite-roles": ["bidder"]})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    link = re.search(r"/accounts/invitations/([A-Za-z0-9_\-]{30,})", html)
    assert link is not None
    assert members.find_invitation(link.group(1)).email == "fresh@example.com"
    again = client.get("/accounts/org/members").get_data(as_text=True)
    assert link.group(1) not in again and "fresh@example.com" in again


# --------------------------------------------------------------------------- roles


def test_last_admin_cannot_drop_the_admin_role(client, supplier):
    org, admin = supplier
    m = admin.memberships[0]
    with pytest.raises(Conflict) as exc:
        members.change_roles(m, admin, ["bidder"])
    assert exc.value.code == "last_admin"
    assert reload(m).roles == ["org_admin"]

    second = make_user(org, [Role.BIDDER])
    members.change_roles(second.memberships[0], admin, ["org_admin", "bidder"])
    members.change_roles(m, admin, ["bidder"])  # another admin remains: allowed
    assert reload(m).roles == ["bidder"]
    with pytest.raises(Conflict):
        members.change_roles(reload(second).memberships[0], second, ["finance"])
    assert audit_actions("membership").count("membership.roles_changed") == 2


def test_role_change_through_the_page(client, supplier):
    org, admin = supplier
    bidder = make_user(org, [Role.BIDDER])
    mid = bidder.memberships[0].id
    login(client, admin)
    r = post_form(client, f"/accounts/org/members/{mid}/roles", {f"m{mid}-roles": ["bidder", "finance"]})
    assert r.status_code == 303
    assert reload(bidder.memberships[0]).roles == ["bidder", "finance"]
    bad = post_form(client, f"/accounts/org/members/{mid}/roles", {f"m{mid}-roles": ["evaluator"]})
    assert bad.status_code == 303  # refused with a flashed message
    assert reload(bidder.memberships[0]).roles == ["bidder", "finance"]


def test_deactivation_ends_sessions_and_access(client, supplier):
    org, admin = supplier
    bidder = make_user(org, [Role.BIDDER])
    bidder_client = client.application.test_client()
    login(bidder_client, bidder)
    assert bidder_client.get("/accounts/dashboard").status_code == 200
    live = db.session.scalar(sa.select(sa.func.count(UserSession.id)).where(UserSession.user_id == bidder.id, UserSession.revoked_at.is_(None)))
    assert live == 1

    login(client, admin)
    assert post_form(client, f"/accounts/org/members/{bidder.memberships[0].id}/deactivate").status_code == 303
    assert reload(bidder.memberships[0]).active is False
    live = db.session.scalar(sa.select(sa.func.count(UserSession.id)).where(UserSession.user_id == bidder.id, UserSession.revoked_at.is_(None)))
    assert live == 0
    assert bidder_client.get("/accounts/dashboard").status_code in (302, 303)
    assert "membership.deactivated" in audit_actions("membership")


def test_admins_cannot_deactivate_themselves_or_the_last_admin(supplier):
    org, admin = supplier
    with pytest.raises(Conflict):
        members.deactivate_member(admin.memberships[0], admin)
    assert reload(admin.memberships[0]).active


# --------------------------------------------------------------------------- switch


def test_switching_to_an_own_org_changes_the_current_org(client):
    a = make_org([OrgKind.SUPPLIER], name="甲")
    b = make_org([OrgKind.SME], name="乙")
    user = make_user(a, [Role.BIDDER])
    db.session.add(Membership(user_id=user.id, org_id=b.id, roles=["buyer"]))
    db.session.commit()
    login(client, user)
    r = post_form(client, "/accounts/switch-org", {"org_id": b.id, "next": "/accounts/org"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/accounts/org")
    assert reload(user).current_org_id == b.id
    assert "乙" in client.get("/accounts/org").get_data(as_text=True)


def test_switching_to_a_foreign_or_inactive_org_is_404(client):
    a = make_org(name="甲")
    foreign = make_org(name="丙")
    user = make_user(a, [Role.BIDDER])
    login(client, user)
    assert post_form(client, "/accounts/switch-org", {"org_id": foreign.id}).status_code == 404
    assert post_form(client, "/accounts/switch-org", {"org_id": "abc"}).status_code == 404
    assert reload(user).current_org_id == a.id
    r = post_form(client, "/accounts/switch-org", {"org_id": a.id, "next": "https://evil.example.com/"})
    assert r.headers["Location"].endswith("/accounts/dashboard")


def test_nav_context_lists_memberships(client, app):
    a = make_org(name="甲单位")
    b = make_org(name="乙单位")
    user = make_user(a, [Role.BIDDER])
    db.session.add(Membership(user_id=user.id, org_id=b.id, roles=["org_admin"]))
    db.session.commit()
    login(client, user)
    captured = {}

    from flask import template_rendered

    def record(sender, template, context, **extra):
        captured.update({k: context.get(k) for k in ("nav_memberships", "nav_org", "nav_roles", "is_platform_admin")})

    template_rendered.connect(record, app)
    try:
        client.get("/accounts/dashboard")
    finally:
        template_rendered.disconnect(record, app)
    assert [(oid, cur) for oid, _name, cur in captured["nav_memberships"]] == [(a.id, True), (b.id, False)]
    assert captured["nav_org"].id == a.id
    assert captured["nav_roles"] == {"bidder"}
    assert captured["is_platform_admin"] is False


def test_two_admins_removing_each_other_keep_one_admin(app, postgres_only, supplier):
    """Concurrent role changes are serialized on the organization row (PostgreSQL)."""
    import threading

    org, first = supplier
    second = make_user(org, [Role.ORG_ADMIN])
    pairs = [(first.id, second.memberships[0].id), (second.id, first.memberships[0].id)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def work(actor_id, membership_id):
        with app.app_context():
            actor = db.session.get(User, actor_id)
            target = db.session.get(Membership, membership_id)
            _ = actor.memberships, target.organization
            db.session.commit()
            barrier.wait()
            try:
                members.change_roles(target, actor, ["bidder"])
                outcomes.append("ok")
            except (Conflict, PermissionDenied):  # the loser is no longer an admin, or the last one
                outcomes.append("refused")
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                outcomes.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok", "refused"]
    db.session.expire_all()
    admins = [m for m in db.session.scalars(sa.select(Membership).where(Membership.org_id == org.id)) if m.has_role(Role.ORG_ADMIN)]
    assert len(admins) == 1
