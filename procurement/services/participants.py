"""Who takes part in a tender (downloaders, askers, bond lodgers, bidders), for the
platform's own notices only.

Confidentiality before the opening (DESIGN.md section 7): nothing here is ever shown to
an officer, a platform admin or another supplier, not even as a count. The functions
return user ids for `core.notifications.notify` and nothing else; no page or API
renders them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import lazy_gettext as _l

from accounts.models import Membership, User
from accounts.states import Role
from core import audit, clock
from core.db import db
from core.notifications import Recipient, notify, register_kind
from procurement.models import Bid, Bond, DocumentDownload, Question, Tender

__all__ = [
    "KIND_PARTICIPATION",
    "user_ids",
    "recipients",
    "tender_link",
    "local_text",
    "notify_users",
    "notify_cancelled",
]

#: Notices about tenders a supplier takes part in (answers, amendments, cancellation).
KIND_PARTICIPATION = "procurement.participation"
register_kind(KIND_PARTICIPATION, _l("Tenders I take part in (answers, amendments, cancellations)"))


def tender_link(tender_id: int) -> str:
    """The public page of a tender (a path; emails make it absolute)."""
    try:
        return url_for("procurement.tender_detail", tender_id=tender_id)
    except Exception:  # outside a request, or the page is not registered (yet)
        return f"/procurement/tenders/{tender_id}"


def local_text(value: datetime | None) -> str:
    """A UTC datetime as 'YYYY-MM-DD HH:MM' in Asia/Shanghai (for notice texts)."""
    return value.astimezone(clock.LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if value else ""


def _org_bidders(org_ids: Iterable[int]) -> set[int]:
    """Active members holding the bidder role in these organizations."""
    ids = set(org_ids)
    if not ids:
        return set()
    rows = db.session.scalars(
        sa.select(Membership).where(Membership.org_id.in_(ids), Membership.active.is_(True))
    )
    return {m.user_id for m in rows if m.has_role(Role.BIDDER)}


def user_ids(
    tender: Tender,
    *,
    downloaders: bool = True,
    askers: bool = True,
    bond_lodgers: bool = False,
    bidders: bool = False,
) -> set[int]:
    """Ids of the users to tell about `tender` (internal use only: never display them).

    Downloaders and askers are the users themselves; for bonds and bids (held by an
    organization) the bid's author and the organization's bidders.
    """
    found: set[int] = set()
    if downloaders:
        found |= set(db.session.scalars(sa.select(DocumentDownload.user_id).where(DocumentDownload.tender_id == tender.id)))
    if askers:
        found |= set(db.session.scalars(sa.select(Question.asker_user_id).where(Question.tender_id == tender.id)))
    org_ids: set[int] = set()
    if bond_lodgers:
        org_ids |= set(db.session.scalars(sa.select(Bond.supplier_org_id).where(Bond.tender_id == tender.id)))
    if bidders:
        rows = db.session.execute(sa.select(Bid.bidder_org_id, Bid.created_by_id).where(Bid.tender_id == tender.id))
        for org_id, author_id in rows:
            org_ids.add(org_id)
            if author_id:
                found.add(author_id)
    found |= _org_bidders(org_ids)
    found.discard(None)  # type: ignore[arg-type]
    return found


def recipients(ids: Iterable[int]) -> list[Recipient]:
    """Active users among `ids`, as notification recipients."""
    wanted = set(ids)
    if not wanted:
        return []
    users = db.session.scalars(sa.select(User).where(User.id.in_(wanted), User.active.is_(True)).order_by(User.id))
    return [Recipient.of(u) for u in users]


def notify_users(ids: Iterable[int], title: Any, body: Any = "", link: str = "", kind: str = KIND_PARTICIPATION) -> int:
    """Notify these users (inbox + email per preference); returns how many were told."""
    people = recipients(ids)
    notify(people, kind, title, body=body, link=link)
    return len(people)


def notify_cancelled(tender: Tender, actor: Any = None) -> None:
    """Tell every participant (downloaders, askers, bond lodgers, bidders of any status)
    that the tender was cancelled, with the published reason; each user once.

    Runs inside the caller's unit of work (tenders.cancel), so the notices commit with
    the cancellation or not at all.
    """
    ids = user_ids(tender, downloaders=True, askers=True, bond_lodgers=True, bidders=True)
    if not ids:
        return
    title = tender.title_zh or tender.title_en
    notify_users(
        ids,
        _l("Tender cancelled: %(title)s", title=title),
        body=_l("The tender \"%(title)s\" was cancelled. Reason: %(reason)s. Bid bonds are refunded.",
                title=title, reason=tender.cancel_reason),
        link=tender_link(tender.id),
    )
    # No count in the audit data: how many took part stays confidential.
    audit.record("tender.cancellation_notified", "tender", tender.id, {"tender_id": tender.id},
                 actor=audit.system("participants"))
