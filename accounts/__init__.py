"""accounts: organizations, users, memberships and roles, auth, 2FA, API tokens."""

from flask import Blueprint

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


def init_app(app) -> None:
    from accounts import models  # noqa: F401
    from accounts import views  # noqa: F401

    app.register_blueprint(bp)


from core.extensions import login_manager  # noqa: E402


@login_manager.user_loader
def _load_user(user_id: str):  # placeholder until accounts.auth exists
    return None
