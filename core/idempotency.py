"""`Idempotency-Key` for API POSTs that create or pay.

Usage (flask-smorest): put `@idempotent` right under `@blp.route` / on the MethodView
method, above `@blp.arguments` and `@blp.response`:

    @blp.route("/orders", methods=["POST"])
    @idempotent
    @blp.arguments(OrderIn)
    @blp.response(201, OrderOut)
    def create_order(data): ...

Without the header the view runs as usual. With it:

- the view runs inside an outer unit of work that also stores the key's record, so the
  record is committed together with the view's effect (the view's own
  `unit_of_work()` blocks become nested and commit with it);
- a failing view (exception or 4xx/5xx response) rolls back both: nothing is kept and
  the client may retry with the same key;
- the same key with the same request replays the stored response (status, body,
  content type, Location) with `Idempotent-Replayed: true`, without running the view;
- the same key with a different request -> 422 `idempotency_key_reused`;
- while the first request with a key is running, another one -> 409
  `idempotency_in_progress` (PostgreSQL: transaction advisory lock; SQLite serializes
  writers, so the second request waits and then gets the replay).

Records are kept IDEMPOTENCY_KEY_TTL_HOURS (>= 24) and purged by a sweep. The stored
response body is sealed at rest (core.at_rest, under the caller and the key): it may hold
what a copy of the database must not show (a sealed bid's receipt names its files).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click
import sqlalchemy as sa
from flask import Response, current_app, g, jsonify, request
from flask.cli import AppGroup
from flask_babel import gettext as _

from core import at_rest, clock
from core.api import request_json
from core.db import db, unit_of_work
from core.models.idempotency import IdempotencyRecord

__all__ = ["idempotent", "purge_expired", "idempotency_cli", "HEADER", "REPLAY_HEADER"]

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
MIN_TTL_HOURS = 24


class _Rollback(Exception):
    """Internal: the view answered with an error; undo everything and return its response."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "fields": {}}})
    response.status_code = status
    return response


def _caller() -> str:
    try:
        from flask_login import current_user

        user_id = current_user.get_id() if current_user and current_user.is_authenticated else None
    except Exception:  # no login manager user loaded
        user_id = None
    caller = f"user:{user_id}" if user_id else "anon"
    token_org = g.get("token_org_id")
    if token_org:
        caller += f"@org:{token_org}"
    return caller[:120]


def _feed_json(digest: Any, value: Any) -> None:
    """Feed a parsed JSON value into `digest` canonically: objects by sorted key, every
    value tagged with its type and strings with their length, so two bodies that differ
    only in whitespace or key order hash the same and no two different ones can. (Cheaper
    than a sorted `json.dumps`: a long string, such as a base64 attachment, is fed as it
    is, not escaped and re-encoded.)"""
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        digest.update(b"s%d:" % len(data))
        digest.update(data)
    elif isinstance(value, dict):
        digest.update(b"{%d:" % len(value))
        for key in sorted(value):
            _feed_json(digest, key)
            _feed_json(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, list):
        digest.update(b"[%d:" % len(value))
        for item in value:
            _feed_json(digest, item)
        digest.update(b"]")
    elif value is None or isinstance(value, bool):
        digest.update(b"n" if value is None else (b"t" if value else b"f"))
    elif isinstance(value, int):
        digest.update(b"i%d;" % value)
    else:  # float
        digest.update(b"d" + repr(value).encode("ascii") + b";")


