import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core import clock, outbox
from core.db import db, unit_of_work
from core.models.outbox import OutboxMessage
from core.tasks import run_sweeps

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _fresh(message_id: int) -> OutboxMessage:
    db.session.expire_all()
    if db.session().in_transaction():
        db.session.commit()
    return db.session.get(OutboxMessage, message_id)


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))


@pytest.fixture
def performed():
    calls: list[dict] = []
    outbox.HANDLERS["test.record"] = calls.append
    yield calls
    outbox.HANDLERS.pop("test.record", None)


@pytest.fixture
def flaky():
    """A handler failing the first `fail` times, recording the clock at each call."""
    state = {"fail": 2, "calls": []}

    def fn(payload):
        state["calls"].append(clock.now())
        if len(state["calls"]) <= state["fail"]:
            raise ConnectionError("smtp down")

    outbox.HANDLERS["test.flaky"] = fn
    yield state
    outbox.HANDLERS.pop("test.flaky", None)


@pytest.fixture
def worker_down(monkeypatch):
    """Huey never runs the task (worker stopped, queue lost): only the sweep/drain delivers."""
    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_id: None)


def _enqueue(kind="test.record", payload=None, **kw) -> int:
    with unit_of_work():
        return outbox.enqueue(kind, payload or {"n": 1}, **kw).id


def test_enqueue_outside_a_unit_of_work_is_refused(performed):
    with pytest.raises(RuntimeError):
        outbox.enqueue("test.record", {})
    assert _count() == 0


def test_message_commits_with_the_callers_transaction_and_is_delivered_after_commit(performed):
    with unit_of_work():
        message = outbox.enqueue("test.record", {"to": "a@example.test"})
        assert message.id is not None
        assert performed == []  # nothing leaves the process before commit
    assert performed == [{"to": "a@example.test"}]
    stored = _fresh(message.id)
    assert stored.status == "sent"
    assert stored.sent_at is not None
    assert stored.attempts == 1


def test_rollback_discards_the_message_and_its_delivery(performed):
    with pytest.raises(ValueError), unit_of_work():
        outbox.enqueue("test.record", {"n": 1})
        raise ValueError("service failed")
    assert _count() == 0
    assert performed == []


def test_failed_delivery_is_retried_with_exponential_backoff_until_it_succeeds(flaky):
    clock.set_time(T0)
    message_id = _enqueue("test.flaky")
    message = _fresh(message_id)
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.next_attempt_at == T0 + timedelta(seconds=30)
    assert "smtp down" in message.last_error

    clock.set_time(T0 + timedelta(seconds=29))
    assert outbox.drain()["retry"] == 0  # not due yet
    assert len(flaky["calls"]) == 1

    clock.set_time(T0 + timedelta(seconds=30))
    assert outbox.drain()["retry"] == 1
    assert _fresh(message_id).next_attempt_at == T0 + timedelta(seconds=30 + 60)

    clock.set_time(T0 + timedelta(seconds=90))
    assert outbox.drain()["sent"] == 1
    assert flaky["calls"] == [T0, T0 + timedelta(seconds=30), T0 + timedelta(seconds=90)]
    message = _fresh(message_id)
    assert message.status == "sent"
    assert message.last_error is None


def test_message_is_dead_after_the_maximum_attempts(flaky, app, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 3)
    flaky["fail"] = 100
    clock.set_time(T0)
    message_id = _enqueue("test.flaky")
    clock.advance(timedelta(seconds=30))
    outbox.drain()
    clock.advance(timedelta(seconds=60))
    assert outbox.drain()["dead"] == 1
    message = _fresh(message_id)
    assert (message.status, message.attempts) == ("dead", 3)
    clock.advance(timedelta(days=1))
    outbox.drain()
    assert len(flaky["calls"]) == 3  # a dead message is never tried again


