"""Audit log: entries, chain head, signed checkpoints (core.audit).

The entries table is append-only: database triggers reject UPDATE and DELETE. The DDL
lives in module-level constants so the Alembic migration can import and run the same
statements (`PG_APPEND_ONLY_DDL`, `SQLITE_APPEND_ONLY_DDL`, and the `*_DROP` lists for
downgrade). On PostgreSQL, TRUNCATE is not a row operation and is left to database
permissions (the application role gets INSERT/SELECT only on audit_entries).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import DDL, event
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base

__all__ = [
    "AuditEntry",
    "AuditHead",
    "AuditCheckpoint",
    "GENESIS_HASH",
    "PG_APPEND_ONLY_DDL",
    "PG_APPEND_ONLY_DROP",
    "SQLITE_APPEND_ONLY_DDL",
    "SQLITE_APPEND_ONLY_DROP",
]

GENESIS_HASH = "0" * 64

_BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class AuditEntry(Base):
    """One link of the hash chain. `hash = SHA-256(prev_hash || canonical JSON of content)`."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(_BigInt, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(index=True)
    actor_kind: Mapped[str] = mapped_column(sa.String(10))
    actor_user_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    actor_org_id: Mapped[int | None] = mapped_column(sa.Integer)
    actor_label: Mapped[str] = mapped_column(sa.String(255), default="", index=True)
    action: Mapped[str] = mapped_column(sa.String(100), index=True)
    obj_type: Mapped[str] = mapped_column(sa.String(60))
    obj_id: Mapped[str | None] = mapped_column(sa.String(100))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    __table_args__ = (sa.Index("ix_audit_entries_obj", "obj_type", "obj_id"),)


class AuditHead(Base):
    """The one-row chain head (id=1), locked FOR UPDATE by every append."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(_BigInt, default=0)
    hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS_HASH)


class AuditCheckpoint(Base):
    """A signed (seq, head_hash): detects a cut or rewritten tail."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(_BigInt, index=True)
    head_hash: Mapped[str] = mapped_column(sa.String(64))
    signed_at: Mapped[datetime] = mapped_column(default=clock.now)
    signature: Mapped[str] = mapped_column(sa.Text)  # base64 Ed25519 signature
    key_id: Mapped[str] = mapped_column(sa.String(32))


# --------------------------------------------------------------------------- append-only DDL
# (No "%" in these strings: sqlalchemy.DDL formats them with %-style placeholders.)

PG_APPEND_ONLY_DDL = [
    """
CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit_entries is append-only (' || TG_OP || ' refused)',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
""",
    """
CREATE TRIGGER audit_entries_no_update_delete
BEFORE UPDATE OR DELETE ON audit_entries
FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()
""",
]

PG_APPEND_ONLY_DROP = [
    "DROP TRIGGER IF EXISTS audit_entries_no_update_delete ON audit_entries",
    "DROP FUNCTION IF EXISTS audit_entries_append_only()",
]

SQLITE_APPEND_ONLY_DDL = [
    """
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update
BEFORE UPDATE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit_entries is append-only (UPDATE refused)');
END
""",
    """
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete
BEFORE DELETE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit_entries is append-only (DELETE refused)');
END
""",
]

SQLITE_APPEND_ONLY_DROP = [
    "DROP TRIGGER IF EXISTS audit_entries_no_update",
    "DROP TRIGGER IF EXISTS audit_entries_no_delete",
]

for _stmt in PG_APPEND_ONLY_DDL:
    event.listen(AuditEntry.__table__, "after_create", DDL(_stmt).execute_if(dialect="postgresql"))
for _stmt in SQLITE_APPEND_ONLY_DDL:
    event.listen(AuditEntry.__table__, "after_create", DDL(_stmt).execute_if(dialect="sqlite"))
