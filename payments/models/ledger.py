"""Tables of the payments area: the double-entry ledger (accounts, entries, transfers, holds).

Sign convention and rules: see payments/ledger/__init__.py. Entries and transfers are immutable:
no service updates them; a database trigger refuses UPDATE on both tables and an ORM
guard refuses flushing a changed one (`LedgerImmutable`).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import DDL, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core import clock
from core.db import Base, IdMixin

__all__ = [
    "LedgerAccount",
    "JournalEntry",
    "Transfer",
    "Hold",
    "LedgerImmutable",
    "PG_IMMUTABLE_DDL",
    "PG_IMMUTABLE_DROP",
    "SQLITE_IMMUTABLE_DDL",
    "SQLITE_IMMUTABLE_DROP",
]

_Amount = sa.BigInteger


class LedgerAccount(IdMixin, Base):
    """One account per (key, currency). Balance = credits - debits (see payments.ledger)."""

    __tablename__ = "ledger_accounts"

    key: Mapped[str] = mapped_column(sa.String(200))
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    no_negative: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    posted_debits: Mapped[int] = mapped_column(_Amount, default=0)
    posted_credits: Mapped[int] = mapped_column(_Amount, default=0)
    pending_debits: Mapped[int] = mapped_column(_Amount, default=0)
    pending_credits: Mapped[int] = mapped_column(_Amount, default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("key", "currency"),
        sa.CheckConstraint(
            "posted_debits >= 0 AND posted_credits >= 0 AND pending_debits >= 0 AND pending_credits >= 0",
            name="counters_non_negative",
        ),
        # The guard, enforced by the database too (the service checks first, under the row lock).
        sa.CheckConstraint(
            "NOT no_negative OR posted_credits - posted_debits - pending_debits >= 0",
            name="guarded_not_negative",
        ),
    )

    @property
    def posted_balance(self) -> int:
        return self.posted_credits - self.posted_debits

    @property
    def pending_balance(self) -> int:
        return self.pending_credits - self.pending_debits

    @property
    def available_balance(self) -> int:
        """What may still be debited: posted balance minus pending debits (pending credits don't count)."""
        return self.posted_credits - self.posted_debits - self.pending_debits

    def __repr__(self) -> str:
        return f"<LedgerAccount {self.key} {self.currency} posted={self.posted_balance}>"


class JournalEntry(IdMixin, Base):
    """One ledger command: its transfers all apply or none. Never updated nor deleted."""

    __tablename__ = "journal_entries"

    idempotency_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(20), default="entry", index=True)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    corrects_id: Mapped[int | None] = mapped_column(sa.ForeignKey("journal_entries.id"), index=True)
    meta: Mapped[dict] = mapped_column("metadata", sa.JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(sa.String(64))

    transfers: Mapped[list[Transfer]] = relationship(
        back_populates="entry", order_by="Transfer.id", viewonly=True
    )
    corrects: Mapped[JournalEntry | None] = relationship(remote_side="JournalEntry.id", viewonly=True)

    def __repr__(self) -> str:
        return f"<JournalEntry {self.id} {self.idempotency_id!r} {self.kind}>"


class Transfer(IdMixin, Base):
    """Moves `amount` from the debit account to the credit account (same currency)."""

    __tablename__ = "ledger_transfers"

    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("journal_entries.id"), index=True)
    debit_account_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_accounts.id"), index=True)
    credit_account_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(_Amount)
    currency: Mapped[str] = mapped_column(sa.String(3))
    kind: Mapped[str] = mapped_column(sa.String(10), default="posted")  # TransferKind

    entry: Mapped[JournalEntry] = relationship(back_populates="transfers", viewonly=True)
    debit_account: Mapped[LedgerAccount] = relationship(foreign_keys=[debit_account_id], viewonly=True)
    credit_account: Mapped[LedgerAccount] = relationship(foreign_keys=[credit_account_id], viewonly=True)

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="different_accounts"),
    )