def test_a_kind_retried_for_ever_is_never_dead_and_waits_at_most_the_cap(app, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 3)
    monkeypatch.setitem(app.config, "OUTBOX_BACKOFF_MAX", 100)
    calls: list[datetime] = []

    def fails_five_times(payload):
        calls.append(clock.now())
        if len(calls) <= 5:
            raise OSError("index busy")

    outbox.handler("test.forever", retry_forever=True)(fails_five_times)
    try:
        clock.set_time(T0)
        message_id = _enqueue("test.forever")
        for _ in range(6):
            clock.advance(timedelta(seconds=100))
            outbox.drain()
        message = _fresh(message_id)
        assert (message.status, message.attempts) == ("sent", 6)  # beyond OUTBOX_MAX_ATTEMPTS
        gaps = [(b - a).total_seconds() for a, b in zip(calls, calls[1:], strict=False)]
        assert gaps == [100.0] * 5  # 30, 60, then capped at 100 (retried at each 100 s drain)
        assert [outbox.backoff(n) for n in (1, 2, 3, 10)] == [timedelta(seconds=s) for s in (30, 60, 100, 100)]
    finally:
        outbox.HANDLERS.pop("test.forever", None)
        outbox.RETRY_FOREVER.discard("test.forever")


def test_message_enqueued_while_the_worker_is_down_is_delivered_by_the_sweep(performed, worker_down):
    message_id = _enqueue(payload={"n": 7})
    assert performed == []
    assert _fresh(message_id).status == "pending"
    # "restart": a fresh sweep finds the committed row and performs it.
    run_sweeps()
    assert performed == [{"n": 7}]
    assert _fresh(message_id).status == "sent"


def test_draining_twice_performs_a_message_once(performed, worker_down):
    message_id = _enqueue()
    assert outbox.drain()["sent"] == 1
    assert outbox.drain() == {"sent": 0, "retry": 0, "dead": 0, "skipped": 0}
    assert outbox.deliver_one(message_id) == "skipped"
    outbox.deliver(message_id)  # the Huey task run a second time
    assert len(performed) == 1


def test_handler_crash_during_delivery_is_retried_after_the_lease(performed, worker_down, app):
    clock.set_time(T0)
    message_id = _enqueue()
    assert outbox._claim(message_id) is not None  # claimed, then the worker died
    assert outbox.drain()["sent"] == 0  # another deliverer does not perform it meanwhile
    clock.advance(timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"]))
    assert outbox.drain()["sent"] == 1
    assert len(performed) == 1


def test_same_dedup_key_returns_the_existing_message(performed, worker_down):
    with unit_of_work():
        first = outbox.enqueue("test.record", {"n": 1}, dedup_key="order-9-paid")
        second = outbox.enqueue("test.record", {"n": 2}, dedup_key="order-9-paid")
    assert first.id == second.id
    third_id = _enqueue(payload={"n": 3}, dedup_key="order-9-paid")
    assert third_id == first.id
    assert _count() == 1


def test_unknown_kind_is_recorded_as_an_error_and_retried():
    message_id = _enqueue("test.nobody-handles-this")
    message = _fresh(message_id)
    assert message.status == "pending"
    assert "no handler" in message.last_error


def test_flask_outbox_run_delivers_due_messages_and_prints_counts(app, performed, worker_down):
    _enqueue()
    _enqueue()
    result = app.test_cli_runner().invoke(args=["outbox", "run"])
    assert result.exit_code == 0, result.output
    assert "sent: 2" in result.output
    assert len(performed) == 2


def test_flask_outbox_list_shows_dead_messages_and_retry_revives_them(app, flaky, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 1)
    flaky["fail"] = 1
    message_id = _enqueue("test.flaky")
    assert _fresh(message_id).status == "dead"
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["outbox", "list"])
    assert f"{message_id}\ttest.flaky\tdead" in listing.output
    retried = runner.invoke(args=["outbox", "retry", str(message_id)])
    assert "sent" in retried.output  # the cause is fixed: the second call succeeds
    assert _fresh(message_id).status == "sent"


def test_concurrent_deliverers_perform_a_message_once(app, postgres_only, worker_down):
    calls = []

    def slow(payload):
        calls.append(payload)
        time.sleep(0.3)

    outbox.HANDLERS["test.slow"] = slow
    try:
        message_id = _enqueue("test.slow")
        db.session.remove()
        barrier = threading.Barrier(4)
        outcomes = []

        def worker():
            with app.app_context():
                barrier.wait()
                outcomes.append(outbox.deliver_one(message_id))
                db.session.remove()

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(calls) == 1
        assert sorted(outcomes) == ["sent", "skipped", "skipped", "skipped"]
    finally:
        outbox.HANDLERS.pop("test.slow", None)


def test_payload_that_is_not_json_is_refused_at_enqueue(performed):
    with pytest.raises(TypeError), unit_of_work():
        outbox.enqueue("test.record", {"when": object()})
    assert _count() == 0
