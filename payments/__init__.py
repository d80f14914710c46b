"""payments area."""

from flask import Blueprint

bp = Blueprint("payments", __name__, url_prefix="/payments")


def init_app(app) -> None:
    # ledger registers the hold-expiry sweep
    from payments import (  # noqa: F401
        ledger,
        models,
        views,
        views_finance,  # noqa: F401  (finance pages: ledger, payouts, reconciliation)
        webhooks,  # noqa: F401  (P1: Stripe webhook view)
    )
    from payments.providers import bank_transfer as _bank_transfer_provider  # noqa: F401  (P2: registers "bank_transfer")
    from payments.providers import stripe as _stripe_provider  # noqa: F401  (P1: registers "stripe")
    from payments.services import payments as _payment_services  # noqa: F401  (P1: outbox refund handler)

    app.register_blueprint(bp)

    # P2: /api/v1/payments
    from core.extensions import api
    from payments.api import blp as payments_api_blp

    api.register_blueprint(payments_api_blp, url_prefix="/api/v1")