class Hold(IdMixin, Base):
    """A two-phase transfer: reserved by a pending transfer, resolved exactly once."""

    __tablename__ = "ledger_holds"

    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("journal_entries.id"), unique=True)
    pending_transfer_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_transfers.id"), unique=True)
    debit_account_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_accounts.id"), index=True)
    credit_account_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(_Amount)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")  # HoldStatus
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    posted_amount: Mapped[int | None] = mapped_column(_Amount)
    resolved_at: Mapped[datetime | None]
    resolved_entry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("journal_entries.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    entry: Mapped[JournalEntry] = relationship(foreign_keys=[entry_id], viewonly=True)
    resolved_entry: Mapped[JournalEntry | None] = relationship(foreign_keys=[resolved_entry_id], viewonly=True)
    debit_account: Mapped[LedgerAccount] = relationship(foreign_keys=[debit_account_id], viewonly=True)
    credit_account: Mapped[LedgerAccount] = relationship(foreign_keys=[credit_account_id], viewonly=True)

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("posted_amount IS NULL OR (posted_amount > 0 AND posted_amount <= amount)",
                           name="posted_within_amount"),
        sa.Index("ix_ledger_holds_status_expires", "status", "expires_at"),
    )

    def __repr__(self) -> str:
        return f"<Hold {self.id} {self.amount} {self.currency} {self.status}>"


# --------------------------------------------------------------------------- immutability


class LedgerImmutable(RuntimeError):
    """Code tried to change or delete a journal entry or a transfer."""


@event.listens_for(Session, "before_flush")
def _refuse_ledger_changes(session: Session, flush_context, instances) -> None:
    for obj in session.dirty:
        if isinstance(obj, JournalEntry | Transfer) and session.is_modified(obj, include_collections=False):
            raise LedgerImmutable(f"{type(obj).__name__} rows are immutable; post a correcting entry")
    for obj in session.deleted:
        if isinstance(obj, JournalEntry | Transfer):
            raise LedgerImmutable(f"{type(obj).__name__} rows are never deleted; post a correcting entry")


# The same rule in the database (UPDATE refused; DELETE is left to permissions so test
# fixtures can empty tables). The lead's Alembic revision runs these same statements.
PG_IMMUTABLE_DDL = [
    """
CREATE OR REPLACE FUNCTION ledger_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is immutable (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
""",
    """
CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
FOR EACH ROW EXECUTE FUNCTION ledger_immutable()
""",
    """
CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE ON ledger_transfers
FOR EACH ROW EXECUTE FUNCTION ledger_immutable()
""",
]

PG_IMMUTABLE_DROP = [
    "DROP TRIGGER IF EXISTS journal_entries_no_update ON journal_entries",
    "DROP TRIGGER IF EXISTS ledger_transfers_no_update ON ledger_transfers",
    "DROP FUNCTION IF EXISTS ledger_immutable()",
]

SQLITE_IMMUTABLE_DDL = [
    """
CREATE TRIGGER IF NOT EXISTS journal_entries_no_update BEFORE UPDATE ON journal_entries
BEGIN
    SELECT RAISE(ABORT, 'journal_entries is immutable (UPDATE refused)');
END
""",
    """
CREATE TRIGGER IF NOT EXISTS ledger_transfers_no_update BEFORE UPDATE ON ledger_transfers
BEGIN
    SELECT RAISE(ABORT, 'ledger_transfers is immutable (UPDATE refused)');
END
""",
]

SQLITE_IMMUTABLE_DROP = [
    "DROP TRIGGER IF EXISTS journal_entries_no_update",
    "DROP TRIGGER IF EXISTS ledger_transfers_no_update",
]

# DDL() treats "%" as a format marker: escape it (the constants hold the plain SQL).
for _stmt in PG_IMMUTABLE_DDL:
    event.listen(Transfer.__table__, "after_create", DDL(_stmt.replace("%", "%%")).execute_if(dialect="postgresql"))
for _stmt in SQLITE_IMMUTABLE_DDL:
    event.listen(Transfer.__table__, "after_create", DDL(_stmt).execute_if(dialect="sqlite"))
