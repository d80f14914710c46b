"""Database: declarative base, mixins, and the unit of work.

`unit_of_work()` wraps every command. Only the outermost one commits; a failure at any
depth dooms the whole transaction. On SQLite a unit of work starts with BEGIN IMMEDIATE
(the write lock is taken before anything is read, so check-then-write cannot race); on
PostgreSQL services read the rows they check with `FOR UPDATE` (see `for_update`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from core import clock


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = clock.as_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return clock.as_utc(value) if value is not None else None


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


Base.registry.update_type_annotation_map({datetime: UTCDateTime(), dict: sa.JSON(), list: sa.JSON()})


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


class IdMixin:
    id: Mapped[int] = mapped_column(primary_key=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


# --------------------------------------------------------------------------- unit of work

_depth: ContextVar[int] = ContextVar("uow_depth", default=0)
_write_intent: ContextVar[bool] = ContextVar("uow_write_intent", default=False)

#: Called with the session just before the outermost commit (after all service code).
#: core.audit registers the chain append here so it is the transaction's last statement.
BEFORE_COMMIT: list[Callable[[Session], None]] = []


class TransactionDoomed(RuntimeError):
    """A nested unit of work failed and its exception was swallowed by an outer caller."""


def after_commit(fn: Callable[[], None]) -> None:
    """Run `fn` once the outermost unit of work has committed (dropped on rollback)."""
    db.session().info.setdefault("after_commit", []).append(fn)


def after_rollback(fn: Callable[[], None]) -> None:
    """Run `fn` if the outermost unit of work rolls back (dropped on commit): undo what the
    database cannot, such as a file written for a row that will not exist."""
    db.session().info.setdefault("after_rollback", []).append(fn)


#: session.info keys holding what the current transaction collected for BEFORE_COMMIT
#: (the audit queue, the tenders to re-index): dropped when the transaction rolls back.
TRANSACTION_INFO: set[str] = set()


def collect(key: str, empty: Callable[[], Any]) -> Any:
    """What this transaction collects under `key` (made by `empty()` at first: a list, a
    set): a BEFORE_COMMIT hook pops and writes it; a rollback drops it with the change."""
    TRANSACTION_INFO.add(key)
    session = db.session()
    session.connection()  # a transaction is open, so that its rollback drops what is collected
    collected = session.info.get(key)
    if collected is None:
        collected = session.info[key] = empty()
    return collected


@event.listens_for(Session, "after_rollback")
def _drop_collected_on_rollback(session: Session) -> None:
    for key in TRANSACTION_INFO:
        session.info.pop(key, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_collected_on_soft_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        _drop_collected_on_rollback(session)


def in_unit_of_work() -> bool:
    return _depth.get() > 0


def _needs_fresh_write_transaction(session: Session) -> bool:
    """Whether an open read transaction must be committed before a unit of work: yes on
    SQLite (writes begin with BEGIN IMMEDIATE) and on anything not known to run at READ
    COMMITTED; no on PostgreSQL at its default isolation level."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return True
    conn = session.connection()
    # The level this connection runs at, without a round trip: an isolation_level execution
    # option or the engine's isolation_level, else the server default read at first connect.
    level = (conn.get_execution_options().get("isolation_level") or getattr(bind.dialect, "isolation_level", None)
             or conn.default_isolation_level)
    return str(level).upper().replace("_", " ") != "READ COMMITTED"


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Open (or join) the current transaction; the outermost level commits once. A nested
    level flushes when it ends, so its caller reads (or refreshes) what it changed."""
    depth = _depth.get()
    session = db.session()  # the real Session behind the scoped proxy
    depth_token = _depth.set(depth + 1)
    write_token = None
    if depth == 0:
        if session.in_transaction() and _needs_fresh_write_transaction(session):
            # A read transaction is open (e.g. loading the current user): on SQLite end it
            # so the write transaction starts with BEGIN IMMEDIATE. On PostgreSQL (READ
            # COMMITTED: every statement sees what is committed when it starts) the read
            # transaction simply becomes the unit of work, on the connection it holds.
            session.commit()
        session.info.pop("uow_doomed", None)
        session.info.pop("after_commit", None)
        session.info.pop("after_rollback", None)
        write_token = _write_intent.set(True)
    try:
        yield session
        if depth == 0:
            if session.info.get("uow_doomed"):
                raise TransactionDoomed("a nested unit of work failed; nothing was committed")
            session.flush()
            for hook in BEFORE_COMMIT:
                hook(session)
            session.commit()
            session.info.pop("after_rollback", None)
        else:
            session.flush()
    except BaseException:
        if depth == 0:
            session.rollback()
            session.info.pop("after_commit", None)
            session.info.pop("uow_doomed", None)
            for undo in session.info.pop("after_rollback", []):
                try:
                    undo()
                except Exception:  # the rollback's own exception is the one to report
                    logging.getLogger(__name__).exception("after-rollback action failed")
        else:
            session.info["uow_doomed"] = True
        raise
    finally:
        _depth.reset(depth_token)
        if write_token is not None:
            _write_intent.reset(write_token)
    if depth == 0:
        callbacks = session.info.pop("after_commit", [])
        for fn in callbacks:
            fn()


def for_update(stmt: sa.Select) -> sa.Select:
    """Lock the selected rows until commit (PostgreSQL); SQLite is already serialized."""
    return stmt.with_for_update()


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling reads
    # outside the transaction).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode")
    mode = cursor.fetchone()
    if mode and mode[0] not in ("memory", "wal"):
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn: sa.Connection) -> None:
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def get_or_404(model: type, ident: Any):
    return db.get_or_404(model, ident)
