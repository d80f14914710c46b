"""Template context of every page: the user's organizations, current org and roles (for the header)."""

from __future__ import annotations

from flask import Flask
from flask_login import current_user

from core.i18n import localized


def _nav_context() -> dict:
    from accounts.permissions import current_membership, has_platform_role, is_platform_admin
    from accounts.states import Role

    empty = {"nav_memberships": [], "nav_org": None, "nav_roles": set(), "is_platform_admin": False,
             "is_platform_finance": False}
    try:
        authenticated = bool(current_user and current_user.is_authenticated)
    except Exception:  # noqa: BLE001 - outside a request (e.g. rendering an email)
        return empty
    if not authenticated:
        return empty
    membership = current_membership()
    current_id = membership.org_id if membership else None
    memberships = [
        (m.org_id, localized(m.organization, "name"), m.org_id == current_id)
        for m in sorted(current_user.memberships, key=lambda m: m.id)
        if m.active
    ]
    return {
        "nav_memberships": memberships,
        "nav_org": membership.organization if membership else None,
        "nav_roles": set(membership.roles or []) if membership else set(),
        "is_platform_admin": is_platform_admin(),
        # platform finance pages (bonds, transfers) need the role in the platform operator
        "is_platform_finance": has_platform_role(Role.FINANCE, Role.AUDITOR),
    }


def role_label(role: str) -> str:
    """Template filter: a role's translated name (the raw value when unknown)."""
    from accounts.states import ROLE_LABELS, Role

    try:
        return str(ROLE_LABELS[Role(role)])
    except ValueError:
        return role


def init_context(app: Flask) -> None:
    app.context_processor(_nav_context)
    app.jinja_env.filters["role_label"] = role_label
