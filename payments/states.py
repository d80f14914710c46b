"""Status enums and transition tables of the payments area (ledger part).

Ledger vocabulary (TigerBeetle-style, see payments/ledger/__init__.py for the sign convention):
- a *transfer* is `posted` (moves money now) or `pending` (the reservation of a hold);
- a *hold* is `pending` until it resolves, exactly once, to `posted` (full or partial,
  the remainder released), `voided` or `expired`;
- a *journal entry* records one command; its `kind` says which.
"""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class TransferKind(StrEnum):
    POSTED = "posted"
    PENDING = "pending"


class HoldStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


HOLD_TRANSITIONS: dict[HoldStatus, frozenset[HoldStatus]] = {
    HoldStatus.PENDING: frozenset({HoldStatus.POSTED, HoldStatus.VOIDED, HoldStatus.EXPIRED}),
    HoldStatus.POSTED: frozenset(),
    HoldStatus.VOIDED: frozenset(),
    HoldStatus.EXPIRED: frozenset(),
}


def can_transition(current: HoldStatus | str, target: HoldStatus | str) -> bool:
    """Hold or payment transition check (the two vocabularies are disjoint, so the value decides)."""
    if str(current) in _PAYMENT_VALUES:
        return can_transition_payment(current, target) if str(target) in _PAYMENT_VALUES else False
    if str(target) not in {h.value for h in HoldStatus}:
        return False
    return HoldStatus(target) in HOLD_TRANSITIONS[HoldStatus(current)]


class EntryKind(StrEnum):
    ENTRY = "entry"  # posted transfers (a correction is an entry with `corrects_id`)
    HOLD = "hold"  # creates a hold (one pending transfer)
    HOLD_POST = "hold_post"  # posts a hold (one posted transfer of the posted amount)
    HOLD_VOID = "hold_void"  # voids a hold (no transfer: the reservation is released)
    HOLD_EXPIRE = "hold_expire"  # a hold timed out (no transfer)


HOLD_STATUS_LABELS = {
    HoldStatus.PENDING: _l("Pending"),
    HoldStatus.POSTED: _l("Posted"),
    HoldStatus.VOIDED: _l("Voided"),
    HoldStatus.EXPIRED: _l("Expired"),
}

ENTRY_KIND_LABELS = {
    EntryKind.ENTRY: _l("Entry"),
    EntryKind.HOLD: _l("Hold"),
    EntryKind.HOLD_POST: _l("Hold posted"),
    EntryKind.HOLD_VOID: _l("Hold voided"),
    EntryKind.HOLD_EXPIRE: _l("Hold expired"),
}

#: Account purposes (the last segment of the key) that may never go negative when an
#: account is created without an explicit `no_negative` (money the platform owes:
#: escrow, payables, bonds held, voucher budgets). `voucher:*` accounts are guarded too.
GUARDED_PURPOSES = frozenset({"escrow", "payable", "bonds", "budget"})


def default_no_negative(key: str) -> bool:
    """The guard an account gets when created without an explicit flag."""
    parts = key.split(":")
    return parts[-1] in GUARDED_PURPOSES or parts[0] == "voucher"


# --------------------------------------------------------------------------- payments in


class PaymentStatus(StrEnum):
    CREATED = "created"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


_PS = PaymentStatus

#: A payment only moves forward (DESIGN.md section 5). failed, canceled, refunded are terminal.
PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    _PS.CREATED: frozenset({_PS.REQUIRES_ACTION, _PS.PROCESSING, _PS.SUCCEEDED, _PS.FAILED, _PS.CANCELED}),
    _PS.REQUIRES_ACTION: frozenset({_PS.PROCESSING, _PS.SUCCEEDED, _PS.FAILED, _PS.CANCELED}),
    _PS.PROCESSING: frozenset({_PS.SUCCEEDED, _PS.FAILED, _PS.CANCELED}),
    _PS.SUCCEEDED: frozenset({_PS.PARTIALLY_REFUNDED, _PS.REFUNDED}),
    _PS.PARTIALLY_REFUNDED: frozenset({_PS.PARTIALLY_REFUNDED, _PS.REFUNDED}),
    _PS.FAILED: frozenset(),
    _PS.CANCELED: frozenset(),
    _PS.REFUNDED: frozenset(),
}

