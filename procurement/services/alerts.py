"""Supplier alerts: subscriptions by category, category code prefix and keyword; new
tenders and amendments notify the matching subscribers.

A subscription matches a tender when every non-empty criterion matches (empty = any):
its category is one of `categories`; its category code starts with one of
`category_codes`; one of `keywords` occurs in its title or description (Chinese or
English, case-insensitive). An invitation tender alerts only invited suppliers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Organization, User
from accounts.services.organizations import has_active_role
from accounts.states import Role
from core import audit, clock
from core.db import db, for_update, unit_of_work
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models.audit import AuditEntry
from core.notifications import register_kind
from procurement.models import AlertSubscription, Tender, TenderAmendment
from procurement.services import participants
from procurement.states import Category, Method, TenderStatus

__all__ = [
    "KIND_ALERT",
    "MAX_SUBSCRIPTIONS",
    "MAX_KEYWORDS",
    "MAX_CODES",
    "KEYWORD_MAX_LENGTH",
    "subscribe",
    "subscriptions_for",
    "delete",
    "matches",
    "matching_user_ids",
    "notify_new_tender",
    "notify_amendment",
    "recent_matches",
]

KIND_ALERT = "procurement.alert"
register_kind(KIND_ALERT, _l("Tender alerts (new tenders and amendments matching my subscriptions)"))

MAX_SUBSCRIPTIONS = 20  # active subscriptions per user
MAX_KEYWORDS = 20
MAX_CODES = 20
KEYWORD_MAX_LENGTH = 50
CODE_MAX_LENGTH = 40

#: Tender statuses that are public notices (alerts are about these only).
_PUBLISHED = {TenderStatus.ENQUIRIES.value, TenderStatus.TENDERING.value}


def _invalid(code: str, field: str, message: str) -> ValidationError:
    return ValidationError(message, code=code, fields={field: message})


def _clean_list(values: Iterable[Any] | str | None, *, max_items: int, max_length: int, field: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = values.replace("，", ",").replace("\n", ",").split(",")
    cleaned: list[str] = []
    for raw in values:
        text = " ".join(str(raw or "").split())
        if not text:
            continue
        if len(text) > max_length:
            raise _invalid(f"{field}_too_long", field,
                           _("Each entry can be at most %(n)s characters long.", n=max_length))
        if text.lower() not in {c.lower() for c in cleaned}:
            cleaned.append(text)
    if len(cleaned) > max_items:
        raise _invalid(f"too_many_{field}", field, _("At most %(n)s entries.", n=max_items))
    return cleaned


def _require_supplier_member(user: User | None, org: Organization | None) -> None:
    if user is None or org is None:
        raise PermissionDenied()
    if not has_active_role(user, org.id, Role.BIDDER, Role.ORG_ADMIN):
        raise PermissionDenied(_("Only a supplier's bidders can subscribe to tender alerts."))


def subscribe(
    user: User,
    org: Organization,
    categories: Iterable[str] | None = None,
    category_codes: Iterable[str] | str | None = None,
    keywords: Iterable[str] | str | None = None,
) -> AlertSubscription:
    """Create a subscription of `user` (in `org`). Keywords / codes may be given as a
    list or a comma-separated string; all empty means every new tender."""
    _require_supplier_member(user, org)
    cats: list[str] = []
    for value in categories or []:
        if not value:
            continue
        try:
            cat = Category(value).value
        except ValueError:
            raise _invalid("invalid_category", "categories", _("This value is not one of the choices.")) from None
        if cat not in cats:
            cats.append(cat)
    codes = _clean_list(category_codes, max_items=MAX_CODES, max_length=CODE_MAX_LENGTH, field="category_codes")
    codes = [c.replace(" ", "").upper() for c in codes]
    words = _clean_list(keywords, max_items=MAX_KEYWORDS, max_length=KEYWORD_MAX_LENGTH, field="keywords")
    with unit_of_work():
        count = db.session.scalar(
            sa.select(sa.func.count(AlertSubscription.id)).where(
                AlertSubscription.user_id == user.id, AlertSubscription.active.is_(True)
            )
        ) or 0
        if count >= MAX_SUBSCRIPTIONS:
            raise _invalid("too_many_subscriptions", "keywords",
                           _("You can have at most %(n)s alert subscriptions.", n=MAX_SUBSCRIPTIONS))
        sub = AlertSubscription(user_id=user.id, org_id=org.id, categories=cats, category_codes=codes,
                                keywords=words, active=True)
        db.session.add(sub)
        db.session.flush()
        audit.record("tender_alert.subscribed", "tender_alert", sub.id,
                     {"categories": cats, "category_codes": codes, "keywords": words},
                     actor=audit.user_actor(user.id, org.id, user.email))
    return sub


def subscriptions_for(user: User) -> list[AlertSubscription]:
    """The user's active subscriptions, oldest first."""
    return list(db.session.scalars(
        sa.select(AlertSubscription)
        .where(AlertSubscription.user_id == user.id, AlertSubscription.active.is_(True))
        .order_by(AlertSubscription.id)
    ))


