"""The outbox: effects that leave the process (emails, outgoing webhooks, provider calls).

A service calls `enqueue(kind, payload)` inside its unit of work; the message row commits
(or rolls back) with the service's change. After commit a Huey task `deliver(id)` performs
it with the handler registered for its kind (`@handler("email")`). A failure is retried
with exponential backoff (OUTBOX_BACKOFF_BASE * 2**(attempts-1) seconds, at most
OUTBOX_BACKOFF_MAX) until OUTBOX_MAX_ATTEMPTS, then the message is `dead`; a kind
registered with `handler(kind, retry_forever=True)` is retried for ever instead. A sweep
every minute (and `flask outbox run`) performs every due pending message, so nothing is
lost when the worker was down or the queue lost the task.

At most once per success: a message is *claimed* under a row lock (attempts + 1 and
next_attempt_at pushed out by a lease, committed) before its handler runs, so a second
deliverer that reads it meanwhile sees it not due and skips it. If the process dies
during the handler, the lease expires and the sweep tries again (handlers of external
calls should pass the message id as an idempotency key where the remote side takes one).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from core import clock
from core.db import after_commit, db, for_update, in_unit_of_work, unit_of_work
from core.models.outbox import OutboxMessage, OutboxStatus
from core.tasks import app_task, register_sweep

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]

#: kind -> function performing a message of that kind.
HANDLERS: dict[str, Handler] = {}
#: Kinds retried until they succeed (never dead): effects that have no reason to fail
#: for good (a derived index).
RETRY_FOREVER: set[str] = set()

ERROR_MAX = 2000
DEFAULT_LEASE_SECONDS = 300


def handler(kind: str, *, retry_forever: bool = False) -> Callable[[Handler], Handler]:
    """Register the function that performs messages of `kind`: fn(payload) -> None; raise on
    failure. With `retry_forever`, a failing message is never dead: it is retried (with the
    usual backoff) until it succeeds."""

    def decorator(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        if retry_forever:
            RETRY_FOREVER.add(kind)
        else:
            RETRY_FOREVER.discard(kind)
        return fn

    return decorator


def enqueue(kind: str, payload: dict[str, Any], *, dedup_key: str | None = None) -> OutboxMessage:
    """Write a message in the caller's transaction; it is delivered after commit.

    With `dedup_key`, a second enqueue with the same key returns the existing message.
    """
    if not in_unit_of_work():
        raise RuntimeError("core.outbox.enqueue must be called inside core.db.unit_of_work()")
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"outbox payload of {kind!r} is not JSON-serializable: {exc}") from exc
    session = db.session
    if dedup_key is not None:
        existing = session.scalars(sa.select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key)).first()
        if existing is not None:
            return existing
    message = OutboxMessage(
        kind=kind,
        payload=dict(payload),
        dedup_key=dedup_key,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=clock.now(),
        created_at=clock.now(),
    )
    if dedup_key is not None:
        # A concurrent transaction may insert the same key: keep ours out and use theirs.
        try:
            with session.begin_nested():
                session.add(message)
                session.flush()
        except IntegrityError:
            existing = session.scalars(sa.select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key)).first()
            if existing is None:
                raise
            return existing
    else:
        session.add(message)
        session.flush()
    message_id = message.id
    after_commit(lambda: schedule_delivery(message_id))
    return message


def schedule_delivery(message_id: int) -> None:
    """Hand the message to Huey; if that fails the sweep performs it later."""
    try:
        deliver(message_id)
    except Exception:  # queue down: the row is committed, the sweep will pick it up
        log.exception("could not schedule outbox message %s; the sweep will deliver it", message_id)


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed attempts: doubling from
    OUTBOX_BACKOFF_BASE, at most OUTBOX_BACKOFF_MAX."""
    base = current_app.config.get("OUTBOX_BACKOFF_BASE", 30)
    cap = current_app.config.get("OUTBOX_BACKOFF_MAX", 3600)
    return timedelta(seconds=min(base * 2 ** min(max(attempts - 1, 0), 30), cap))


def _gives_up(kind: str, attempts: int) -> bool:
    """Whether a message of `kind` that failed `attempts` times is dead."""
    return kind not in RETRY_FOREVER and attempts >= int(current_app.config.get("OUTBOX_MAX_ATTEMPTS", 8))


