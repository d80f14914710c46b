"""Payouts: creation (bank account snapshot, ledger reservation), batch export, paid/failed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.states import OrgKind, Role
from core import events
from core.db import db
from core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.models.audit import AuditEntry
from core.models.notifications import Notification
from payments import ledger, queries
from payments.ledger import TransferSpec as T
from payments.models import Payout, PayoutBatch
from payments.services import payouts as svc
from payments.states import PayoutStatus
from tests.factories import make_org, make_user

BANK = {"bank_name": "中国银行扬州分行", "bank_account_name": "扬州测试科技有限公司",
        "bank_account_number": "6222020000000001"}


@pytest.fixture
def platform():
    return make_org([OrgKind.PLATFORM], name="Canal platform")


@pytest.fixture
def finance(platform):
    return make_user(platform, [Role.FINANCE])


@pytest.fixture
def payee():
    return make_org([OrgKind.PROVIDER], **BANK)


def fund(key: str, amount: int, idem: str = "fund-1", currency: str = "CNY"):
    return ledger.post_entry(idem, [T("platform:clearing", key, amount, currency)], description="funding")


def bal(key: str, currency: str = "CNY") -> int:
    return ledger.account_balance(key, currency).posted


def payable(org) -> str:
    return f"org:{org.id}:payable"


def create(org, amount=10_000, idem="p-1", source=None, reason="Provider payout for order 12"):
    return svc.create_payout(payee_org_id=org.id, amount=amount, reason=reason, source_key=source or payable(org),
                             actor="system", idempotency_id=idem)


def test_create_payout_snapshots_the_bank_account_and_moves_the_money_to_pending(payee):
    fund(payable(payee), 25_000)
    payout = create(payee)
    assert payout.status == PayoutStatus.PENDING
    assert (payout.bank_name, payout.bank_account_name, payout.bank_account_number) == (
        BANK["bank_name"], BANK["bank_account_name"], BANK["bank_account_number"])
    assert bal(payable(payee)) == 15_000
    assert bal("payouts:pending") == 10_000
    assert queries.entry_by_idempotency_id(f"payout:{payout.id}:reserve").id == payout.reserve_entry_id
    # a later change of the profile does not redirect the payout
    payee.bank_account_number = "999"
    db.session.commit()
    assert db.session.get(Payout, payout.id).bank_account_number == BANK["bank_account_number"]


def test_create_payout_is_refused_with_a_clear_message_when_the_org_has_no_bank_account():
    org = make_org([OrgKind.SUPPLIER])
    fund(payable(org), 5_000)
    with pytest.raises(ValidationError) as err:
        create(org, amount=1_000)
    assert "no bank account" in err.value.message
    assert db.session.scalar(sa.select(sa.func.count(Payout.id))) == 0
    assert bal(payable(org)) == 5_000


def test_create_payout_cannot_overdraw_the_guarded_source_and_leaves_nothing_behind(payee):
    fund(payable(payee), 5_000)
    with pytest.raises(ledger.InsufficientFunds):
        create(payee, amount=5_001)
    assert db.session.scalar(sa.select(sa.func.count(Payout.id))) == 0
    assert bal(payable(payee)) == 5_000


def test_create_payout_is_idempotent_and_refuses_the_same_id_with_other_content(payee):
    fund(payable(payee), 50_000)
    first = create(payee, idem="bond:7:refund")
    again = create(payee, idem="bond:7:refund")
    assert again.id == first.id
    assert bal(payable(payee)) == 40_000
    with pytest.raises(ledger.IdempotencyConflict):
        create(payee, amount=20_000, idem="bond:7:refund")


@pytest.mark.parametrize("amount", [0, -5, 1.5])
def test_create_payout_refuses_amounts_that_are_not_positive_whole_fen(payee, amount):
    fund(payable(payee), 5_000)
    with pytest.raises(ledger.InvalidAmount):
        create(payee, amount=amount)


def test_create_payout_for_an_unknown_org_is_not_found():
    with pytest.raises(NotFound):
        svc.create_payout(payee_org_id=999_999, amount=1, reason="x", source_key="org:1:payable",
                          actor="system", idempotency_id="x")


def test_payout_lifecycle_export_then_paid_moves_money_to_clearing_audits_notifies_and_publishes(
        payee, finance):
    admin = make_user(payee, [Role.ORG_ADMIN])
    fund(payable(payee), 10_000)
    payout = create(payee, amount=10_000)
    seen = []
    handler = lambda sender, **kw: seen.append(kw)  # noqa: E731
    events.payout_paid.connect(handler)
    try:
        batch = svc.export_batch(finance)
        assert batch.count == 1 and batch.total == 10_000
        db.session.refresh(payout)
        assert payout.status == PayoutStatus.EXPORTED and payout.batch_id == batch.id
        svc.mark_paid(payout, finance, "BOC-20260101-1")
    finally:
        events.payout_paid.disconnect(handler)
    db.session.refresh(payout)
    assert payout.status == PayoutStatus.PAID and payout.bank_reference == "BOC-20260101-1"
    assert bal("payouts:pending") == 0
    assert bal("platform:clearing") == 0  # funded 10,000 in, paid 10,000 out
    assert bal(payable(payee)) == 0
    assert seen == [{"payout_id": payout.id, "source_key": payable(payee), "payee_org_id": payee.id,
                     "amount": 10_000, "currency": "CNY"}]
    actions = set(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.obj_type.like("payout%"))))
    assert {"payout.created", "payout_batch.exported", "payout.paid"} <= actions
    assert db.session.scalar(sa.select(Notification).where(
        Notification.user_id == admin.id, Notification.kind == "payout.paid")) is not None
    assert queries.verify() == []


def test_a_failed_payout_returns_the_money_to_the_source_account_by_a_new_entry(payee, finance):
    admin = make_user(payee, [Role.ORG_ADMIN])
    source = "tender:3:lot:1:bonds"
    fund(source, 8_000)
    payout = create(payee, amount=8_000, source=source)
    assert bal(source) == 0
    svc.export_batch(finance)
    seen = []
    handler = lambda sender, **kw: seen.append(kw)  # noqa: E731
    events.payout_failed.connect(handler)
    try:
        svc.mark_failed(payout, finance, "Account closed")
    finally:
        events.payout_failed.disconnect(handler)
    db.session.refresh(payout)
    assert payout.status == PayoutStatus.FAILED and payout.failure_reason == "Account closed"
    assert bal(source) == 8_000
    assert bal("payouts:pending") == 0
    entry = queries.entry_by_idempotency_id(f"payout:{payout.id}:failed")
    assert entry.id == payout.settle_entry_id != payout.reserve_entry_id
    assert seen[0]["payout_id"] == payout.id and seen[0]["source_key"] == source
    assert db.session.scalar(sa.select(Notification).where(
        Notification.user_id == admin.id, Notification.kind == "payout.failed")) is not None
    with pytest.raises(InvalidTransition):
        svc.mark_paid(payout, finance, "late")
    assert bal(source) == 8_000


def test_a_pending_payout_may_be_withdrawn_as_failed_but_not_marked_paid(payee, finance):
    fund(payable(payee), 3_000)
    payout = create(payee, amount=3_000)
    with pytest.raises(InvalidTransition):
        svc.mark_paid(payout, finance, "REF")
    svc.mark_failed(payout, finance, "Wrong payee")
    assert bal(payable(payee)) == 3_000


def test_double_export_is_impossible_a_payout_is_in_one_batch_only(payee, finance):
    fund(payable(payee), 10_000)
    create(payee, amount=4_000, idem="a")
    create(payee, amount=6_000, idem="b")
    first = svc.export_batch(finance)
    assert first.count == 2 and first.total == 10_000
    with pytest.raises(svc.PayoutNotPossible):
        svc.export_batch(finance)
    assert db.session.scalar(sa.select(sa.func.count(PayoutBatch.id))) == 1
    fund(payable(payee), 1_000, idem="fund-2")
    late = create(payee, amount=1_000, idem="c")
    second = svc.export_batch(finance)
    assert [p.id for p in second.payouts] == [late.id]
    with pytest.raises(InvalidTransition):
        svc._move(db.session.get(Payout, late.id), PayoutStatus.EXPORTED)


def test_finance_commands_need_platform_finance(payee, platform):
    fund(payable(payee), 1_000)
    payout = create(payee, amount=1_000)
    for user in (make_user(platform, [Role.AUDITOR]), make_user(payee, [Role.FINANCE]),
                 make_user(payee, [Role.ORG_ADMIN])):
        with pytest.raises(PermissionDenied):
            svc.export_batch(user)
        with pytest.raises(PermissionDenied):
            svc.mark_failed(payout, user, "x")
    assert db.session.get(Payout, payout.id).status == PayoutStatus.PENDING


def test_mark_paid_needs_a_bank_reference_and_mark_failed_a_reason(payee, finance):
    fund(payable(payee), 1_000)
    payout = create(payee, amount=1_000)
    svc.export_batch(finance)
    with pytest.raises(ValidationError):
        svc.mark_paid(payout, finance, "  ")
    with pytest.raises(ValidationError):
        svc.mark_failed(payout, finance, "")
    assert db.session.get(Payout, payout.id).status == PayoutStatus.EXPORTED


def test_the_batch_csv_escapes_formula_cells_in_the_payee_name_and_formats_yuan(finance):
    evil = make_org([OrgKind.PROVIDER], name='=HYPERLINK("http://evil.example","click")',
                    bank_name="@SUM(1)", bank_account_name="+cmd", bank_account_number="6222")
    fund(payable(evil), 123_456)
    create(evil, amount=123_456, reason="-2+3")
    batch = svc.export_batch(finance)
    text = svc.batch_file(batch).decode("utf-8")
    assert text.startswith("\ufeff")
    line = text.splitlines()[1]
    assert "'=HYPERLINK(" in line
    assert "'@SUM(1)" in line and "'+cmd" in line and "'-2+3" in line
    assert ",1234.56," in line
    assert batch.file.original_name == f"payout-batch-{batch.id}.csv"


# ----------------------------------------------------------------- property


ops = st.lists(
    st.tuples(st.sampled_from(["create", "export", "paid", "failed"]), st.integers(1, 5_000), st.integers(0, 9)),
    min_size=1, max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
def test_random_payout_sequences_keep_guarded_accounts_non_negative_and_the_ledger_summing_to_zero(
        steps, payee, finance):
    try:
        ledger.post_entry("fund-prop", [T("platform:clearing", payable(payee), 20_000)])
        for n, (op, amount, pick) in enumerate(steps):
            try:
                if op == "create":
                    create(payee, amount=amount, idem=f"prop-{n}")
                elif op == "export":
                    svc.export_batch(finance)
                else:
                    rows = list(db.session.scalars(sa.select(Payout).order_by(Payout.id)))
                    if not rows:
                        continue
                    payout = rows[pick % len(rows)]
                    if op == "paid":
                        svc.mark_paid(payout, finance, f"ref-{n}")
                    else:
                        svc.mark_failed(payout, finance, f"reason {n}")
            except (ledger.InsufficientFunds, InvalidTransition, svc.PayoutNotPossible):
                pass
            assert queries.verify() == []
            assert bal(payable(payee)) >= 0 and bal("payouts:pending") >= 0
            totals = queries.trial_balance()
            assert all(v == {"posted": 0, "pending": 0} for v in totals.values())
            open_sum = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Payout.amount), 0)).where(
                Payout.status.in_(["pending", "exported"])))
            assert bal("payouts:pending") == open_sum
    finally:
        db.session.rollback()
        _drop_ledger_rows()


def _drop_ledger_rows() -> None:
    """Between hypothesis examples: drop ledger and payout rows, keep the fixtures' users."""
    from payments.models import Hold, JournalEntry, LedgerAccount, Transfer

    with db.engine.begin() as conn:
        for model in (Payout, PayoutBatch, Hold, Transfer, JournalEntry, LedgerAccount):
            conn.execute(sa.delete(model.__table__))


