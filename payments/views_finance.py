"""Finance pages: ledger accounts and entries, CSV export, payouts, reconciliation.

Access: the finance role or the auditor role in the platform organization reads; only
platform finance acts (export a batch, mark a payout paid or failed); everyone else
gets a 403.
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import DataRequired, Length, Optional, Regexp

from accounts.permissions import has_platform_role, require_platform_role
from accounts.states import Role
from core import clock
from core import files as core_files
from core.db import db
from payments import bp, queries
from payments import finance_queries as fq
from payments.csv import write_csv
from payments.models import LedgerAccount, Payout, PayoutBatch
from payments.services import payouts as payout_service
from payments.states import ENTRY_KIND_LABELS, PAYOUT_STATUS_LABELS, EntryKind, PayoutStatus

PER_PAGE = 50
CURRENCIES = ("CNY", "USD", "EUR", "HKD")
CURRENCY_CHOICES = [C("", _l("Any"))] + [C(c, c) for c in CURRENCIES]


# --------------------------------------------------------------------------- access


def platform_finance(*, act: bool = False):
    """Platform finance may act; platform finance and auditors may read (else 403)."""
    return require_platform_role(Role.FINANCE) if act else require_platform_role(Role.FINANCE, Role.AUDITOR)


def _can_act() -> bool:
    return has_platform_role(Role.FINANCE)


def _user():
    return current_user._get_current_object()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- forms


class AccountFilterForm(FlaskForm):
    class Meta:
        csrf = False

    prefix = StringField(_l("Key starts with"), validators=[Optional(), Length(max=200)],
                         description=_l("e.g. org: or tender:"))
    currency = SelectField(_l("Currency"), choices=CURRENCY_CHOICES, validators=[Optional()])


class EntryFilterForm(FlaskForm):
    class Meta:
        csrf = False

    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    account = StringField(_l("Account key"), validators=[Optional(), Length(max=200)])
    currency = SelectField(_l("Currency"), choices=CURRENCY_CHOICES, validators=[Optional()])
    q = StringField(_l("Idempotency id or description"), validators=[Optional(), Length(max=200)])
    kind = SelectField(_l("Kind"), validators=[Optional()],
                       choices=[C("", _l("Any"))] + [C(k.value, ENTRY_KIND_LABELS[k]) for k in EntryKind])


class PayoutFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(_l("Status"), validators=[Optional()],
                         choices=[C("", _l("Any"))] + [C(s.value, PAYOUT_STATUS_LABELS[s]) for s in PayoutStatus])
    payee = StringField(_l("Payee"), validators=[Optional(), Length(max=200)])
    batch = StringField(_l("Batch"), validators=[Optional(), Regexp(r"^\d{1,9}$", message=_l("A batch number."))])
    currency = SelectField(_l("Currency"), choices=CURRENCY_CHOICES, validators=[Optional()])


class ExportBatchForm(FlaskForm):
    currency = SelectField(_l("Currency"), choices=[C(c, c) for c in CURRENCIES])


class MarkPaidForm(FlaskForm):
    bank_reference = StringField(_l("Bank reference"), validators=[DataRequired(), Length(max=100)])


class MarkFailedForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


def _entry_filters(form: EntryFilterForm) -> fq.EntryFilters:
    if not form.validate():
        return fq.EntryFilters()
    return fq.EntryFilters(
        date_from=form.date_from.data,
        date_to=form.date_to.data,
        account_key=(form.account.data or "").strip() or None,
        currency=form.currency.data or None,
        keyword=(form.q.data or "").strip() or None,
        kind=form.kind.data or None,
    )


def _page_args() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if k != "page" and v}


# --------------------------------------------------------------------------- ledger


@bp.get("/finance/")
@platform_finance()
def finance_home():
    return redirect(url_for("payments.finance_accounts"))


@bp.get("/finance/accounts")
@platform_finance()
def finance_accounts():
    form = AccountFilterForm(request.args)
    prefix = currency = None
    if form.validate():
        prefix = (form.prefix.data or "").strip() or None
        currency = form.currency.data or None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows = queries.accounts(prefix=prefix, currency=currency, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    total = fq.account_count(prefix, currency)
    return render_template(
        "payments/finance/accounts.html", title=_("Ledger accounts"), form=form, accounts=rows,
        page=page, pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), total=total, page_args=_page_args(),
        trial=queries.trial_balance(),
    )


@bp.get("/finance/accounts/<int:account_id>")
@platform_finance()
def finance_account(account_id: int):
    account = db.get_or_404(LedgerAccount, account_id)
    return render_template(
        "payments/finance/account.html", title=_("Account %(key)s", key=account.key), account=account,
        lines=queries.statement(account.key, account.currency, limit=500),
        holds=queries.holds(account_key=account.key, currency=account.currency, limit=100),
    )


@bp.get("/finance/entries")
@platform_finance()
def finance_entries():
    form = EntryFilterForm(request.args)
    filters = _entry_filters(form)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    pagination = fq.entries_page(filters, page=page, per_page=PER_PAGE)
    return render_template(
        "payments/finance/entries.html", title=_("Journal entries"), form=form, pagination=pagination,
        transfers=fq.transfer_keys(list(pagination.items)), page_args=_page_args(),
        kind_labels=ENTRY_KIND_LABELS,
    )


@bp.get("/finance/entries.csv")
@platform_finance()
def finance_entries_csv():
    filters = _entry_filters(EntryFilterForm(request.args))
    rows = (
        (entry.id, entry.created_at.astimezone(clock.LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
         entry.idempotency_id, entry.kind, entry.description, dkey, ckey,
         payout_service.yuan(transfer.amount, transfer.currency), transfer.currency, transfer.kind,
         entry.corrects_id or "")
        for entry, transfer, dkey, ckey in fq.entry_rows(filters)
    )
    header = [_("Entry"), _("Time"), _("Idempotency id"), _("Kind"), _("Description"), _("Debit account"),
              _("Credit account"), _("Amount"), _("Currency"), _("Transfer kind"), _("Corrects entry")]
    data = write_csv(rows, header)
    name = f"ledger-entries-{clock.local_now():%Y%m%d-%H%M%S}.csv"
    return Response(data, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# --------------------------------------------------------------------------- payouts


@bp.get("/finance/payouts")
@platform_finance()
def finance_payouts():
    form = PayoutFilterForm(request.args)
    filters = fq.PayoutFilters()
    if form.validate():
        filters = fq.PayoutFilters(
            status=form.status.data or None,
            payee=(form.payee.data or "").strip() or None,
            batch_id=int(form.batch.data) if form.batch.data else None,
            currency=form.currency.data or None,
        )
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    return render_template(
        "payments/finance/payouts.html", title=_("Payouts"), form=form,
        pagination=fq.payouts_page(filters, page=page, per_page=PER_PAGE), page_args=_page_args(),
        pending=fq.pending_summary(), batches=fq.recent_batches(), can_act=_can_act(),
        export_form=ExportBatchForm(), paid_form=MarkPaidForm(), failed_form=MarkFailedForm(),
        status_labels=PAYOUT_STATUS_LABELS,
    )


@bp.post("/finance/payouts/export")
@platform_finance(act=True)
def finance_export_batch():
    form = ExportBatchForm()
    if not form.validate_on_submit():
        flash(_("Choose a currency."), "danger")
        return redirect(url_for("payments.finance_payouts"), code=303)
    batch = payout_service.export_batch(_user(), currency=form.currency.data)
    flash(_("Batch %(id)d exported: %(count)d payouts. Download its file for the bank.", id=batch.id,
            count=batch.count), "success")
    return redirect(url_for("payments.finance_payouts", batch=batch.id), code=303)


@bp.get("/finance/payouts/batches/<int:batch_id>.csv")
@platform_finance()
def finance_batch_file(batch_id: int):
    batch = db.get_or_404(PayoutBatch, batch_id)
    if batch.file is None:
        abort(404)
    return core_files.send_stored_file(batch.file, download_name=f"payout-batch-{batch.id}.csv")


@bp.post("/finance/payouts/<int:payout_id>/paid")
@platform_finance(act=True)
def finance_payout_paid(payout_id: int):
    payout = db.get_or_404(Payout, payout_id)
    form = MarkPaidForm()
    if not form.validate_on_submit():
        flash(_("Enter the bank's reference for this transfer."), "danger")
        return redirect(url_for("payments.finance_payouts"), code=303)
    payout_service.mark_paid(payout, _user(), form.bank_reference.data)
    flash(_("Payout %(ref)s marked paid.", ref=payout.reference), "success")
    return redirect(request.referrer if _same_site(request.referrer) else url_for("payments.finance_payouts"),
                    code=303)


@bp.post("/finance/payouts/<int:payout_id>/failed")
@platform_finance(act=True)
def finance_payout_failed(payout_id: int):
    payout = db.get_or_404(Payout, payout_id)
    form = MarkFailedForm()
    if not form.validate_on_submit():
        flash(_("Give the reason the payout failed."), "danger")
        return redirect(url_for("payments.finance_payouts"), code=303)
    payout_service.mark_failed(payout, _user(), form.reason.data)
    flash(_("Payout %(ref)s marked failed; the money was returned to %(account)s.", ref=payout.reference,
            account=payout.source_key), "warning")
    return redirect(request.referrer if _same_site(request.referrer) else url_for("payments.finance_payouts"),
                    code=303)


def _same_site(url: str | None) -> bool:
    from urllib.parse import urlsplit

    if not url:
        return False
    parts = urlsplit(url)
    return parts.netloc in ("", request.host) and parts.path.startswith("/payments/finance/")


# --------------------------------------------------------------------------- reconciliation


@bp.get("/finance/reconciliation")
@platform_finance()
def finance_reconciliation():
    problems, checked = fq.reconciliation()
    return render_template("payments/finance/reconciliation.html", title=_("Reconciliation"),
                           problems=problems, checked=checked)
