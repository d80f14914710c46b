"""Stateful property test over the whole payment layer (issue 3).

Random payments (created, then paid), refunds (some too large), holds from a subject
account to an escrow account (posted fully or partly, voided, expired as time passes),
and payouts from an organization's payable account (funded from a subject account),
exported in batches, then marked paid or failed.

After every step: every journal entry balances per currency; all balances of a currency
sum to zero (posted and pending); no guarded account is negative (posted or available);
each hold resolves at most once; for every payment amount_refunded <= amount_captured and
the ledger's refund entries for it sum to amount_refunded; payouts match a model.

Refunds need a provider: a fake that always succeeds is registered, for the duration of
the test, under the name "bank_transfer" (create_payment only accepts the names of
payments.states.ProviderName), and restored afterwards.
"""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from accounts.states import OrgKind, Role
from core import audit, clock
from core.db import db
from core.errors import DomainError, InvalidTransition
from payments import ledger, queries
from payments.ledger import TransferSpec as T
from payments.models import Hold, JournalEntry, LedgerAccount, Payment, Payout, Refund, Transfer
from payments.providers import base as providers
from payments.providers.base import ProviderResult
from payments.services import payments as pay
from payments.services import payouts as po
from payments.states import HoldStatus, PaymentStatus, PayoutStatus, RefundStatus, can_transition_payout
from tests.conftest import _empty_tables
from tests.factories import make_org, make_user

BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SUBJECTS = ["1", "2"]
FAKE_NAME = "bank_transfer"
BANK = {"bank_name": "中国银行扬州分行", "bank_account_name": "扬州测试科技有限公司",
        "bank_account_number": "6222020000000001"}
ACTOR = audit.system("money-machine")


class FakeRefundProvider:
    """A provider whose refunds always succeed (no network); nothing else is used."""

    name = FAKE_NAME

    def refund(self, payment, amount, refund):
        return ProviderResult(status=RefundStatus.SUCCEEDED.value, provider_ref=f"fake_re_{refund.id}")

    def _unused(self, *args, **kwargs):  # pragma: no cover - the machine never calls these
        raise AssertionError("the fake provider only refunds")

    create = confirm = capture = cancel = retrieve = handle_webhook = _unused


def subject_key(subject: str) -> str:
    return f"subject:machine:{subject}"


def escrow_key(subject: str) -> str:
    return f"order:{subject}:escrow"


def _counts() -> tuple:
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (JournalEntry, Refund, Hold))


class MoneyMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        db.session.remove()
        _empty_tables()
        clock.set_time(BASE)
        platform = make_org([OrgKind.PLATFORM], name="Canal platform")
        self.finance_id = make_user(platform, [Role.FINANCE]).id
        self.payer_id = make_org([OrgKind.SME]).id
        self.payee_id = make_org([OrgKind.PROVIDER], **BANK).id
        self.n = 0
        self.payments: dict[int, dict] = {}  # id -> {"captured", "refunded"}
        self.holds: dict[int, dict] = {}  # id -> {"amount", "expires", "status"}
        self.payouts: dict[int, dict] = {}  # id -> {"amount", "status"}

    # ------------------------------------------------------------- helpers
    def _next(self, prefix):
        self.n += 1
        return f"{prefix}-{self.n}"

    @property
    def finance(self):
        from accounts.models import User

        return db.session.get(User, self.finance_id)

    @property
    def payable(self):
        return f"org:{self.payee_id}:payable"

    def _due(self, info):
        return info["expires"] is not None and clock.now() >= info["expires"]

    # ------------------------------------------------------------- payments
    @rule(subject=st.sampled_from(SUBJECTS), amount=st.integers(1, 50_000), paid_less=st.booleans())
    def pay(self, subject, amount, paid_less):
        payment = pay.create_payment(purpose="machine", subject_type="machine", subject_id=subject,
                                     payer_org_id=self.payer_id, amount=amount, provider=FAKE_NAME, actor=ACTOR)
        captured = max(1, amount // 2) if paid_less else amount
        payment = pay.record_success(payment, captured, actor=ACTOR)
        assert payment.status == PaymentStatus.SUCCEEDED
        self.payments[payment.id] = {"captured": captured, "refunded": 0, "subject": subject}

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), too_much=st.booleans())
    def refund(self, data, too_much):
        payment_id = data.draw(st.sampled_from(sorted(self.payments)))
        info = self.payments[payment_id]
        left = info["captured"] - info["refunded"]
        if too_much or left == 0:
            amount = data.draw(st.integers(left + 1, info["captured"] + 10))
        else:
            amount = data.draw(st.one_of(st.just(left), st.integers(1, left)))
        payment = db.session.get(Payment, payment_id)
        if amount > left:
            before = _counts()
            with pytest.raises(DomainError):
                pay.refund(payment, amount, reason="too much", actor=ACTOR)
            db.session.expire_all()
            assert _counts() == before
            payment = db.session.get(Payment, payment_id)
            assert payment.amount_refunded == info["refunded"]
            return
        row = pay.refund(payment, amount, reason="machine", actor=ACTOR)
        assert row.status == RefundStatus.SUCCEEDED
        info["refunded"] += amount
        db.session.expire_all()
        payment = db.session.get(Payment, payment_id)
        expected = PaymentStatus.REFUNDED if info["refunded"] == info["captured"] else PaymentStatus.PARTIALLY_REFUNDED
        assert payment.status == expected

    # ------------------------------------------------------------- holds
    @rule(subject=st.sampled_from(SUBJECTS), amount=st.integers(1, 20_000),
          minutes=st.one_of(st.integers(1, 30), st.none()))
    def create_hold(self, subject, amount, minutes):
        expires = None if minutes is None else clock.now() + timedelta(minutes=minutes)
        hold = ledger.create_hold(self._next("h"), subject_key(subject), escrow_key(subject), amount, expires)
        self.holds[hold.id] = {"amount": amount, "expires": expires, "status": "pending"}

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), action=st.sampled_from(["post", "partial", "void"]))
    def resolve_hold(self, data, action):
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        info = self.holds[hold_id]
        amount = data.draw(st.integers(1, info["amount"])) if action == "partial" else None
        if action == "void":
            def call():
                return ledger.void_hold(hold_id)
        else:
            def call():
                return ledger.post_hold(hold_id, amount=amount)
        if info["status"] != "pending":
            with pytest.raises(ledger.HoldAlreadyResolved):
                call()
        elif self._due(info):
            with pytest.raises(ledger.HoldExpired):
                call()
            info["status"] = "expired"
        else:
            hold = call()
            assert hold.status == ("voided" if action == "void" else "posted")
            info["status"] = hold.status

    @rule(minutes=st.integers(5, 40))
    def time_passes_and_sweep_runs(self, minutes):
        clock.advance(timedelta(minutes=minutes))
        due = [h for h, i in self.holds.items() if i["status"] == "pending" and self._due(i)]
        assert ledger.expire_holds() == len(due)
        for h in due:
            self.holds[h]["status"] = "expired"

    # ------------------------------------------------------------- payouts
    @rule(subject=st.sampled_from(SUBJECTS), amount=st.integers(1_000, 20_000))
    def fund_payable(self, subject, amount):
        ledger.post_entry(self._next("fund"), [T(subject_key(subject), self.payable, amount, "CNY")],
                          description="provider earned")

    @rule(amount=st.integers(1, 8_000))
    def create_payout(self, amount):
        available = ledger.account_balance(self.payable, "CNY").available
        idem = self._next("payout")
        if amount > available:
            before = _counts()
            with pytest.raises(ledger.InsufficientFunds):
                po.create_payout(payee_org_id=self.payee_id, amount=amount, reason="machine", source_key=self.payable,
                                 actor="system", idempotency_id=idem)
            assert _counts() == before
            assert db.session.scalar(sa.select(Payout).where(Payout.idempotency_id == idem)) is None
            return
        payout = po.create_payout(payee_org_id=self.payee_id, amount=amount, reason="machine",
                                  source_key=self.payable, actor="system", idempotency_id=idem)
        assert payout.status == PayoutStatus.PENDING
        self.payouts[payout.id] = {"amount": amount, "status": PayoutStatus.PENDING}

    @rule()
    def export_batch(self):
        pending = sorted(p for p, i in self.payouts.items() if i["status"] == PayoutStatus.PENDING)
        if not pending:
            with pytest.raises(po.PayoutNotPossible):
                po.export_batch(self.finance)
            return
        batch = po.export_batch(self.finance)
        assert batch.count == len(pending)
        assert batch.total == sum(self.payouts[p]["amount"] for p in pending)
        for p in pending:
            self.payouts[p]["status"] = PayoutStatus.EXPORTED

    @precondition(lambda self: self.payouts)
    @rule(data=st.data(), paid=st.booleans())
    def settle_payout(self, data, paid):
        payout_id = data.draw(st.sampled_from(sorted(self.payouts)))
        info = self.payouts[payout_id]
        target = PayoutStatus.PAID if paid else PayoutStatus.FAILED

        def call():
            if paid:
                return po.mark_paid(payout_id, self.finance, "BANK-REF-1")
            return po.mark_failed(payout_id, self.finance, "account closed")

        if not can_transition_payout(info["status"], target):
            before = _counts()
            with pytest.raises(InvalidTransition):
                call()
            assert _counts() == before
            return
        assert call().status == target
        info["status"] = target

    # ------------------------------------------------------------- invariants
    @invariant()
    def every_entry_balances(self):
        db.session.expire_all()
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
        assert queries.verify() == []

    @invariant()
    def guarded_accounts_are_never_negative(self):
        for account in db.session.scalars(sa.select(LedgerAccount).where(LedgerAccount.no_negative.is_(True))):
            assert account.posted_balance >= 0, account.key
            assert account.available_balance >= 0, account.key

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

    @invariant()
    def refunds_never_exceed_what_was_captured(self):
        for payment in db.session.scalars(sa.select(Payment)):
            info = self.payments[payment.id]
            assert payment.amount_refunded <= payment.amount_captured
            assert (payment.amount_captured, payment.amount_refunded) == (info["captured"], info["refunded"])
            refund_ids = [r.id for r in db.session.scalars(
                sa.select(Refund).where(Refund.payment_id == payment.id))]
            succeeded = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0)).where(
                Refund.payment_id == payment.id, Refund.status == RefundStatus.SUCCEEDED.value))
            assert succeeded == payment.amount_refunded
            in_ledger = 0
            for rid in refund_ids:
                entry = queries.entry_by_idempotency_id(f"refund:{rid}")
                if entry is not None:
                    assert all(t.currency == payment.currency for t in entry.transfers)
                    in_ledger += sum(t.amount for t in entry.transfers)
            assert in_ledger == payment.amount_refunded
            success = queries.entry_by_idempotency_id(f"payment:{payment.id}:succeeded")
            assert sum(t.amount for t in success.transfers) == payment.amount_captured

    @invariant()
    def payouts_match_the_model_and_the_pending_account(self):
        in_flight = 0
        for payout in db.session.scalars(sa.select(Payout)):
            assert payout.status == self.payouts[payout.id]["status"]
            if payout.status in (PayoutStatus.PENDING, PayoutStatus.EXPORTED):
                in_flight += payout.amount
        if self.payouts:
            assert ledger.account_balance(po.PENDING_KEY, "CNY").posted == in_flight


MoneyMachine.TestCase.settings = settings(
    max_examples=20, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)


def test_money_state_machine(app):
    original = providers._REGISTRY.get(FAKE_NAME)
    providers.register(FAKE_NAME, FakeRefundProvider)
    try:
        state_machine_test = MoneyMachine.TestCase("runTest")
        state_machine_test.runTest()
    finally:
        if original is None:
            providers._REGISTRY.pop(FAKE_NAME, None)
        else:
            providers.register(FAKE_NAME, original)
