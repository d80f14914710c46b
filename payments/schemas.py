"""Marshmallow schemas of the payments API (/api/v1/payments)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from payments.services.checkout import METHODS
from payments.states import CaptureMethod, PaymentStatus, ProviderName

ALLOWED_NAMES = [*METHODS, ProviderName.STRIPE.value]


class PaymentCreateSchema(Schema):
    purpose = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    subject_type = fields.Str(required=True, validate=validate.Length(min=1, max=60),
                              metadata={"description": "What is paid for, e.g. `sme.order`"})
    subject_id = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    amount = fields.Int(required=True, strict=True, validate=validate.Range(min=1),
                        metadata={"description": "Integer minor units (fen)"})
    currency = fields.Str(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    provider = fields.Str(load_default=ProviderName.BANK_TRANSFER.value,
                          validate=validate.OneOf([p.value for p in ProviderName]))
    capture_method = fields.Str(load_default=CaptureMethod.AUTOMATIC.value,
                                validate=validate.OneOf([c.value for c in CaptureMethod]))
    return_url = fields.Str(load_default="/", validate=validate.Length(max=500),
                            metadata={"description": "A path on this site the payment page links back to"})
    allowed_providers = fields.List(fields.Str(validate=validate.OneOf(ALLOWED_NAMES)), load_default=None,
                                    metadata={"description": "Restrict the methods offered on the payment page"})


class PaymentSchema(Schema):
    id = fields.Int(dump_only=True)
    purpose = fields.Str(dump_only=True)
    subject_type = fields.Str(dump_only=True)
    subject_id = fields.Str(dump_only=True)
    payer_org_id = fields.Int(dump_only=True)
    amount = fields.Int(dump_only=True)
    currency = fields.Str(dump_only=True)
    provider = fields.Str(dump_only=True)
    status = fields.Str(dump_only=True, metadata={"description": ", ".join(s.value for s in PaymentStatus)})
    reference_code = fields.Str(dump_only=True, allow_none=True,
                                metadata={"description": "Bank transfer: the code to write in the transfer remark"})
    amount_received = fields.Int(dump_only=True, allow_none=True)
    amount_captured = fields.Int(dump_only=True)
    amount_refunded = fields.Int(dump_only=True)
    return_url = fields.Str(dump_only=True)
    pay_url = fields.Str(dump_only=True, metadata={"description": "The payment page to send the payer to"})
    failure_message = fields.Str(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    succeeded_at = fields.DateTime(dump_only=True, allow_none=True)
