"""payments area."""

from flask import Blueprint

bp = Blueprint("payments", __name__, url_prefix="/payments")


def init_app(app) -> None:
    # ledger registers the hold-expiry sweep
    from payments import ledger, models, views  # noqa: F401

    app.register_blueprint(bp)
