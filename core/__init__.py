"""Cross-cutting building blocks. Knows no area package."""

from flask import Blueprint

bp = Blueprint("core", __name__)


def init_app(app) -> None:
    from core import models  # noqa: F401
    from core import views  # noqa: F401

    app.register_blueprint(bp)
