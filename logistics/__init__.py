"""logistics area."""

from flask import Blueprint

bp = Blueprint("logistics", __name__, url_prefix="/logistics")


def init_app(app) -> None:
    from logistics import views  # noqa: F401

    app.register_blueprint(bp)
