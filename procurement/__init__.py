"""procurement area."""

from flask import Blueprint

bp = Blueprint("procurement", __name__, url_prefix="/procurement")


def init_app(app) -> None:
    from procurement import models, views  # noqa: F401

    app.register_blueprint(bp)
