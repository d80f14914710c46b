from flask import render_template
from flask_babel import lazy_gettext as _l

from payments import bp


@bp.get("/")
def index():
    return render_template("placeholder.html", title=_l("Payments"), platform="payments")
