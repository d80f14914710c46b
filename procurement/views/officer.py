"""procurement views: officer tender management (drafts, documents, publishing, cancellation).

Every page needs the procurement officer role in the current organization (else 403);
another organization's tender is a 404.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.models import Organization
from accounts.permissions import current_org, get_for_org_or_404, require_role
from accounts.states import Role
from core.db import db
from core.errors import DomainError
from core.files import check_uploads
from core.forms import apply_errors
from core.models.files import StoredFile
from procurement import bp, queries
from procurement.forms import (
    DOCUMENT_TYPES,
    ActionForm,
    CancelForm,
    CriterionRowForm,
    LotRowForm,
    TenderForm,
)
from procurement.models import Tender
from procurement.services import amendments
from procurement.services import tenders as svc
from procurement.states import TenderStatus
from procurement.views.public import labels

officer_required = require_role(Role.PROCUREMENT_OFFICER)

#: Service error fields -> form fields (the rest are shown in their section or on top).
FIELD_MAP = {
    "bond_amount": "lots",
    "custodians": "custodians",
    "invitees": "invitees",
    "reason": "reason",
}
SECTION_FIELDS = ("lots", "criteria", "documents")


def _empty_sections() -> dict[str, list[str]]:
    """Errors shown above the lot, criterion and document rows (filled by apply_errors)."""
    return {name: [] for name in SECTION_FIELDS}


def _me():
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _org() -> Organization:
    org = current_org()
    if org is None:
        abort(403)
    return org


def _own_tender_or_404(tender_id: int) -> Tender:
    return get_for_org_or_404(Tender, tender_id, org_attr="buyer_org_id")


def _tender_form(org: Organization, formdata: Any = None) -> TenderForm:
    form = TenderForm(formdata=formdata) if formdata is not None else TenderForm()
    if not queries.procedure_types():
        svc.seed_procedure_types()
    form.set_choices(queries.procedure_types(), svc.eligible_custodians(org.id), svc.eligible_invitees())
    return form


def _checked_uploads(form: TenderForm) -> list | None:
    """Read and check the uploaded documents (in memory) before anything is saved; None
    (with the errors on the field) when one is refused."""
    try:
        return check_uploads(form.documents.data or [], allowed=DOCUMENT_TYPES)
    except DomainError as exc:
        apply_errors(form, exc, {"file": "documents"})
        return None


def _render_form(form: TenderForm, tender: Tender | None, sections: dict[str, list[str]] | None = None,
                 status: int = 200, error: str | None = None):
    files = {}
    if tender is not None and tender.documents:
        files = {f.id: f for f in db.session.scalars(
            sa.select(StoredFile).where(StoredFile.id.in_([d.stored_file_id for d in tender.documents])))}
    return render_template(
        "procurement/officer/tender_form.html",
        title=_("Edit draft tender") if tender else _("New tender"),
        form=form,
        tender=tender,
        files=files,
        sections=sections or {},
        error=error,
        action_form=ActionForm(),
        lot_template=LotRowForm(prefix="lots-__index__"),
        criterion_template=CriterionRowForm(prefix="criteria-__index__"),
    ), status


# --------------------------------------------------------------------------- lists


@bp.get("/manage/tenders")
@officer_required
def my_tenders():
    org = _org()
    status = request.args.get("status") or None
    rows = queries.org_tenders(org.id, status)
    return render_template(
        "procurement/officer/my_tenders.html",
        title=_("My organization's tenders"),
        tenders=rows,
        statuses={t.id: svc.status_now(t) for t in rows},
        amendable={t.id for t in rows if amendments.can_amend_now(t)},
        status=status,
        labels=labels(),
        status_choices=[s for s in TenderStatus],
    )


# --------------------------------------------------------------------------- create / edit


@bp.route("/manage/tenders/new", methods=["GET", "POST"])
@officer_required
def new_tender():
    org = _org()
    form = _tender_form(org)
    if request.method == "GET":
        form.custodian_threshold.data = form.custodian_threshold.data or 2
        form.custodians.data = [choice.value for choice in form.custodians.choices]
        return _render_form(form, None)
    sections = _empty_sections()
    if not form.validate_on_submit():
        return _render_form(form, None, sections, 422)
    checked = _checked_uploads(form)
    if checked is None:
        return _render_form(form, None, sections, 422)
    try:
        tender = svc.create_draft(
            org, _me(), lots=form.lot_values(), criteria=form.criterion_values(),
            custodian_ids=form.custodians.data or [], invitee_org_ids=form.invitees.data or [],
            documents=checked, **form.tender_fields(),
        )
    except DomainError as exc:
        apply_errors(form, exc, FIELD_MAP, sections=sections)
        return _render_form(form, None, sections, exc.status)
    flash(_("Draft saved. Publish it when everything is ready."), "success")
    return redirect(url_for("procurement.edit_tender", tender_id=tender.id), code=303)


@bp.route("/manage/tenders/<int:tender_id>/edit", methods=["GET", "POST"])
@officer_required
def edit_tender(tender_id: int):
    tender = _own_tender_or_404(tender_id)
    if tender.status != TenderStatus.DRAFT:
        flash(_("A published tender changes only by an amendment."), "warning")
        return redirect(url_for("procurement.tender_detail", tender_id=tender.id), code=303)
    org = _org()
    if request.method == "GET":
        form = _tender_form(org)
        form.fill_from(tender)
        return _render_form(form, tender)
    form = _tender_form(org)
    sections = _empty_sections()
    if not form.validate_on_submit():
        return _render_form(form, tender, sections, 422)
    checked = _checked_uploads(form)
    if checked is None:
        return _render_form(form, tender, sections, 422)
    try:
        svc.update_draft(
            tender, _me(), lots=form.lot_values(), criteria=form.criterion_values(),
            custodian_ids=form.custodians.data or [], invitee_org_ids=form.invitees.data or [],
            documents=checked, **form.tender_fields(),
        )
    except DomainError as exc:
        apply_errors(form, exc, FIELD_MAP, sections=sections)
        db.session.expire_all()
        return _render_form(form, db.session.get(Tender, tender_id), sections, exc.status)
    flash(_("Draft saved."), "success")
    return redirect(url_for("procurement.edit_tender", tender_id=tender.id), code=303)


@bp.post("/manage/tenders/<int:tender_id>/documents/<int:doc_id>/remove")
@officer_required
def remove_tender_document(tender_id: int, doc_id: int):
    tender = _own_tender_or_404(tender_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        svc.remove_document(tender, _me(), doc_id)
    except DomainError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("Document removed."), "success")
    return redirect(url_for("procurement.edit_tender", tender_id=tender.id), code=303)


# --------------------------------------------------------------------------- publish / cancel


@bp.post("/manage/tenders/<int:tender_id>/publish")
@officer_required
def publish_tender(tender_id: int):
    tender = _own_tender_or_404(tender_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        svc.publish(tender, _me())
    except DomainError as exc:
        db.session.rollback()
        tender = _own_tender_or_404(tender_id)
        if tender.status != TenderStatus.DRAFT:
            flash(exc.message, "danger")
            return redirect(url_for("procurement.tender_detail", tender_id=tender.id), code=303)
        form = _tender_form(_org())
        form.fill_from(tender)
        sections = _empty_sections()
        apply_errors(form, exc, FIELD_MAP, sections=sections)
        return _render_form(form, tender, sections, exc.status,
                            error=_("The tender was not published: %(message)s", message=exc.message))
    flash(_("The tender is published."), "success")
    return redirect(url_for("procurement.tender_detail", tender_id=tender_id), code=303)


@bp.route("/manage/tenders/<int:tender_id>/cancel", methods=["GET", "POST"])
@officer_required
def cancel_tender(tender_id: int):
    tender = _own_tender_or_404(tender_id)
    form = CancelForm()
    status = 200
    if form.validate_on_submit():
        try:
            svc.cancel(tender, _me(), form.reason.data)
        except DomainError as exc:
            apply_errors(form, exc, FIELD_MAP)
            status = exc.status
        else:
            flash(_("The tender is cancelled; the reason is published."), "success")
            return redirect(url_for("procurement.tender_detail", tender_id=tender_id), code=303)
    elif request.method == "POST":
        status = 422
    return render_template(
        "procurement/officer/cancel.html",
        title=_("Cancel tender"),
        tender=tender,
        form=form,
        status=svc.status_now(tender),
    ), status
