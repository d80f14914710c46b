"""Members of an organization: invitations, roles, deactivation, switching organization."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from accounts.models import Invitation, Membership, Organization, User
from accounts.services.organizations import _require_org_admin, active_membership, audit
from accounts.services.registration import _hash, email_taken, normalize_email, password_errors
from accounts.states import ROLES_BY_KIND, OrgKind, Role
from core import clock
from core.db import db, for_update, unit_of_work
from core.errors import Conflict, InvalidTransition, NotFound, ValidationError

INVITATION_TTL = timedelta(days=7)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def grantable_roles(org: Organization) -> list[Role]:
    """org_admin plus the roles of the organization's kinds, in Role order."""
    roles: set[Role] = {Role.ORG_ADMIN}
    for kind in org.kinds or []:
        try:
            roles |= ROLES_BY_KIND.get(OrgKind(kind), set())
        except ValueError:
            continue
    return [r for r in Role if r in roles]


def _check_roles(org: Organization, roles: list[str]) -> list[str]:
    roles = [str(r) for r in roles or []]
    if not roles:
        raise ValidationError(fields={"roles": _("Choose at least one role.")})
    allowed = {r.value for r in grantable_roles(org)}
    bad = [r for r in roles if r not in allowed]
    if bad:
        raise ValidationError(
            fields={"roles": _("This organization cannot grant: %(roles)s", roles=", ".join(bad))}
        )
    return [r.value for r in Role if r.value in set(roles)]


# --------------------------------------------------------------------------- reads


def members_of(org: Organization) -> list[Membership]:
    stmt = (
        sa.select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org.id)
        .order_by(Membership.active.desc(), User.display_name, Membership.id)
    )
    return list(db.session.scalars(stmt))


def pending_invitations(org: Organization) -> list[Invitation]:
    stmt = (
        sa.select(Invitation)
        .where(
            Invitation.org_id == org.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > clock.now(),
        )
        .order_by(Invitation.created_at.desc())
    )
    return list(db.session.scalars(stmt))


def invitation_problem(inv: Invitation | None) -> str | None:
    if inv is None:
        return _("This invitation link is not valid.")
    if inv.revoked_at is not None:
        return _("This invitation was revoked.")
    if inv.accepted_at is not None:
        return _("This invitation has already been used.")
    if inv.expires_at <= clock.now():
        return _("This invitation has expired. Ask for a new one.")
    return None


def find_invitation(token: str) -> Invitation | None:
    if not token:
        return None
    return db.session.scalar(sa.select(Invitation).where(Invitation.token_hash == hash_token(token)))


def _usable_invitation(token: str, lock: bool = True) -> Invitation:
    stmt = sa.select(Invitation).where(Invitation.token_hash == hash_token(token or ""))
    inv = db.session.scalar(for_update(stmt) if lock else stmt)
    problem = invitation_problem(inv)
    if problem:
        if inv is None:
            raise NotFound(problem, code="invitation_invalid")
        raise InvalidTransition(problem, code="invitation_unusable")
    return inv


# --------------------------------------------------------------------------- invitations


def invite(org: Organization, actor: User, email: str, roles: list[str]) -> tuple[Invitation, str]:
    """Create an invitation; returns it with the raw token (shown once, emailed)."""
    email = normalize_email(email)
    if not email or "@" not in email:
        raise ValidationError(fields={"email": _("Enter an email address.")})
    roles = _check_roles(org, roles)
    token = secrets.token_urlsafe(32)
    with unit_of_work():
        _require_org_admin(org, actor)
        existing = db.session.scalar(
            sa.select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(Membership.org_id == org.id, User.email == email, Membership.active.is_(True))
        )
        if existing is not None:
            raise Conflict(
                _("%(email)s is already a member; change their roles instead.", email=email),
                fields={"email": _("Already a member.")},
            )
        inv = Invitation(
            org_id=org.id,
            email=email,
            roles=roles,
            token_hash=hash_token(token),
            invited_by_id=actor.id,
            expires_at=clock.now() + INVITATION_TTL,
        )
        db.session.add(inv)
        db.session.flush()
        audit("invitation.created", "invitation", inv.id, {"org_id": org.id, "email": email, "roles": roles}, actor=actor)
        _send_invitation_email(inv, org, actor, token)
    return inv, token