def _request_hash() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b"\n" + request.path.encode() + b"\n")
    digest.update(request.query_string + b"\n")
    if request.is_json:
        try:
            parsed = request_json()  # parsed once: webargs reads the same result
            body = hashlib.sha256(b"json:")
            _feed_json(body, parsed)
        except (ValueError, RecursionError):  # not valid (the view answers 400) or too deep: raw bytes
            body = hashlib.sha256(b"raw:" + request.get_data(cache=True))
        digest.update(body.digest())
    elif request.form:
        items = sorted((k, v) for k in request.form for v in request.form.getlist(k) if k != "csrf_token")
        digest.update(b"form:" + json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    else:
        digest.update(b"raw:" + request.get_data(cache=True))
    return digest.hexdigest()


def _ttl() -> timedelta:
    hours = int(current_app.config.get("IDEMPOTENCY_KEY_TTL_HOURS", MIN_TTL_HOURS))
    return timedelta(hours=max(hours, MIN_TTL_HOURS))


def _try_lock(session, caller: str, key: str) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: BEGIN IMMEDIATE already serializes the writers
    lock_id = int.from_bytes(hashlib.sha256(f"idem:{caller}:{key}".encode()).digest()[:8], "big", signed=True)
    return bool(session.execute(_TRY_LOCK, {"lock_id": lock_id}).scalar())


# Built once (every idempotent request runs them; a reused statement keeps its cache key).
_TRY_LOCK = sa.select(sa.func.pg_try_advisory_xact_lock(sa.bindparam("lock_id", type_=sa.BigInteger)))


@functools.cache
def _record_for_update() -> sa.Select:
    return sa.select(IdempotencyRecord).where(
        IdempotencyRecord.caller == sa.bindparam("caller"), IdempotencyRecord.key == sa.bindparam("key")
    ).with_for_update()


def body_label(caller: str, key: str) -> bytes:
    """The at-rest label of a record's response body."""
    return b"canal-idempotency-v1|caller=%s|key=%s" % (caller.encode("utf-8"), key.encode("utf-8"))


def _replay(rec: IdempotencyRecord) -> Response:
    try:
        body = at_rest.open_sealed(body_label(rec.caller, rec.key), rec.response_body) if rec.response_body else b""
    except at_rest.Unreadable:
        return _error(409, "idempotency_record_unreadable",
                      _("This request was already carried out, but its stored response can no longer be read. "
                        "Look the result up instead of repeating the request."))
    response = Response(body, status=rec.response_status or 200,
                        content_type=rec.response_content_type or "application/json")
    if rec.response_location:
        response.headers["Location"] = rec.response_location
    response.headers[REPLAY_HEADER] = "true"
    return response


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Honour an optional `Idempotency-Key` header on this view (see module doc)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            return _error(400, "idempotency_key_invalid",
                          _("The Idempotency-Key header must be 1 to %(n)s printable characters.", n=MAX_KEY_LENGTH))
        caller = _caller()
        route = f"{request.method} {request.endpoint}"[:200]
        request_hash = _request_hash()
        try:
            with unit_of_work() as session:
                if not _try_lock(session, caller, key):
                    return _error(409, "idempotency_in_progress",
                                  _("A request with this Idempotency-Key is still being processed."))
                rec = session.scalars(_record_for_update(), {"caller": caller, "key": key}).first()
                now = clock.now()
                if rec is not None and rec.expires_at <= now:
                    session.delete(rec)
                    session.flush()
                    rec = None
                if rec is not None:
                    if rec.request_hash != request_hash or rec.route != route:
                        return _error(422, "idempotency_key_reused",
                                      _("This Idempotency-Key was used for a different request."))
                    if rec.status == "completed":
                        return _replay(rec)
                    return _error(409, "idempotency_in_progress",
                                  _("A request with this Idempotency-Key is still being processed."))
                # The record is written once, completed, when the view has answered: it is
                # committed with the view's effect and no other transaction could ever see
                # it in progress (the lock above keeps concurrent requests with this key out
                # meanwhile), so an "in_progress" INSERT plus an UPDATE would only cost a
                # statement more per request.
                response = current_app.make_response(view(*args, **kwargs))
                if response.status_code >= 400:
                    raise _Rollback(response)
                if response.is_streamed:
                    response.make_sequence()
                session.add(IdempotencyRecord(
                    key=key, caller=caller, route=route, request_hash=request_hash, status="completed",
                    created_at=now, expires_at=now + _ttl(), response_status=response.status_code,
                    response_body=at_rest.seal(body_label(caller, key), response.get_data()),
                    response_content_type=response.content_type,
                    response_location=response.headers.get("Location"),
                ))
            return response
        except _Rollback as rollback:
            return rollback.response

    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper


def purge_expired() -> int:
    """Delete expired records (sweep); returns how many."""
    with unit_of_work() as session:
        result = session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= clock.now()))
    return int(result.rowcount or 0)


def _register_sweep() -> None:
    from core.tasks import register_sweep

    register_sweep(purge_expired)


_register_sweep()

idempotency_cli = AppGroup("idempotency", help="Idempotency-Key records.")


@idempotency_cli.command("purge")
def purge_command() -> None:
    """Delete expired Idempotency-Key records."""
    click.echo(f"{purge_expired()} expired idempotency records deleted.")


def stored_count() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)) or 0)
