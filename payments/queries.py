"""Read-only selects of the payments area (ledger reading for finance pages; no writes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from core.db import db
from payments.models import Hold, JournalEntry, LedgerAccount, Transfer
from payments.states import HoldStatus, TransferKind


def accounts(
    prefix: str | None = None,
    currency: str | None = None,
    guarded: bool | None = None,
    nonzero: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[LedgerAccount]:
    """Accounts (with their balance counters) ordered by key; `prefix` matches the key start."""
    stmt = sa.select(LedgerAccount)
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(LedgerAccount.key.like(f"{escaped}%", escape="\\"))
    if currency:
        stmt = stmt.where(LedgerAccount.currency == currency)
    if guarded is not None:
        stmt = stmt.where(LedgerAccount.no_negative.is_(guarded))
    if nonzero:
        stmt = stmt.where(sa.or_(
            LedgerAccount.posted_credits != LedgerAccount.posted_debits,
            LedgerAccount.pending_credits != LedgerAccount.pending_debits,
        ))
    stmt = stmt.order_by(LedgerAccount.key, LedgerAccount.currency).limit(limit).offset(offset)
    return list(db.session.scalars(stmt))


def entries(
    account_key: str | None = None,
    currency: str = "CNY",
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    idempotency_prefix: str | None = None,
    corrections_of: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[JournalEntry]:
    """Journal entries, newest first; `account_key` keeps entries with a transfer
    touching that account (posted or pending)."""
    stmt = sa.select(JournalEntry)
    if account_key:
        account = db.session.scalar(
            sa.select(LedgerAccount.id).where(LedgerAccount.key == account_key, LedgerAccount.currency == currency)
        )
        if account is None:
            return []
        touching = sa.select(Transfer.entry_id).where(
            sa.or_(Transfer.debit_account_id == account, Transfer.credit_account_id == account)
        )
        holds = sa.select(Hold.resolved_entry_id).where(
            Hold.resolved_entry_id.is_not(None),
            sa.or_(Hold.debit_account_id == account, Hold.credit_account_id == account),
        )
        stmt = stmt.where(sa.or_(JournalEntry.id.in_(touching), JournalEntry.id.in_(holds)))
    if kind:
        stmt = stmt.where(JournalEntry.kind == kind)
    if since:
        stmt = stmt.where(JournalEntry.created_at >= since)
    if until:
        stmt = stmt.where(JournalEntry.created_at < until)
    if idempotency_prefix:
        escaped = idempotency_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(JournalEntry.idempotency_id.like(f"{escaped}%", escape="\\"))
    if corrections_of is not None:
        stmt = stmt.where(JournalEntry.corrects_id == corrections_of)
    stmt = stmt.order_by(JournalEntry.id.desc()).limit(limit).offset(offset)
    return list(db.session.scalars(stmt))


def entry_by_idempotency_id(idempotency_id: str) -> JournalEntry | None:
    return db.session.scalar(sa.select(JournalEntry).where(JournalEntry.idempotency_id == idempotency_id))


@dataclass(frozen=True)
class StatementLine:
    transfer_id: int
    entry_id: int
    created_at: datetime
    description: str
    counterparty: str
    debit: int
    credit: int
    balance: int  # posted balance after this line


def statement(key: str, currency: str = "CNY", limit: int = 200) -> list[StatementLine]:
    """Posted transfers of one account, oldest first, with the running posted balance."""
    account = db.session.scalar(
        sa.select(LedgerAccount).where(LedgerAccount.key == key, LedgerAccount.currency == currency)
    )
    if account is None:
        return []
    other = aliased(LedgerAccount)
    stmt = (
        sa.select(Transfer, JournalEntry.created_at, JournalEntry.description, other.key)
        .join(JournalEntry, JournalEntry.id == Transfer.entry_id)
        .join(other, other.id == sa.case(
            (Transfer.debit_account_id == account.id, Transfer.credit_account_id),
            else_=Transfer.debit_account_id,
        ))
        .where(
            Transfer.kind == TransferKind.POSTED.value,
            sa.or_(Transfer.debit_account_id == account.id, Transfer.credit_account_id == account.id),
        )
        .order_by(Transfer.id)
        .limit(limit)
    )
    lines: list[StatementLine] = []
    balance = 0
    for transfer, created_at, description, counterparty in db.session.execute(stmt):
        debit = transfer.amount if transfer.debit_account_id == account.id else 0
        credit = transfer.amount if transfer.credit_account_id == account.id else 0
        balance += credit - debit
        lines.append(StatementLine(transfer.id, transfer.entry_id, created_at, description, counterparty,
                                   debit, credit, balance))
    return lines


def holds(status: HoldStatus | str | None = None, account_key: str | None = None, currency: str = "CNY",
          limit: int = 100, offset: int = 0) -> list[Hold]:
    stmt = sa.select(Hold)
    if status:
        stmt = stmt.where(Hold.status == str(status))
    if account_key:
        ids = sa.select(LedgerAccount.id).where(LedgerAccount.key == account_key, LedgerAccount.currency == currency)
        stmt = stmt.where(sa.or_(Hold.debit_account_id.in_(ids), Hold.credit_account_id.in_(ids)))
    return list(db.session.scalars(stmt.order_by(Hold.id.desc()).limit(limit).offset(offset)))


def trial_balance() -> dict[str, dict[str, int]]:
    """Per currency, the sums of all posted and pending balances (both must be 0)."""
    rows = db.session.execute(
        sa.select(
            LedgerAccount.currency,
            sa.func.coalesce(sa.func.sum(LedgerAccount.posted_credits - LedgerAccount.posted_debits), 0),
            sa.func.coalesce(sa.func.sum(LedgerAccount.pending_credits - LedgerAccount.pending_debits), 0),
        ).group_by(LedgerAccount.currency)
    )
    return {cur: {"posted": int(posted), "pending": int(pending)} for cur, posted, pending in rows}


def verify() -> list[str]:
    """Recompute every account's counters from the transfers and holds; list mismatches.

    posted counters = sums of posted transfers; pending counters = sums of the amounts of
    holds still pending. An empty list means the ledger is consistent.
    """
    problems: list[str] = []
    expected: dict[int, list[int]] = {}

    def bump(account_id: int, index: int, amount: int) -> None:
        expected.setdefault(account_id, [0, 0, 0, 0])[index] += int(amount)

    posted = db.session.execute(
        sa.select(Transfer.debit_account_id, Transfer.credit_account_id, sa.func.sum(Transfer.amount))
        .where(Transfer.kind == TransferKind.POSTED.value)
        .group_by(Transfer.debit_account_id, Transfer.credit_account_id)
    )
    for debit_id, credit_id, total in posted:
        bump(debit_id, 0, total)
        bump(credit_id, 1, total)
    pending = db.session.execute(
        sa.select(Hold.debit_account_id, Hold.credit_account_id, sa.func.sum(Hold.amount))
        .where(Hold.status == HoldStatus.PENDING.value)
        .group_by(Hold.debit_account_id, Hold.credit_account_id)
    )
    for debit_id, credit_id, total in pending:
        bump(debit_id, 2, total)
        bump(credit_id, 3, total)
    for account in db.session.scalars(sa.select(LedgerAccount).order_by(LedgerAccount.id)):
        want = expected.get(account.id, [0, 0, 0, 0])
        have = [account.posted_debits, account.posted_credits, account.pending_debits, account.pending_credits]
        if want != have:
            problems.append(f"{account.key} {account.currency}: counters {have} != transfers {want}")
        if account.no_negative and account.available_balance < 0:
            problems.append(f"{account.key} {account.currency}: guarded account below zero")
    for currency, sums in trial_balance().items():
        if sums["posted"] or sums["pending"]:
            problems.append(f"{currency}: balances do not sum to zero {sums}")
    return problems
