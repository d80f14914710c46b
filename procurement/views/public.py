"""procurement views: public tender list and search, tender detail, document downloads.

Nothing here needs a login. Drafts are visible only to the buyer's procurement officers
(as a preview). Before the opening nothing about participants is shown, except to a
supplier about itself (whether it downloaded the documents).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import abort, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from accounts.permissions import current_org, has_role
from accounts.states import OrgKind, Role
from core import clock
from core.db import db
from core.files import send_stored_file
from core.i18n import current_language, local_datetime, localized
from core.models.files import StoredFile
from core.money import format_money
from core.views import url_for_ids
from procurement import bp, queries
from procurement.forms import SearchForm
from procurement.models import Tender, TenderDocument
from procurement.services import amendments, bids, bonds, clarifications, keys
from procurement.services import tenders as svc
from procurement.states import (
    CATEGORY_LABELS,
    CRITERION_KIND_LABELS,
    EVALUATION_METHOD_LABELS,
    LOT_STATUS_LABELS,
    METHOD_LABELS,
    TENDER_STATUS_LABELS,
    TenderStatus,
    time_status,
)

#: Statuses from which the opening record exists.
OPENED_OR_LATER = frozenset({
    TenderStatus.OPENED, TenderStatus.EVALUATION, TenderStatus.AWARD_PENDING, TenderStatus.AWARDED,
    TenderStatus.COMPLETE, TenderStatus.UNSUCCESSFUL,
})
STATUS_BADGES = {
    TenderStatus.DRAFT: "secondary",
    TenderStatus.ENQUIRIES: "info",
    TenderStatus.TENDERING: "success",
    TenderStatus.AWAITING_OPENING: "warning",
    TenderStatus.OPENED: "primary",
    TenderStatus.CANCELLED: "danger",
    TenderStatus.UNSUCCESSFUL: "dark",
}
LABELS = dict(
    status=TENDER_STATUS_LABELS, method=METHOD_LABELS, category=CATEGORY_LABELS, lot_status=LOT_STATUS_LABELS,
    evaluation=EVALUATION_METHOD_LABELS, criterion_kind=CRITERION_KIND_LABELS,
)
_BADGE = Markup('<span class="badge text-bg-{}">{}</span>')
_labels_by_language: dict[str, dict[str, dict]] = {}


def labels() -> dict[str, dict]:
    """LABELS with every label translated into the request's language, and `badge`: each
    status as the coloured badge the tender pages show. Made once per language and process
    (a list page looks up three per row; a lazy label is translated again each time it is
    written)."""
    language = str(get_locale())
    translated = _labels_by_language.get(language)
    if translated is None:
        translated = {kind: {key: str(label) for key, label in table.items()} for kind, table in LABELS.items()}
        translated["badge"] = {status: _BADGE.format(STATUS_BADGES.get(status, "secondary"), label)
                               for status, label in translated["status"].items()}
        _labels_by_language[language] = translated
    return translated


@bp.app_template_global()
def tender_badge(status: TenderStatus) -> Markup:
    """A tender status as the coloured badge every tender page shows."""
    badge = labels()["badge"].get(status)
    return badge if badge is not None else _BADGE.format("secondary", status)


def _user():
    return current_user._get_current_object() if current_user.is_authenticated else None  # type: ignore[attr-defined]


def is_buyer_officer(tender: Tender) -> bool:
    """The caller is a procurement officer of the tender's buyer (current organization)."""
    org = current_org() if current_user.is_authenticated else None
    return bool(org is not None and org.id == tender.buyer_org_id and has_role(Role.PROCUREMENT_OFFICER))


def is_bidder() -> bool:
    org = current_org() if current_user.is_authenticated else None
    return bool(org is not None and org.has_kind(OrgKind.SUPPLIER) and has_role(Role.BIDDER))


def visible_tender_or_404(tender_id: int) -> Tender:
    tender = queries.public_tender(tender_id)
    if tender is None or (not queries.is_public(tender) and not is_buyer_officer(tender)):
        abort(404)
    return tender


# --------------------------------------------------------------------------- list


@bp.get("/")
def index():
    return redirect(url_for("procurement.tenders"))


def _search_params(form: SearchForm) -> tuple[queries.TenderSearch, dict[str, Any]]:
    """Search parameters from a validated form; `args` keeps them for the pager links."""
    params = queries.TenderSearch()
    if form.q.data:
        params.q = form.q.data.strip()
    params.status = form.status.data or None
    params.method = form.method.data or None
    params.category = form.category.data or None
    params.category_code = (form.category_code.data or "").strip() or None
    params.buyer_org_id = int(form.buyer.data) if (form.buyer.data or "").isdigit() else None
    params.budget_min = form.budget_min.fen if not form.budget_min.errors else None
    params.budget_max = form.budget_max.fen if not form.budget_max.errors else None
    params.deadline_from = form.deadline_from.data if not form.deadline_from.errors else None
    params.deadline_to = form.deadline_to.data if not form.deadline_to.errors else None
    params.sort = form.sort.data if form.sort.data in ("newest", "deadline") else "newest"
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return params, args


@dataclass(frozen=True, slots=True)
class ListRow:
    """What the tender list shows of one result, written in the page's language."""

    url: str
    title: str
    category: str
    code: str
    buyer: str
    method: str
    budget: str
    badge: Markup
    deadline: str


