"""The double-entry ledger: the source of truth for money (TigerBeetle-style).

Sign convention
---------------
Every account keeps four counters, in integer minor units (fen), updated only under the
account's row lock: `posted_debits`, `posted_credits`, `pending_debits`,
`pending_credits`.

- balance = credits - debits (posted balance from the posted counters, pending balance
  from the pending ones). A transfer *debits* the account money leaves and *credits* the
  account money arrives in, so "platform:clearing" -> "order:12:escrow" (debit clearing,
  credit escrow) puts money into the escrow account.
- available = posted_credits - posted_debits - pending_debits: what may still be debited
  (money reserved by a pending hold is not available; pending credits do not count).
- an account with `no_negative` (escrow, payables, bonds, budgets, voucher accounts by
  default: `payments.states.default_no_negative`) may never have available < 0, i.e.
  debits (posted + pending) must not exceed posted credits. The check runs under the
  row lock after all transfers of an entry are applied; a database CHECK constraint
  backs it up.
- accounts that represent money outside the platform (platform:clearing, city:fund)
  are unguarded and go negative as money comes in.
- the sum of all balances of one currency is always 0 (posted and pending separately),
  because each transfer is a debit and a credit of the same amount.

Commands
--------
`post_entry`, `create_hold`, `post_hold`, `void_hold`, `expire_holds` each run in one
`core.db.unit_of_work()` (joining the caller's if any): every transfer applies or none.
Each writes one `JournalEntry` with a unique idempotency id; the same id with the same
content returns the original (no new effect); with other content it raises
`IdempotencyConflict`. The content hash covers the transfers (accounts, amounts,
currencies), the corrected entry and, for holds, the hold being resolved and the
amount; descriptions, metadata and a hold's `expires_at` are annotations and are not
compared (so a retry that recomputes a deadline is still a replay).

Locking: the rows checked are locked in a fixed order - the hold row (if any), then
the accounts sorted by id - with SELECT ... FOR UPDATE on PostgreSQL; on SQLite the unit
of work's BEGIN IMMEDIATE serializes writers. Accounts are created on first use,
race-safely (INSERT ... ON CONFLICT DO NOTHING, in key order), with the default guard
of their key (`get_or_create_account` first for another flag). The new counters are
written in one executemany UPDATE after the guard check.

Expiry on access: posting or voiding a hold past `expires_at` expires it, lets the unit
of work commit that, then raises HoldExpired (a HoldAlreadyResolved). Called inside a
caller's unit of work, the caller's rollback also drops the expiry; the sweep
(`expire_holds`, registered with core.tasks) applies it again.
"""

from core.errors import DomainError  # noqa: F401
from payments.ledger.base import (  # noqa: F401
    CURRENCY_RE,
    KEY_RE,
    MAX_AMOUNT,
    Balance,
    TransferSpec,
    _check_amount,
    _check_currency,
    _check_key,
    account_balance,
    balance_of,
    check_balanced,
    get_account,
    get_or_create_account,
)
from payments.ledger.entries import post_entry, reverse_entry  # noqa: F401
from payments.ledger.errors import (  # noqa: F401
    AccountFlagsConflict,
    AccountNotFound,
    CurrencyMismatch,
    HoldAlreadyResolved,
    HoldExpired,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidCurrency,
    InvalidEntry,
    LedgerError,
    UnbalancedEntry,
)
from payments.ledger.holds import (  # noqa: F401
    create_hold,
    expire_hold_if_due,
    expire_holds,
    post_hold,
    sweep_expired_holds,
    void_hold,
)
