"""Thin bridges to core.audit and core.notifications used by the auth services."""

from __future__ import annotations

from typing import Any


def record(action: str, obj_type: str, obj_id: Any, data: dict | None = None, actor: Any = None) -> None:
    """Append an audit entry (core.audit) in the caller's unit of work.

    `actor`: None (the request's current user, via the provider registered by
    accounts.auth), "system" (authentication machinery: failed logins, resets), or a
    User who is not yet the request's current user (the login itself).
    """
    from core import audit

    if actor == "system":
        actor = audit.system("auth")
    elif actor is not None and not isinstance(actor, audit.Actor):
        actor = audit.user_actor(actor.id, actor.current_org_id, actor.email)
    audit.record(action, obj_type, obj_id, data or {}, actor=actor)


def send_email(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Queue an email through core.notifications (delivered via the outbox after commit)."""
    from core import notifications

    notifications.send_email(to, subject, text, html=html)


def email_domain(email: str) -> str:
    return (email or "").rpartition("@")[2][:100]
