"""users: TOTP secrets sealed at rest

Revision ID: 324291203461
Revises: 89389318c120
Create Date: 2026-11-28 19:40:00.000000

A user's TOTP secret was stored in the clear: a copy of the database could make that
user's second-factor codes. It is now sealed by core.at_rest (AES-256-GCM under a key
derived from SECRET_KEY, label "canal-totp-v1|user", accounts.models.TOTP_LABEL) in
sealed_totp_secret; User.totp_secret reads it back. Existing secrets are sealed here
with the app's SECRET_KEY; a downgrade opens them again.

users is altered in place (ALTER TABLE ADD/DROP COLUMN, SQLite 3.35+): most tables
reference it, and SQLite refuses to rebuild a referenced table while foreign keys are
enforced. As for 0008: run it with the production SECRET_KEY, every worker stopped, and
VACUUM afterwards (`VACUUM FULL users` on PostgreSQL): old bytes stay in the data files
and in backups until rewritten.
"""
import sqlite3

import sqlalchemy as sa
from alembic import op

from core import at_rest

# revision identifiers, used by Alembic.
revision = '324291203461'
down_revision = '89389318c120'
branch_labels = None
depends_on = None

TOTP_LABEL = b"canal-totp-v1|user"  # accounts.models.TOTP_LABEL

users = sa.table("users", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String),
                 sa.column("sealed_totp_secret", sa.LargeBinary))


def _check_sqlite() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError(f"This migration needs SQLite 3.35 or newer (ALTER TABLE DROP COLUMN); "
                           f"this Python has {sqlite3.sqlite_version}.")


def upgrade():
    _check_sqlite()
    op.add_column('users', sa.Column('sealed_totp_secret', sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    query = sa.select(users.c.id, users.c.totp_secret).where(users.c.totp_secret.is_not(None))
    for row in connection.execute(query).all():
        sealed = at_rest.seal(TOTP_LABEL, row.totp_secret.encode("ascii"))
        connection.execute(users.update().where(users.c.id == row.id).values(sealed_totp_secret=sealed))
    op.drop_column('users', 'totp_secret')


def downgrade():
    _check_sqlite()
    op.add_column('users', sa.Column('totp_secret', sa.String(length=64), nullable=True))
    connection = op.get_bind()
    query = sa.select(users.c.id, users.c.sealed_totp_secret).where(users.c.sealed_totp_secret.is_not(None))
    for row in connection.execute(query).all():
        secret = at_rest.open_sealed(TOTP_LABEL, bytes(row.sealed_totp_secret)).decode("ascii")
        connection.execute(users.update().where(users.c.id == row.id).values(totp_secret=secret))
    op.drop_column('users', 'sealed_totp_secret')
