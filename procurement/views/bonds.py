"""procurement views: the supplier's bonds page per tender and finance's bond queue.

Supplier (role bidder in its organization): `bonds` lists each lot that needs a bond with
the organization's own bond (never anyone else's), the forms to lodge by bank transfer or
guarantee and to report the transfer. Another organization's bond is a 404.

Finance (finance in the platform organization acts; auditors read): `finance_bonds` shows
bonds by opaque reference, amount, kind, status and times only (never the tender, the lot
or the supplier: DESIGN.md section 7), verifies or rejects guarantees, retries refunds,
and links to the payments bank-transfer page where transfers are confirmed.

Officers have no bond page at all before the opening.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.routing import BuildError
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from accounts.permissions import current_org, has_platform_role, require_platform_role, require_role
from accounts.states import Role
from core import files as core_files
from core.db import db
from core.errors import DomainError
from core.forms import apply_errors
from payments.forms import AmountField
from payments.services import bank_transfer as transfer_svc
from payments.states import PAYMENT_STATUS_LABELS
from procurement import bp, queries
from procurement.models import Bond, Lot, Tender
from procurement.services import bonds as svc
from procurement.states import BOND_KIND_LABELS, BOND_STATUS_LABELS, BondKind, BondStatus, TenderStatus

# --------------------------------------------------------------------------- forms


class LodgeTransferForm(FlaskForm):
    """Choose to pay the bond by bank transfer (CSRF only)."""


class ReportTransferForm(FlaskForm):
    """The supplier says it has made the transfer (CSRF only)."""


class GuaranteeForm(FlaskForm):
    issuer = StringField(_l("Issuer (bank or insurer)"), validators=[InputRequired(), Length(max=200)])
    number = StringField(_l("Guarantee number"), validators=[InputRequired(), Length(max=100)])
    amount = AmountField(_l("Amount (yuan)"), validators=[InputRequired()],
                         description=_l("At least the lot's bond."))
    valid_until = DateField(_l("Valid until"), validators=[InputRequired()],
                            description=_l("At least until the opening of the bids."))
    file = FileField(_l("Guarantee document (PDF, PNG or JPG)"))


class VerifyGuaranteeForm(FlaskForm):
    """Finance: the guarantee is genuine (CSRF only)."""


class RejectGuaranteeForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=500)])


class RetryRefundForm(FlaskForm):
    """Finance: start the refund payout again (CSRF only)."""


class BondSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Bond or transfer reference"), validators=[Optional(), Length(max=40)])


# --------------------------------------------------------------------------- helpers


def _me():
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _tender_or_404(tender_id: int) -> Tender:
    tender = queries.public_tender(tender_id)
    if tender is None or tender.status == TenderStatus.DRAFT:
        abort(404)
    return tender


def _lot_or_404(tender: Tender, lot_id: int) -> Lot:
    lot = next((lot for lot in tender.lots if lot.id == lot_id), None)
    if lot is None:
        abort(404)
    return lot


def _own_bond_or_404(bond_id: int) -> Bond:
    bond = db.session.get(Bond, bond_id)
    org = current_org()
    if bond is None or org is None or bond.supplier_org_id != org.id:
        abort(404)
    return bond


def _tender_url(tender_id: int) -> str:
    try:
        return url_for("procurement.tender_detail", tender_id=tender_id)
    except BuildError:  # the public pages are not registered (yet)
        return url_for("procurement.tenders")


def _bonds_url(tender_id: int, lot_id: int | None = None) -> str:
    anchor = f"lot-{lot_id}" if lot_id else None
    return url_for("procurement.bonds", tender_id=tender_id, _anchor=anchor)


def _button_action(form: FlaskForm, action: Callable[[], Any], done: Callable[[Any], str], back: str):
    """A form that is only a button: run the action, flash what came of it, go back to ``back``."""
    if not form.validate_on_submit():
        flash(_("The form has expired: please try again."), "warning")
    else:
        try:
            result = action()
        except DomainError as exc:
            flash(exc.message, "danger")
        else:
            flash(done(result), "success")
    return redirect(back, code=303)


def _lot_forms(lot: Lot, failing: tuple[int, FlaskForm] | None) -> dict[str, FlaskForm]:
    forms: dict[str, FlaskForm] = {
        "transfer": LodgeTransferForm(prefix=f"t{lot.id}", formdata=None),
        "guarantee": GuaranteeForm(prefix=f"g{lot.id}", formdata=None),
        "report": ReportTransferForm(prefix=f"r{lot.id}", formdata=None),
    }
    if failing is not None and failing[0] == lot.id:
        forms["guarantee"] = failing[1]
    return forms


def _render_supplier(tender: Tender, failing: tuple[int, FlaskForm] | None = None, status: int = 200):
    org = current_org()
    mine = svc.supplier_bonds(tender.id, org.id)
    lots: list[dict[str, Any]] = []
    for lot in tender.lots:
        if not lot.asks_bond:
            continue
        history = mine.get(lot.id, [])
        current = next((b for b in history if b.status != BondStatus.REJECTED), None)
        payment = svc.transfer_payment(current) if current is not None and current.kind == BondKind.TRANSFER else None
        lots.append({
            "lot": lot,
            "bond": current,
            "rejected": [b for b in history if b.status == BondStatus.REJECTED],
            "payment": payment,
            "acceptable": svc.has_acceptable_bond(tender, lot, org.id),
            "forms": _lot_forms(lot, failing),
        })
    return render_template(
        "procurement/bonds/supplier.html",
        title=_("Bid bonds"),
        tender=tender,
        lots=lots,
        open_for_bonds=svc.accepts_bonds(tender),
        account=transfer_svc.receiving_account(),
        status_labels=BOND_STATUS_LABELS,
        kind_labels=BOND_KIND_LABELS,
        payment_labels=PAYMENT_STATUS_LABELS,
        tender_url=_tender_url(tender.id),
        failing_lot=failing[0] if failing else None,
    ), status


# --------------------------------------------------------------------------- supplier pages


@bp.get("/tenders/<int:tender_id>/bonds")
@require_role(Role.BIDDER)
def bonds(tender_id: int):
    return _render_supplier(_tender_or_404(tender_id))


@bp.post("/tenders/<int:tender_id>/lots/<int:lot_id>/bonds/transfer")
@require_role(Role.BIDDER)
def bond_lodge_transfer(tender_id: int, lot_id: int):
    tender = _tender_or_404(tender_id)
    lot = _lot_or_404(tender, lot_id)
    return _button_action(
        LodgeTransferForm(prefix=f"t{lot.id}"),
        lambda: svc.lodge_transfer(tender, lot, _me(), current_org()),
        lambda bond: _("Transfer the bond to the account shown, with the reference code %(code)s in the remark, "
                       "then tell us you have paid.", code=svc.transfer_payment(bond).reference_code),
        _bonds_url(tender.id, lot.id),
    )


@bp.post("/tenders/<int:tender_id>/lots/<int:lot_id>/bonds/guarantee")
@require_role(Role.BIDDER)
def bond_lodge_guarantee(tender_id: int, lot_id: int):
    tender = _tender_or_404(tender_id)
    lot = _lot_or_404(tender, lot_id)
    form = GuaranteeForm(prefix=f"g{lot.id}")
    if not form.validate_on_submit():
        return _render_supplier(tender, (lot.id, form), 422)
    upload = form.file.data
    try:
        svc.lodge_guarantee(
            tender, lot, _me(), current_org(), issuer=form.issuer.data, number=form.number.data,
            amount=form.amount.fen, valid_until=form.valid_until.data, file=upload,
            filename=getattr(upload, "filename", None),
        )
    except DomainError as exc:
        if apply_errors(form, exc):
            return _render_supplier(_tender_or_404(tender_id), (lot.id, form), exc.status)
        return redirect(_bonds_url(tender.id, lot.id), code=303)
    flash(_("Your guarantee was filed; finance will verify it."), "success")
    return redirect(_bonds_url(tender.id, lot.id), code=303)


@bp.post("/bonds/<int:bond_id>/report")
@require_role(Role.BIDDER)
def bond_report(bond_id: int):
    bond = _own_bond_or_404(bond_id)
    return _button_action(
        ReportTransferForm(prefix=f"r{bond.lot_id}"),
        lambda: svc.report_transfer(bond, _me(), current_org()),
        lambda _done: _("Thank you: finance will confirm the bond when the money arrives."),
        _bonds_url(bond.tender_id, bond.lot_id),
    )


@bp.get("/bonds/<int:bond_id>")
@require_role(Role.BIDDER, Role.ORG_ADMIN, Role.FINANCE)
def bond_redirect(bond_id: int):
    """Where the payment page sends the supplier back (the payment names the bond only)."""
    bond = _own_bond_or_404(bond_id)
    return redirect(_bonds_url(bond.tender_id, bond.lot_id), code=303)


@bp.get("/bonds/<int:bond_id>/guarantee")
@require_role(Role.BIDDER)
def bond_guarantee_file(bond_id: int):
    return _send_guarantee(_own_bond_or_404(bond_id))


def _send_guarantee(bond: Bond, inline: bool = False):
    """The guarantee document, named by the bond's reference (not the uploaded file name)."""
    stored = svc.guarantee_file(bond)
    if stored is None:
        abort(404)
    name = stored.original_name
    ext = (name.rsplit(".", 1)[-1] if "." in name else "bin").lower()[:5]
    return core_files.send_stored_file(stored, download_name=f"{bond.reference}.{ext}", inline=inline)