def _claim(message_id: int) -> tuple[str, str, dict[str, Any], int] | None:
    """Lock the row, check it is pending and due, and take a lease on it."""
    with unit_of_work() as session:
        stmt = for_update(sa.select(OutboxMessage).where(OutboxMessage.id == message_id))
        message = session.scalars(stmt.execution_options(populate_existing=True)).first()
        now = clock.now()
        if message is None or message.status != OutboxStatus.PENDING or message.next_attempt_at > now:
            return None
        if _gives_up(message.kind, message.attempts):
            message.status = OutboxStatus.DEAD
            return None
        message.attempts += 1
        lease = current_app.config.get("OUTBOX_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)
        message.next_attempt_at = now + timedelta(seconds=lease)
        return message.kind, message.dedup_key or "", dict(message.payload or {}), message.attempts


def deliver_one(message_id: int) -> str:
    """Perform one message if it is pending and due. Returns sent | retry | dead | skipped.

    Runs its own transactions (claim, then outcome): never inside a unit of work.
    """
    if in_unit_of_work():
        raise RuntimeError("outbox delivery runs its own transactions; call it outside unit_of_work()")
    claimed = _claim(message_id)
    if claimed is None:
        return "skipped"
    kind, _dedup, payload, attempt = claimed
    error: str | None = None
    fn = HANDLERS.get(kind)
    if fn is None:
        error = f"no handler registered for outbox kind {kind!r}"
    else:
        try:
            fn(payload)
        except Exception as exc:  # any failure of the effect is retried
            log.warning("outbox message %s (%s) attempt %s failed: %s", message_id, kind, attempt, exc)
            error = f"{type(exc).__name__}: {exc}"
    # The handler may have left a transaction open or broken: start clean.
    if db.session().in_transaction():
        db.session.rollback()
    with unit_of_work() as session:
        message = session.scalars(
            for_update(sa.select(OutboxMessage).where(OutboxMessage.id == message_id)).execution_options(
                populate_existing=True
            )
        ).one()
        now = clock.now()
        if error is None:
            message.status = OutboxStatus.SENT
            message.sent_at = now
            message.last_error = None
            return "sent"
        message.last_error = error[:ERROR_MAX]
        if _gives_up(kind, message.attempts):
            message.status = OutboxStatus.DEAD
            log.error("outbox message %s (%s) is dead after %s attempts", message_id, kind, message.attempts)
            return "dead"
        message.next_attempt_at = now + backoff(message.attempts)
        return "retry"


@app_task()
def deliver(message_id: int) -> str:
    """Huey task: perform one outbox message (safe to run twice)."""
    try:
        return deliver_one(message_id)
    except Exception:
        log.exception("outbox delivery of %s crashed; the sweep will retry", message_id)
        return "error"


def due_ids(limit: int | None = None) -> list[int]:
    stmt = (
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= clock.now())
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
    )
    if limit:
        stmt = stmt.limit(limit)
    ids = list(db.session.scalars(stmt))
    if db.session().in_transaction():
        db.session.commit()  # end the read transaction before each delivery opens its own
    return ids


def drain(limit: int | None = 500) -> dict[str, int]:
    """Perform every pending message that is due now; returns counts per outcome."""
    counts = {"sent": 0, "retry": 0, "dead": 0, "skipped": 0}
    for message_id in due_ids(limit):
        outcome = deliver_one(message_id)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@register_sweep
def sweep_outbox() -> dict[str, int]:
    """Periodic: deliver what the queue missed (worker down, task lost) and due retries."""
    return drain()


def revive(message_id: int) -> OutboxMessage:
    """Put a dead message back in the queue (operator action after fixing the cause)."""
    with unit_of_work() as session:
        message = session.scalars(for_update(sa.select(OutboxMessage).where(OutboxMessage.id == message_id))).first()
        if message is None:
            raise click.ClickException(f"no outbox message {message_id}")
        message.status = OutboxStatus.PENDING
        message.attempts = 0
        message.next_attempt_at = clock.now()
        return message


# --------------------------------------------------------------------------- CLI

outbox_cli = AppGroup("outbox", help="Inspect and deliver outbox messages.")


@outbox_cli.command("run")
@click.option("--limit", type=int, default=None, help="Deliver at most this many messages.")
def run_command(limit: int | None) -> None:
    """Deliver every due pending message now and print the counts."""
    counts = drain(limit)
    click.echo(
        f"sent: {counts['sent']}, retry later: {counts['retry']}, dead: {counts['dead']}, skipped: {counts['skipped']}"
    )


@outbox_cli.command("list")
@click.option("--status", type=click.Choice(["pending", "dead", "sent", "all"]), default=None)
@click.option("--limit", type=int, default=50)
def list_command(status: str | None, limit: int) -> None:
    """Show pending and dead messages (or the given status)."""
    stmt = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status is None:
        stmt = stmt.where(OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]))
    elif status != "all":
        stmt = stmt.where(OutboxMessage.status == status)
    rows = list(db.session.scalars(stmt))
    if not rows:
        click.echo("No messages.")
        return
    for m in rows:
        error = (m.last_error or "").splitlines()[0][:80] if m.last_error else ""
        click.echo(
            f"{m.id}\t{m.kind}\t{m.status}\tattempts={m.attempts}\tnext={m.next_attempt_at:%Y-%m-%d %H:%M:%S}Z\t{error}"
        )


@outbox_cli.command("retry")
@click.argument("message_id", type=int)
def retry_command(message_id: int) -> None:
    """Put a dead message back in the queue and try it now."""
    revive(message_id)
    click.echo(f"message {message_id}: {deliver_one(message_id)}")
