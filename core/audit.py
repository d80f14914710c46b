"""Tamper-evident audit log.

`record(...)` queues an entry in the current unit of work; a BEFORE_COMMIT hook appends
the queued entries as the transaction's last statements, under a lock on the one-row
chain head, so the chain is linear in commit order and an entry exists exactly when the
change it describes was committed:

    hash = SHA-256(prev_hash || canonical JSON of the entry's content)

Signed checkpoints of (seq, head_hash) make a cut or rewritten tail detectable;
`verify_chain()` (CLI: `flask audit verify`) recomputes everything from seq 1.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import clock, signing
from core.db import BEFORE_COMMIT, collect, db, in_unit_of_work, unit_of_work
from core.models.audit import GENESIS_HASH, AuditCheckpoint, AuditEntry, AuditHead

__all__ = [
    "Actor",
    "system",
    "user_actor",
    "set_actor_provider",
    "record",
    "canonical_json",
    "entry_hash",
    "checkpoint",
    "checkpoint_if_due",
    "verify_chain",
    "VerifyResult",
    "AuditFilters",
    "entries_select",
    "latest_checkpoint",
    "head",
    "entries_page",
    "quick_status",
    "ChainStatus",
    "distinct_values",
]

QUEUE_KEY = "audit_queue"


# --------------------------------------------------------------------------- actors


@dataclass(frozen=True)
class Actor:
    kind: str  # "user" | "system"
    user_id: int | None = None
    org_id: int | None = None
    label: str = ""


def system(source: str) -> Actor:
    """The system acting on its own, with the source named (sweep, webhook, cli...)."""
    return Actor(kind="system", label=f"system:{source}")


def user_actor(user_id: int, org_id: int | None, label: str) -> Actor:
    return Actor(kind="user", user_id=user_id, org_id=org_id, label=label)


_actor_provider: Callable[[], Actor | None] | None = None


def set_actor_provider(fn: Callable[[], Actor | None] | None) -> None:
    """accounts registers a callable returning the current user's Actor (or None)."""
    global _actor_provider
    _actor_provider = fn


def _current_actor() -> Actor:
    if _actor_provider is not None:
        try:
            actor = _actor_provider()
        except RuntimeError:  # outside a request context
            actor = None
        if actor is not None:
            return actor
    return system("unknown")


# --------------------------------------------------------------------------- data hygiene

#: Words that mark a key as holding a secret (checked on every word of the key).
SECRET_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pwd", "token", "tokens", "secret", "secrets",
     "share", "shares", "otp", "totp", "recovery", "pin", "cvv", "cvc", "apikey", "plaintext"}
)
#: Exact keys refused (recovery or one-time codes).
SECRET_KEYS = frozenset({"code", "codes", "private_key", "api_key", "session_id", "bid_content"})
#: A key ending like this names or counts a secret without holding it (token_id, share_count).
HARMLESS_SUFFIXES = ("_id", "_ids", "_count", "_prefix", "_hint", "_kind", "_name", "_at", "_label")

_PHONE_RE = re.compile(r"(?<!\d)(\+?86[- ]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_PHONE_KEY_WORDS = ("phone", "mobile", "tel")


def _words(key: str) -> list[str]:
    key = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [w for w in re.split(r"[^a-zA-Z0-9]+", key.lower()) if w]


def _check_key(key: str, path: str) -> None:
    lowered = key.lower()
    if lowered.endswith(HARMLESS_SUFFIXES):
        return
    if lowered in SECRET_KEYS or any(w in SECRET_WORDS for w in _words(key)):
        raise ValueError(f"audit data must not hold secrets (key {path}{key!r})")


def mask_phone(text: str) -> str:
    """Mask mainland mobile numbers: 13812345678 -> 138****5678."""
    return _PHONE_RE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)


def _mask_phone_value(value: str) -> str:
    masked = mask_phone(value)
    if masked != value:
        return masked
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7:  # landline or foreign number under a phone key: keep the last 4
        return "*" * (len(digits) - 4) + digits[-4:]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return clock.as_utc(value).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"audit data value of type {type(value).__name__} is not JSON-serializable")


