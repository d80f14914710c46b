"""Ledger services against the database: entries, idempotency, guards, holds, corrections."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core import clock
from core.db import db, unit_of_work
from core.tasks import SWEEPS, run_sweeps
from payments import ledger, queries
from payments.ledger import TransferSpec as T
from payments.models import Hold, JournalEntry, LedgerAccount, LedgerImmutable, Transfer
from payments.states import HoldStatus


def fund(key="order:1:escrow", amount=100, idem="fund-1"):
    return ledger.post_entry(idem, [T("platform:clearing", key, amount)], description="funding")


def bal(key, currency="CNY"):
    return ledger.account_balance(key, currency)


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# ----------------------------------------------------------------- accounts


def test_get_or_create_account_returns_the_same_account_for_the_same_key_and_currency():
    a = ledger.get_or_create_account("platform:clearing")
    b = ledger.get_or_create_account("platform:clearing")
    c = ledger.get_or_create_account("platform:clearing", "USD")
    assert a.id == b.id != c.id
    assert count(LedgerAccount) == 2


def test_get_or_create_account_applies_the_default_guard_policy_and_explicit_flags():
    assert ledger.get_or_create_account("order:3:escrow").no_negative
    assert not ledger.get_or_create_account("platform:clearing").no_negative
    assert ledger.get_or_create_account("platform:special", no_negative=True).no_negative


def test_asking_for_a_guard_on_an_existing_unguarded_account_is_refused():
    ledger.get_or_create_account("platform:clearing")
    with pytest.raises(ledger.AccountFlagsConflict):
        ledger.get_or_create_account("platform:clearing", no_negative=True)


def test_an_unused_account_has_zero_balances():
    b = bal("order:99:escrow")
    assert (b.posted, b.pending, b.available) == (0, 0, 0)


# ----------------------------------------------------------------- entries


def test_post_entry_moves_money_and_balances_credits_minus_debits():
    entry = fund(amount=250)
    assert bal("order:1:escrow").posted == 250
    assert bal("platform:clearing").posted == -250
    assert [(t.amount, t.currency, t.kind) for t in entry.transfers] == [(250, "CNY", "posted")]
    assert queries.trial_balance() == {"CNY": {"posted": 0, "pending": 0}}


def test_a_multi_leg_entry_applies_all_legs_in_one_entry():
    fund(amount=100)
    entry = ledger.post_entry("split-1", [T("order:1:escrow", "org:5:payable", 85),
                                          T("order:1:escrow", "platform:fees", 15)])
    assert len(entry.transfers) == 2
    assert bal("order:1:escrow").posted == 0
    assert bal("org:5:payable").posted == 85
    assert bal("platform:fees").posted == 15
    assert queries.verify() == []


@pytest.mark.parametrize("amount", [0, -5])
def test_non_positive_amounts_are_refused_and_nothing_is_written(amount):
    with pytest.raises(ledger.InvalidAmount) as exc:
        ledger.post_entry("bad", [T("platform:clearing", "order:1:escrow", amount)])
    assert exc.value.code == "invalid_amount"
    assert count(JournalEntry) == 0 and count(Transfer) == 0


def test_an_entry_without_transfers_is_refused():
    with pytest.raises(ledger.InvalidEntry):
        ledger.post_entry("empty", [])


def test_a_transfer_to_the_same_account_is_refused():
    with pytest.raises(ledger.InvalidEntry):
        ledger.post_entry("self", [T("platform:clearing", "platform:clearing", 5)])


def test_an_account_object_of_another_currency_is_refused():
    usd = ledger.get_or_create_account("platform:clearing", "USD")
    with pytest.raises(ledger.CurrencyMismatch) as exc:
        ledger.post_entry("mismatch", [T(usd, "order:1:escrow", 5, "CNY")])
    assert exc.value.code == "currency_mismatch"
    assert count(JournalEntry) == 0


def test_each_currency_balances_separately_in_a_multi_currency_entry():
    ledger.post_entry("fx", [T("platform:clearing", "platform:fx", 700, "CNY"),
                             T("platform:fx", "platform:clearing", 100, "USD")],
                      description="two currencies")
    assert queries.trial_balance() == {"CNY": {"posted": 0, "pending": 0}, "USD": {"posted": 0, "pending": 0}}


def test_a_replay_with_the_same_content_returns_the_original_without_a_new_effect():
    first = fund(amount=100)
    again = ledger.post_entry("fund-1", [T("platform:clearing", "order:1:escrow", 100)], description="retry")
    assert again.id == first.id
    assert bal("order:1:escrow").posted == 100
    assert count(JournalEntry) == 1 and count(Transfer) == 1


def test_a_replay_with_different_content_is_an_idempotency_conflict():
    fund(amount=100)
    for changed in ([T("platform:clearing", "order:1:escrow", 101)],
                    [T("platform:clearing", "order:2:escrow", 100)],
                    [T("platform:clearing", "order:1:escrow", 100, "USD")]):
        with pytest.raises(ledger.IdempotencyConflict) as exc:
            ledger.post_entry("fund-1", changed)
        assert exc.value.code == "idempotency_conflict"
    assert bal("order:1:escrow").posted == 100


def test_a_guarded_account_cannot_be_overdrawn_and_the_whole_entry_is_refused():
    fund(amount=100)
    with pytest.raises(ledger.InsufficientFunds) as exc:
        ledger.post_entry("over", [T("order:1:escrow", "org:5:payable", 60),
                                   T("order:1:escrow", "platform:fees", 41)])
    assert exc.value.code == "insufficient_funds"
    assert bal("order:1:escrow").posted == 100
    assert bal("org:5:payable").posted == 0
    assert ledger.post_entry("exact", [T("order:1:escrow", "org:5:payable", 100)])
    assert bal("order:1:escrow").posted == 0


def test_an_unguarded_account_may_go_negative():
    ledger.post_entry("neg", [T("city:fund", "voucher:2026:budget", 1_000)])
    assert bal("city:fund").posted == -1_000


def test_a_failed_entry_inside_an_outer_unit_of_work_rolls_back_the_outer_work():
    with pytest.raises(ledger.InsufficientFunds):
        with unit_of_work():
            fund(amount=10)
            ledger.post_entry("over", [T("order:1:escrow", "org:5:payable", 11)])
    assert count(JournalEntry) == 0
    assert bal("order:1:escrow").posted == 0


def test_a_correction_is_a_new_entry_referencing_the_original():
    original = fund(amount=100)
    correction = ledger.reverse_entry(original, "fund-1:reversal", description="wrong order")
    assert correction.id != original.id
    assert correction.corrects_id == original.id
    assert [(t.debit_account.key, t.credit_account.key, t.amount) for t in correction.transfers] == [
        ("order:1:escrow", "platform:clearing", 100)]
    assert bal("order:1:escrow").posted == 0
    assert [e.id for e in queries.entries(corrections_of=original.id)] == [correction.id]
    db.session.expire_all()
    assert db.session.get(JournalEntry, original.id).corrects_id is None


def test_a_correction_of_a_missing_entry_is_refused():
    with pytest.raises(ledger.InvalidEntry):
        ledger.post_entry("c", [T("platform:clearing", "order:1:escrow", 1)], corrects=12345)


def test_entries_and_transfers_cannot_be_changed_through_the_orm():
    entry = fund()
    entry.description = "edited"
    with pytest.raises(LedgerImmutable):
        db.session.flush()
    db.session.rollback()
    transfer = db.session.scalars(sa.select(Transfer)).one()
    db.session.delete(transfer)
    with pytest.raises(LedgerImmutable):
        db.session.flush()
    db.session.rollback()


def test_the_database_refuses_updates_of_transfers():
    fund()
    with pytest.raises(sa.exc.DBAPIError):
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE ledger_transfers SET amount = 1"))
    assert db.session.scalars(sa.select(Transfer.amount)).one() == 100


# ----------------------------------------------------------------- holds


def in_hours(h):
    return clock.now() + timedelta(hours=h)


def test_a_hold_reserves_money_in_pending_balances():
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(1))
    assert hold.status == HoldStatus.PENDING
    escrow, payable = bal("order:1:escrow"), bal("org:5:payable")
    assert (escrow.posted, escrow.pending, escrow.available) == (100, -60, 40)
    assert (payable.posted, payable.pending) == (0, 60)
    assert queries.trial_balance() == {"CNY": {"posted": 0, "pending": 0}}


def test_a_hold_cannot_reserve_more_than_is_available_on_a_guarded_account():
    fund(amount=100)
    ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(1))
    with pytest.raises(ledger.InsufficientFunds):
        ledger.create_hold("h2", "order:1:escrow", "org:5:payable", 41, in_hours(1))
    with pytest.raises(ledger.InsufficientFunds):
        ledger.post_entry("e", [T("order:1:escrow", "platform:fees", 41)])


def test_create_hold_replay_returns_the_same_hold_and_a_changed_replay_conflicts():
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(1))
    assert ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(2)).id == hold.id
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 61, in_hours(1))
    assert bal("order:1:escrow").pending == -60
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.create_hold("fund-1", "platform:clearing", "order:1:escrow", 100, None)


def test_posting_a_hold_in_full_moves_the_money():
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(1))
    ledger.post_hold(hold)
    assert hold.status == HoldStatus.POSTED and hold.posted_amount == 60 and hold.resolved_at
    escrow, payable = bal("order:1:escrow"), bal("org:5:payable")
    assert (escrow.posted, escrow.pending, escrow.available) == (40, 0, 40)
    assert (payable.posted, payable.pending) == (60, 0)
    assert hold.resolved_entry.kind == "hold_post"
    assert queries.verify() == []


def test_a_partial_post_releases_the_remainder():
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(1))
    ledger.post_hold(hold, amount=25, idempotency_id="complete-1")
    escrow, payable = bal("order:1:escrow"), bal("org:5:payable")
    assert (escrow.posted, escrow.pending, escrow.available) == (75, 0, 75)
    assert (payable.posted, payable.pending) == (25, 0)
    assert hold.posted_amount == 25
    assert queries.verify() == []


def test_posting_more_than_the_hold_is_refused():
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(1))
    with pytest.raises(ledger.InvalidAmount):
        ledger.post_hold(hold, amount=61)
    assert db.session.get(Hold, hold.id).status == HoldStatus.PENDING


def test_voiding_a_hold_releases_all_of_it():
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(1))
    ledger.void_hold(hold)
    assert hold.status == HoldStatus.VOIDED and hold.posted_amount is None
    assert (bal("order:1:escrow").available, bal("org:5:payable").pending) == (100, 0)
    assert hold.resolved_entry.kind == "hold_void"
    assert queries.verify() == []


@pytest.mark.parametrize("first,second", [("post", "void"), ("void", "post"), ("void", "void"),
                                          ("post", "post_other_amount")])
def test_a_hold_resolves_at_most_once(first, second):
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(1))
    actions = {
        "post": lambda: ledger.post_hold(hold.id),
        "void": lambda: ledger.void_hold(hold.id),
        "post_other_amount": lambda: ledger.post_hold(hold.id, amount=10),
    }
    actions[first]()
    before = (bal("order:1:escrow"), bal("org:5:payable"))
    with pytest.raises(ledger.HoldAlreadyResolved) as exc:
        actions[second]()
    assert exc.value.code == "hold_already_resolved"
    assert (bal("order:1:escrow"), bal("org:5:payable")) == before


def test_replaying_the_same_post_returns_the_hold_without_a_second_effect():
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(1))
    ledger.post_hold(hold, amount=30, idempotency_id="complete-1")
    again = ledger.post_hold(hold, amount=30, idempotency_id="complete-1")
    assert again.id == hold.id and again.posted_amount == 30
    assert bal("org:5:payable").posted == 30
    assert count(JournalEntry) == 3


def test_posting_with_an_idempotency_id_used_elsewhere_is_a_conflict():
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 60, in_hours(1))
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.post_hold(hold, idempotency_id="fund-1")
    assert db.session.get(Hold, hold.id).status == HoldStatus.PENDING


def test_the_sweep_expires_due_holds_and_releases_them():
    fund(amount=100)
    due = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 30, in_hours(1))
    later = ledger.create_hold("h2", "order:1:escrow", "org:5:payable", 20, in_hours(5))
    forever = ledger.create_hold("h3", "order:1:escrow", "org:5:payable", 10, None)
    clock.advance(timedelta(hours=2))
    assert ledger.sweep_expired_holds in SWEEPS
    run_sweeps()
    db.session.expire_all()
    assert db.session.get(Hold, due.id).status == HoldStatus.EXPIRED
    assert db.session.get(Hold, later.id).status == HoldStatus.PENDING
    assert db.session.get(Hold, forever.id).status == HoldStatus.PENDING
    assert bal("order:1:escrow").available == 70
    assert ledger.expire_holds() == 0  # idempotent
    assert db.session.get(Hold, due.id).resolved_entry.kind == "hold_expire"
    assert queries.verify() == []


def test_a_hold_expires_exactly_at_its_expiry_time():
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 30, in_hours(1))
    clock.set_time(hold.expires_at - timedelta(microseconds=1))
    assert ledger.expire_holds() == 0
    clock.set_time(hold.expires_at)
    assert ledger.expire_holds() == 1


@pytest.mark.parametrize("action", ["post", "void"])
def test_touching_a_hold_past_its_expiry_expires_it_and_refuses(action):
    fund(amount=100)
    hold = ledger.create_hold("h1", "order:1:escrow", "org:5:payable", 30, in_hours(1))
    clock.advance(timedelta(hours=1, seconds=1))
    with pytest.raises(ledger.HoldExpired) as exc:
        ledger.post_hold(hold.id) if action == "post" else ledger.void_hold(hold.id)
    assert exc.value.code == "hold_expired"
    assert isinstance(exc.value, ledger.HoldAlreadyResolved)
    db.session.remove()
    assert db.session.get(Hold, hold.id).status == HoldStatus.EXPIRED  # the expiry was committed
    assert bal("order:1:escrow").available == 100
    assert bal("org:5:payable").posted == 0
    with pytest.raises(ledger.HoldAlreadyResolved):
        ledger.post_hold(hold.id)


def test_an_unknown_hold_is_not_found():
    with pytest.raises(ledger.DomainError) as exc:
        ledger.void_hold(424242)
    assert exc.value.status == 404


def test_voucher_budget_can_never_be_over_approved():
    ledger.post_entry("fund-budget", [T("city:fund", "voucher:2026:budget", 1_000)])
    ledger.post_entry("approve-1", [T("voucher:2026:budget", "voucher:2026:7", 600)])
    with pytest.raises(ledger.InsufficientFunds):
        ledger.post_entry("approve-2", [T("voucher:2026:budget", "voucher:2026:8", 600)])
    assert bal("voucher:2026:budget").posted == 400
