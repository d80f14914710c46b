"""procurement views: the supplier's bid workspace, its bids and receipts, and the public
receipt verification page (its CLI twin, `flask procurement verify-receipt FILE`, is in
procurement.cli_opening).

The workspace belongs to the caller's organization: a bid of another organization is a
404; only members with the bidder role of a supplier organization use it (403 otherwise).
Nothing sealed is ever shown back: parts are listed by name, size and hash.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectMultipleField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired
from wtforms.widgets import CheckboxInput, ListWidget

from accounts.permissions import current_org, get_for_org_or_404, has_role, login_required
from accounts.states import OrgKind, Role
from core import clock, signing
from core.db import db
from core.errors import DomainError
from core.forms import flash_errors
from core.i18n import local_datetime, localized
from payments.forms import AmountField
from procurement import bp, queries
from procurement.forms import ActionForm
from procurement.models import Bid, Tender
from procurement.services import bids as svc
from procurement.services import bonds, keys
from procurement.states import (
    BID_STATUS_LABELS,
    TENDER_STATUS_LABELS,
    BidPartKind,
    BidStatus,
    CriterionKind,
    TenderStatus,
    time_status,
)

# --------------------------------------------------------------------------- forms


class _MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LotsForm(FlaskForm):
    lots = _MultiCheckboxField(_l("Lots you bid on"), coerce=int, choices=[])


class PriceForm(FlaskForm):
    lot_id = HiddenField()
    price = AmountField(_l("Price (yuan)"),
                        validators=[DataRequired(message=_l("Enter a price in yuan above zero, e.g. 1200.50."))])


class AnswersForm(FlaskForm):
    """CSRF only: the answers come as `answer-<criterion id>` fields."""


class AttachmentForm(FlaskForm):
    file = FileField(_l("Attachment"))


class VerifyForm(FlaskForm):
    receipt_json = TextAreaField(_l("Paste the receipt (JSON)"))
    receipt_file = FileField(_l("…or upload the receipt file"))


# --------------------------------------------------------------------------- helpers


def _me():
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _bidder_org():
    """The caller's organization, when it is a supplier and the caller holds the bidder role."""
    org = current_org()
    if org is None or not org.has_kind(OrgKind.SUPPLIER) or not has_role(Role.BIDDER):
        abort(403)
    return org


def _workspace(tender: Tender):
    return redirect(url_for("procurement.bid_workspace", tender_id=tender.id), code=303)


def _draft_or_flash(tender: Tender, org) -> Bid | None:
    bid = svc.draft_of(tender, org.id)
    if bid is None:
        flash(_("Choose your lots first: that starts your bid."), "warning")
    return bid


def _refused(exc: DomainError) -> None:
    flash(exc.message, "danger")


def _own_bid(bid_id: int) -> Bid:
    return get_for_org_or_404(Bid, bid_id, org_attr="bidder_org_id")


def _lot_label(lot) -> str:
    return _("Lot %(n)s", n=lot.number)


# --------------------------------------------------------------------------- workspace


@bp.get("/tenders/<int:tender_id>/bid")
@login_required
def bid_workspace(tender_id: int):
    org = _bidder_org()
    tender = queries.published_tender(tender_id)
    now = clock.now()
    status = time_status(tender, now)
    draft = svc.draft_of(tender, org.id)
    current = svc.submitted_of(tender, org.id)
    history = [b for b in svc.bids_of_org(org.id, tender.id) if b.status not in (BidStatus.DRAFT,)]
    lots_form = LotsForm()
    lots_form.lots.choices = [SelectChoice(lot.id, f"{_lot_label(lot)}: {localized(lot, 'title')}")
                              for lot in tender.lots]
    if draft is not None:
        lots_form.lots.data = list(draft.lot_ids or [])
    draft_parts = svc.live_parts(draft) if draft else []
    priced = {p.lot_id for p in draft_parts if p.kind == BidPartKind.PRICE}
    draft_lots = [lot for lot in tender.lots if draft and lot.id in (draft.lot_ids or [])]
    bond_ok = {lot.id: bonds.has_acceptable_bond(tender, lot, org.id) for lot in tender.lots}
    criteria = [c for c in tender.criteria if c.kind != CriterionKind.PRICE]
    return render_template(
        "procurement/bids/workspace.html",
        title=_("Your bid"),
        sealed_size=svc.sealed_size,
        tender=tender,
        now=now,
        status=status,
        status_labels=TENDER_STATUS_LABELS,
        bid_labels=BID_STATUS_LABELS,
        problems=svc.eligibility_problems(tender, org),
        draft=draft,
        draft_parts=draft_parts,
        draft_lots=draft_lots,
        priced=priced,
        current=current,
        current_parts=svc.live_parts(current) if current else [],
        history=history,
        bond_ok=bond_ok,
        criteria=criteria,
        lots_form=lots_form,
        price_form=PriceForm(),
        answers_form=AnswersForm(),
        attachment_form=AttachmentForm(),
        action_form=ActionForm(),
        can_draft=svc.drafting_open(tender),
        fingerprint=keys.fingerprint(tender),
        can_submit=svc.submission_open(tender, now),
        max_mb=svc.attachment_max_bytes() // (1024 * 1024),
        accepted_types=", ".join(sorted(svc.ATTACHMENT_TYPES)),
        missing_prices=[lot for lot in draft_lots if lot.id not in priced],
    )


