"""Ledger building blocks: input checks, accounts (race-safe creation, locking, counter
updates), balances, entry insertion with idempotency, and the audit hook."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from core import clock
from core.db import db, for_update, unit_of_work
from payments.ledger.errors import (
    AccountFlagsConflict,
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidCurrency,
    InvalidEntry,
    UnbalancedEntry,
)
from payments.models import JournalEntry, LedgerAccount, Transfer
from payments.states import EntryKind, default_no_negative

#: Largest single amount accepted (10^15 fen = 10 trillion yuan): far from BIGINT overflow.
MAX_AMOUNT = 10**15
KEY_RE = re.compile(r"^[a-z0-9_][a-z0-9_.\-]*(:[a-z0-9_.\-]+)*$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class TransferSpec:
    """One leg of an entry: move `amount` minor units from `debit_key` to `credit_key`."""

    debit_key: str
    credit_key: str
    amount: int
    currency: str = "CNY"


@dataclass(frozen=True)
class Balance:
    key: str
    currency: str
    posted: int
    pending: int
    available: int
    no_negative: bool


def _check_amount(amount: object) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidAmount(_("The amount must be a whole number of fen."), fields={"amount": _("Not a whole number.")})
    if amount <= 0:
        raise InvalidAmount(_("The amount must be greater than zero."), fields={"amount": _("Must be greater than zero.")})
    if amount > MAX_AMOUNT:
        raise InvalidAmount(_("The amount is too large."), fields={"amount": _("Too large.")})
    return amount


def _check_currency(currency: object) -> str:
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        raise InvalidCurrency(fields={"currency": _("Use a three-letter code such as CNY.")})
    return currency


def _check_key(key: object) -> str:
    if not isinstance(key, str) or len(key) > 200 or not KEY_RE.match(key):
        raise InvalidEntry(_("Invalid ledger account key: %(key)s", key=str(key)[:60]))
    return key


def _key_of(ref: str | LedgerAccount, currency: str) -> str:
    """Accept a key or an account object; an account of another currency is refused."""
    if isinstance(ref, LedgerAccount):
        if ref.currency != currency:
            raise CurrencyMismatch(
                _("Account %(key)s is in %(account)s, not %(currency)s.",
                  key=ref.key, account=ref.currency, currency=currency)
            )
        return ref.key
    return _check_key(ref)


def check_balanced(legs: Iterable[tuple[str, str, int, str]]) -> None:
    """Raise UnbalancedEntry unless, per currency, the debits equal the credits.

    `legs` are (debit_key, credit_key, amount, currency); a transfer is one debit and one
    credit of the same amount, so this holds by construction; it is verified anyway
    (and used by the tests on legs that come from the database).
    """
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    for debit_key, credit_key, amount, currency in legs:
        if debit_key is not None:
            debits[currency] += amount
        if credit_key is not None:
            credits[currency] += amount
    for currency in set(debits) | set(credits):
        if debits[currency] != credits[currency]:
            raise UnbalancedEntry()


def _hash(content: dict) -> str:
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


# --------------------------------------------------------------------------- audit


def _audit(action: str, obj_type: str, obj_id: object, data: dict, actor=None) -> None:
    """core.audit.record if it exists (written by another helper); a no-op before that."""
    try:
        from core import audit  # noqa: PLC0415
    except ImportError:
        return
    record = getattr(audit, "record", None)
    if record is None:
        return
    if actor is None and hasattr(audit, "system"):
        actor = audit.system("ledger")
    record(action, obj_type, str(obj_id), data, actor=actor)


# --------------------------------------------------------------------------- accounts


def _dialect_insert(model):
    name = db.session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise RuntimeError(f"unsupported database {name}")
    return insert(model)


def _find_account(key: str, currency: str) -> LedgerAccount | None:
    stmt = sa.select(LedgerAccount).where(LedgerAccount.key == key, LedgerAccount.currency == currency)
    return db.session.scalar(stmt.execution_options(populate_existing=True))


def get_or_create_account(key: str, currency: str = "CNY", no_negative: bool | None = None) -> LedgerAccount:
    """The account (key, currency), created if missing (race-safe).

    `no_negative=None` applies the default policy (`payments.states.default_no_negative`);
    asking for a guard on an existing unguarded account raises AccountFlagsConflict (and
    the reverse: explicitly unguarded on a guarded one).
    """
    _check_key(key)
    _check_currency(currency)
    with unit_of_work():
        account = _find_account(key, currency)
        if account is None:
            flag = default_no_negative(key) if no_negative is None else bool(no_negative)
            stmt = (
                _dialect_insert(LedgerAccount)
                .values(key=key, currency=currency, no_negative=flag, created_at=clock.now())
                .on_conflict_do_nothing(index_elements=["key", "currency"])
            )
            db.session.execute(stmt)
            account = _find_account(key, currency)
            assert account is not None
        elif no_negative is not None and bool(no_negative) != account.no_negative:
            raise AccountFlagsConflict()
        return account


_LOCK_BY_KEYS = (
    for_update(
        sa.select(LedgerAccount)
        .where(sa.tuple_(LedgerAccount.key, LedgerAccount.currency).in_(sa.bindparam("pairs", expanding=True)))
        .order_by(LedgerAccount.id)
    ).execution_options(populate_existing=True)
)
_LOCK_BY_IDS = (
    for_update(
        sa.select(LedgerAccount).where(LedgerAccount.id.in_(sa.bindparam("ids", expanding=True))).order_by(LedgerAccount.id)
    ).execution_options(populate_existing=True)
)


def _lock_accounts_by_key(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], LedgerAccount]:
    """Lock the (key, currency) accounts FOR UPDATE in id order, creating missing ones.

    Existing rows are locked first (one statement, id order); missing accounts are then
    created in key order (race-safe) and locked. Creation happens only on an account's
    first use.
    """
    wanted = sorted(set(pairs))
    found = {(a.key, a.currency): a for a in db.session.scalars(_LOCK_BY_KEYS, {"pairs": wanted})}
    missing = [p for p in wanted if p not in found]
    if missing:
        for key, currency in missing:
            get_or_create_account(key, currency)
        for account in db.session.scalars(_LOCK_BY_KEYS, {"pairs": missing}):
            found[(account.key, account.currency)] = account
    return found


def _lock_accounts(ids: Iterable[int]) -> dict[int, LedgerAccount]:
    """SELECT ... FOR UPDATE the accounts in id order (no deadlocks); fresh values."""
    return {a.id: a for a in db.session.scalars(_LOCK_BY_IDS, {"ids": sorted(set(ids))})}


_INSERT_TRANSFERS = sa.insert(Transfer.__table__)
_COUNTERS = ("posted_debits", "posted_credits", "pending_debits", "pending_credits")
_UPDATE_COUNTERS = (
    sa.update(LedgerAccount.__table__)
    .where(LedgerAccount.__table__.c.id == sa.bindparam("account_id"))
    .values({name: sa.bindparam(f"new_{name}") for name in _COUNTERS})
)


def _apply(deltas: dict[int, list[int]], accounts: dict[int, LedgerAccount]) -> None:
    """Add `deltas` (account id -> four counter deltas) to the locked accounts: check the
    guards on the new values, then write all counters in one executemany UPDATE."""
    new: dict[int, list[int]] = {}
    for account_id, delta in deltas.items():
        account = accounts[account_id]
        values = [getattr(account, name) + d for name, d in zip(_COUNTERS, delta, strict=True)]
        posted_debits, posted_credits, pending_debits, _pc = values
        if account.no_negative and posted_credits - posted_debits - pending_debits < 0:
            raise InsufficientFunds(_("Insufficient funds in %(key)s.", key=account.key))
        new[account_id] = values
    params = []
    for account_id, values in new.items():
        account = accounts[account_id]
        for name, value in zip(_COUNTERS, values, strict=True):
            set_committed_value(account, name, value)
        params.append({"account_id": account_id, **{f"new_{n}": v for n, v in zip(_COUNTERS, values, strict=True)}})
    db.session.execute(_UPDATE_COUNTERS, params)


def get_account(key: str, currency: str = "CNY") -> LedgerAccount | None:
    return _find_account(key, currency)


def account_balance(key: str, currency: str = "CNY") -> Balance:
    """Posted, pending and available balances (all 0 for an account never used)."""
    account = _find_account(key, currency)
    if account is None:
        return Balance(key, currency, 0, 0, 0, default_no_negative(key))
    return balance_of(account)


def balance_of(account: LedgerAccount) -> Balance:
    return Balance(
        account.key, account.currency, account.posted_balance, account.pending_balance,
        account.available_balance, account.no_negative,
    )


# --------------------------------------------------------------------------- entries


def _existing_entry(idempotency_id: str) -> JournalEntry | None:
    return db.session.scalar(sa.select(JournalEntry).where(JournalEntry.idempotency_id == idempotency_id))


def _replay(existing: JournalEntry, content_hash: str) -> JournalEntry:
    if existing.content_hash != content_hash:
        raise IdempotencyConflict()
    return existing


_ENTRY_COLUMNS = ("idempotency_id", "kind", "description", "created_at", "corrects_id", "meta", "content_hash")
_ENTRY_INSERTS: dict[str, sa.Insert] = {}


def _entry_insert_stmt() -> sa.Insert:
    """INSERT ... ON CONFLICT (idempotency_id) DO NOTHING RETURNING id, built once per dialect."""
    name = db.session.get_bind().dialect.name
    stmt = _ENTRY_INSERTS.get(name)
    if stmt is None:
        columns = JournalEntry.__mapper__.columns
        stmt = (
            _dialect_insert(JournalEntry.__table__)
            .values({columns[attr]: sa.bindparam(f"p_{attr}", type_=columns[attr].type) for attr in _ENTRY_COLUMNS})
            .on_conflict_do_nothing(index_elements=["idempotency_id"])
            .returning(JournalEntry.__table__.c.id)
        )
        _ENTRY_INSERTS[name] = stmt
    return stmt


def _insert_entry(idempotency_id: str, kind: EntryKind, content_hash: str, description: str,
                  corrects_id: int | None, metadata: dict | None) -> JournalEntry | None:
    """Insert the entry row, or return None when another transaction holds that id.

    ON CONFLICT DO NOTHING waits for a concurrent insert of the same id; if that one
    commits we get nothing back and the caller replays against it. The returned object
    is attached to the session without reading the row back.
    """
    values = {
        "idempotency_id": idempotency_id, "kind": str(kind), "description": (description or "")[:500],
        "created_at": clock.now(), "corrects_id": corrects_id, "meta": metadata or {}, "content_hash": content_hash,
    }
    new_id = db.session.execute(_entry_insert_stmt(), {f"p_{k}": v for k, v in values.items()}).scalar()
    if new_id is None:
        return None
    entry = JournalEntry(id=new_id, **values)
    make_transient_to_detached(entry)
    stale = db.session.identity_map.get(db.session.identity_key(JournalEntry, new_id))
    if stale is not None:  # an id reused after a rollback (SQLite): forget the old object
        db.session.expunge(stale)
    db.session.add(entry)
    return entry


def _check_idempotency_id(idempotency_id: object) -> str:
    if not isinstance(idempotency_id, str) or not idempotency_id.strip() or len(idempotency_id) > 255:
        raise InvalidEntry(_("An idempotency id (1 to 255 characters) is required."))
    return idempotency_id
