"""Payments HTML pages: the payments home, the payment page, finance's bank-transfer pages.

The payment page (/payments/<id>) is where the areas send a payer: members of the payer
organization only (another organization's payment is a 404). Finance pages need the
finance role in the platform organization (otherwise 403).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.permissions import (
    current_org,
    get_for_org_or_404,
    has_platform_role,
    login_required,
    require_platform_role,
)
from accounts.states import Role
from core.db import db
from core.errors import DomainError
from core.forms import apply_errors
from core.models.files import StoredFile
from payments import bp
from payments.forms import ConfirmTransferForm, PayForm, RejectTransferForm, TransferSearchForm
from payments.models.payments import Payment
from payments.providers.base import PaymentDeclined, ProviderError
from payments.services import bank_transfer as transfer_svc
from payments.services import checkout
from payments.states import PAYMENT_STATUS_LABELS, PROVIDER_LABELS


def _me():
    return current_user._get_current_object()  # type: ignore[attr-defined]


platform_finance_required = require_platform_role(Role.FINANCE)


# --------------------------------------------------------------------------- home


@bp.get("/")
@login_required
def index():
    org = current_org()
    recent: list[Payment] = []
    if org is not None:
        import sqlalchemy as sa

        recent = list(
            db.session.scalars(
                sa.select(Payment).where(Payment.payer_org_id == org.id).order_by(Payment.id.desc()).limit(20)
            )
        )
    return render_template(
        "payments/index.html",
        title=_("Payments"),
        payments=recent,
        labels=PAYMENT_STATUS_LABELS,
        finance=has_platform_role(Role.FINANCE),
        pending_count=len(transfer_svc.transfers(pending=True)) if has_platform_role(Role.FINANCE) else 0,
    )


# --------------------------------------------------------------------------- payment page


def _payment_for_payer(payment_id: int) -> Payment:
    return get_for_org_or_404(Payment, payment_id, org_attr="payer_org_id")


def _pay_form(payment: Payment, methods: list[str]) -> PayForm:
    form = PayForm()
    form.provider.choices = [(m, checkout.METHOD_LABELS[m]) for m in methods]
    if not form.provider.data and len(methods) == 1:
        form.provider.data = methods[0]
    return form


def _render_payment(payment: Payment, form: PayForm | None = None, status: int = 200):
    methods = checkout.allowed_methods(payment)
    can_pay = checkout.can_pay(payment)
    if form is None and can_pay:
        form = _pay_form(payment, methods)
    return render_template(
        "payments/pay.html",
        title=_("Payment"),
        payment=payment,
        form=form if can_pay else None,
        labels=PAYMENT_STATUS_LABELS,
        provider_labels=PROVIDER_LABELS,
        info=transfer_svc.transfer_info(payment),
        awaiting_transfer=checkout.awaiting_transfer(payment),
        account=transfer_svc.receiving_account(),
        show_test_card=checkout.show_test_card() and "card" in methods,
        card_offered=any(m in checkout.STRIPE_METHODS for m in methods),
        final=checkout.is_final(payment),
        back_url=payment.return_url or "/",
        status_url=url_for("payments.payment_status", payment_id=payment.id),
    ), status


@bp.get("/<int:payment_id>")
@login_required
def payment_page(payment_id: int):
    return _render_payment(_payment_for_payer(payment_id))


@bp.post("/<int:payment_id>/pay")
@login_required
def pay(payment_id: int):
    payment = _payment_for_payer(payment_id)
    if not checkout.can_pay(payment):
        flash(_("This payment cannot be paid any more."), "warning")
        return redirect(url_for("payments.payment_page", payment_id=payment.id), code=303)
    form = _pay_form(payment, checkout.allowed_methods(payment))
    if not form.validate_on_submit():
        return _render_payment(payment, form, 422)
    try:
        payment = checkout.pay(payment, form.provider.data, actor=_me(), card_number=form.card_number.data)
    except PaymentDeclined as exc:
        flash(exc.message, "danger")
    except ProviderError as exc:
        flash(exc.message, "danger")
    except DomainError as exc:
        if exc.fields:
            apply_errors(form, exc)
            return _render_payment(db.session.get(Payment, payment_id), form, exc.status)
        flash(exc.message, "danger")
    else:
        if payment.status == "succeeded":
            flash(_("Thank you: the payment succeeded."), "success")
    return redirect(url_for("payments.payment_page", payment_id=payment_id), code=303)


@bp.get("/<int:payment_id>/status.json")
@login_required
def payment_status(payment_id: int):
    payment = _payment_for_payer(payment_id)
    db.session.refresh(payment)
    response = jsonify(checkout.status_payload(payment))
    response.headers["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- finance: bank transfers


def _finance_forms(payments: list[Payment], failing: tuple[int, Any] | None = None) -> dict[int, dict[str, Any]]:
    forms: dict[int, dict[str, Any]] = {}
    for p in payments:
        confirm = ConfirmTransferForm(prefix=f"confirm-{p.id}", formdata=None)
        confirm.amount_received.data = f"{p.amount // 100}.{p.amount % 100:02d}"  # fen -> yuan, no float
        reject = RejectTransferForm(prefix=f"reject-{p.id}", formdata=None)
        forms[p.id] = {"confirm": confirm, "reject": reject}
    if failing is not None and failing[0] in forms:
        form = failing[1]
        forms[failing[0]]["confirm" if isinstance(form, ConfirmTransferForm) else "reject"] = form
    return forms


def _render_transfers(failing: tuple[int, Any] | None = None, status: int = 200):
    search = TransferSearchForm(request.args)
    q = amount = None
    if search.validate():
        q = (search.q.data or "").strip() or None
        amount = search.amount.fen
    pending = transfer_svc.transfers(pending=True, q=q, amount=amount)
    handled = transfer_svc.transfers(pending=False, q=q, amount=amount, limit=50)
    return render_template(
        "payments/finance_transfers.html",
        title=_("Bank transfers"),
        search=search,
        pending=pending,
        handled=handled,
        forms=_finance_forms(pending, failing),
        infos={p.id: transfer_svc.transfer_info(p) for p in [*pending, *handled]},
        payers=transfer_svc.payer_orgs([*pending, *handled]),
        labels=PAYMENT_STATUS_LABELS,
        open_id=failing[0] if failing else None,
    ), status


@bp.get("/finance/transfers")
@platform_finance_required
def finance_transfers():
    return _render_transfers()


@bp.post("/finance/transfers/<int:payment_id>/confirm")
@platform_finance_required
def finance_confirm(payment_id: int):
    payment = db.get_or_404(Payment, payment_id)
    form = ConfirmTransferForm(prefix=f"confirm-{payment.id}")
    if form.validate_on_submit():
        upload = form.slip.data
        filename = getattr(upload, "filename", "") or ""
        try:
            transfer_svc.confirm_transfer(
                payment.id,
                amount_received=form.amount_received.fen,
                slip=upload if filename else None,
                slip_filename=filename,
                note=form.note.data or "",
                actor=_me(),
            )
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            flash(_("Transfer %(ref)s confirmed.", ref=payment.reference_code), "success")
            return redirect(url_for("payments.finance_transfers"), code=303)
    return _render_transfers((payment.id, form), 422)


@bp.post("/finance/transfers/<int:payment_id>/reject")
@platform_finance_required
def finance_reject(payment_id: int):
    payment = db.get_or_404(Payment, payment_id)
    form = RejectTransferForm(prefix=f"reject-{payment.id}")
    if form.validate_on_submit():
        try:
            transfer_svc.reject_transfer(payment.id, reason=form.reason.data, actor=_me())
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            flash(_("Transfer %(ref)s rejected.", ref=payment.reference_code), "success")
            return redirect(url_for("payments.finance_transfers"), code=303)
    return _render_transfers((payment.id, form), 422)


@bp.get("/finance/transfers/<int:payment_id>/slip")
@platform_finance_required
def finance_slip(payment_id: int):
    from core.files import send_stored_file

    payment = db.get_or_404(Payment, payment_id)
    file_id = transfer_svc.transfer_info(payment).get("slip_file_id")
    stored = db.session.get(StoredFile, file_id) if file_id else None
    if stored is None:
        abort(404)
    return send_stored_file(stored, download_name=f"{payment.reference_code}-{stored.original_name}", inline=True)
