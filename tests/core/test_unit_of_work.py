import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.db import IdMixin, TransactionDoomed, after_commit, after_rollback, db, unit_of_work


class ProbeBase(DeclarativeBase):
    """Kept out of the application's metadata (and so out of migrations)."""


class UowProbe(IdMixin, ProbeBase):
    __tablename__ = "test_uow_probe"
    label: Mapped[str] = mapped_column(sa.String(20))


@pytest.fixture(autouse=True)
def probe_table(app):
    UowProbe.__table__.create(db.engine, checkfirst=True)
    yield
    db.session.remove()
    UowProbe.__table__.drop(db.engine, checkfirst=True)


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(UowProbe))


def _inner_service(fail: bool) -> None:
    with unit_of_work():
        db.session.add(UowProbe(label="inner"))
        if fail:
            raise ValueError("inner failed")


def test_outermost_unit_commits_once_for_nested_services():
    with unit_of_work():
        db.session.add(UowProbe(label="outer"))
        _inner_service(fail=False)
    db.session.remove()
    assert _count() == 2


def test_a_nested_unit_flushes_when_it_ends_so_a_refresh_keeps_its_changes():
    with unit_of_work():
        row = UowProbe(label="first")
        db.session.add(row)
        db.session.flush()
        with unit_of_work():  # a service that changes the row and then refreshes it
            row.label = "second"
        db.session.refresh(row)
        assert row.label == "second"
    db.session.remove()
    assert db.session.scalar(sa.select(UowProbe.label)) == "second"


def test_failure_in_nested_service_rolls_back_outer_work():
    with pytest.raises(ValueError):
        with unit_of_work():
            db.session.add(UowProbe(label="outer"))
            _inner_service(fail=True)
    assert _count() == 0


def test_swallowed_nested_failure_still_dooms_the_transaction():
    with pytest.raises(TransactionDoomed):
        with unit_of_work():
            db.session.add(UowProbe(label="outer"))
            try:
                _inner_service(fail=True)
            except ValueError:
                pass
    assert _count() == 0


def test_after_commit_callbacks_run_only_after_a_commit():
    ran: list[str] = []
    with unit_of_work():
        after_commit(lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]
    with pytest.raises(RuntimeError):
        with unit_of_work():
            after_commit(lambda: ran.append("never"))
            raise RuntimeError
    assert ran == ["committed"]


def _dbapi_connection():
    return db.session.connection().connection.dbapi_connection


def test_a_read_transaction_becomes_the_unit_of_work_on_postgresql(postgres_only):
    """PostgreSQL (READ COMMITTED): the request's read transaction (loading the current
    user, say) carries on as the unit of work, on the same connection: no commit and no
    second checkout in between; the unit of work still commits once at its end."""
    before = _count()
    db.session.scalar(sa.select(sa.func.count()).select_from(UowProbe))  # a read opens a transaction
    read_conn = _dbapi_connection()
    read_txid = db.session.scalar(sa.text("SELECT txid_current()"))
    commits: list[int] = []
    listener = lambda conn: commits.append(1)  # noqa: E731
    sa.event.listen(db.engine, "commit", listener)
    try:
        with unit_of_work():
            assert _dbapi_connection() is read_conn
            # the same transaction, not a new one on the same pooled connection
            assert db.session.scalar(sa.text("SELECT txid_current()")) == read_txid
            db.session.add(UowProbe(label="after a read"))
    finally:
        sa.event.remove(db.engine, "commit", listener)
    assert commits == [1]  # the unit of work's own commit only
    assert not db.session().in_transaction()
    db.session.remove()
    assert _count() == before + 1


def test_a_read_transaction_is_committed_before_a_unit_of_work_on_sqlite(app):
    """SQLite: the read transaction ends first, so the unit of work begins with BEGIN
    IMMEDIATE (a write lock taken up front)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    statements: list[str] = []

    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    db.session.scalar(sa.select(sa.func.count()).select_from(UowProbe))
    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with unit_of_work():
            db.session.add(UowProbe(label="after a read"))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    assert statements[0] == "BEGIN IMMEDIATE"


def test_after_rollback_actions_run_only_when_the_outermost_unit_rolls_back():
    undone: list[str] = []
    with unit_of_work():
        after_rollback(lambda: undone.append("committed"))
        db.session.add(UowProbe(label="kept"))
    assert undone == []
    with pytest.raises(ValueError):
        with unit_of_work():
            with unit_of_work():
                after_rollback(lambda: undone.append("inner"))
            raise ValueError("outer fails after the inner unit ended")
    with pytest.raises(TransactionDoomed):
        with unit_of_work():
            try:
                _inner_service(fail=True)
            except ValueError:
                pass
            after_rollback(lambda: undone.append("doomed"))
    assert undone == ["inner", "doomed"]
    assert _count() == 1


def test_an_after_rollback_action_that_fails_is_logged_and_the_others_still_run(caplog):
    ran: list[str] = []

    def broken() -> None:
        raise OSError("disk gone")

    with pytest.raises(ValueError, match="the real failure"):
        with unit_of_work():
            after_rollback(broken)
            after_rollback(lambda: ran.append("second"))
            raise ValueError("the real failure")
    assert ran == ["second"]
    assert "after-rollback action failed" in caplog.text