#: Statuses in which the payer's money has arrived (refundable while something is left).
PAID_STATUSES = frozenset({_PS.SUCCEEDED, _PS.PARTIALLY_REFUNDED})
#: Statuses a payment can still leave towards success/failure (the payer may still pay).
OPEN_STATUSES = frozenset({_PS.CREATED, _PS.REQUIRES_ACTION, _PS.PROCESSING})
TERMINAL_STATUSES = frozenset({_PS.FAILED, _PS.CANCELED, _PS.REFUNDED})

#: Order of progress, used to ignore webhook events that would move a payment backwards.
PAYMENT_RANK = {
    _PS.CREATED: 0, _PS.REQUIRES_ACTION: 1, _PS.PROCESSING: 2,
    _PS.SUCCEEDED: 3, _PS.FAILED: 3, _PS.CANCELED: 3,
    _PS.PARTIALLY_REFUNDED: 4, _PS.REFUNDED: 5,
}


_PAYMENT_VALUES = frozenset(s.value for s in PaymentStatus)


def can_transition_payment(current: PaymentStatus | str, target: PaymentStatus | str) -> bool:
    """True when a payment may move from `current` to `target` (forward only)."""
    return PaymentStatus(target) in PAYMENT_TRANSITIONS[PaymentStatus(current)]


class CaptureMethod(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class ProviderName(StrEnum):
    STRIPE = "stripe"
    BANK_TRANSFER = "bank_transfer"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


PAYMENT_STATUS_LABELS = {
    _PS.CREATED: _l("Not paid yet"),
    _PS.REQUIRES_ACTION: _l("Awaiting payment"),
    _PS.PROCESSING: _l("Processing"),
    _PS.SUCCEEDED: _l("Paid"),
    _PS.FAILED: _l("Failed"),
    _PS.CANCELED: _l("Canceled"),
    _PS.PARTIALLY_REFUNDED: _l("Partially refunded"),
    _PS.REFUNDED: _l("Refunded"),
}

PROVIDER_LABELS = {
    ProviderName.STRIPE: _l("Card (Stripe)"),
    ProviderName.BANK_TRANSFER: _l("Bank transfer"),
}

REFUND_STATUS_LABELS = {
    RefundStatus.PENDING: _l("Pending"),
    RefundStatus.SUCCEEDED: _l("Refunded"),
    RefundStatus.FAILED: _l("Failed"),
}


# --------------------------------------------------------------------------- payouts (P3)


class PayoutStatus(StrEnum):
    PENDING = "pending"  # money reserved in payouts:pending, waiting for the next batch
    EXPORTED = "exported"  # in a CSV batch handed to the bank
    PAID = "paid"  # the bank confirmed the transfer
    FAILED = "failed"  # refused by the bank (or withdrawn before export): money returned


#: pending -> exported -> paid | failed; a pending payout may also be failed (withdrawn
#: before it reaches the bank). paid and failed are terminal.
PAYOUT_TRANSITIONS: dict[PayoutStatus, frozenset[PayoutStatus]] = {
    PayoutStatus.PENDING: frozenset({PayoutStatus.EXPORTED, PayoutStatus.FAILED}),
    PayoutStatus.EXPORTED: frozenset({PayoutStatus.PAID, PayoutStatus.FAILED}),
    PayoutStatus.PAID: frozenset(),
    PayoutStatus.FAILED: frozenset(),
}


def can_transition_payout(current: PayoutStatus | str, target: PayoutStatus | str) -> bool:
    return PayoutStatus(target) in PAYOUT_TRANSITIONS[PayoutStatus(current)]


PAYOUT_STATUS_LABELS = {
    PayoutStatus.PENDING: _l("Pending"),
    PayoutStatus.EXPORTED: _l("Exported"),
    PayoutStatus.PAID: _l("Paid"),
    PayoutStatus.FAILED: _l("Failed"),
}