def delete(user: User, subscription_id: int) -> None:
    """End one of the user's subscriptions (another user's is a 404). The row is kept,
    inactive."""
    with unit_of_work():
        sub = db.session.scalars(
            for_update(sa.select(AlertSubscription).where(AlertSubscription.id == subscription_id))
        ).one_or_none()
        if sub is None or sub.user_id != user.id or not sub.active:
            raise NotFound()
        sub.active = False
        audit.record("tender_alert.deleted", "tender_alert", sub.id, {},
                     actor=audit.user_actor(user.id, sub.org_id, user.email))


# --------------------------------------------------------------------------- matching


def matches(subscription: AlertSubscription, tender: Tender) -> bool:
    """Whether `tender` is what `subscription` asks for (pure: no database access)."""
    cats = subscription.categories or []
    if cats and tender.category not in cats:
        return False
    codes = subscription.category_codes or []
    code = (tender.category_code or "").replace(" ", "").upper()
    if codes and not any(code.startswith(str(prefix).upper()) for prefix in codes):
        return False
    words = subscription.keywords or []
    if words:
        haystack = " ".join(
            (tender.title_zh or "", tender.title_en or "", tender.description_zh or "", tender.description_en or "")
        ).casefold()
        if not any(str(w).casefold() in haystack for w in words):
            return False
    return True


def _allowed_org_ids(tender: Tender) -> set[int] | None:
    """For an invitation tender, the invited organizations; otherwise None (everyone)."""
    if tender.method == Method.INVITATION:
        return {i.org_id for i in tender.invitees}
    return None


def matching_user_ids(tender: Tender) -> set[int]:
    """Users with at least one active subscription matching `tender`."""
    allowed = _allowed_org_ids(tender)
    ids: set[int] = set()
    for sub in db.session.scalars(sa.select(AlertSubscription).where(AlertSubscription.active.is_(True))):
        if sub.user_id in ids:
            continue
        if allowed is not None and sub.org_id not in allowed:
            continue
        if matches(sub, tender):
            ids.add(sub.user_id)
    return ids


def _already_sent(tender_id: int) -> bool:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "tender.alerts_sent", AuditEntry.obj_type == "tender",
            AuditEntry.obj_id == str(tender_id),
        )
    ) > 0


def notify_new_tender(tender_id: int) -> None:
    """Notify the subscribers whose subscription matches a newly published tender, each
    user once (own unit of work; run after the publication commits). A second call for
    the same tender sends nothing."""
    with unit_of_work():
        tender = db.session.get(Tender, tender_id)
        if tender is None or tender.status not in _PUBLISHED or _already_sent(tender_id):
            return
        ids = matching_user_ids(tender)
        title = tender.title_zh or tender.title_en
        participants.notify_users(
            ids,
            _l("New tender matching your alert: %(title)s", title=title),
            body=_l("A new tender matching your alert subscription was published: %(title)s. "
                    "Submission deadline: %(deadline)s (Beijing time).",
                    title=title, deadline=participants.local_text(tender.submission_deadline)),
            link=participants.tender_link(tender.id),
            kind=KIND_ALERT,
        )
        audit.record("tender.alerts_sent", "tender", tender.id, {"tender_id": tender.id},
                     actor=audit.system("alerts"))


def notify_amendment(tender: Tender, amendment: TenderAmendment, exclude_user_ids: Iterable[int] = ()) -> None:
    """Notify matching subscribers of an amendment (inside the caller's unit of work),
    except the users already told (e.g. as downloaders)."""
    ids = matching_user_ids(tender) - set(exclude_user_ids)
    if not ids:
        return
    title = tender.title_zh or tender.title_en
    participants.notify_users(
        ids,
        _l("Tender amended: %(title)s", title=title),
        body=_l("A tender matching your alert subscription was amended (amendment %(n)s): %(reason)s",
                n=amendment.number, reason=amendment.reason),
        link=participants.tender_link(tender.id),
        kind=KIND_ALERT,
    )


def recent_matches(subscription: AlertSubscription, limit: int = 5) -> list[Tender]:
    """Published tenders open for bids that this subscription matches (newest first),
    for the alerts page."""
    allowed_check = subscription.org_id
    rows = db.session.scalars(
        sa.select(Tender).where(Tender.status.in_(_PUBLISHED), Tender.submission_deadline > clock.now())
        .order_by(Tender.published_at.desc(), Tender.id.desc())
        .limit(500)
    )
    found: list[Tender] = []
    for tender in rows:
        allowed = _allowed_org_ids(tender)
        if allowed is not None and allowed_check not in allowed:
            continue
        if matches(subscription, tender):
            found.append(tender)
            if len(found) >= limit:
                break
    return found
