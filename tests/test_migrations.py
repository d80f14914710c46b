"""Migrations: one head; empty -> head upgrades; the models and the migrations agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parents[1]
FLASK = str(Path(sys.executable).with_name("flask"))


def _flask(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLASK_APP": "app", "DATABASE_URL": url}
    env.pop("TEST_DATABASE_URL", None)
    return subprocess.run([FLASK, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_there_is_exactly_one_migration_head():
    config = AlembicConfig(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1
    # Every revision carries a message.
    for revision in script.walk_revisions():
        assert revision.doc and revision.doc.strip(), revision.revision


def _upgrade_and_check(url: str) -> None:
    up = _flask("db", "upgrade", url=url)
    assert up.returncode == 0, up.stderr[-2000:]
    check = _flask("db", "check", url=url)
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_upgrade_from_empty_to_head_on_sqlite(tmp_path):
    _upgrade_and_check(f"sqlite:///{tmp_path / 'migrate.db'}")


def test_upgrade_from_empty_to_head_on_postgresql():
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("needs PostgreSQL (set TEST_DATABASE_URL)")
    name = f"canal_migrate_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(sa.engine.make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
        _upgrade_and_check(url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _cells_holding(conn, needle: bytes) -> list[str]:
    """table.column of every cell (any table) whose value holds `needle`."""
    hits = []
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        cursor = conn.execute(f'SELECT * FROM "{table}"')
        columns = [d[0] for d in cursor.description]
        for row in cursor:
            for column, value in zip(columns, row, strict=True):
                raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
                if needle in raw:
                    hits.append(f"{table}.{column}")
    return hits


def test_migrations_0008_0009_seal_names_receipts_responses_and_totp_secrets_and_back(tmp_path):
    """The demo's bids and users, taken back to 0007 (names, receipts, stored responses and
    TOTP secrets in the clear), come forward sealed: none is in any cell of the database,
    yet each reads back and the receipts still verify. The downgrade opens them again."""
    import sqlite3
    from contextlib import closing

    env = {"CANAL_INSTANCE": str(tmp_path / "instance"), "SECRET_KEY": "migration-test-secret"}
    db_file = tmp_path / "migrate.db"
    url = f"sqlite:///{db_file}"
    marker = f"MIGRATION-MARKER-{uuid.uuid4().hex}.pdf"

    def flask(*args):
        result = subprocess.run([FLASK, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "FLASK_APP": "app", "DATABASE_URL": url, **env})
        assert result.returncode == 0, result.stderr[-2000:]

    flask("db", "upgrade")
    flask("seed-demo")
    flask("db", "downgrade", "a882a55a81e6")
    with closing(sqlite3.connect(db_file)) as conn, conn:
        # a bid part of a bid not opened yet (an opened one's file keeps its name, rightly)
        part_id = conn.execute("SELECT p.id FROM tender_bid_parts p JOIN tender_bids b ON b.id = p.bid_id "
                               "WHERE p.kind = 'attachment' AND b.opened_at IS NULL ORDER BY p.id").fetchone()[0]
        conn.execute("UPDATE tender_bid_parts SET name = ? WHERE id = ?", (marker, part_id))
        names = dict(conn.execute("SELECT id, name FROM tender_bid_parts").fetchall())
        receipts = {bid_id: json.loads(text) for bid_id, text in
                    conn.execute("SELECT id, receipt FROM tender_bids WHERE receipt IS NOT NULL")}
        body = json.dumps({"receipt": next(iter(receipts.values()))}).encode()
        conn.execute("INSERT INTO idempotency_records (key, caller, route, request_hash, status, response_status, "
                     "response_body, created_at, expires_at) VALUES ('k-1', 'user:1', 'POST x', 'h', 'completed', "
                     "201, ?, '2026-11-28 00:00:00', '2026-11-29 00:00:00')", (body,))
        signature = next(iter(receipts.values()))["signature"]["value"].encode()
        totp = dict(conn.execute("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL").fetchall())
        assert totp and all(_cells_holding(conn, secret.encode()) == ["users.totp_secret"] for secret in totp.values())
        assert _cells_holding(conn, marker.encode()) == ["tender_bid_parts.name"]
        assert sorted(set(_cells_holding(conn, signature))) == ["idempotency_records.response_body",
                                                                 "tender_bids.receipt"]

    flask("db", "upgrade")
    with closing(sqlite3.connect(db_file)) as conn:
        assert _cells_holding(conn, marker.encode()) == []
        assert _cells_holding(conn, signature) == []
        assert all(_cells_holding(conn, secret.encode()) == [] for secret in totp.values())

    from accounts.models import User
    from app import create_app
    from config import Config
    from core import at_rest
    from core.idempotency import body_label
    from procurement.models import Bid, BidPart
    from procurement.services.bids import check_receipt

    instance = tmp_path / "instance"
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=env["SECRET_KEY"], FILES_DIR=instance / "files",
                     SEARCH_DIR=instance / "search", PLATFORM_SIGNING_KEY_FILE=str(instance / "platform_ed25519.pem"))
    with app.app_context():
        from core.db import db

        assert {p.id: p.name for p in db.session.scalars(sa.select(BidPart))} == names
        assert {u.id: u.totp_secret for u in db.session.scalars(sa.select(User)) if u.totp_secret} == totp
        sealed_body = db.session.execute(sa.text("SELECT response_body FROM idempotency_records")).scalar_one()
        assert at_rest.open_sealed(body_label("user:1", "k-1"), sealed_body) == body
        for bid_id, document in receipts.items():
            bid = db.session.get(Bid, bid_id)
            assert bid.receipt == document
            assert check_receipt(bid.receipt).valid
        db.session.remove()
        db.engine.dispose()

    flask("db", "downgrade", "a882a55a81e6")
    with closing(sqlite3.connect(db_file)) as conn:
        assert dict(conn.execute("SELECT id, name FROM tender_bid_parts").fetchall()) == names
        assert conn.execute("SELECT response_body FROM idempotency_records").fetchone()[0] == body
        assert dict(conn.execute("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL").fetchall()) == totp
        assert {bid_id: json.loads(text) for bid_id, text in
                conn.execute("SELECT id, receipt FROM tender_bids WHERE receipt IS NOT NULL")} == receipts
