"""procurement area."""

from flask import Blueprint

bp = Blueprint("procurement", __name__, url_prefix="/procurement")


def init_app(app) -> None:
    from procurement import cli, models, views  # noqa: F401

    app.register_blueprint(bp)
    cli.init_app(app)

    from core.extensions import api
    from procurement.api import register

    register(api)
