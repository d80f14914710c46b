"""Stateful property test: random entries, holds, full/partial posts, voids and expiries.

After every step: each entry balances per currency; all balances of a currency sum to
zero (posted and pending separately); no guarded account is negative (posted or
available); the stored counters equal a model and the transfers; a hold resolves once.
"""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from core import clock
from core.db import db
from payments import ledger, queries
from payments.ledger import TransferSpec as T
from payments.models import Hold, JournalEntry, LedgerAccount, Transfer
from payments.states import HoldStatus

SOURCES = ["platform:clearing", "city:fund"]
GUARDED = ["order:1:escrow", "order:2:escrow", "org:1:payable", "voucher:s:budget"]
KEYS = SOURCES + GUARDED
CURRENCIES = ["CNY", "USD"]
BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

leg = st.tuples(st.sampled_from(KEYS), st.sampled_from(KEYS), st.integers(1, 300), st.sampled_from(CURRENCIES)).filter(
    lambda t: t[0] != t[1])


def _wipe() -> None:
    db.session.remove()
    with db.engine.begin() as conn:
        for model in (Hold, Transfer, JournalEntry, LedgerAccount):
            conn.execute(model.__table__.delete())


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        _wipe()
        clock.set_time(BASE)
        self.n = 0
        # model: (key, currency) -> [posted_debits, posted_credits, pending_debits, pending_credits]
        self.model: dict[tuple[str, str], list[int]] = {}
        self.entries: dict[str, tuple] = {}  # idempotency id -> legs
        self.holds: dict[int, dict] = {}

    # ------------------------------------------------------------- helpers
    def _c(self, key, cur):
        return self.model.setdefault((key, cur), [0, 0, 0, 0])

    def _available(self, key, cur):
        c = self._c(key, cur)
        return c[1] - c[0] - c[2]

    def _next(self, prefix):
        self.n += 1
        return f"{prefix}-{self.n}"

    # ------------------------------------------------------------- rules
    @rule(legs=st.lists(leg, min_size=1, max_size=3))
    def post_entry(self, legs):
        idem = self._next("e")
        after = {k: list(v) for k, v in self.model.items()}
        for d, c, a, cur in legs:
            after.setdefault((d, cur), [0, 0, 0, 0])[0] += a
            after.setdefault((c, cur), [0, 0, 0, 0])[1] += a
        should_fail = any(
            key in GUARDED and v[1] - v[0] - v[2] < 0 for (key, _cur), v in after.items()
        )
        specs = [T(d, c, a, cur) for d, c, a, cur in legs]
        if should_fail:
            with pytest.raises(ledger.InsufficientFunds):
                ledger.post_entry(idem, specs)
            assert queries.entry_by_idempotency_id(idem) is None
        else:
            entry = ledger.post_entry(idem, specs)
            assert len(entry.transfers) == len(legs)
            self.model = after
            self.entries[idem] = tuple(legs)

    @precondition(lambda self: self.entries)
    @rule(data=st.data(), change=st.booleans())
    def replay_entry(self, data, change):
        idem = data.draw(st.sampled_from(sorted(self.entries)))
        legs = list(self.entries[idem])
        if change:
            d, c, a, cur = legs[0]
            legs[0] = (d, c, a + 1, cur)
            with pytest.raises(ledger.IdempotencyConflict):
                ledger.post_entry(idem, [T(*x) for x in legs])
        else:
            entry = ledger.post_entry(idem, [T(*x) for x in legs])
            assert entry.idempotency_id == idem

    @rule(leg=leg, minutes=st.one_of(st.none(), st.integers(1, 30)))
    def create_hold(self, leg, minutes):
        d, c, a, cur = leg
        idem = self._next("h")
        expires = None if minutes is None else clock.now() + timedelta(minutes=minutes)
        if d in GUARDED and self._available(d, cur) < a:
            with pytest.raises(ledger.InsufficientFunds):
                ledger.create_hold(idem, d, c, a, expires, cur)
            return
        hold = ledger.create_hold(idem, d, c, a, expires, cur)
        self._c(d, cur)[2] += a
        self._c(c, cur)[3] += a
        self.holds[hold.id] = {"leg": leg, "expires": expires, "status": "pending"}

    def _release(self, info, posted):
        d, c, a, cur = info["leg"]
        self._c(d, cur)[2] -= a
        self._c(c, cur)[3] -= a
        self._c(d, cur)[0] += posted
        self._c(c, cur)[1] += posted

    def _due(self, info):
        return info["expires"] is not None and clock.now() >= info["expires"]

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), partial=st.booleans(), void=st.booleans())
    def resolve_hold(self, data, partial, void):
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        info = self.holds[hold_id]
        amount = None
        if partial and not void:
            amount = data.draw(st.integers(1, info["leg"][2]))
        call = (lambda: ledger.void_hold(hold_id)) if void else (lambda: ledger.post_hold(hold_id, amount=amount))
        if info["status"] != "pending":
            with pytest.raises(ledger.HoldAlreadyResolved):
                call()
        elif self._due(info):
            with pytest.raises(ledger.HoldExpired):
                call()
            info["status"] = "expired"
            self._release(info, 0)
        else:
            hold = call()
            posted = 0 if void else (info["leg"][2] if amount is None else amount)
            assert hold.status == ("voided" if void else "posted")
            info["status"] = hold.status
            self._release(info, posted)

    @rule(minutes=st.integers(1, 20))
    def time_passes_and_sweep_runs(self, minutes):
        clock.advance(timedelta(minutes=minutes))
        expected = [h for h, i in self.holds.items() if i["status"] == "pending" and self._due(i)]
        assert ledger.expire_holds() == len(expected)
        for h in expected:
            self.holds[h]["status"] = "expired"
            self._release(self.holds[h], 0)

    # ------------------------------------------------------------- invariants
    @invariant()
    def every_entry_balances(self):
        rows = db.session.execute(sa.select(Transfer.entry_id, Transfer.amount, Transfer.currency))
        by_entry: dict[int, list] = {}
        for entry_id, amount, cur in rows:
            by_entry.setdefault(entry_id, []).append(("d", "c", amount, cur))
        for legs in by_entry.values():
            ledger.check_balanced(legs)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Transfer).where(Transfer.amount <= 0)) == 0

    @invariant()
    def balances_sum_to_zero_per_currency(self):
        for sums in queries.trial_balance().values():
            assert sums == {"posted": 0, "pending": 0}

    @invariant()
    def guarded_accounts_are_never_negative(self):
        for account in db.session.scalars(sa.select(LedgerAccount).where(LedgerAccount.no_negative.is_(True))):
            assert account.posted_balance >= 0
            assert account.available_balance >= 0

    @invariant()
    def stored_counters_match_the_model_and_the_transfers(self):
        db.session.expire_all()
        for account in db.session.scalars(sa.select(LedgerAccount)):
            have = [account.posted_debits, account.posted_credits, account.pending_debits, account.pending_credits]
            assert have == self.model.get((account.key, account.currency), [0, 0, 0, 0]), account.key
        assert queries.verify() == []

    @invariant()
    def holds_resolve_at_most_once(self):
        for hold in db.session.scalars(sa.select(Hold)):
            assert hold.status == self.holds[hold.id]["status"]
            resolved = hold.status != HoldStatus.PENDING
            assert (hold.resolved_entry_id is not None) == resolved
            if resolved:
                n = db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry).where(
                    JournalEntry.meta["hold_id"].as_integer() == hold.id))
                assert n == 1


LedgerMachine.TestCase.settings = settings(
    max_examples=10, stateful_step_count=18, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)


def test_ledger_state_machine(app):
    state_machine_test = LedgerMachine.TestCase("runTest")
    state_machine_test.runTest()
