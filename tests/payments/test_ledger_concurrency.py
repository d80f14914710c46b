"""Concurrent writers against the ledger: no overdraft, no deadlock, one effect per id.

PostgreSQL: rows are locked FOR UPDATE in id order. SQLite (the fixture's database is a
file): the unit of work's BEGIN IMMEDIATE serializes writers.
"""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core import clock
from core.db import db
from payments import ledger, queries
from payments.ledger import TransferSpec as T
from payments.models import JournalEntry, Transfer


def run_threads(app, n, work):
    """Run work(i) in n threads, each with its own app context (so its own session)."""
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def target(i):
        with app.app_context():
            try:
                barrier.wait()
                results[i] = work(i)
            except Exception as exc:  # collected and asserted by the test
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


def _debit_race(app):
    ledger.post_entry("fund", [T("platform:clearing", "org:1:payable", 100)])
    db.session.remove()

    def work(i):
        ok = refused = 0
        for j in range(10):
            try:
                ledger.post_entry(f"pay-{i}-{j}", [T("org:1:payable", "platform:clearing", 10)])
                ok += 1
            except ledger.InsufficientFunds:
                refused += 1
        return ok, refused

    results = run_threads(app, 20, work)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert sum(ok for ok, _ in results) == 10
    assert sum(refused for _, refused in results) == 190
    db.session.remove()
    balance = ledger.account_balance("org:1:payable")
    assert (balance.posted, balance.available) == (0, 0)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Transfer)) == 11
    assert queries.verify() == []


def test_concurrent_debits_never_overdraw_a_guarded_account_on_postgresql(app, postgres_only):
    _debit_race(app)


def test_concurrent_debits_never_overdraw_a_guarded_account_on_sqlite(app, is_postgres):
    if is_postgres:
        pytest.skip("SQLite variant")
    _debit_race(app)


def test_concurrent_replays_of_one_idempotency_id_post_once(app, postgres_only):
    ledger.get_or_create_account("platform:clearing")
    ledger.get_or_create_account("order:1:escrow")
    db.session.remove()
    results = run_threads(app, 10, lambda i: ledger.post_entry(
        "capture-1", [T("platform:clearing", "order:1:escrow", 500)]).id)
    assert not [r for r in results if isinstance(r, BaseException)]
    assert len(set(results)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)) == 1
    assert ledger.account_balance("order:1:escrow").posted == 500


def test_concurrent_first_use_of_new_accounts_creates_each_once(app, postgres_only):
    results = run_threads(app, 10, lambda i: ledger.post_entry(
        f"new-{i}", [T("platform:clearing", "order:7:escrow", 1), T("platform:clearing", "org:7:payable", 1)]).id)
    assert not [r for r in results if isinstance(r, BaseException)]
    assert ledger.account_balance("order:7:escrow").posted == 10
    assert queries.verify() == []


def test_concurrent_resolutions_of_one_hold_resolve_it_once(app, postgres_only):
    ledger.post_entry("fund", [T("platform:clearing", "order:1:escrow", 100)])
    hold = ledger.create_hold("h", "order:1:escrow", "org:1:payable", 80, clock.now() + timedelta(hours=1))
    db.session.remove()

    def work(i):
        try:
            if i % 2:
                ledger.void_hold(hold.id)
            else:
                ledger.post_hold(hold.id, amount=10 + i)
            return "ok"
        except ledger.HoldAlreadyResolved:
            return "refused"

    results = run_threads(app, 10, work)
    assert sorted(results) == ["ok"] + ["refused"] * 9
    assert queries.verify() == []


def test_opposite_transfers_between_two_accounts_do_not_deadlock(app, postgres_only):
    ledger.post_entry("fund-a", [T("platform:clearing", "org:1:payable", 1_000)])
    ledger.post_entry("fund-b", [T("platform:clearing", "org:2:payable", 1_000)])
    db.session.remove()

    def work(i):
        a, b = ("org:1:payable", "org:2:payable") if i % 2 else ("org:2:payable", "org:1:payable")
        for j in range(15):
            ledger.post_entry(f"x-{i}-{j}", [T(a, b, 3), T(b, "platform:fees", 1)])
        return "ok"

    results = run_threads(app, 8, work)
    assert results == ["ok"] * 8
    assert queries.verify() == []
