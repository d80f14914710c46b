"""Posting balanced journal entries, and corrections."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from flask_babel import gettext as _

from core.db import db, unit_of_work
from payments.ledger import base
from payments.ledger.base import (
    _INSERT_TRANSFERS,
    TransferSpec,
    _apply,
    _check_amount,
    _check_currency,
    _check_idempotency_id,
    _existing_entry,
    _hash,
    _insert_entry,
    _key_of,
    _lock_accounts_by_key,
    _replay,
    check_balanced,
)
from payments.ledger.errors import InvalidEntry
from payments.models import JournalEntry
from payments.states import EntryKind, TransferKind


def post_entry(
    idempotency_id: str,
    transfers: Sequence[TransferSpec],
    description: str = "",
    corrects: JournalEntry | int | None = None,
    metadata: dict | None = None,
    actor=None,
) -> JournalEntry:
    """Post the transfers as one balanced entry: all apply or none.

    Raises InvalidAmount, InvalidCurrency, CurrencyMismatch, InvalidEntry,
    InsufficientFunds (a guarded account would go negative), IdempotencyConflict (the
    id was used with other content). The same id with the same content returns the
    original entry without a new effect.
    """
    _check_idempotency_id(idempotency_id)
    if not transfers:
        raise InvalidEntry(_("An entry needs at least one transfer."))
    legs: list[tuple[str, str, int, str]] = []
    for spec in transfers:
        currency = _check_currency(spec.currency)
        amount = _check_amount(spec.amount)
        debit_key = _key_of(spec.debit_key, currency)
        credit_key = _key_of(spec.credit_key, currency)
        if debit_key == credit_key:
            raise InvalidEntry(_("A transfer needs two different accounts."))
        legs.append((debit_key, credit_key, amount, currency))
    check_balanced(legs)
    corrects_id = corrects.id if isinstance(corrects, JournalEntry) else corrects
    content_hash = _hash({"kind": "entry", "legs": legs, "corrects": corrects_id})

    with unit_of_work():
        if corrects_id is not None and db.session.get(JournalEntry, corrects_id) is None:
            raise InvalidEntry(_("The entry to correct does not exist."))
        entry = _insert_entry(idempotency_id, EntryKind.ENTRY, content_hash, description, corrects_id, metadata)
        if entry is None:
            return _replay(_existing_entry(idempotency_id), content_hash)
        accounts = _lock_accounts_by_key([(d, c) for d, _c, _a, c in legs] + [(cr, c) for _d, cr, _a, c in legs])
        deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        rows = []
        for debit_key, credit_key, amount, currency in legs:
            debit = accounts[(debit_key, currency)]
            credit = accounts[(credit_key, currency)]
            deltas[debit.id][0] += amount
            deltas[credit.id][1] += amount
            rows.append({"entry_id": entry.id, "debit_account_id": debit.id, "credit_account_id": credit.id,
                         "amount": amount, "currency": currency, "kind": TransferKind.POSTED.value})
        _apply(deltas, {a.id: a for a in accounts.values()})
        db.session.execute(_INSERT_TRANSFERS, rows)
        db.session.expire(entry, ["transfers"])
        base._audit("ledger.entry_posted", "journal_entry", entry.id, {
            "idempotency_id": idempotency_id,
            "transfers": [{"debit": d, "credit": c, "amount": a, "currency": cur} for d, c, a, cur in legs],
            "corrects": corrects_id,
        }, actor)
        return entry


def reverse_entry(entry: JournalEntry, idempotency_id: str, description: str = "", actor=None) -> JournalEntry:
    """A correcting entry that undoes `entry` (every transfer swapped), referencing it."""
    if entry.kind != EntryKind.ENTRY:
        raise InvalidEntry(_("Only posted entries can be reversed; void or post holds instead."))
    specs = [
        TransferSpec(t.credit_account.key, t.debit_account.key, t.amount, t.currency) for t in entry.transfers
    ]
    return post_entry(idempotency_id, specs, description or f"reversal of {entry.idempotency_id}",
                      corrects=entry, actor=actor)
