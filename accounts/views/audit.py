"""accounts views: the audit log, for platform admins and auditors."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from accounts import bp
from accounts.forms.audit import AuditFilterForm, VerifyChainForm
from accounts.permissions import has_role, require_platform_role
from accounts.states import Role
from core import audit

PER_PAGE = 50


@bp.get("/admin/audit")
@require_platform_role(Role.PLATFORM_ADMIN, Role.AUDITOR)
def audit_log():
    form = AuditFilterForm(request.args)
    form.obj_type.choices = [SelectChoice("", _("Any"))] + [
        SelectChoice(t, t) for t in audit.distinct_values("obj_type")
    ]
    filters = audit.AuditFilters()
    if form.validate():
        filters = audit.AuditFilters(
            action=form.action.data or None,
            obj_type=form.obj_type.data or None,
            obj_id=form.obj_id.data or None,
            actor=form.actor.data or None,
            date_from=form.date_from.data,
            date_to=form.date_to.data,
        )
    page = request.args.get("page", 1, type=int) or 1
    pagination = audit.entries_page(filters, page=page, per_page=PER_PAGE)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "accounts/audit.html",
        title=_("Audit log"),
        form=form,
        pagination=pagination,
        page_args=args,
        status=audit.quick_status(),
        verify_form=VerifyChainForm(),
        can_verify=has_role(Role.PLATFORM_ADMIN),
    )


@bp.post("/admin/audit/verify")
@require_platform_role(Role.PLATFORM_ADMIN)
def audit_verify():
    form = VerifyChainForm()
    if not form.validate_on_submit():
        abort(400)
    result = audit.verify_chain()
    if result.ok:
        flash(_("Audit chain intact: %(n)d entries, %(c)d checkpoints verified.", n=result.entries,
                c=result.checkpoints), "success")
    else:
        flash(_("Audit chain broken: %(problems)s", problems="; ".join(result.problems)), "danger")
    return redirect(url_for("accounts.audit_log"), code=303)