# --------------------------------------------------------------------------- finance


def _finance_forms(rows: list[svc.FinanceRow], failing: tuple[int, FlaskForm] | None) -> dict[int, dict[str, Any]]:
    forms: dict[int, dict[str, Any]] = {}
    for row in rows:
        forms[row.id] = {
            "verify": VerifyGuaranteeForm(prefix=f"v{row.id}", formdata=None),
            "reject": RejectGuaranteeForm(prefix=f"x{row.id}", formdata=None),
            "retry": RetryRefundForm(prefix=f"rr{row.id}", formdata=None),
        }
    if failing is not None and failing[0] in forms:
        forms[failing[0]]["reject"] = failing[1]
    return forms


def _render_finance(failing: tuple[int, FlaskForm] | None = None, status: int = 200):
    search = BondSearchForm(request.args)
    q = (search.q.data or "").strip() if search.validate() else ""
    queue = svc.finance_queue(q=q or None)
    return render_template(
        "procurement/bonds/finance.html",
        title=_("Bid bonds"),
        search=search,
        queue=queue,
        forms=_finance_forms([*queue["guarantees"], *queue["refunds"]], failing),
        can_act=has_platform_role(Role.FINANCE),
        status_labels=BOND_STATUS_LABELS,
        kind_labels=BOND_KIND_LABELS,
        payment_labels=PAYMENT_STATUS_LABELS,
        open_id=failing[0] if failing else None,
    ), status


