"""procurement views: public tender list, search, detail (to be completed)."""

from flask import redirect, url_for

from procurement import bp


@bp.get("/")
def index():
    return redirect(url_for("procurement.tenders"))


@bp.get("/tenders")
def tenders():
    return redirect(url_for("core.index"))
