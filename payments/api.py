"""JSON API of payments: /api/v1/payments (create with Idempotency-Key, read, list).

Authenticated by an API token (`Authorization: Bearer ...`); the token's organization is
the payer: a payment of another organization is a 404.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, url_for
from flask_login import current_user

from accounts.permissions import current_org
from accounts.schemas import ApiErrorSchema
from core.api import Blueprint
from core.db import db
from core.errors import NotFound
from core.idempotency import idempotent
from payments.models.payments import Payment
from payments.schemas import PaymentCreateSchema, PaymentSchema

blp = Blueprint(
    "payments_api",
    __name__,
    description="Payments of the caller's organization. POST honours `Idempotency-Key`.",
)

BEARER = [{"bearerAuth": []}]


def _payer_org_id() -> int:
    if not current_user.is_authenticated:
        abort(401)
    org = current_org()
    if org is None:
        abort(403)
    return org.id


def _out(payment: Payment) -> Payment:
    payment.pay_url = url_for("payments.payment_page", payment_id=payment.id)  # type: ignore[attr-defined]
    return payment


@blp.route("/payments", methods=["POST"])
@idempotent
@blp.arguments(PaymentCreateSchema)
@blp.response(201, PaymentSchema)
@blp.doc(security=BEARER, summary="Create a payment for the caller's organization",
         parameters=[{"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"},
                      "description": "Same key + same body: the first answer again; different body: 422"}])
@blp.alt_response(401, schema=ApiErrorSchema, description="Not authenticated")
@blp.alt_response(422, schema=ApiErrorSchema, description="Invalid data or Idempotency-Key reused with another body")
def create_payment(data: dict[str, Any]):
    from payments.services import payments as payment_svc

    org_id = _payer_org_id()
    metadata = {}
    if data.get("allowed_providers"):
        metadata["allowed_providers"] = list(data["allowed_providers"])
    payment = payment_svc.create_payment(
        purpose=data["purpose"],
        subject_type=data["subject_type"],
        subject_id=data["subject_id"],
        payer_org_id=org_id,
        amount=data["amount"],
        currency=data["currency"],
        provider=data["provider"],
        return_url=data["return_url"],
        capture_method=data["capture_method"],
        metadata=metadata,
        actor=current_user._get_current_object(),  # type: ignore[attr-defined]
    )
    return _out(payment), 201, {"Location": url_for("payments_api.get_payment", payment_id=payment.id)}


@blp.route("/payments/<int:payment_id>", methods=["GET"])
@blp.response(200, PaymentSchema)
@blp.doc(security=BEARER, summary="One payment of the caller's organization")
@blp.alt_response(404, schema=ApiErrorSchema, description="No such payment of the caller's organization")
def get_payment(payment_id: int):
    org_id = _payer_org_id()
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.payer_org_id != org_id:
        raise NotFound()
    return _out(payment)


@blp.route("/payments", methods=["GET"])
@blp.response(200, PaymentSchema(many=True))
@blp.paginate(page_size=20, max_page_size=100)
@blp.doc(security=BEARER, summary="Payments of the caller's organization, newest first (X-Pagination header)")
def list_payments(pagination_parameters):
    org_id = _payer_org_id()
    base = sa.select(Payment).where(Payment.payer_org_id == org_id)
    pagination_parameters.item_count = db.session.scalar(
        sa.select(sa.func.count()).select_from(base.subquery())
    ) or 0
    rows = db.session.scalars(
        base.order_by(Payment.id.desc())
        .offset(pagination_parameters.first_item)
        .limit(pagination_parameters.page_size)
    )
    return [_out(p) for p in rows]