def _clean(value: Any, path: str = "", key: str | None = None) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            k = str(k.value if isinstance(k, Enum) else k)
            _check_key(k, path)
            out[k] = _clean(v, f"{path}{k}.", k)
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(v, path, key) for v in value]
    if isinstance(value, str):
        if key is not None and any(w in key.lower() for w in _PHONE_KEY_WORDS):
            return _mask_phone_value(value)
        return mask_phone(value)
    return value


def normalize_data(data: dict | None) -> dict:
    """Refuse secret keys, mask phone numbers, and return the JSON round-trip of `data`."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("audit data must be a dict")
    try:
        text = json.dumps(data, default=_json_default, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit data is not JSON-serializable: {exc}") from exc
    return _clean(json.loads(text))


# --------------------------------------------------------------------------- hashing


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _ts_text(ts: datetime) -> str:
    return clock.as_utc(ts).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_content(
    *, seq: int, ts: datetime, actor_kind: str, actor_user_id: int | None, actor_org_id: int | None,
    actor_label: str, action: str, obj_type: str, obj_id: str | None, data: dict,
) -> dict:
    return {
        "seq": seq,
        "ts": _ts_text(ts),
        "actor_kind": actor_kind,
        "actor_user_id": actor_user_id,
        "actor_org_id": actor_org_id,
        "actor_label": actor_label,
        "action": action,
        "obj_type": obj_type,
        "obj_id": obj_id,
        "data": data,
    }


def entry_hash(prev_hash: str, content: dict) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(content).encode("utf-8")).hexdigest()


def _row_content(row: Any) -> dict:
    return entry_content(
        seq=row.seq, ts=row.ts, actor_kind=row.actor_kind, actor_user_id=row.actor_user_id,
        actor_org_id=row.actor_org_id, actor_label=row.actor_label, action=row.action,
        obj_type=row.obj_type, obj_id=row.obj_id, data=row.data if row.data is not None else {},
    )


# --------------------------------------------------------------------------- record + append


def record(
    action: str,
    obj_type: str,
    obj_id: int | str | None,
    data: dict | None = None,
    actor: Actor | None = None,
) -> None:
    """Queue an audit entry; it is appended to the chain when the unit of work commits.

    Raises ValueError outside a unit of work, for secret-looking keys in `data`, or for
    data that is not JSON-serializable. Full mobile numbers in `data` are masked.
    """
    if not in_unit_of_work():
        raise RuntimeError("audit.record must be called inside a unit of work")
    if not action or not obj_type:
        raise ValueError("audit.record needs an action and an object type")
    actor = actor or _current_actor()
    if actor.kind not in ("user", "system"):
        raise ValueError(f"unknown actor kind {actor.kind!r}")
    entry = {
        "actor_kind": actor.kind,
        "actor_user_id": actor.user_id,
        "actor_org_id": actor.org_id,
        "actor_label": (actor.label or "")[:255],
        "action": str(action),
        "obj_type": str(obj_type),
        "obj_id": None if obj_id is None else str(obj_id),
        "data": normalize_data(data),
    }
    collect(QUEUE_KEY, list).append(entry)


_HEAD = AuditHead.__table__
_LOCK_HEAD = sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()


def _lock_head(session: Session) -> tuple[int, str]:
    row = session.execute(_LOCK_HEAD).first()
    if row is None:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover
            raise RuntimeError(f"unsupported database {dialect}")
        session.execute(insert(_HEAD).values(id=1, seq=0, hash=GENESIS_HASH).on_conflict_do_nothing())
        row = session.execute(_LOCK_HEAD).first()
    return int(row.seq), str(row.hash)


#: Up to this many queued entries are written with the head update in one statement.
_ONE_STATEMENT_ROWS = 50


def _append_queued(session: Session) -> None:
    queue = session.info.pop(QUEUE_KEY, None)
    if not queue:
        return
    seq, prev = _lock_head(session)
    rows = []
    for item in queue:
        seq += 1
        ts = clock.as_utc(clock.now())
        digest = entry_hash(prev, entry_content(seq=seq, ts=ts, **item))
        rows.append({**item, "seq": seq, "ts": ts, "prev_hash": prev, "hash": digest})
        prev = digest
    if len(rows) <= _ONE_STATEMENT_ROWS and session.get_bind().dialect.name == "postgresql":
        # One statement: the entries and the head moved by a data-modifying CTE (the head
        # row is locked since _lock_head; the triggers see the same rows either way).
        params = {"head_seq": seq, "head_hash": prev}
        for i, item in enumerate(rows):
            params.update({f"{column}_{i}": item[column] for column in _ENTRY_COLUMNS})
        session.execute(_insert_moving_head(len(rows)), params)
        return
    session.execute(sa.insert(AuditEntry.__table__), rows)
    session.execute(sa.update(_HEAD).where(_HEAD.c.id == 1).values(seq=seq, hash=prev))


#: Every column of an entry, in table order (a queued entry holds them all).
_ENTRY_COLUMNS = tuple(column.name for column in AuditEntry.__table__.c)


@functools.lru_cache(maxsize=_ONE_STATEMENT_ROWS)
def _insert_moving_head(count: int) -> sa.TextClause:
    """PostgreSQL: INSERT `count` entries with the head moved by a data-modifying CTE, as a
    text statement built once per row count. (The same statement as a Core construct, a
    multi-row VALUES with a DML CTE, has no SQLAlchemy cache key and was compiled again on
    every commit.)"""
    table = AuditEntry.__table__
    values = ", ".join("(" + ", ".join(f":{column}_{i}" for column in _ENTRY_COLUMNS) + ")" for i in range(count))
    # Only our own table and column names and bind parameter names go into the text.
    sql = (f"WITH move_head AS (UPDATE {_HEAD.name} SET seq = :head_seq, hash = :head_hash WHERE id = 1) "  # noqa: S608
           f"INSERT INTO {table.name} ({', '.join(_ENTRY_COLUMNS)}) VALUES {values}")
    binds = [sa.bindparam("head_seq", type_=_HEAD.c.seq.type), sa.bindparam("head_hash", type_=_HEAD.c.hash.type)]
    binds += [sa.bindparam(f"{column}_{i}", type_=table.c[column].type)
              for i in range(count) for column in _ENTRY_COLUMNS]
    return sa.text(sql).bindparams(*binds)


if _append_queued not in BEFORE_COMMIT:
    BEFORE_COMMIT.append(_append_queued)


# --------------------------------------------------------------------------- checkpoints


def checkpoint_message(seq: int, head_hash: str) -> bytes:
    return f"canal-audit-checkpoint:v1:{seq}:{head_hash}".encode("ascii")


def head() -> tuple[int, str]:
    """(seq, hash) of the chain head as stored (0 and the genesis hash when empty)."""
    row = db.session.execute(sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return (int(row.seq), str(row.hash)) if row else (0, GENESIS_HASH)


def latest_checkpoint() -> AuditCheckpoint | None:
    return db.session.scalars(
        sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc()).limit(1)
        .execution_options(populate_existing=True)
    ).first()


def checkpoint() -> AuditCheckpoint:
    """Sign the current (seq, head_hash) and store it as a checkpoint."""
    with unit_of_work() as session:
        seq, head_hash = _lock_head(session)
        signature = signing.sign(checkpoint_message(seq, head_hash))
        cp = AuditCheckpoint(
            seq=seq,
            head_hash=head_hash,
            signed_at=clock.now(),
            signature=base64.b64encode(signature).decode("ascii"),
            key_id=signing.key_id(),
        )
        session.add(cp)
    return cp


def checkpoint_if_due() -> AuditCheckpoint | None:
    """Sweep: a checkpoint when the head moved and the last one is older than the interval."""
    from flask import current_app

    minutes = int(current_app.config.get("AUDIT_CHECKPOINT_MINUTES", 10))
    seq, head_hash = head()
    if seq == 0:
        return None
    last = latest_checkpoint()
    if last is not None:
        if last.seq == seq and last.head_hash == head_hash:
            return None
        if clock.now() - last.signed_at < timedelta(minutes=minutes):
            return None
    return checkpoint()


def _register_sweep() -> None:
    from core.tasks import register_sweep

    register_sweep(checkpoint_if_due)


_register_sweep()


# --------------------------------------------------------------------------- verification


@dataclass
class VerifyResult:
    ok: bool = True
    entries: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    first_broken_seq: int | None = None
    reason: str | None = None
    checkpoints: int = 0
    last_checkpoint_seq: int | None = None
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str, seq: int | None = None) -> None:
        self.ok = False
        self.problems.append(message)
        if seq is not None and self.first_broken_seq is None:
            self.first_broken_seq = seq
            self.reason = message
        elif self.reason is None:
            self.reason = message

    def summary(self) -> str:
        if self.ok:
            cp = f", last checkpoint at seq {self.last_checkpoint_seq}" if self.last_checkpoint_seq else ""
            return (f"audit chain intact: {self.entries} entries, head seq {self.last_seq} "
                    f"({self.last_hash[:16]}), {self.checkpoints} checkpoints verified{cp}")
        return "audit chain BROKEN: " + "; ".join(self.problems)


def verify_chain(batch: int = 2000) -> VerifyResult:
    """Recompute the chain from seq 1, then check the head and every signed checkpoint."""
    result = VerifyResult()
    checkpoints = list(db.session.scalars(
        sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq, AuditCheckpoint.id)
        .execution_options(populate_existing=True)
    ))
    hashes_at = _scan_entries(result, {cp.seq for cp in checkpoints}, batch)
    if result.ok:
        _check_head(result)
    _check_checkpoints(result, checkpoints, hashes_at)
    return result


def _check_entry(row: Any, expected_seq: int, prev: str) -> str | None:
    """The problem with `row` as the successor of `prev`, or None."""
    if row.seq != expected_seq:
        return f"seq gap: entry {expected_seq} is missing (next is {row.seq})"
    if row.prev_hash != prev:
        return f"prev_hash mismatch at seq {row.seq}"
    try:
        digest = entry_hash(prev, _row_content(row))
    except (TypeError, ValueError) as exc:
        return f"unreadable entry at seq {row.seq}: {exc}"
    if digest != row.hash:
        return f"hash mismatch at seq {row.seq}"
    return None


def _scan_entries(result: VerifyResult, wanted: set[int], batch: int) -> dict[int, str]:
    """Walk the entries in seq order until the first broken one; returns hashes at `wanted` seqs."""
    table = AuditEntry.__table__
    hashes_at: dict[int, str] = {}
    expected_seq, prev, last_after = 1, GENESIS_HASH, 0
    while True:
        rows = db.session.execute(
            sa.select(table).where(table.c.seq > last_after).order_by(table.c.seq).limit(batch)
        ).all()
        if not rows:
            return hashes_at
        for row in rows:
            last_after = row.seq
            result.entries += 1
            problem = _check_entry(row, expected_seq, prev)
            if problem:
                result.fail(problem, min(expected_seq, row.seq))
                return hashes_at
            if row.seq in wanted:
                hashes_at[row.seq] = row.hash
            prev = row.hash
            result.last_seq, result.last_hash = row.seq, row.hash
            expected_seq += 1


def _check_head(result: VerifyResult) -> None:
    head_seq, head_hash = head()
    if head_seq > result.last_seq:
        result.fail(f"tail cut: the chain head says seq {head_seq} but the last entry is {result.last_seq}",
                    result.last_seq + 1)
    elif head_seq != result.last_seq or (head_seq and head_hash != result.last_hash):
        result.fail(f"chain head ({head_seq}) does not match the last entry ({result.last_seq})")


def _check_checkpoints(result: VerifyResult, checkpoints: list[AuditCheckpoint], hashes_at: dict[int, str]) -> None:
    broken_at = result.first_broken_seq
    pem = signing.public_key_pem()
    current_key = signing.key_id()
    for cp in checkpoints:
        result.checkpoints += 1
        result.last_checkpoint_seq = cp.seq
        if cp.key_id != current_key:
            result.fail(f"checkpoint {cp.id} (seq {cp.seq}) is signed by unknown key {cp.key_id}")
            continue
        try:
            signature = base64.b64decode(cp.signature, validate=True)
        except ValueError:
            signature = b""
        if not signing.verify(checkpoint_message(cp.seq, cp.head_hash), signature, pem):
            result.fail(f"checkpoint {cp.id} (seq {cp.seq}) has an invalid signature")
            continue
        if cp.seq == 0 or (broken_at is not None and cp.seq >= broken_at):
            continue  # nothing to compare, or already reported as broken
        if cp.seq > result.last_seq:
            result.fail(f"tail cut/rewritten after checkpoint {cp.seq}: the chain ends at seq {result.last_seq}",
                        result.last_seq + 1)
        elif hashes_at.get(cp.seq) != cp.head_hash:
            result.fail(f"tail cut/rewritten after checkpoint {cp.seq}: entry {cp.seq} differs from the signed hash",
                        cp.seq)


# --------------------------------------------------------------------------- queries (browse page)


@dataclass
class AuditFilters:
    action: str | None = None
    obj_type: str | None = None
    obj_id: str | None = None
    actor: str | None = None
    date_from: date | None = None
    date_to: date | None = None  # inclusive (local calendar day)


def _local_midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=clock.LOCAL_TZ).astimezone(UTC)


def entries_select(filters: AuditFilters | None = None) -> sa.Select:
    """Entries matching `filters`, newest first."""
    f = filters or AuditFilters()
    stmt = sa.select(AuditEntry)
    if f.action:
        stmt = stmt.where(AuditEntry.action.like(f"{_escape_like(f.action.strip())}%", escape="\\"))
    if f.obj_type:
        stmt = stmt.where(AuditEntry.obj_type == f.obj_type.strip())
    if f.obj_id:
        stmt = stmt.where(AuditEntry.obj_id == f.obj_id.strip())
    if f.actor:
        needle = f.actor.strip().lower()
        stmt = stmt.where(sa.func.lower(AuditEntry.actor_label).like(f"%{_escape_like(needle)}%", escape="\\"))
    if f.date_from:
        stmt = stmt.where(AuditEntry.ts >= _local_midnight_utc(f.date_from))
    if f.date_to:
        stmt = stmt.where(AuditEntry.ts < _local_midnight_utc(f.date_to + timedelta(days=1)))
    return stmt.order_by(AuditEntry.seq.desc())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def distinct_values(column: str) -> list[str]:
    col = {"action": AuditEntry.action, "obj_type": AuditEntry.obj_type}[column]
    return list(db.session.scalars(sa.select(col).distinct().order_by(col)))


def entries_page(filters: AuditFilters | None = None, page: int = 1, per_page: int = 50):
    """One page (Flask-SQLAlchemy Pagination) of the matching entries, newest first."""
    return db.paginate(entries_select(filters), page=max(page, 1), per_page=per_page, error_out=False)


@dataclass
class ChainStatus:
    head_seq: int
    head_hash: str
    last_entry_seq: int
    last_checkpoint: AuditCheckpoint | None
    checkpoint_matches: bool | None  # None: no checkpoint yet

    @property
    def consistent(self) -> bool:
        return self.head_seq == self.last_entry_seq and self.checkpoint_matches is not False


def quick_status() -> ChainStatus:
    """A cheap look at the head, the last entry and the last checkpoint (no full recompute)."""
    seq, head_hash = head()
    last_seq = db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0
    cp = latest_checkpoint()
    matches = None
    if cp is not None:
        if cp.seq == 0:
            matches = True
        else:
            at = db.session.scalar(sa.select(AuditEntry.hash).where(AuditEntry.seq == cp.seq))
            matches = at == cp.head_hash
    return ChainStatus(seq, head_hash, int(last_seq), cp, matches)
