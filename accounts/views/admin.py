"""accounts views: platform administration of organizations (verification, credit status)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts import bp
from accounts.forms.orgs import CreditForm, OrgFilterForm, RejectForm, VerifyForm
from accounts.models import Organization
from accounts.permissions import has_role, require_platform_role
from accounts.services import members as members_svc
from accounts.services import organizations as orgs_svc
from accounts.states import (
    CREDIT_LABELS,
    KIND_LABELS,
    SIZE_LABELS,
    VERIFICATION_LABELS,
    CreditStatus,
    Role,
    Verification,
    can_verify_transition,
)
from core.db import db
from core.errors import DomainError
from core.forms import apply_errors

staff_required = require_platform_role(Role.PLATFORM_ADMIN, Role.AUDITOR)
admin_required = require_platform_role(Role.PLATFORM_ADMIN)


def _org_or_404(org_id: int) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None:
        abort(404)
    return org


@bp.get("/admin/organizations")
@staff_required
def admin_organizations():
    filters = OrgFilterForm(request.args)
    filters.validate()
    orgs = orgs_svc.list_organizations(
        verification=filters.status.data or None,
        kind=filters.kind.data or None,
        keyword=(filters.q.data or "").strip() or None,
    )
    return render_template(
        "accounts/admin_orgs.html",
        orgs=orgs,
        filters=filters,
        pending=orgs_svc.pending_verification_count(),
        labels={"kind": KIND_LABELS, "verification": VERIFICATION_LABELS, "credit": CREDIT_LABELS},
        title=_("Organizations"),
    )


def _detail(org: Organization, verify_form=None, reject_form=None, credit_form=None, status: int = 200):
    credit_form = credit_form or CreditForm(
        formdata=None,
        data={"status": org.credit_status, "until": org.debarred_until},
    )
    current = Verification(org.verification)
    return render_template(
        "accounts/admin_org.html",
        org=org,
        members=members_svc.members_of(org),
        verify_form=verify_form or VerifyForm(formdata=None),
        reject_form=reject_form or RejectForm(formdata=None),
        credit_form=credit_form,
        can_verify=can_verify_transition(current, Verification.VERIFIED),
        can_reject=can_verify_transition(current, Verification.REJECTED),
        can_review=current == Verification.VERIFIED,
        is_admin=has_role(Role.PLATFORM_ADMIN),
        labels={"kind": KIND_LABELS, "verification": VERIFICATION_LABELS, "credit": CREDIT_LABELS, "size": SIZE_LABELS},
        CreditStatus=CreditStatus,
        title=org.name_zh,
    ), status


def _actor():
    return current_user._get_current_object()  # type: ignore[attr-defined]


@bp.get("/admin/organizations/<int:org_id>")
@staff_required
def admin_organization(org_id: int):
    return _detail(_org_or_404(org_id))


@bp.post("/admin/organizations/<int:org_id>/verify")
@admin_required
def admin_org_verify(org_id: int):
    org = _org_or_404(org_id)
    form = VerifyForm()
    if not form.validate_on_submit():
        return _detail(org, verify_form=form, status=422)
    orgs_svc.verify(org, _actor(), form.note.data or "")
    flash(_("%(name)s is verified.", name=org.name_zh), "success")
    return redirect(url_for("accounts.admin_organization", org_id=org.id), code=303)


@bp.post("/admin/organizations/<int:org_id>/reject")
@admin_required
def admin_org_reject(org_id: int):
    org = _org_or_404(org_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _detail(org, reject_form=form, status=422)
    orgs_svc.reject(org, _actor(), form.note.data)
    flash(_("%(name)s is rejected.", name=org.name_zh), "warning")
    return redirect(url_for("accounts.admin_organization", org_id=org.id), code=303)


@bp.post("/admin/organizations/<int:org_id>/review")
@admin_required
def admin_org_review(org_id: int):
    org = _org_or_404(org_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _detail(org, reject_form=form, status=422)
    orgs_svc.send_back_to_review(org, _actor(), form.note.data)
    flash(_("%(name)s is back under review.", name=org.name_zh), "warning")
    return redirect(url_for("accounts.admin_organization", org_id=org.id), code=303)


@bp.post("/admin/organizations/<int:org_id>/credit")
@admin_required
def admin_org_credit(org_id: int):
    org = _org_or_404(org_id)
    form = CreditForm()
    if not form.validate_on_submit():
        return _detail(org, credit_form=form, status=422)
    try:
        orgs_svc.set_credit_status(org, _actor(), form.status.data, form.reason.data, form.until.data)
    except DomainError as exc:
        apply_errors(form, exc)
        return _detail(org, credit_form=form, status=exc.status)
    flash(_("Credit status of %(name)s saved.", name=org.name_zh), "success")
    return redirect(url_for("accounts.admin_organization", org_id=org.id), code=303)
