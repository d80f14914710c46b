"""Notifications: an in-app inbox per user and email through the outbox.

    notify([Recipient(user.id, user.email, user.locale)], "tender",
           _l("Tender %(ref)s amended", ref=tender.ref), body=_l("..."), link=url)

Titles and bodies may be lazy strings: each is rendered in the recipient's own locale.
Whether a kind also goes by email (and into the inbox) follows the user's preference for
that kind (no row: both on). Emails are outbox messages of kind "email", delivered by
Flask-Mail when MAIL_SERVER is set, otherwise by a log backend that writes them to the app
log and to MAIL_LOG_FILE (default instance/mail.log) so a developer can follow links.
Under TESTING every delivered email is also appended to `SENT_MAIL`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from jinja2 import TemplateNotFound
from sqlalchemy.exc import SQLAlchemyError

from core import clock, outbox
from core.db import db, unit_of_work
from core.models.notifications import Notification, NotificationPreference
from core.models.outbox import OutboxMessage

DEFAULT_LOCALE = "zh_Hans_CN"

#: Emails delivered while TESTING (dicts: to, subject, text, html, sender).
SENT_MAIL: list[dict[str, Any]] = []


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: str
    locale: str = DEFAULT_LOCALE

    @classmethod
    def of(cls, user: Any) -> Recipient:
        """From any object with id, email and locale (e.g. accounts.models.User)."""
        return cls(user.id, user.email or "", getattr(user, "locale", None) or DEFAULT_LOCALE)


@dataclass(frozen=True)
class NotificationKind:
    kind: str
    label: Any
    mandatory: bool = False  # cannot be switched off (e.g. security notices)


#: kind -> NotificationKind; areas register theirs at import time.
KINDS: dict[str, NotificationKind] = {}


def register_kind(kind: str, label: Any, *, mandatory: bool = False) -> None:
    """Declare a kind of notification users can set preferences for (label: a lazy string)."""
    KINDS[kind] = NotificationKind(kind, label, mandatory)


register_kind("account", _l("Account and organization"))
register_kind("security", _l("Security alerts"), mandatory=True)
register_kind("system", _l("Platform announcements"))


# --------------------------------------------------------------------------- preferences


def preferences_for(user_ids: Iterable[int], kind: str) -> dict[int, NotificationPreference]:
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = db.session.scalars(
        sa.select(NotificationPreference).where(
            NotificationPreference.kind == kind, NotificationPreference.user_id.in_(ids)
        )
    )
    return {p.user_id: p for p in rows}


def user_preferences(user_id: int) -> dict[str, dict[str, bool]]:
    """Every registered kind with the user's choice: {kind: {"email": bool, "in_app": bool}}."""
    rows = {
        p.kind: p
        for p in db.session.scalars(sa.select(NotificationPreference).where(NotificationPreference.user_id == user_id))
    }
    result = {}
    for kind, info in KINDS.items():
        pref = rows.get(kind)
        if info.mandatory or pref is None:
            result[kind] = {"email": True, "in_app": True}
        else:
            result[kind] = {"email": pref.email, "in_app": pref.in_app}
    return result


def set_preferences(user_id: int, choices: dict[str, dict[str, bool]]) -> None:
    """Store the user's choices for registered, non-mandatory kinds."""
    with unit_of_work() as session:
        existing = {
            p.kind: p
            for p in session.scalars(
                sa.select(NotificationPreference).where(NotificationPreference.user_id == user_id)
            )
        }
        for kind, choice in choices.items():
            info = KINDS.get(kind)
            if info is None or info.mandatory:
                continue
            pref = existing.get(kind)
            if pref is None:
                pref = NotificationPreference(user_id=user_id, kind=kind)
                session.add(pref)
            pref.email = bool(choice.get("email", True))
            pref.in_app = bool(choice.get("in_app", True))


# --------------------------------------------------------------------------- notify


def notify(
    recipients: Iterable[Recipient],
    kind: str,
    title: Any,
    body: Any = "",
    link: str = "",
    email: bool | None = None,
) -> None:
    """Tell users something: an inbox entry and, per preference, an email.

    `title`/`body` may be lazy strings, rendered in each recipient's locale. `email`:
    None follows the user's preference; False never emails; True always emails.
    Joins the caller's unit of work (or opens one).
    """
    unique: dict[int, Recipient] = {}
    for r in recipients:
        unique.setdefault(r.user_id, r)
    if not unique:
        return
    mandatory = KINDS.get(kind, NotificationKind(kind, kind)).mandatory
    with unit_of_work() as session:
        prefs = preferences_for(unique.keys(), kind)
        for recipient in unique.values():
            pref = None if mandatory else prefs.get(recipient.user_id)
            wants_in_app = pref.in_app if pref is not None else True
            wants_email = (pref.email if pref is not None else True) if email is None else email
            locale = recipient.locale or DEFAULT_LOCALE
            with force_locale(locale):
                title_text = str(title).strip()
                body_text = str(body or "")
            if wants_in_app:
                session.add(
                    Notification(
                        user_id=recipient.user_id,
                        kind=kind,
                        title=title_text[:300],
                        body=body_text,
                        link=(link or "")[:500],
                        created_at=clock.now(),
                    )
                )
            if wants_email and recipient.email:
                subject, text, html = render_email(
                    "notification", locale, title=title_text, body=body_text, link=external_url(link)
                )
                send_email(recipient.email, subject or title_text, text, html)
        session.flush()


