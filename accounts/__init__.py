"""accounts: organizations, users, memberships and roles, auth, 2FA, API tokens."""

from flask import Blueprint

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


def init_app(app) -> None:
    from accounts import (
        models,  # noqa: F401
        views,  # noqa: F401
    )

    app.register_blueprint(bp)

    from accounts.cli import accounts_cli, demo_cli
    from accounts.context import init_context

    init_context(app)
    app.cli.add_command(demo_cli)
    app.cli.add_command(accounts_cli)

    from accounts import auth
    from accounts.api import blp as api_blp
    from accounts.api import docs_bp
    from core.extensions import api

    auth.init_auth(app)
    api.register_blueprint(api_blp, url_prefix="/api/v1")
    app.register_blueprint(docs_bp)
