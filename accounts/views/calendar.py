"""accounts views: the working-day calendar (public holidays and make-up days), platform admins."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from accounts import bp
from accounts.forms.calendar import MAKEUP, CalendarDayForm, DeleteDayForm
from accounts.permissions import require_platform_role
from accounts.states import Role
from core import calendar as cal
from core import clock
from core.db import db
from core.models.calendar import CalendarDay

MIN_YEAR, MAX_YEAR = 2000, 2100


def _year() -> int:
    year = request.args.get("year", type=int) or clock.today_local().year
    if not MIN_YEAR <= year <= MAX_YEAR:
        abort(404)
    return year


def _render(form: CalendarDayForm, year: int, status: int = 200):
    months = [(m, cal.month_grid(year, m)) for m in range(1, 13)]
    return render_template(
        "accounts/calendar.html",
        title=_("Working-day calendar"),
        year=year,
        days=cal.days_of_year(year),
        months=months,
        form=form,
        delete_form=DeleteDayForm(),
        today=clock.today_local(),
    ), status


@bp.get("/admin/calendar")
@require_platform_role(Role.PLATFORM_ADMIN)
def calendar():
    year = _year()
    form = CalendarDayForm()
    edit = request.args.get("edit")
    if edit:
        try:
            row = db.session.get(CalendarDay, date.fromisoformat(edit))
        except ValueError:
            row = None
        if row is not None:
            form.day.data = row.day
            form.kind.data = MAKEUP if row.is_working_day else "holiday"
            form.name_zh.data = row.name_zh
            form.name_en.data = row.name_en
    return _render(form, year)


@bp.post("/admin/calendar")
@require_platform_role(Role.PLATFORM_ADMIN)
def calendar_set():
    form = CalendarDayForm()
    if not form.validate_on_submit():
        return _render(form, _year(), 422)
    day = form.day.data
    cal.set_day(day, form.kind.data == MAKEUP, form.name_zh.data or "", form.name_en.data or "")
    flash(_("%(day)s saved.", day=day.isoformat()), "success")
    return redirect(url_for("accounts.calendar", year=day.year), code=303)


@bp.post("/admin/calendar/<day>/delete")
@require_platform_role(Role.PLATFORM_ADMIN)
def calendar_delete(day: str):
    form = DeleteDayForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        abort(404)
    cal.remove_day(parsed)
    flash(_("%(day)s removed: it follows the Monday-Friday rule again.", day=parsed.isoformat()), "success")
    return redirect(url_for("accounts.calendar", year=parsed.year), code=303)