def external_url(link: str) -> str:
    """An absolute URL for an email (links in the app are paths)."""
    if not link or link.startswith(("http://", "https://")):
        return link or ""
    if has_request_context():
        base = request.host_url
    else:
        base = current_app.config.get("BASE_URL") or "http://localhost:5000/"
    return base.rstrip("/") + "/" + link.lstrip("/")


# --------------------------------------------------------------------------- inbox


def unread_count(user_id: int) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count(Notification.id)).where(
                Notification.user_id == user_id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def inbox_query(user_id: int, unread_only: bool = False) -> sa.Select:
    stmt = (
        sa.select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return stmt


def mark_read(user_id: int, notification_id: int) -> Notification | None:
    """Mark one of the user's notifications read; None when it is not theirs (-> 404)."""
    with unit_of_work() as session:
        item = session.get(Notification, notification_id)
        if item is None or item.user_id != user_id:
            return None
        if item.read_at is None:
            item.read_at = clock.now()
        return item


def mark_all_read(user_id: int) -> int:
    with unit_of_work() as session:
        result = session.execute(
            sa.update(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=clock.now())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)


# --------------------------------------------------------------------------- email


def render_email(template_name: str, locale: str, **ctx: Any) -> tuple[str, str, str | None]:
    """Render templates/emails/<name>.txt (and .html if present) in `locale`.

    The text template sets the subject with `{% set subject = ... %}`.
    """
    env = current_app.jinja_env
    # No request context processors: emails are also rendered by tasks and the CLI.
    context = {"config": current_app.config, **ctx}
    with force_locale(locale or DEFAULT_LOCALE):
        module = env.get_template(f"emails/{template_name}.txt").make_module(context)
        text = str(module).strip() + "\n"
        subject = " ".join(str(getattr(module, "subject", "") or "").split())
        try:
            html: str | None = env.get_template(f"emails/{template_name}.html").render(context)
        except TemplateNotFound:
            html = None
    return subject, text, html


def send_email(to: str, subject: str, text: str, html: str | None = None) -> OutboxMessage:
    """Queue an email through the outbox (joins the caller's unit of work or opens one)."""
    with unit_of_work():
        return outbox.enqueue(
            "email", {"to": to, "subject": " ".join(str(subject).split()), "text": str(text), "html": html}
        )


@outbox.handler("email")
def deliver_email(payload: dict[str, Any]) -> None:
    config = current_app.config
    message = {
        "to": payload["to"],
        "subject": payload.get("subject", ""),
        "text": payload.get("text", ""),
        "html": payload.get("html"),
        "sender": config.get("MAIL_DEFAULT_SENDER"),
    }
    if config.get("MAIL_SERVER"):
        from flask_mail import Message

        from core.extensions import mail

        mail.send(
            Message(
                subject=message["subject"],
                recipients=[message["to"]],
                body=message["text"],
                html=message["html"],
                sender=message["sender"],
            )
        )
    else:
        _log_backend(message)
    if config.get("TESTING"):
        SENT_MAIL.append(message)


def _log_backend(message: dict[str, Any]) -> None:
    current_app.logger.info("email to %s: %s\n%s", message["to"], message["subject"], message["text"])
    path = current_app.config.get("MAIL_LOG_FILE")
    if not path:
        if current_app.config.get("TESTING"):
            return  # tests read SENT_MAIL; keep the developer's instance/mail.log clean
        path = Path(current_app.config["INSTANCE_DIR"]) / "mail.log"
    record = {
        "at": clock.now().isoformat(),
        "to": message["to"],
        "subject": message["subject"],
    }
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"----- {json.dumps(record, ensure_ascii=False)}\n{message['text'].rstrip()}\n\n")


def last_email(to: str | None = None) -> dict[str, Any] | None:
    """The last email delivered under TESTING (to `to`, if given)."""
    for message in reversed(SENT_MAIL):
        if to is None or message["to"].lower() == to.lower():
            return message
    return None


def clear_sent_mail() -> None:
    SENT_MAIL.clear()


# --------------------------------------------------------------------------- templates


def init_app(app) -> None:
    @app.context_processor
    def _unread_notifications() -> dict[str, int]:
        return {"unread_notifications": _current_unread()}


def _current_unread() -> int:
    if not has_request_context():
        return 0
    try:
        from flask_login import current_user

        if not current_user or not current_user.is_authenticated:
            return 0
        return unread_count(current_user.id)
    except SQLAlchemyError:
        db.session.rollback()
        return 0
