"""Cross-cutting building blocks. Knows no area package."""

from flask import Blueprint

bp = Blueprint("core", __name__)


def init_app(app) -> None:
    from core import (  # noqa: F401
        files,
        models,  # noqa: F401
        notifications,
        notifications_views,
        outbox,
        views,  # noqa: F401
    )

    notifications.init_app(app)
    files.init_app(app)

    app.register_blueprint(bp)