# ----------------------------------------------------------------- concurrency


def test_two_concurrent_exports_produce_one_batch_and_two_concurrent_paid_marks_one_posting(
        app, payee, finance):
    """PostgreSQL: payouts are locked FOR UPDATE; SQLite: BEGIN IMMEDIATE serializes."""
    from tests.payments.test_ledger_concurrency import run_threads

    fund(payable(payee), 9_000)
    payout_ids = [create(payee, amount=3_000, idem=f"c-{n}").id for n in range(3)]
    finance_id = finance.id
    db.session.remove()

    def export(_i):
        from accounts.models import User

        return svc.export_batch(db.session.get(User, finance_id)).id

    results = run_threads(app, 4, export)
    batches = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, svc.PayoutNotPossible)]
    assert len(batches) == 1 and len(refused) == 3, results
    assert db.session.scalar(sa.select(sa.func.count(PayoutBatch.id))) == 1
    db.session.remove()

    def paid(i):
        from accounts.models import User

        return svc.mark_paid(payout_ids[0], db.session.get(User, finance_id), f"ref-{i}").id

    results = run_threads(app, 4, paid)
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, InvalidTransition) for r in results) == 3, results
    db.session.remove()
    assert bal("payouts:pending") == 6_000
    assert queries.verify() == []


def test_concurrent_creates_with_the_same_idempotency_id_make_one_payout_and_one_reservation(
        app, payee, postgres_only):
    from tests.payments.test_ledger_concurrency import run_threads

    fund(payable(payee), 9_000)
    payee_id = payee.id
    db.session.remove()

    def work(_i):
        return svc.create_payout(payee_org_id=payee_id, amount=2_000, reason="r", source_key=f"org:{payee_id}:payable",
                                 actor="system", idempotency_id="same-id").id

    results = run_threads(app, 6, work)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    db.session.remove()
    assert bal(f"org:{payee_id}:payable") == 7_000
    assert db.session.scalar(sa.select(sa.func.count(Payout.id))) == 1