def _finance_bond_or_404(bond_id: int) -> Bond:
    bond = db.session.get(Bond, bond_id)
    if bond is None:
        abort(404)
    return bond


@bp.get("/finance/bonds")
@require_platform_role(Role.FINANCE, Role.AUDITOR)
def finance_bonds():
    return _render_finance()


@bp.post("/finance/bonds/<int:bond_id>/verify")
@require_platform_role(Role.FINANCE)
def finance_verify_bond(bond_id: int):
    bond = _finance_bond_or_404(bond_id)
    return _button_action(
        VerifyGuaranteeForm(prefix=f"v{bond.id}"),
        lambda: svc.verify_guarantee(bond, _me()),
        lambda _done: _("Guarantee %(ref)s verified.", ref=bond.reference),
        url_for("procurement.finance_bonds"),
    )


@bp.post("/finance/bonds/<int:bond_id>/reject")
@require_platform_role(Role.FINANCE)
def finance_reject_bond(bond_id: int):
    bond = _finance_bond_or_404(bond_id)
    form = RejectGuaranteeForm(prefix=f"x{bond.id}")
    if not form.validate_on_submit():
        return _render_finance((bond.id, form), 422)
    try:
        svc.reject_guarantee(bond, _me(), form.reason.data)
    except DomainError as exc:
        if apply_errors(form, exc):
            return _render_finance((bond.id, form), exc.status)
    else:
        flash(_("Guarantee %(ref)s rejected.", ref=bond.reference), "success")
    return redirect(url_for("procurement.finance_bonds"), code=303)


@bp.post("/finance/bonds/<int:bond_id>/retry-refund")
@require_platform_role(Role.FINANCE)
def finance_retry_bond_refund(bond_id: int):
    bond = _finance_bond_or_404(bond_id)
    return _button_action(
        RetryRefundForm(prefix=f"rr{bond.id}"),
        lambda: svc.retry_refund(bond, _me()),
        lambda _done: _("The refund of %(ref)s is on its way again.", ref=bond.reference),
        url_for("procurement.finance_bonds"),
    )


@bp.get("/finance/bonds/<int:bond_id>/guarantee")
@require_platform_role(Role.FINANCE, Role.AUDITOR)
def finance_bond_file(bond_id: int):
    return _send_guarantee(_finance_bond_or_404(bond_id), inline=True)
