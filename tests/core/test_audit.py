"""The audit log: hash chain, append-only storage, checkpoints, verification."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from core import audit, clock, signing
from core.db import db, unit_of_work
from core.models.audit import (
    GENESIS_HASH,
    PG_APPEND_ONLY_DDL,
    PG_APPEND_ONLY_DROP,
    SQLITE_APPEND_ONLY_DDL,
    SQLITE_APPEND_ONLY_DROP,
    AuditCheckpoint,
    AuditEntry,
    AuditHead,
)


@pytest.fixture(autouse=True)
def signing_key(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "PLATFORM_SIGNING_KEY_FILE", str(tmp_path / "platform.pem"))
    yield
    signing.clear_cache()


def _append(n: int, prefix: str = "test.action") -> None:
    for i in range(n):
        with unit_of_work():
            audit.record(prefix, "thing", i + 1, {"n": i + 1, "note": "测试"}, actor=audit.system("test"))


def _entries() -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)))


@contextmanager
def _as_dba():
    """Lift the append-only triggers for a tampering test, as a DBA could, then restore them."""
    db.session.remove()
    postgres = db.engine.dialect.name == "postgresql"
    drop, create = (PG_APPEND_ONLY_DROP, PG_APPEND_ONLY_DDL) if postgres else (SQLITE_APPEND_ONLY_DROP, SQLITE_APPEND_ONLY_DDL)
    with db.engine.begin() as conn:
        for stmt in drop:
            conn.exec_driver_sql(stmt)
    try:
        with db.engine.begin() as conn:
            yield conn
    finally:
        with db.engine.begin() as conn:
            for stmt in create:
                conn.exec_driver_sql(stmt)
        db.session.remove()


# --------------------------------------------------------------------------- appending


def test_record_outside_a_unit_of_work_is_refused():
    with pytest.raises(RuntimeError):
        audit.record("x.done", "thing", 1)


def test_entries_are_appended_at_commit_as_one_linear_chain():
    _append(3)
    with unit_of_work():
        audit.record("batch.first", "thing", "a")
        audit.record("batch.second", "thing", "b")
    rows = _entries()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS_HASH
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row.prev_hash == previous.hash
    assert [r.action for r in rows[3:]] == ["batch.first", "batch.second"]
    assert audit.head() == (5, rows[-1].hash)
    result = audit.verify_chain()
    assert result.ok, result.problems
    assert result.entries == 5


@pytest.mark.parametrize("batch", [50, 51])
def test_a_large_batch_is_appended_in_order_by_either_write_path(batch, is_postgres):
    """Up to 50 entries go in one statement with the head (PostgreSQL), more in a bulk insert
    and an update: the chain, the head and the data are the same either way (the path taken
    is checked: on SQLite both batches take the bulk insert)."""
    import sqlalchemy as sa

    from core.db import db

    _append(1)
    statements: list[str] = []

    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with unit_of_work():
            for n in range(batch):
                audit.record("batch.item", "thing", n, {"n": n, "label": f"第{n}条"})
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    one_statement = any(s.startswith("WITH move_head") for s in statements)
    assert one_statement == (is_postgres and batch <= 50)
    rows = _entries()
    assert [r.seq for r in rows] == list(range(1, batch + 2))
    assert [r.data["n"] for r in rows[1:]] == list(range(batch))
    assert rows[-1].data["label"] == f"第{batch - 1}条"
    assert audit.head() == (batch + 1, rows[-1].hash)
    result = audit.verify_chain()
    assert result.ok, result.problems


def test_hash_is_sha256_of_prev_hash_and_canonical_json():
    import hashlib
    import json

    _append(1)
    row = _entries()[0]
    content = {
        "seq": 1, "ts": row.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "actor_kind": "system",
        "actor_user_id": None, "actor_org_id": None, "actor_label": "system:test",
        "action": "test.action", "obj_type": "thing", "obj_id": "1", "data": {"n": 1, "note": "测试"},
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert row.hash == hashlib.sha256((GENESIS_HASH + canonical).encode("utf-8")).hexdigest()


def test_record_in_a_rolled_back_unit_of_work_leaves_nothing():
    with pytest.raises(ValueError):
        with unit_of_work():
            audit.record("x.done", "thing", 1)
            raise ValueError("the business change failed")
    _append(1)
    rows = _entries()
    assert [r.action for r in rows] == ["test.action"]
    assert rows[0].seq == 1


def test_record_in_a_doomed_transaction_leaves_nothing():
    from core.db import TransactionDoomed

    with pytest.raises(TransactionDoomed):
        with unit_of_work():
            audit.record("outer.done", "thing", 1)
            try:
                with unit_of_work():
                    audit.record("inner.done", "thing", 2)
                    raise ValueError("inner failed")
            except ValueError:
                pass
    assert _entries() == []
    assert audit.head() == (0, GENESIS_HASH)


def test_entry_is_written_only_when_the_outermost_unit_commits():
    with unit_of_work():
        with unit_of_work():
            audit.record("inner.done", "thing", 1)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0
    assert [r.action for r in _entries()] == ["inner.done"]


def test_actor_comes_from_the_registered_provider_or_is_system_unknown():
    try:
        audit.set_actor_provider(lambda: audit.user_actor(7, 3, "alice@example.test"))
        with unit_of_work():
            audit.record("x.done", "thing", 1)
        audit.set_actor_provider(lambda: None)
        with unit_of_work():
            audit.record("y.done", "thing", 2)
    finally:
        audit.set_actor_provider(None)
    first, second = _entries()
    assert (first.actor_kind, first.actor_user_id, first.actor_org_id, first.actor_label) == (
        "user", 7, 3, "alice@example.test")
    assert (second.actor_kind, second.actor_label) == ("system", "system:unknown")


@pytest.mark.parametrize(
    "data",
    [
        {"password": "x"},
        {"new_password_hash": "x"},
        {"token": "abc"},
        {"apiToken": "abc"},
        {"totp_secret": "JBSW"},
        {"otp": "123456"},
        {"code": "123456"},
        {"recovery_codes": ["a", "b"]},
        {"key_share": "..."},
        {"outer": {"client_secret": "x"}},
        {"items": [{"secret": 1}]},
    ],
)
def test_secret_looking_keys_are_refused(data):
    with unit_of_work():
        with pytest.raises(ValueError):
            audit.record("x.done", "thing", 1, data)
    assert _entries() == []


def test_harmless_keys_naming_a_secret_are_accepted_and_phones_masked():
    with unit_of_work():
        audit.record("x.done", "thing", 1, {
            "token_id": 5, "share_count": 3, "phone": "+86 13812345678",
            "note": "call 13987654321 back", "contact_tel": "0514-87654321",
        })
    data = _entries()[0].data
    assert data["token_id"] == 5 and data["share_count"] == 3
    assert data["phone"] == "+86 138****5678"
    assert data["note"] == "call 139****4321 back"
    assert "87654321" not in data["contact_tel"] and data["contact_tel"].endswith("4321")


def test_data_must_be_json_serializable():
    with unit_of_work():
        with pytest.raises(ValueError):
            audit.record("x.done", "thing", 1, {"obj": object()})


def test_database_refuses_update_and_delete_of_entries():
    _append(2)
    for stmt in ("UPDATE audit_entries SET action = 'forged' WHERE seq = 1", "DELETE FROM audit_entries WHERE seq = 2"):
        with pytest.raises(DBAPIError):
            with db.engine.begin() as conn:
                conn.exec_driver_sql(stmt)
    assert [r.action for r in _entries()] == ["test.action", "test.action"]


# --------------------------------------------------------------------------- tampering


def test_an_edited_byte_is_detected_at_its_seq():
    _append(5)
    with _as_dba() as conn:
        conn.execute(sa.update(AuditEntry.__table__).where(AuditEntry.__table__.c.seq == 3)
                     .values(obj_id="4"))  # "3" -> "4": one byte
    result = audit.verify_chain()
    assert not result.ok
    assert result.first_broken_seq == 3
    assert "hash mismatch" in result.reason


def test_a_deleted_row_is_detected():
    _append(5)
    with _as_dba() as conn:
        conn.exec_driver_sql("DELETE FROM audit_entries WHERE seq = 2")
    result = audit.verify_chain()
    assert not result.ok
    assert result.first_broken_seq == 2
    assert "seq gap" in result.reason


def test_a_deleted_and_renumbered_row_is_detected_by_prev_hash():
    _append(4)
    t = AuditEntry.__table__
    with _as_dba() as conn:
        conn.execute(sa.delete(t).where(t.c.seq == 2))
        conn.execute(sa.update(t).where(t.c.seq == 3).values(seq=2))
        conn.execute(sa.update(t).where(t.c.seq == 4).values(seq=3))
    result = audit.verify_chain()
    assert not result.ok
    assert result.first_broken_seq == 2
    assert "prev_hash mismatch" in result.reason


def test_two_swapped_rows_are_detected():
    _append(5)
    t = AuditEntry.__table__
    rows = {r.seq: r for r in _entries()}
    with _as_dba() as conn:
        for seq, other, placeholder in ((2, rows[3], "1" * 64), (3, rows[2], "2" * 64)):
            conn.execute(sa.update(t).where(t.c.seq == seq).values(
                obj_id=other.obj_id, data=other.data, prev_hash=other.prev_hash, hash=placeholder))
        for seq, other in ((2, rows[3]), (3, rows[2])):
            conn.execute(sa.update(t).where(t.c.seq == seq).values(hash=other.hash))
    result = audit.verify_chain()
    assert not result.ok
    assert result.first_broken_seq == 2


def test_a_cut_tail_is_caught_only_by_a_checkpoint():
    _append(5)
    t = AuditEntry.__table__
    # Without a checkpoint a careful cut (entries and head rewound) goes unnoticed...
    with _as_dba() as conn:
        conn.execute(sa.delete(t).where(t.c.seq > 4))
        new_head = conn.execute(sa.select(t.c.hash).where(t.c.seq == 4)).scalar_one()
        conn.execute(sa.update(AuditHead.__table__).values(seq=4, hash=new_head))
    assert audit.verify_chain().ok
    # ...with one, it is named.
    cp = audit.checkpoint()
    assert cp.seq == 4
    with _as_dba() as conn:
        conn.execute(sa.delete(t).where(t.c.seq > 2))
        new_head = conn.execute(sa.select(t.c.hash).where(t.c.seq == 2)).scalar_one()
        conn.execute(sa.update(AuditHead.__table__).values(seq=2, hash=new_head))
    result = audit.verify_chain()
    assert not result.ok
    assert result.first_broken_seq == 3
    assert "tail cut/rewritten after checkpoint 4" in result.reason


def test_a_rewritten_tail_with_a_recomputed_chain_is_caught_by_the_checkpoint():
    _append(3)
    audit.checkpoint()
    t = AuditEntry.__table__
    row = _entries()[2]
    content = audit._row_content(row)
    content["data"] = {"n": 999}
    forged = audit.entry_hash(row.prev_hash, content)
    with _as_dba() as conn:
        conn.execute(sa.update(t).where(t.c.seq == 3).values(data={"n": 999}, hash=forged))
        conn.execute(sa.update(AuditHead.__table__).values(hash=forged))
    result = audit.verify_chain()
    assert not result.ok
    assert result.first_broken_seq == 3
    assert "after checkpoint 3" in result.reason


def test_a_forged_checkpoint_signature_is_detected():
    _append(2)
    cp = audit.checkpoint()
    with db.engine.begin() as conn:
        conn.execute(sa.update(AuditCheckpoint.__table__).where(AuditCheckpoint.__table__.c.id == cp.id)
                     .values(head_hash="f" * 64))
    result = audit.verify_chain()
    assert not result.ok
    assert any("invalid signature" in p for p in result.problems)


def test_verify_cli_exits_0_when_intact_and_1_naming_the_broken_seq(app):
    _append(3)
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    with _as_dba() as conn:
        conn.exec_driver_sql("UPDATE audit_entries SET action = 'forged' WHERE seq = 2")
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert "seq 2" in broken.output


def test_checkpoint_cli_signs_the_head(app):
    _append(2)
    result = app.test_cli_runner().invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    cp = audit.latest_checkpoint()
    assert (cp.seq, cp.head_hash) == audit.head()
    assert cp.key_id == signing.key_id()


def test_checkpoint_sweep_signs_when_the_head_moved_and_the_last_is_old(app):
    assert audit.checkpoint_if_due() is None  # empty chain
    _append(1)
    first = audit.checkpoint_if_due()
    assert first is not None and first.seq == 1
    _append(1)
    clock.advance(timedelta(minutes=app.config["AUDIT_CHECKPOINT_MINUTES"] - 1))
    assert audit.checkpoint_if_due() is None  # too recent
    clock.advance(timedelta(minutes=2))
    second = audit.checkpoint_if_due()
    assert second is not None and second.seq == 2
    clock.advance(timedelta(hours=1))
    assert audit.checkpoint_if_due() is None  # head did not move


# --------------------------------------------------------------------------- concurrency


def test_fifty_concurrent_appends_form_one_linear_chain(app, postgres_only):
    errors: list[BaseException] = []
    barrier = threading.Barrier(10)

    def worker(i: int) -> None:
        try:
            with app.app_context():
                if i < 10:
                    barrier.wait(timeout=10)
                with unit_of_work():
                    audit.record("concurrent.append", "thing", i, {"i": i}, actor=audit.system("test"))
                db.session.remove()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    rows = _entries()
    assert [r.seq for r in rows] == list(range(1, 51))
    assert sorted(int(r.obj_id) for r in rows) == list(range(50))
    result = audit.verify_chain()
    assert result.ok, result.problems
    assert audit.head()[0] == 50


# --------------------------------------------------------------------------- browse queries


def test_entries_select_filters_and_orders_newest_first():
    _append(2, "order.created")
    with unit_of_work():
        audit.record("order.paid", "order", 42, actor=audit.user_actor(1, 1, "Buyer@Example.test"))
    rows = list(db.session.scalars(audit.entries_select()))
    assert [r.seq for r in rows] == [3, 2, 1]
    by_action = list(db.session.scalars(audit.entries_select(audit.AuditFilters(action="order.paid"))))
    assert [r.seq for r in by_action] == [3]
    by_obj = list(db.session.scalars(audit.entries_select(audit.AuditFilters(obj_type="thing", obj_id="2"))))
    assert [r.seq for r in by_obj] == [2]
    by_actor = list(db.session.scalars(audit.entries_select(audit.AuditFilters(actor="buyer@example"))))
    assert [r.seq for r in by_actor] == [3]
    today = clock.today_local()
    in_range = audit.AuditFilters(date_from=today, date_to=today)
    assert len(list(db.session.scalars(audit.entries_select(in_range)))) == 3
    before = audit.AuditFilters(date_to=today - timedelta(days=1))
    assert list(db.session.scalars(audit.entries_select(before))) == []
