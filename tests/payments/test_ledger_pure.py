"""Pure rules of the ledger: states, default guards, balance check, input validation."""

import pytest

from payments import ledger
from payments.states import HoldStatus, can_transition, default_no_negative


def test_hold_resolves_only_from_pending():
    for target in (HoldStatus.POSTED, HoldStatus.VOIDED, HoldStatus.EXPIRED):
        assert can_transition(HoldStatus.PENDING, target)
        for resolved in (HoldStatus.POSTED, HoldStatus.VOIDED, HoldStatus.EXPIRED):
            assert not can_transition(resolved, target)


@pytest.mark.parametrize("key", ["order:12:escrow", "org:5:payable", "tender:3:lot:1:bonds",
                                 "voucher:2026:budget", "voucher:2026:7"])
def test_liability_accounts_are_guarded_by_default(key):
    assert default_no_negative(key)


@pytest.mark.parametrize("key", ["platform:clearing", "city:fund", "platform:fees"])
def test_source_accounts_are_not_guarded_by_default(key):
    assert not default_no_negative(key)


def test_balanced_legs_pass_per_currency():
    ledger.check_balanced([("a", "b", 5, "CNY"), ("b", "c", 7, "USD")])


def test_debits_without_matching_credits_are_unbalanced():
    with pytest.raises(ledger.UnbalancedEntry) as exc:
        ledger.check_balanced([("a", "b", 5, "CNY"), ("a", None, 3, "CNY")])
    assert exc.value.code == "unbalanced_entry"


def test_credits_in_another_currency_do_not_balance_debits():
    with pytest.raises(ledger.UnbalancedEntry):
        ledger.check_balanced([("a", None, 5, "CNY"), (None, "b", 5, "USD")])


@pytest.mark.parametrize("amount", [0, -1, 1.5, "10", True, None, ledger.MAX_AMOUNT + 1])
def test_bad_amounts_are_invalid_amount(amount):
    with pytest.raises(ledger.InvalidAmount) as exc:
        ledger._check_amount(amount)
    assert exc.value.code == "invalid_amount"
    assert exc.value.status == 422
    assert exc.value.message


@pytest.mark.parametrize("currency", ["cny", "CN", "CNYY", "", 5])
def test_bad_currencies_are_refused(currency):
    with pytest.raises(ledger.InvalidCurrency):
        ledger._check_currency(currency)


@pytest.mark.parametrize("key", ["", "Order:1", "order::1", "order 1", "x" * 201, None])
def test_bad_account_keys_are_refused(key):
    with pytest.raises(ledger.InvalidEntry):
        ledger._check_key(key)


def test_ledger_errors_are_domain_errors_with_stable_codes():
    from core.errors import DomainError

    for cls, code in [(ledger.InsufficientFunds, "insufficient_funds"),
                      (ledger.IdempotencyConflict, "idempotency_conflict"),
                      (ledger.HoldAlreadyResolved, "hold_already_resolved"),
                      (ledger.CurrencyMismatch, "currency_mismatch")]:
        err = cls()
        assert isinstance(err, DomainError)
        assert err.code == code
        assert 400 <= err.status < 500
