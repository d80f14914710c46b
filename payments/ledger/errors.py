"""Errors of the ledger: DomainError subclasses with stable codes and translatable messages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.errors import Conflict, DomainError, NotFound, ValidationError


class LedgerError(DomainError):
    code = "ledger_error"
    default_message = _l("The ledger refused this operation.")


class InvalidAmount(LedgerError, ValidationError):
    code = "invalid_amount"
    status = 422
    default_message = _l("The amount must be a whole number of fen greater than zero.")


class InvalidCurrency(LedgerError, ValidationError):
    code = "invalid_currency"
    status = 422
    default_message = _l("The currency must be a three-letter code.")


class CurrencyMismatch(LedgerError, ValidationError):
    code = "currency_mismatch"
    status = 422
    default_message = _l("The currency does not match the account's currency.")


class InvalidEntry(LedgerError, ValidationError):
    code = "invalid_entry"
    status = 422
    default_message = _l("This ledger entry is not valid.")


class UnbalancedEntry(LedgerError, ValidationError):
    code = "unbalanced_entry"
    status = 422
    default_message = _l("The entry does not balance: debits and credits differ.")


class IdempotencyConflict(LedgerError, ValidationError):
    code = "idempotency_conflict"
    status = 422
    default_message = _l("This idempotency key was already used for a different operation.")


class InsufficientFunds(LedgerError, Conflict):
    code = "insufficient_funds"
    status = 409
    default_message = _l("Insufficient funds in the account.")


class AccountFlagsConflict(LedgerError, Conflict):
    code = "account_flags_conflict"
    status = 409
    default_message = _l("The account exists with a different overdraft setting.")


class HoldAlreadyResolved(LedgerError, Conflict):
    code = "hold_already_resolved"
    status = 409
    default_message = _l("This hold has already been posted, voided or expired.")


class HoldExpired(HoldAlreadyResolved):
    code = "hold_expired"
    default_message = _l("This hold has expired; the reserved money was released.")


class AccountNotFound(LedgerError, NotFound):
    code = "account_not_found"
    status = 404
    default_message = _l("Ledger account not found.")
