"""Finance reading helpers: accounts with balances, entries with filters, statements."""

from datetime import timedelta

from core import clock
from payments import ledger, queries
from payments.ledger import TransferSpec as T


def setup_books():
    ledger.post_entry("cap-1", [T("platform:clearing", "order:1:escrow", 1_000)], description="capture 1")
    clock.advance(timedelta(minutes=5))
    ledger.post_entry("cap-2", [T("platform:clearing", "order:2:escrow", 300)], description="capture 2")
    ledger.post_entry("done-1", [T("order:1:escrow", "org:5:payable", 850), T("order:1:escrow", "platform:fees", 150)])
    return ledger.create_hold("hold-2", "order:2:escrow", "org:5:payable", 100, None)


def test_accounts_lists_balances_filtered_by_prefix_and_guard():
    setup_books()
    keys = [a.key for a in queries.accounts(prefix="order:")]
    assert keys == ["order:1:escrow", "order:2:escrow"]
    assert [a.key for a in queries.accounts(prefix="order:", nonzero=True)] == ["order:2:escrow"]
    assert "platform:clearing" not in [a.key for a in queries.accounts(guarded=True)]
    escrow2 = queries.accounts(prefix="order:2")[0]
    assert (escrow2.posted_balance, escrow2.available_balance) == (300, 200)


def test_prefix_filter_treats_like_wildcards_literally():
    setup_books()
    assert queries.accounts(prefix="order%") == []


def test_entries_filter_by_account_kind_time_and_id_prefix():
    setup_books()
    assert [e.idempotency_id for e in queries.entries(account_key="order:1:escrow")] == ["done-1", "cap-1"]
    assert [e.idempotency_id for e in queries.entries(kind="hold")] == ["hold-2"]
    assert [e.idempotency_id for e in queries.entries(idempotency_prefix="cap-")] == ["cap-2", "cap-1"]
    since = clock.now() - timedelta(minutes=1)
    assert "cap-1" not in [e.idempotency_id for e in queries.entries(since=since)]
    assert queries.entries(account_key="nobody:1:escrow") == []


def test_entries_of_an_account_include_hold_resolutions():
    hold = setup_books()
    ledger.void_hold(hold)
    ids = [e.idempotency_id for e in queries.entries(account_key="order:2:escrow")]
    assert ids[0] == f"hold:{hold.id}:void"


def test_statement_shows_running_posted_balance_with_counterparties():
    setup_books()
    lines = queries.statement("order:1:escrow")
    assert [(ln.counterparty, ln.debit, ln.credit, ln.balance) for ln in lines] == [
        ("platform:clearing", 0, 1_000, 1_000),
        ("org:5:payable", 850, 0, 150),
        ("platform:fees", 150, 0, 0),
    ]


def test_holds_filtered_by_status_and_account():
    hold = setup_books()
    assert [h.id for h in queries.holds(status="pending", account_key="org:5:payable")] == [hold.id]
    assert queries.holds(status="voided") == []


def test_trial_balance_and_verify_report_a_consistent_ledger():
    setup_books()
    assert queries.trial_balance() == {"CNY": {"posted": 0, "pending": 0}}
    assert queries.verify() == []


def test_verify_names_an_account_whose_counters_were_tampered_with():
    setup_books()
    from core.db import db

    account = ledger.get_account("platform:fees")
    account.posted_credits += 1
    db.session.commit()
    problems = queries.verify()
    assert any("platform:fees" in p for p in problems)
    assert any("do not sum to zero" in p for p in problems)
