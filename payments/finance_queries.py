"""Read-only selects behind the finance pages: entry search, payouts, reconciliation.

Reconciliation compares each provider payment that reached the payer's money
(succeeded, partially refunded, refunded) with the ledger entries posted for it.
The postings of payments.services.payments (P1) are identified by idempotency id:

- money in:   entries `payment:<payment_id>:...` (e.g. `payment:<id>:succeeded`,
              `payment:<id>:captured`); their transfers debiting `platform:clearing`
              are the money that arrived;
- refunds:    entries `refund:<refund_id>...` of the payment's refunds (and any
              `payment:<id>:refund...` entry); their transfers crediting
              `platform:clearing` are the money that left.

Expected in = `amount_received` for a bank transfer that recorded one, otherwise
`amount_captured`; expected out = `amount_refunded`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from core import clock
from core.db import db
from payments.models import JournalEntry, LedgerAccount, Payout, PayoutBatch, Transfer
from payments.states import TransferKind

CLEARING_KEY = "platform:clearing"
RECONCILED_STATUSES = ("succeeded", "partially_refunded", "refunded")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def local_midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=clock.LOCAL_TZ).astimezone(UTC)


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class EntryFilters:
    date_from: date | None = None
    date_to: date | None = None  # inclusive (local day)
    account_key: str | None = None
    currency: str | None = None
    keyword: str | None = None  # in the idempotency id or the description
    kind: str | None = None


def entries_select(filters: EntryFilters) -> sa.Select:
    stmt = sa.select(JournalEntry)
    if filters.date_from:
        stmt = stmt.where(JournalEntry.created_at >= local_midnight_utc(filters.date_from))
    if filters.date_to:
        stmt = stmt.where(JournalEntry.created_at < local_midnight_utc(filters.date_to + timedelta(days=1)))
    if filters.kind:
        stmt = stmt.where(JournalEntry.kind == filters.kind)
    if filters.keyword:
        pattern = f"%{_escape_like(filters.keyword.lower())}%"
        stmt = stmt.where(sa.or_(
            sa.func.lower(JournalEntry.idempotency_id).like(pattern, escape="\\"),
            sa.func.lower(JournalEntry.description).like(pattern, escape="\\"),
        ))
    if filters.account_key or filters.currency:
        accounts = sa.select(LedgerAccount.id)
        if filters.account_key:
            accounts = accounts.where(LedgerAccount.key == filters.account_key)
        if filters.currency:
            accounts = accounts.where(LedgerAccount.currency == filters.currency)
        touching = sa.select(Transfer.entry_id).where(sa.or_(
            Transfer.debit_account_id.in_(accounts), Transfer.credit_account_id.in_(accounts)))
        stmt = stmt.where(JournalEntry.id.in_(touching))
    return stmt.order_by(JournalEntry.id.desc())


def entries_page(filters: EntryFilters, page: int = 1, per_page: int = 50):
    return db.paginate(entries_select(filters), page=max(page, 1), per_page=per_page, error_out=False)


def entry_rows(filters: EntryFilters, limit: int = 20000) -> list[tuple]:
    """One row per transfer of the matching entries (for the CSV export), newest entry first."""
    ids = entries_select(filters).with_only_columns(JournalEntry.id).order_by(None).limit(limit)
    debit = aliased(LedgerAccount)
    credit = aliased(LedgerAccount)
    stmt = (
        sa.select(JournalEntry, Transfer, debit.key, credit.key)
        .join(Transfer, Transfer.entry_id == JournalEntry.id)
        .join(debit, debit.id == Transfer.debit_account_id)
        .join(credit, credit.id == Transfer.credit_account_id)
        .where(JournalEntry.id.in_(ids))
        .order_by(JournalEntry.id.desc(), Transfer.id)
        .limit(limit)
    )
    return list(db.session.execute(stmt))


def transfer_keys(entries: list[JournalEntry]) -> dict[int, list[tuple[Transfer, str, str]]]:
    """entry id -> its transfers with the debit and credit account keys (one query)."""
    if not entries:
        return {}
    debit = aliased(LedgerAccount)
    credit = aliased(LedgerAccount)
    stmt = (
        sa.select(Transfer, debit.key, credit.key)
        .join(debit, debit.id == Transfer.debit_account_id)
        .join(credit, credit.id == Transfer.credit_account_id)
        .where(Transfer.entry_id.in_([e.id for e in entries]))
        .order_by(Transfer.id)
    )
    result: dict[int, list[tuple[Transfer, str, str]]] = {}
    for transfer, dkey, ckey in db.session.execute(stmt):
        result.setdefault(transfer.entry_id, []).append((transfer, dkey, ckey))
    return result


def account_count(prefix: str | None = None, currency: str | None = None) -> int:
    stmt = sa.select(sa.func.count(LedgerAccount.id))
    if prefix:
        stmt = stmt.where(LedgerAccount.key.like(f"{_escape_like(prefix)}%", escape="\\"))
    if currency:
        stmt = stmt.where(LedgerAccount.currency == currency)
    return db.session.scalar(stmt) or 0


# --------------------------------------------------------------------------- payouts


@dataclass(frozen=True)
class PayoutFilters:
    status: str | None = None
    payee: str | None = None  # payee name keyword
    batch_id: int | None = None
    currency: str | None = None


def payouts_page(filters: PayoutFilters, page: int = 1, per_page: int = 50):
    stmt = sa.select(Payout)
    if filters.status:
        stmt = stmt.where(Payout.status == filters.status)
    if filters.payee:
        stmt = stmt.where(sa.func.lower(Payout.payee_name).like(
            f"%{_escape_like(filters.payee.lower())}%", escape="\\"))
    if filters.batch_id:
        stmt = stmt.where(Payout.batch_id == filters.batch_id)
    if filters.currency:
        stmt = stmt.where(Payout.currency == filters.currency)
    return db.paginate(stmt.order_by(Payout.id.desc()), page=max(page, 1), per_page=per_page, error_out=False)


def pending_summary() -> list[tuple[str, int, int]]:
    """(currency, count, total) of the pending payouts, per currency."""
    rows = db.session.execute(
        sa.select(Payout.currency, sa.func.count(Payout.id), sa.func.coalesce(sa.func.sum(Payout.amount), 0))
        .where(Payout.status == "pending").group_by(Payout.currency).order_by(Payout.currency)
    )
    return [(c, int(n), int(t)) for c, n, t in rows]


def recent_batches(limit: int = 20) -> list[PayoutBatch]:
    return list(db.session.scalars(sa.select(PayoutBatch).order_by(PayoutBatch.id.desc()).limit(limit)))


# --------------------------------------------------------------------------- reconciliation


@dataclass(frozen=True)
class Discrepancy:
    payment_id: int
    provider: str
    provider_ref: str | None
    status: str
    currency: str
    expected_in: int
    found_in: int
    expected_out: int
    found_out: int

    @property
    def missing(self) -> bool:
        """No ledger effect at all for money that arrived."""
        return self.found_in == 0 and self.found_out == 0 and self.expected_in > 0


def _clearing_by_entry(payment_ids: list[int], refund_ids: list[int], clearing_ids: list[int]) -> dict[str, tuple[int, int]]:
    """idempotency id -> (money into, money out of) `platform:clearing`, over the posted
    transfers of the entries `payment:<id>:...` and `refund:<id>[:...]` of these ids."""
    if not clearing_ids or not (payment_ids or refund_ids):
        return {}
    conditions = [JournalEntry.idempotency_id.like(f"payment:{pid}:%") for pid in payment_ids]
    for rid in refund_ids:
        conditions.append(JournalEntry.idempotency_id == f"refund:{rid}")
        conditions.append(JournalEntry.idempotency_id.like(f"refund:{rid}:%"))
    stmt = (
        sa.select(
            JournalEntry.idempotency_id,
            sa.func.sum(sa.case((Transfer.debit_account_id.in_(clearing_ids), Transfer.amount), else_=0)),
            sa.func.sum(sa.case((Transfer.credit_account_id.in_(clearing_ids), Transfer.amount), else_=0)),
        )
        .join(Transfer, Transfer.entry_id == JournalEntry.id)
        .where(Transfer.kind == TransferKind.POSTED.value, sa.or_(*conditions))
        .group_by(JournalEntry.idempotency_id)
    )
    return {idem: (int(i or 0), int(o or 0)) for idem, i, o in db.session.execute(stmt)}


def _owner(idempotency_id: str, refund_owner: dict[int, int]) -> int | None:
    """The payment an entry belongs to, from its idempotency id."""
    parts = idempotency_id.split(":")
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    if parts[0] == "payment":
        return int(parts[1])
    if parts[0] == "refund":
        return refund_owner.get(int(parts[1]))
    return None


def reconciliation(limit: int = 500, chunk: int = 50) -> tuple[list[Discrepancy], int]:
    """Payments whose ledger effect is missing or differs from the payment, and the
    number of payments checked (the most recent `limit`)."""
    from payments.models import Payment, Refund

    clearing_ids = list(db.session.scalars(sa.select(LedgerAccount.id).where(LedgerAccount.key == CLEARING_KEY)))
    payments = list(db.session.scalars(
        sa.select(Payment).where(Payment.status.in_(RECONCILED_STATUSES)).order_by(Payment.id.desc()).limit(limit)
    ))
    problems: list[Discrepancy] = []
    for start in range(0, len(payments), chunk):
        part = payments[start:start + chunk]
        refund_owner = dict(db.session.execute(
            sa.select(Refund.id, Refund.payment_id).where(Refund.payment_id.in_([p.id for p in part]))
        ).all())
        found: dict[int, list[int]] = {}
        for idem, money_in, money_out in (
            (k, *v) for k, v in _clearing_by_entry([p.id for p in part], list(refund_owner), clearing_ids).items()
        ):
            owner = _owner(idem, refund_owner)
            if owner is not None:
                sums = found.setdefault(owner, [0, 0])
                sums[0] += money_in
                sums[1] += money_out
        for p in part:
            expected_in = p.amount_received if (p.provider == "bank_transfer" and p.amount_received) else p.amount_captured
            expected_in = int(expected_in or 0)
            expected_out = int(p.amount_refunded or 0)
            found_in, found_out = found.get(p.id, [0, 0])
            if (found_in, found_out) != (expected_in, expected_out):
                problems.append(Discrepancy(p.id, p.provider, p.provider_ref, p.status, p.currency,
                                            expected_in, found_in, expected_out, found_out))
    return problems, len(payments)
