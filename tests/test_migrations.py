"""Migrations: one head; empty -> head upgrades; the models and the migrations agree."""

from __future__ import annotations

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
