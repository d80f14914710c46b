"""payments area."""

from flask import Blueprint

bp = Blueprint("payments", __name__, url_prefix="/payments")


def init_app(app) -> None:
    from payments import views  # noqa: F401

    app.register_blueprint(bp)