def invitation_url(token: str) -> str:
    from flask import has_request_context, url_for

    if has_request_context():
        return url_for("accounts.invitation", token=token, _external=True)
    return f"/accounts/invitations/{token}"


def _send_invitation_email(inv: Invitation, org: Organization, actor: User, token: str) -> None:
    from core.notifications import send_email

    url = invitation_url(token)
    subject = _("Invitation to join %(org)s on Canal", org=org.name_zh)
    body = _(
        "%(who)s invites you to join %(org)s on Canal.\n\nOpen this link within 7 days to accept:\n%(url)s\n\n"
        "If you did not expect this message, ignore it.",
        who=actor.display_name,
        org=org.name_zh,
        url=url,
    )
    send_email(inv.email, subject, body)


def revoke_invitation(inv: Invitation, actor: User) -> Invitation:
    with unit_of_work():
        org = db.session.get(Organization, inv.org_id)
        _require_org_admin(org, actor)
        inv = db.session.scalars(for_update(sa.select(Invitation).where(Invitation.id == inv.id))).one()
        if inv.accepted_at is not None:
            raise InvalidTransition(_("This invitation has already been used."))
        if inv.revoked_at is not None:
            return inv
        inv.revoked_at = clock.now()
        audit("invitation.revoked", "invitation", inv.id, {"org_id": inv.org_id, "email": inv.email}, actor=actor)
    return inv


def _join(user: User, inv: Invitation) -> Membership:
    membership = db.session.scalar(
        sa.select(Membership).where(Membership.user_id == user.id, Membership.org_id == inv.org_id)
    )
    if membership is None:
        membership = Membership(user_id=user.id, org_id=inv.org_id, roles=list(inv.roles))
        db.session.add(membership)
    elif membership.active:
        membership.roles = [r.value for r in Role if r.value in set(membership.roles or []) | set(inv.roles)]
    else:
        membership.active = True
        membership.roles = list(inv.roles)
    inv.accepted_at = clock.now()
    user.current_org_id = inv.org_id
    db.session.flush()
    audit(
        "invitation.accepted",
        "invitation",
        inv.id,
        {"org_id": inv.org_id, "user_id": user.id, "roles": list(inv.roles)},
        actor=user,
    )
    return membership


def accept_invitation(token: str, user: User) -> Membership:
    """A logged-in user accepts with the current account."""
    with unit_of_work():
        inv = _usable_invitation(token)
        return _join(user, inv)


def accept_invitation_new_user(token: str, display_name: str, password: str, locale: str = "zh_Hans_CN") -> User:
    """Create the account for the invited email address and join the organization."""
    inv = find_invitation(token)
    if inv is not None and invitation_problem(inv) is None:
        errors: dict[str, str] = {}
        if not (display_name or "").strip():
            errors["display_name"] = _("Your name is required.")
        problems = password_errors(password, inv.email)
        if problems:
            errors["password"] = " ".join(problems)
        if errors:
            raise ValidationError(fields=errors)
    with unit_of_work():
        inv = _usable_invitation(token)
        if email_taken(inv.email):
            raise Conflict(_("An account with this email already exists. Log in to accept the invitation."))
        user = User(
            email=inv.email,
            password_hash=_hash(password),
            display_name=display_name.strip(),
            locale=locale or "zh_Hans_CN",
        )
        db.session.add(user)
        db.session.flush()
        audit("user.registered", "user", user.id, {"org_id": inv.org_id, "invitation_id": inv.id}, actor=user)
        _join(user, inv)
    db.session.refresh(user)
    return user


# --------------------------------------------------------------------------- members


