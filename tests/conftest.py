"""Shared fixtures: one app per test session, tables emptied after every test.

SQLite (default): a temporary database file per worker. PostgreSQL: TEST_DATABASE_URL
names a server database; each worker uses its own database derived from it, created on
demand and dropped at the end.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

os.environ.setdefault("HUEY_SQLITE_PATH", str(Path(tempfile.gettempdir()) / f"canal-test-huey-{os.getpid()}.db"))

from app import create_app  # noqa: E402
from config import TestConfig  # noqa: E402
from core import clock, search  # noqa: E402
from core.db import db  # noqa: E402
from core.extensions import limiter  # noqa: E402

PG_URL = os.environ.get("TEST_DATABASE_URL")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_worker_url(base: str) -> tuple[str, str]:
    url = sa.engine.make_url(base)
    name = f"{url.database}_{_worker()}"
    return url.set(database=name).render_as_string(hide_password=False), name


def _ensure_pg_database(base: str, name: str, drop: bool = False) -> None:
    admin = sa.create_engine(sa.engine.make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if drop and exists:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        elif not drop and not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if PG_URL:
        url, name = _pg_worker_url(PG_URL)
        _ensure_pg_database(PG_URL, name)
        yield url
        _ensure_pg_database(PG_URL, name, drop=True)
    else:
        path = tmp_path_factory.mktemp("db") / "canal-test.db"
        yield f"sqlite:///{path}"


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    files = tmp_path_factory.mktemp("files")
    application = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url, FILES_DIR=files,
                             SEARCH_DIR=tmp_path_factory.mktemp("search"))
    with application.app_context():
        db.drop_all()
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _app_context(request, app):
    """Every test runs in an app context; afterwards the clock is reset and the tables emptied."""
    if "no_app_context" in request.keywords:
        yield
        return
    ctx = app.app_context()
    ctx.push()
    try:
        yield
    finally:
        db.session.remove()
        clock.reset()
        limiter.reset()
        _empty_tables()
        for index in search.INDEXES.values():  # the tables are emptied: so are the indexes
            if index.searcher().num_docs:
                index.clear()
        ctx.pop()


def _empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if not tables:
        return
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            # The audit log's append-only triggers refuse DELETE: lift them, as a DBA would.
            from core.models.audit import SQLITE_APPEND_ONLY_DDL, SQLITE_APPEND_ONLY_DROP

            for stmt in SQLITE_APPEND_ONLY_DROP:
                conn.exec_driver_sql(stmt)
            # users <-> organizations reference each other (verified_by_id, current_org_id):
            # check the foreign keys at commit, when every table is empty.
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for name in tables:
                conn.execute(sa.text(f'DELETE FROM "{name}"'))
            for stmt in SQLITE_APPEND_ONLY_DDL:
                conn.exec_driver_sql(stmt)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def is_postgres() -> bool:
    return bool(PG_URL)


@pytest.fixture
def postgres_only():
    if not PG_URL:
        pytest.skip("needs PostgreSQL (set TEST_DATABASE_URL)")
