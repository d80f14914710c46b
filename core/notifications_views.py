"""Inbox and notification preferences of the logged-in user (core blueprint)."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from core import bp, notifications
from core.db import db

PER_PAGE = 20


def _safe_link(link: str | None) -> str | None:
    """Only same-site paths: a notification link never sends the user elsewhere."""
    if not link:
        return None
    parsed = urlparse(link)
    if parsed.scheme or parsed.netloc or not link.startswith("/") or link.startswith("//"):
        return None
    return link


@bp.get("/notifications")
@login_required
def notifications_inbox():
    page = request.args.get("page", 1, type=int) or 1
    unread_only = request.args.get("unread") == "1"
    pagination = db.paginate(
        notifications.inbox_query(current_user.id, unread_only=unread_only),
        page=max(page, 1),
        per_page=PER_PAGE,
        error_out=False,
    )
    return render_template(
        "core/notifications.html",
        title=_("Notifications"),
        pagination=pagination,
        items=pagination.items,
        unread_only=unread_only,
    )


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def notification_read(notification_id: int):
    item = notifications.mark_read(current_user.id, notification_id)
    if item is None:
        abort(404)
    if request.form.get("open") == "1":
        target = _safe_link(item.link)
        if target:
            return redirect(target, code=303)
    return redirect(url_for("core.notifications_inbox", page=request.form.get("page", 1, type=int)), code=303)


@bp.post("/notifications/read-all")
@login_required
def notifications_read_all():
    count = notifications.mark_all_read(current_user.id)
    if count:
        flash(_("%(n)s notifications marked as read.", n=count), "success")
    return redirect(url_for("core.notifications_inbox"), code=303)


@bp.route("/notifications/preferences", methods=["GET", "POST"])
@login_required
def notification_preferences():
    if request.method == "POST":
        choices = {
            kind: {"email": request.form.get(f"email-{kind}") == "1", "in_app": request.form.get(f"in_app-{kind}") == "1"}
            for kind in notifications.KINDS
        }
        notifications.set_preferences(current_user.id, choices)
        flash(_("Your notification preferences were saved."), "success")
        return redirect(url_for("core.notification_preferences"), code=303)
    return render_template(
        "core/notification_preferences.html",
        title=_("Notification preferences"),
        kinds=notifications.KINDS,
        prefs=notifications.user_preferences(current_user.id),
    )