def _lock_members(org: Organization) -> dict[int, Membership]:
    """Serialize membership changes of one organization: lock its row, then re-read its members.

    The organization row is the mutex (so two admins removing each other's admin role
    cannot both pass the "one admin remains" check); the members are re-read after the
    lock with populate_existing so no stale roles from the identity map are counted.
    """
    db.session.scalars(for_update(sa.select(Organization.id).where(Organization.id == org.id))).one()
    stmt = (
        sa.select(Membership)
        .where(Membership.org_id == org.id)
        .order_by(Membership.id)
        .execution_options(populate_existing=True)
    )
    return {m.id: m for m in db.session.scalars(stmt)}


def _active_admin_count(members: dict[int, Membership], excluding: int | None = None) -> int:
    return sum(1 for m in members.values() if m.active and m.id != excluding and m.has_role(Role.ORG_ADMIN))


def change_roles(membership: Membership, actor: User, roles: list[str]) -> Membership:
    org = membership.organization
    roles = _check_roles(org, roles)
    with unit_of_work():
        all_members = _lock_members(org)
        _require_org_admin(org, actor)
        m = all_members[membership.id]
        if not m.active:
            raise InvalidTransition(_("This member is deactivated."))
        before = list(m.roles or [])
        if Role.ORG_ADMIN.value in before and Role.ORG_ADMIN.value not in roles:
            if _active_admin_count(all_members, excluding=m.id) == 0:
                msg = (
                    _("You cannot remove your own administrator role: you are the last one.")
                    if m.user_id == actor.id
                    else _("An organization must keep at least one administrator.")
                )
                raise Conflict(msg, code="last_admin", fields={"roles": msg})
        if before == roles:
            return m
        m.roles = roles
        audit(
            "membership.roles_changed",
            "membership",
            m.id,
            {"org_id": org.id, "user_id": m.user_id, "from": before, "to": roles},
            actor=actor,
        )
    return m


def deactivate_member(membership: Membership, actor: User) -> Membership:
    org = membership.organization
    with unit_of_work():
        all_members = _lock_members(org)
        _require_org_admin(org, actor)
        m = all_members[membership.id]
        if not m.active:
            return m
        if m.user_id == actor.id:
            raise Conflict(_("You cannot deactivate yourself."), code="self_deactivation")
        if m.has_role(Role.ORG_ADMIN) and _active_admin_count(all_members, excluding=m.id) == 0:
            raise Conflict(_("An organization must keep at least one administrator."), code="last_admin")
        m.active = False
        user = db.session.get(User, m.user_id)
        if user.current_org_id == org.id:
            other = next((x for x in user.memberships if x.active and x.id != m.id), None)
            user.current_org_id = other.org_id if other else None
        audit("membership.deactivated", "membership", m.id, {"org_id": org.id, "user_id": m.user_id}, actor=actor)
        _revoke_sessions(user)
    return m


def _revoke_sessions(user: User) -> None:
    try:
        from accounts.auth import revoke_all_sessions
    except ImportError:  # accounts.auth not there yet: nothing to revoke
        return
    revoke_all_sessions(user, "membership_deactivated")


# --------------------------------------------------------------------------- switch


def switch_org(user: User, org_id: int) -> Membership:
    """Make `org_id` the user's current organization (an active membership, else NotFound)."""
    with unit_of_work():
        m = active_membership(user, org_id)
        if m is None:
            raise NotFound()
        db.session.get(User, user.id).current_org_id = org_id
    from flask import g, has_app_context

    if has_app_context():
        g.pop("current_membership", None)
    return m


__all__ = [
    "INVITATION_TTL",
    "accept_invitation",
    "accept_invitation_new_user",
    "change_roles",
    "deactivate_member",
    "find_invitation",
    "grantable_roles",
    "hash_token",
    "invitation_problem",
    "invitation_url",
    "invite",
    "members_of",
    "pending_invitations",
    "revoke_invitation",
    "switch_org",
]
