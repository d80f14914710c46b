"""Helpers of the bank-transfer / payment-page / API tests (P2)."""

from __future__ import annotations

from accounts.states import OrgKind, Role
from payments.services import payments as payment_svc
from tests.factories import make_org, make_user

PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def platform_finance():
    platform = make_org([OrgKind.PLATFORM], name="Canal Platform")
    return make_user(platform, [Role.FINANCE])


def payer():
    org = make_org([OrgKind.SME])
    return org, make_user(org, [Role.BUYER])


def new_payment(org, user=None, amount=120_000, provider="bank_transfer", metadata=None, subject_id="7"):
    return payment_svc.create_payment(
        purpose="Order 7", subject_type="sme.order", subject_id=subject_id, payer_org_id=org.id,
        amount=amount, provider=provider, return_url="/sme/orders/7", actor=user, metadata=metadata,
    )


def bank_payment(org, user=None, amount=120_000, **kw):
    payment = new_payment(org, user, amount=amount, **kw)
    return payment_svc.start(payment, actor=user)
