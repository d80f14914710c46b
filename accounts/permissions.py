"""Authorization: role checks and organization-scoped lookups.

Rules: another organization's object is a 404 (its existence is not revealed); a
missing role is a 403. Platform admins and auditors hold their role in the platform
organization and act platform-wide where a view allows it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, g
from flask_login import current_user

from accounts.models import Membership, Organization, User
from accounts.states import OrgKind, Role
from core.db import db

T = TypeVar("T")


def _user() -> User | None:
    user = current_user._get_current_object() if current_user else None  # type: ignore[attr-defined]
    return user if user is not None and user.is_authenticated else None


def current_membership() -> Membership | None:
    """The caller's active membership in the current organization (API tokens carry theirs)."""
    if "current_membership" in g:
        return g.current_membership
    user = _user()
    membership = None
    if user is not None:
        org_id = g.get("token_org_id") or user.current_org_id
        membership = next(
            (m for m in user.memberships if m.active and m.org_id == org_id),
            None,
        )
        if membership is None and not g.get("token_org_id"):
            membership = next((m for m in user.memberships if m.active), None)
    g.current_membership = membership
    return membership


def current_org() -> Organization | None:
    membership = current_membership()
    return membership.organization if membership else None


def current_roles() -> set[str]:
    membership = current_membership()
    return set(membership.roles or []) if membership else set()


def has_role(*roles: Role | str) -> bool:
    held = current_roles()
    return any(str(r) in held for r in roles)


def user_has_platform_role(user: User | None, *roles: Role | str) -> bool:
    """`user` holds one of `roles` in an active membership of the platform operator
    (whatever their current organization); services use it to check an actor."""
    return user is not None and any(
        m.active and m.has_role(*roles) and m.organization.has_kind(OrgKind.PLATFORM) for m in user.memberships
    )


def is_platform_admin() -> bool:
    """The caller acts as platform admin now (current organization is the platform operator)."""
    return has_platform_role(Role.PLATFORM_ADMIN)


def require_login() -> User:
    user = _user()
    if user is None:
        abort(401)
    return user


def require_role(*roles: Role | str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """View decorator: logged in (401) and holding one of `roles` in the current org (403)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            require_login()
            if not has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = tuple(str(r) for r in roles)  # type: ignore[attr-defined]
        return wrapped

    return decorator


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        require_login()
        return view(*args, **kwargs)

    return wrapped


def has_platform_role(*roles: Role | str) -> bool:
    """The current organization is the platform operator and the caller holds one of `roles` there."""
    org = current_org()
    return bool(org is not None and org.has_kind(OrgKind.PLATFORM) and has_role(*roles))


def require_platform_role(*roles: Role | str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """View decorator: logged in (401) and holding one of `roles` in the platform organization (403).

    Platform-wide pages (organization verification, the audit log, the calendar, platform
    finance) need the platform operator as the current organization: the same role in a
    buyer's or supplier's organization does not count.
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            require_login()
            if not has_platform_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = tuple(str(r) for r in roles)  # type: ignore[attr-defined]
        return wrapped

    return decorator


def get_for_org_or_404(model: type[T], ident: Any, org_attr: str = "org_id") -> T:
    """Load `model` by id, but only if it belongs to the caller's current organization."""
    obj = db.session.get(model, ident)
    org = current_org()
    if obj is None or org is None or getattr(obj, org_attr) != org.id:
        abort(404)
    return obj
