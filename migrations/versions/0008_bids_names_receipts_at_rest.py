"""bids' part names and receipts, and stored idempotent responses, sealed at rest

Revision ID: 89389318c120
Revises: a882a55a81e6
Create Date: 2026-11-28 18:51:59.648684

A bid part's name (an attachment's file name, chosen by the bidder) and the bid's signed
receipt, which lists those names, were stored in the clear before the opening: a copy of
the database showed them. They are now sealed by core.at_rest (AES-256-GCM under a key
derived from SECRET_KEY) under labels naming the bid and the part. Existing rows are
sealed here, with the app's SECRET_KEY; a downgrade opens them again. The response
bodies kept for Idempotency-Key replays (a bid submission's holds its receipt) are
sealed the same way, under the caller and the key (core.idempotency.body_label).

tender_bids is altered in place (ALTER TABLE ADD/DROP COLUMN, SQLite 3.35+), not
rebuilt in batch: other rows reference it, and SQLite refuses to drop a referenced
table while foreign keys are enforced.

Run it with the production SECRET_KEY in the environment, every worker stopped (the old
code reads the dropped columns). Dropped columns and updated rows leave their old bytes
in the data files until they are rewritten, and backups keep them: afterwards run
`VACUUM FULL tender_bid_parts, tender_bids, idempotency_records` on PostgreSQL (outside
a transaction) or `VACUUM` on SQLite.
"""
import json
import sqlite3

import sqlalchemy as sa
from alembic import op

from core import at_rest

# revision identifiers, used by Alembic.
revision = '89389318c120'
down_revision = 'a882a55a81e6'
branch_labels = None
depends_on = None

# the labels of procurement.models.bids (BidPart.name_label, Bid.receipt_label)
NAME_LABEL = b"canal-bid-at-rest-v1|part-name|bid=%d|seq=%d"
RECEIPT_LABEL = b"canal-bid-at-rest-v1|receipt|bid=%d"
BODY_LABEL = b"canal-idempotency-v1|caller=%s|key=%s"  # core.idempotency.body_label

parts = sa.table("tender_bid_parts", sa.column("id", sa.Integer), sa.column("bid_id", sa.Integer),
                 sa.column("seq", sa.Integer), sa.column("name", sa.String), sa.column("sealed_name", sa.LargeBinary))
records = sa.table("idempotency_records", sa.column("id", sa.Integer), sa.column("caller", sa.String),
                   sa.column("key", sa.String), sa.column("response_body", sa.LargeBinary))
bids = sa.table("tender_bids", sa.column("id", sa.Integer), sa.column("receipt", sa.JSON),
                sa.column("sealed_receipt", sa.LargeBinary))


def _receipt_bytes(document) -> bytes:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _bodies(transform) -> None:
    connection = op.get_bind()
    query = sa.select(records.c.id, records.c.caller, records.c.key, records.c.response_body).where(
        records.c.response_body.is_not(None))
    for row in connection.execute(query).all():
        label = BODY_LABEL % (row.caller.encode("utf-8"), row.key.encode("utf-8"))
        connection.execute(records.update().where(records.c.id == row.id).values(
            response_body=transform(label, bytes(row.response_body))))


def _check_sqlite() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError(f"This migration needs SQLite 3.35 or newer (ALTER TABLE DROP COLUMN); "
                           f"this Python has {sqlite3.sqlite_version}.")


def upgrade():
    _check_sqlite()
    _bodies(at_rest.seal)
    with op.batch_alter_table('tender_bid_parts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_name', sa.LargeBinary(), nullable=True))
    op.add_column('tender_bids', sa.Column('sealed_receipt', sa.LargeBinary(), nullable=True))

    connection = op.get_bind()
    for row in connection.execute(sa.select(parts.c.id, parts.c.bid_id, parts.c.seq, parts.c.name)).all():
        sealed = at_rest.seal(NAME_LABEL % (row.bid_id, row.seq), (row.name or "").encode("utf-8"))
        connection.execute(parts.update().where(parts.c.id == row.id).values(sealed_name=sealed))
    for row in connection.execute(sa.select(bids.c.id, bids.c.receipt).where(bids.c.receipt.is_not(None))).all():
        if row.receipt is None:  # a JSON null
            continue
        sealed = at_rest.seal(RECEIPT_LABEL % row.id, _receipt_bytes(row.receipt))
        connection.execute(bids.update().where(bids.c.id == row.id).values(sealed_receipt=sealed))

    with op.batch_alter_table('tender_bid_parts', schema=None) as batch_op:
        batch_op.alter_column('sealed_name', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('name')
    op.drop_column('tender_bids', 'receipt')


def downgrade():
    _check_sqlite()
    _bodies(at_rest.open_sealed)
    op.add_column('tender_bids', sa.Column('receipt', sa.JSON(), nullable=True))
    with op.batch_alter_table('tender_bid_parts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=255), nullable=True))

    connection = op.get_bind()
    for row in connection.execute(sa.select(parts.c.id, parts.c.bid_id, parts.c.seq, parts.c.sealed_name)).all():
        name = at_rest.open_sealed(NAME_LABEL % (row.bid_id, row.seq), row.sealed_name).decode("utf-8")
        connection.execute(parts.update().where(parts.c.id == row.id).values(name=name))
    query = sa.select(bids.c.id, bids.c.sealed_receipt).where(bids.c.sealed_receipt.is_not(None))
    for row in connection.execute(query).all():
        document = json.loads(at_rest.open_sealed(RECEIPT_LABEL % row.id, row.sealed_receipt))
        connection.execute(bids.update().where(bids.c.id == row.id).values(receipt=document))

    op.drop_column('tender_bids', 'sealed_receipt')
    with op.batch_alter_table('tender_bid_parts', schema=None) as batch_op:
        batch_op.alter_column('name', existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column('sealed_name')
