"""sme area."""

from flask import Blueprint

bp = Blueprint("sme", __name__, url_prefix="/sme")


def init_app(app) -> None:
    from sme import views  # noqa: F401

    app.register_blueprint(bp)
