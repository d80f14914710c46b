from flask import render_template
from flask_babel import lazy_gettext as _l

from sme import bp


@bp.get("/")
def index():
    return render_template("placeholder.html", title=_l("SME service marketplace"), platform="sme")
