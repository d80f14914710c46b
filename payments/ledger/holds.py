"""Two-phase holds: create (pending), post (full or partial), void, expire (sweep and on access)."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from core import clock
from core.db import db, for_update, in_unit_of_work, unit_of_work
from core.errors import DomainError, NotFound
from core.tasks import register_sweep
from payments.ledger import base
from payments.ledger.base import (
    _apply,
    _check_amount,
    _check_currency,
    _check_idempotency_id,
    _existing_entry,
    _hash,
    _insert_entry,
    _key_of,
    _lock_accounts,
    _lock_accounts_by_key,
    _replay,
)
from payments.ledger.errors import HoldAlreadyResolved, HoldExpired, IdempotencyConflict, InvalidAmount, InvalidEntry
from payments.models import Hold, JournalEntry, Transfer
from payments.states import EntryKind, HoldStatus, TransferKind

log = logging.getLogger(__name__)


def create_hold(
    idempotency_id: str,
    debit_key: str,
    credit_key: str,
    amount: int,
    expires_at: datetime | None,
    currency: str = "CNY",
    description: str = "",
    metadata: dict | None = None,
    actor=None,
) -> Hold:
    """Reserve `amount`: a pending transfer (pending debits/credits grow; the debit
    account's available balance shrinks, so a guarded account must have it available).
    `expires_at=None` means the hold never times out."""
    _check_idempotency_id(idempotency_id)
    currency = _check_currency(currency)
    amount = _check_amount(amount)
    debit_key = _key_of(debit_key, currency)
    credit_key = _key_of(credit_key, currency)
    if debit_key == credit_key:
        raise InvalidEntry(_("A transfer needs two different accounts."))
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidEntry(_("The expiry time must include a time zone."))
    content_hash = _hash({"kind": "hold", "legs": [[debit_key, credit_key, amount, currency]]})

    with unit_of_work():
        entry = _insert_entry(idempotency_id, EntryKind.HOLD, content_hash, description, None, metadata)
        if entry is None:
            existing = _existing_entry(idempotency_id)
            _replay(existing, content_hash)
            hold = db.session.scalar(sa.select(Hold).where(Hold.entry_id == existing.id))
            if hold is None:
                raise IdempotencyConflict()
            return hold
        accounts = _lock_accounts_by_key([(debit_key, currency), (credit_key, currency)])
        debit = accounts[(debit_key, currency)]
        credit = accounts[(credit_key, currency)]
        _apply({debit.id: [0, 0, amount, 0], credit.id: [0, 0, 0, amount]}, {debit.id: debit, credit.id: credit})
        transfer = Transfer(entry_id=entry.id, debit_account_id=debit.id, credit_account_id=credit.id,
                            amount=amount, currency=currency, kind=TransferKind.PENDING.value)
        db.session.add(transfer)
        db.session.flush()
        hold = Hold(entry_id=entry.id, pending_transfer_id=transfer.id, debit_account_id=debit.id,
                    credit_account_id=credit.id, amount=amount, currency=currency,
                    status=HoldStatus.PENDING.value, expires_at=expires_at, created_at=clock.now())
        db.session.add(hold)
        db.session.flush()
        db.session.expire(entry, ["transfers"])
        base._audit("ledger.hold_created", "ledger_hold", hold.id, {
            "idempotency_id": idempotency_id, "debit": debit_key, "credit": credit_key,
            "amount": amount, "currency": currency,
            "expires_at": expires_at.isoformat() if expires_at else None,
        }, actor)
        return hold


def _hold_id(hold: Hold | int) -> int:
    return hold.id if isinstance(hold, Hold) else int(hold)


def _lock_hold(hold_id: int) -> Hold:
    stmt = for_update(sa.select(Hold).where(Hold.id == hold_id)).execution_options(populate_existing=True)
    hold = db.session.scalar(stmt)
    if hold is None:
        raise NotFound(_("Hold not found."), code="hold_not_found")
    return hold


def _is_past_expiry(hold: Hold, now: datetime) -> bool:
    return hold.expires_at is not None and now >= hold.expires_at


def _resolve(hold: Hold, status: HoldStatus, posted_amount: int | None, idempotency_id: str,
             content_hash: str, description: str, actor) -> JournalEntry:
    """Release the reservation and post `posted_amount` (if any); hold row already locked."""
    kind = {
        HoldStatus.POSTED: EntryKind.HOLD_POST,
        HoldStatus.VOIDED: EntryKind.HOLD_VOID,
        HoldStatus.EXPIRED: EntryKind.HOLD_EXPIRE,
    }[status]
    entry = _insert_entry(idempotency_id, kind, content_hash, description, None, {"hold_id": hold.id})
    if entry is None:  # the id is taken by another command
        raise IdempotencyConflict()
    accounts = _lock_accounts([hold.debit_account_id, hold.credit_account_id])
    debit = accounts[hold.debit_account_id]
    credit = accounts[hold.credit_account_id]
    posted = posted_amount or 0
    _apply({debit.id: [posted, 0, -hold.amount, 0], credit.id: [0, posted, 0, -hold.amount]}, accounts)
    if posted:
        db.session.add(Transfer(entry_id=entry.id, debit_account_id=debit.id, credit_account_id=credit.id,
                                amount=posted, currency=hold.currency, kind=TransferKind.POSTED.value))
    hold.status = status.value
    hold.posted_amount = posted_amount
    hold.resolved_at = clock.now()
    hold.resolved_entry_id = entry.id
    db.session.flush()
    db.session.expire(entry, ["transfers"])
    base._audit(f"ledger.hold_{status.value}", "ledger_hold", hold.id, {
        "idempotency_id": idempotency_id, "amount": hold.amount, "posted_amount": posted_amount,
        "currency": hold.currency,
    }, actor)
    return entry


def _expire_locked(hold: Hold, actor=None) -> JournalEntry:
    return _resolve(hold, HoldStatus.EXPIRED, None, f"hold:{hold.id}:expire",
                    _hash({"kind": "hold_expire", "hold": hold.id}), "hold expired", actor)


def post_hold(hold: Hold | int, amount: int | None = None, idempotency_id: str | None = None,
              description: str = "", actor=None) -> Hold:
    """Post the hold, fully (`amount=None`) or partially; the remainder is released.

    A hold resolves once: a later post/void raises HoldAlreadyResolved, except a replay
    of this same post (the same explicit `idempotency_id`, same amount), which returns
    the hold without a new effect (a retry after a timeout). Without an explicit id, a
    second post raises HoldAlreadyResolved. A hold
    past its expiry is expired first (that change is kept) and HoldExpired is raised.
    """
    hold_id = _hold_id(hold)
    explicit_id = idempotency_id is not None
    idempotency_id = idempotency_id if explicit_id else f"hold:{hold_id}:post"
    _check_idempotency_id(idempotency_id)
    if amount is not None:
        _check_amount(amount)
    expired = False
    with unit_of_work():
        locked = _lock_hold(hold_id)
        posted_amount = locked.amount if amount is None else amount
        content_hash = _hash({"kind": "hold_post", "hold": hold_id, "amount": posted_amount})
        if locked.status != HoldStatus.PENDING:
            resolved = db.session.get(JournalEntry, locked.resolved_entry_id) if locked.resolved_entry_id else None
            if (explicit_id and resolved is not None and resolved.idempotency_id == idempotency_id
                    and resolved.content_hash == content_hash):
                return locked  # replay of this very post
            if locked.status == HoldStatus.EXPIRED:
                raise HoldExpired()
            raise HoldAlreadyResolved()
        if _is_past_expiry(locked, clock.now()):
            _expire_locked(locked)
            expired = True
        else:
            if posted_amount > locked.amount:
                raise InvalidAmount(_("You cannot post more than the hold's amount."),
                                    fields={"amount": _("At most %(max)s.", max=locked.amount)})
            if _existing_entry(idempotency_id) is not None:
                raise IdempotencyConflict()
            _resolve(locked, HoldStatus.POSTED, posted_amount, idempotency_id, content_hash, description, actor)
    if expired:
        raise HoldExpired()
    return locked


def void_hold(hold: Hold | int, description: str = "", actor=None) -> Hold:
    """Release the whole reservation. A resolved hold raises HoldAlreadyResolved; an
    expired one is expired first (kept) and HoldExpired is raised."""
    hold_id = _hold_id(hold)
    expired = False
    with unit_of_work():
        locked = _lock_hold(hold_id)
        if locked.status == HoldStatus.EXPIRED:
            raise HoldExpired()
        if locked.status != HoldStatus.PENDING:
            raise HoldAlreadyResolved()
        if _is_past_expiry(locked, clock.now()):
            _expire_locked(locked)
            expired = True
        else:
            _resolve(locked, HoldStatus.VOIDED, None, f"hold:{hold_id}:void",
                     _hash({"kind": "hold_void", "hold": hold_id}), description, actor)
    if expired:
        raise HoldExpired()
    return locked


def expire_hold_if_due(hold: Hold | int, now: datetime | None = None) -> bool:
    """Expire one hold if it is pending and past its expiry (idempotent). True if it did."""
    now = now or clock.now()
    with unit_of_work():
        locked = _lock_hold(_hold_id(hold))
        if locked.status != HoldStatus.PENDING or not _is_past_expiry(locked, now):
            return False
        _expire_locked(locked)
        return True


def expire_holds(now: datetime | None = None, limit: int = 500) -> int:
    """Sweep: expire pending holds past their expiry, each in its own unit of work (so a
    sweep never holds many locks). Returns how many were expired."""
    now = now or clock.now()
    ids = db.session.scalars(
        sa.select(Hold.id)
        .where(Hold.status == HoldStatus.PENDING.value, Hold.expires_at.is_not(None), Hold.expires_at <= now)
        .order_by(Hold.expires_at, Hold.id)
        .limit(limit)
    ).all()
    if not in_unit_of_work() and db.session().in_transaction():
        db.session.commit()  # end the read transaction before the write units
    done = 0
    for hold_id in ids:
        try:
            if expire_hold_if_due(hold_id, now):
                done += 1
        except DomainError:  # e.g. resolved meanwhile; the next sweep looks again
            log.exception("could not expire hold %s", hold_id)
    return done


@register_sweep
def sweep_expired_holds() -> int:
    return expire_holds()
