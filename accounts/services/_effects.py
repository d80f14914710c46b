"""Side effects shared by the accounts services: audit entries and notifications."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from accounts.models import User
from core import audit
from core.notifications import Recipient, notify


def record(action: str, obj_type: str, obj_id: Any, data: dict | None = None, actor: Any = None) -> None:
    """Append an audit entry (core.audit) in the caller's unit of work.

    `actor`: None (the request's current user, via the provider registered by
    accounts.auth), "system" (authentication machinery: failed logins, resets), an
    audit.Actor, or a User who is not yet the request's current user (the login itself).
    """
    if actor == "system":
        actor = audit.system("auth")
    elif isinstance(actor, User):
        actor = audit.user_actor(actor.id, actor.current_org_id, actor.email)
    audit.record(action, obj_type, obj_id, data or {}, actor=actor)


def notify_users(users: Iterable[User | None], kind: str, title: Any, body: Any = "", link: str = "") -> None:
    """Notify active users, each in their own language (in-app, and email per preference)."""
    recipients = [Recipient.of(u) for u in users if u is not None and u.active]
    if recipients:
        notify(recipients, kind, title, body, link)


def email_domain(email: str) -> str:
    return (email or "").rpartition("@")[2][:100]
