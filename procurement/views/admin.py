"""procurement views: procedure type settings (platform admin), audited by the service."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.permissions import require_platform_role
from accounts.states import Role
from core.db import db
from core.errors import DomainError
from core.forms import apply_errors
from procurement import bp, queries
from procurement.forms import ProcedureTypeForm
from procurement.models import ProcedureType
from procurement.services import tenders as svc
from procurement.states import EVALUATION_METHOD_LABELS, METHOD_LABELS

admin_required = require_platform_role(Role.PLATFORM_ADMIN)


def _forms(failing: tuple[int, ProcedureTypeForm] | None = None) -> list[tuple[ProcedureType, ProcedureTypeForm]]:
    if not queries.procedure_types():
        svc.seed_procedure_types()
    rows = []
    for ptype in queries.procedure_types():
        if failing is not None and failing[0] == ptype.id:
            rows.append((ptype, failing[1]))
            continue
        form = ProcedureTypeForm(prefix=f"pt-{ptype.id}", formdata=None)
        form.fill_from(ptype)
        rows.append((ptype, form))
    return rows


def _render(failing: tuple[int, ProcedureTypeForm] | None = None, status: int = 200):
    return render_template(
        "procurement/admin/procedure_types.html",
        title=_("Procedure types"),
        rows=_forms(failing),
        method_labels=METHOD_LABELS,
        evaluation_labels=EVALUATION_METHOD_LABELS,
        open_id=failing[0] if failing else None,
    ), status


@bp.get("/admin/procedure-types")
@admin_required
def procedure_types():
    return _render()


@bp.post("/admin/procedure-types/<int:ptype_id>")
@admin_required
def update_procedure_type(ptype_id: int):
    ptype = db.get_or_404(ProcedureType, ptype_id)
    form = ProcedureTypeForm(prefix=f"pt-{ptype.id}")
    if form.validate_on_submit():
        try:
            svc.update_procedure_type(ptype, current_user._get_current_object(), **form.settings())  # type: ignore[attr-defined]
        except DomainError as exc:
            apply_errors(form, exc)
            return _render((ptype.id, form), exc.status)
        flash(_("Settings of %(name)s saved.", name=ptype.name_zh), "success")
        return redirect(url_for("procurement.procedure_types"), code=303)
    return _render((ptype.id, form), 422)