def list_rows(items: list[queries.TenderListItem]) -> list[ListRow]:
    """The result rows as the list shows them: labels translated once per language, one
    url_for per page, the status at this moment (one Python pass is cheaper than the dozen
    template calls per row it replaces)."""
    names = labels()
    url = url_for_ids("procurement.tender_detail", "tender_id")
    language = current_language()
    now = clock.now()
    return [ListRow(
        url=url(t.id), title=localized(t, "title", language),
        category=names["category"].get(t.category, t.category), code=t.category_code or "",
        buyer=localized(t.buyer, "name", language), method=names["method"].get(t.method, t.method),
        budget=format_money(t.budget, t.currency), badge=tender_badge(time_status(t, now)),
        deadline=local_datetime(t.submission_deadline),
    ) for t in items]


@bp.get("/tenders")
def tenders():
    form = SearchForm(request.args)
    form.set_choices(queries.buyer_orgs())
    form.validate()  # errors are shown next to their fields; the valid filters still apply
    params, args = _search_params(form)
    params.page = request.args.get("page", 1, type=int) or 1
    result = queries.search_tenders(params)
    return render_template(
        "procurement/public/tenders.html",
        title=_("Tenders"),
        form=form,
        result=result,
        args=args,
        rows=list_rows(result.items),
        filtered=bool(args),
    )


# --------------------------------------------------------------------------- detail


def _fmt_change_value(value: Any) -> str:
    if isinstance(value, str):
        try:
            return local_datetime(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, list | tuple):
        return ", ".join(_fmt_change_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt_change_value(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def _change_label(key: str) -> str:
    labels = {
        "submission_deadline": _("Submission deadline"),
        "enquiry_end": _("End of the enquiry period"),
        "opening_time": _("Opening time"),
        "documents_added": _("Documents added"),
        "documents_removed": _("Documents removed"),
        "documents_replaced": _("Documents replaced"),
        "description": _("Description"),
    }
    return labels.get(key, key.replace("_", " "))


def amendment_changes(amendment) -> list[tuple[str, str, str | None]]:
    """(label, old-or-value, new) rows of an amendment's recorded changes."""
    rows: list[tuple[str, str, str | None]] = []
    for key, value in (amendment.changes or {}).items():
        if isinstance(value, list | tuple) and len(value) == 2 and not key.startswith("documents"):
            rows.append((_change_label(key), _fmt_change_value(value[0]), _fmt_change_value(value[1])))
        else:
            rows.append((_change_label(key), _fmt_change_value(value), None))
    return rows


def _timeline(tender: Tender, now: datetime) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    def add(when, label, detail=""):
        if when is not None:
            events.append({"at": when, "label": label, "detail": detail, "past": when <= now})

    add(tender.published_at, _("Published"))
    add(tender.enquiry_end, _("Enquiry period ends"))
    add(tender.submission_deadline, _("Submission deadline"))
    add(tender.opening_time, _("Opening of the bids"))
    for amendment in tender.amendments:
        add(amendment.created_at, _("Amendment %(n)s", n=amendment.number), amendment.reason)
    add(tender.opened_at, _("Bids opened"))
    add(tender.cancelled_at, _("Cancelled"), tender.cancel_reason)
    return sorted(events, key=lambda e: e["at"])


@bp.get("/tenders/<int:tender_id>")
def tender_detail(tender_id: int):
    tender = visible_tender_or_404(tender_id)
    now = clock.now()
    status = svc.status_now(tender)
    user = _user()
    bidder = is_bidder()
    officer = is_buyer_officer(tender)
    procedure = svc.procedure_for(tender.method)
    documents = sorted(tender.documents, key=lambda d: (d.removed_in_version is not None, d.id))
    files = {f.id: f for f in db.session.scalars(
        sa.select(StoredFile).where(StoredFile.id.in_([d.stored_file_id for d in documents] or [0])))}
    custodian_total = len(tender.custodians) or tender.custodian_count
    return render_template(
        "procurement/public/detail.html",
        title=_page_title(tender),
        tender=tender,
        buyer=tender.buyer,  # type: ignore[attr-defined]
        status=status,
        procedure=procedure,
        documents=documents,
        files=files,
        questions=queries.answered_questions(tender.id),
        amendments=[(a, amendment_changes(a)) for a in tender.amendments],
        timeline=_timeline(tender, now),
        now=now,
        custodian_total=custodian_total,
        fingerprint=keys.fingerprint(tender),
        bidder=bidder,
        officer=officer,
        # what the buttons offer, by the services' own rules
        can_ask=bidder and clarifications.can_ask_now(tender, now),
        can_bond=bidder and bonds.takes_bonds_now(tender, now),
        can_bid=bidder and bids.drafting_open(tender),
        can_amend=officer and amendments.can_amend_now(tender, now),
        can_cancel=officer and svc.can_cancel(tender),
        downloaded=bool(user and bidder and queries.has_downloaded(tender.id, user.id)),
        opened=status in OPENED_OR_LATER or tender.opened_at is not None,
        labels=labels(),
        TenderStatus=TenderStatus,
    )


def _page_title(tender: Tender) -> str:
    from core.i18n import localized

    return localized(tender, "title") or _("Tender %(id)s", id=tender.id)


# --------------------------------------------------------------------------- documents


@bp.get("/tenders/<int:tender_id>/documents/<int:doc_id>")
def document_download(tender_id: int, doc_id: int):
    tender = visible_tender_or_404(tender_id)
    doc = db.session.get(TenderDocument, doc_id)
    if doc is None or doc.tender_id != tender.id:
        abort(404)
    stored = db.session.get(StoredFile, doc.stored_file_id)
    if stored is None:
        abort(404)
    svc.record_download(tender, _user(), current_org())
    return send_stored_file(stored, download_name=stored.original_name)
