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