@bp.post("/tenders/<int:tender_id>/bid/lots")
@login_required
def bid_lots(tender_id: int):
    org = _bidder_org()
    tender = queries.published_tender(tender_id)
    form = LotsForm()
    form.lots.choices = [SelectChoice(lot.id, str(lot.number)) for lot in tender.lots]
    if not form.validate_on_submit():
        flash(_("Choose at least one lot to bid on."), "danger")
        return _workspace(tender)
    try:
        svc.start_bid(tender, _me(), org, form.lots.data or [])
        flash(_("Your lots are saved. Now enter a price for each lot."), "success")
    except DomainError as exc:
        _refused(exc)
    return _workspace(tender)


def _on_draft(tender_id: int, form, act) -> Any:
    """Run `act(bid)` on the bidder's draft for a tender and show the workspace again.

    The form's errors, when it is refused, are flashed and `act` is not run. `act` returns
    the success message, or None when it flashed its own refusal; a service refusal
    (DomainError) is flashed."""
    org = _bidder_org()
    tender = queries.published_tender(tender_id)
    bid = _draft_or_flash(tender, org)
    if bid is None:
        return _workspace(tender)
    if not form.validate_on_submit():  # each refused field says why
        flash_errors(form)
        return _workspace(tender)
    try:
        message = act(bid)
        if message:
            flash(message, "success")
    except DomainError as exc:
        _refused(exc)
    return _workspace(tender)


@bp.post("/tenders/<int:tender_id>/bid/price")
@login_required
def bid_price(tender_id: int):
    form = PriceForm()

    def act(bid):
        part = svc.add_price(bid, _me(), form.lot_id.data, form.price.fen)
        return _("The price was sealed (%(name)s).", name=part.name)

    return _on_draft(tender_id, form, act)


@bp.post("/tenders/<int:tender_id>/bid/answers")
@login_required
def bid_answers(tender_id: int):
    def act(bid):
        answers = {key.removeprefix("answer-"): value for key, value in request.form.items()
                   if key.startswith("answer-")}
        svc.add_answers(bid, _me(), answers)
        return _("Your answers were sealed.")

    return _on_draft(tender_id, AnswersForm(), act)


@bp.post("/tenders/<int:tender_id>/bid/attachments")
@login_required
def bid_attachment(tender_id: int):
    def act(bid):
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choose a file to upload."), "danger")
            return None
        part = svc.add_attachment(bid, _me(), upload.filename, upload)
        return _("%(name)s was sealed.", name=part.name)

    return _on_draft(tender_id, AttachmentForm(), act)


@bp.post("/tenders/<int:tender_id>/bid/parts/<int:part_id>/remove")
@login_required
def bid_remove_part(tender_id: int, part_id: int):
    def act(bid):
        part = svc.remove_part(bid, _me(), part_id)
        return _("%(name)s was removed from your draft.", name=part.name)

    return _on_draft(tender_id, ActionForm(), act)


@bp.post("/tenders/<int:tender_id>/bid/submit")
@login_required
def bid_submit(tender_id: int):
    def act(bid):
        submitted = svc.submit(bid, _me())
        return _("Your bid was submitted at %(time)s. Download your receipt and keep it.",
                 time=local_datetime(submitted.submitted_at, "yyyy-MM-dd HH:mm:ss"))

    return _on_draft(tender_id, ActionForm(), act)


@bp.post("/tenders/<int:tender_id>/bid/withdraw")
@login_required
def bid_withdraw(tender_id: int):
    org = _bidder_org()
    tender = queries.published_tender(tender_id)
    bid = svc.submitted_of(tender, org.id)
    if bid is None:
        flash(_("You have no submitted bid to withdraw."), "warning")
        return _workspace(tender)
    if not ActionForm().validate_on_submit():
        return _workspace(tender)
    try:
        svc.withdraw(bid, _me())
        flash(_("Your bid was withdrawn. You may submit a new one before the deadline."), "success")
    except DomainError as exc:
        _refused(exc)
    return _workspace(tender)


# --------------------------------------------------------------------------- my bids, receipts


@bp.get("/bids")
@login_required
def my_bids():
    org = _bidder_org()
    rows = svc.bids_of_org(org.id)
    tenders = {b.tender_id: db.session.get(Tender, b.tender_id) for b in rows}
    return render_template(
        "procurement/bids/my_bids.html",
        title=_("My bids"),
        bids=rows,
        tenders=tenders,
        labels=BID_STATUS_LABELS,
    )


@bp.get("/bids/<int:bid_id>/receipt.json")
@login_required
def receipt_download(bid_id: int):
    bid = _own_bid(bid_id)
    body = json.dumps(svc.receipt_of(bid), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="bid-receipt-{bid.tender_id}-{bid.id}.json"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/receipts/verify", methods=["GET", "POST"])
def verify_receipt():
    form = VerifyForm()
    result = None
    tender = None
    status = 200
    if form.validate_on_submit():
        upload = request.files.get("receipt_file")
        if upload is not None and upload.filename:
            document: Any = upload.read(svc.RECEIPT_MAX_BYTES + 1)
        else:
            document = (form.receipt_json.data or "").strip()
        if not document:
            form.receipt_json.errors = [_("Paste the receipt or choose its file.")]
            status = 422
        else:
            result = svc.check_receipt(document)
            if result.valid:
                found = db.session.get(Tender, result.receipt.get("tender_id")) if isinstance(
                    result.receipt.get("tender_id"), int) else None
                tender = found if found is not None and found.status != TenderStatus.DRAFT else None
            else:
                status = 422
    return render_template("procurement/bids/verify.html", title=_("Verify a bid receipt"), form=form,
                           result=result, tender=tender, key_id=signing.key_id()), status
