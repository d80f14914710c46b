"""Tender drafts, procedure types and the publishing rules (service level, on the DB)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from accounts.states import OrgKind, Role
from core import clock
from core.calendar import add_working_days
from core.db import db, unit_of_work
from core.errors import InvalidTransition, PermissionDenied, ValidationError
from core.files import save_file
from core.models.audit import AuditEntry
from procurement.models import ProcedureType, Tender
from procurement.services import tenders as svc
from procurement.states import EvaluationMethod, Method, TenderStatus
from tests.factories import make_org, make_user

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing
TICK = timedelta(microseconds=1)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LOT_BUDGET = 100_000_000  # 1,000,000.00 yuan in fen


@pytest.fixture(autouse=True)
def _frozen_clock():
    clock.set_time(NOW)
    yield
    clock.reset()


@pytest.fixture
def buyer():
    return make_org(kinds=[OrgKind.BUYER])


@pytest.fixture
def officer(buyer):
    return make_user(buyer, [Role.PROCUREMENT_OFFICER])


@pytest.fixture
def custodians(buyer):
    return [make_user(buyer, [Role.KEY_CUSTODIAN]) for _ in range(3)]


def _document(tender, officer):
    with unit_of_work():
        stored = save_file(PDF, filename="tender.pdf", allowed={"pdf"}, purpose="tender_document")
    svc.add_document(tender, officer, stored, title="Tender documents")


def _draft(buyer, officer, custodians, *, documents=True, lots=None, criteria=None, invitees=(), **overrides):
    deadline = NOW + timedelta(days=30)
    fields = dict(
        title_zh="办公设备采购", title_en="Office equipment", category="goods", category_code="A0201",
        budget=LOT_BUDGET, method="open", enquiry_end=NOW + timedelta(days=10), submission_deadline=deadline,
        opening_time=deadline + timedelta(hours=1), custodian_threshold=2, custodian_count=3,
        evaluation_method="lowest_price", sme_deduction_pct=10,
    )
    fields.update(overrides)
    if lots is None:
        lots = [dict(title_zh="台式电脑", title_en="Desktops", budget=LOT_BUDGET, bond_amount=LOT_BUDGET // 50,
                     quantity=100, unit="set", delivery_terms="30 days")]
    tender = svc.create_draft(
        buyer, officer, lots=lots, criteria=criteria or [], custodian_ids=[u.id for u in custodians],
        invitee_org_ids=list(invitees), **fields,
    )
    if documents:
        _document(tender, officer)
    return tender


def _refused(tender, officer, code, field):
    with pytest.raises(ValidationError) as exc:
        svc.publish(tender, officer)
    assert exc.value.code == code
    assert field in exc.value.fields
    assert exc.value.message and exc.value.fields[field] == [exc.value.message]
    assert db.session.get(Tender, tender.id).status == TenderStatus.DRAFT
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "tender.published")) == 0
    return exc.value.message


# --------------------------------------------------------------------------- procedure types


def test_seed_procedure_types_is_idempotent_and_keeps_admin_edits():
    assert svc.seed_procedure_types() == 6
    with unit_of_work():
        row = db.session.scalar(sa.select(ProcedureType).where(ProcedureType.code == "open"))
        row.min_days = 25
    assert svc.seed_procedure_types() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcedureType)) == 6
    assert svc.procedure_for(Method.OPEN).min_days == 25


EXPECTED = {
    "open": (20, False, 3, 5, True, ["lowest_price", "scored"], "open"),
    "invitation": (20, False, 3, 5, True, ["lowest_price", "scored"], "selective"),
    "competitive_negotiation": (3, True, 3, 3, True, ["lowest_price"], "limited"),
    "competitive_consultation": (10, False, 3, 3, True, ["scored"], "limited"),
    "inquiry": (3, True, 3, 3, True, ["lowest_price"], "limited"),
    "single_source": (5, True, 1, 3, False, ["negotiated"], "direct"),
}


@pytest.mark.parametrize("method", list(Method))
def test_each_method_has_the_design_defaults(method):
    row = svc.procedure_for(method)
    assert (row.min_days, row.min_days_working, row.min_bids, row.committee_min, row.bond_allowed,
            row.evaluation_methods, row.ocds_method) == EXPECTED[method.value]
    assert row.name_zh and row.name_en


def _method_overrides(method, deadline, buyer):
    row = svc.procedure_for(method)
    evaluation = row.evaluation_methods[0]
    kw = dict(method=method.value, evaluation_method=evaluation, enquiry_end=None,
              submission_deadline=deadline, opening_time=deadline)
    if evaluation == EvaluationMethod.SCORED:
        kw["criteria"] = [dict(name_en="Price", weight=40, kind="price"),
                          dict(name_en="Technical", weight=60, kind="technical")]
    if not row.bond_allowed:
        kw["lots"] = [dict(title_en="Service", budget=LOT_BUDGET, bond_amount=0)]
    if method == Method.INVITATION:
        kw["invitees"] = [make_org().id for _ in range(3)]
    return row, kw


def _earliest_deadline(row, days):
    if row.min_days_working:
        day = add_working_days(clock.today_local(), days)
        return datetime.combine(day, time(9, 0), tzinfo=clock.LOCAL_TZ).astimezone(UTC)
    return NOW + timedelta(days=days)


@pytest.mark.parametrize("method", list(Method))
def test_each_method_publishes_at_its_minimum_days(method, buyer, officer, custodians):
    row = svc.procedure_for(method)
    deadline = _earliest_deadline(row, row.min_days)
    row, kw = _method_overrides(method, deadline, buyer)
    tender = svc.publish(_draft(buyer, officer, custodians, **kw), officer)
    assert tender.status == TenderStatus.TENDERING


@pytest.mark.parametrize("method", list(Method))
def test_each_method_refuses_one_day_too_few(method, buyer, officer, custodians):
    row = svc.procedure_for(method)
    deadline = _earliest_deadline(row, row.min_days - 1)
    row, kw = _method_overrides(method, deadline, buyer)
    message = _refused(_draft(buyer, officer, custodians, **kw), officer, "deadline_too_soon", "submission_deadline")
    assert str(row.min_days) in message
    assert ("working days" in message) == row.min_days_working


def test_calendar_days_count_to_the_minute(buyer, officer, custodians):
    deadline = NOW + timedelta(days=20) - TICK
    _refused(_draft(buyer, officer, custodians, submission_deadline=deadline, opening_time=deadline + timedelta(hours=1)),
             officer, "deadline_too_soon", "submission_deadline")


def test_working_days_skip_a_declared_holiday(buyer, officer, custodians):
    from core.calendar import set_day

    row = svc.procedure_for(Method.INQUIRY)
    deadline = _earliest_deadline(row, row.min_days)
    set_day(clock.today_local() + timedelta(days=1), False, name_en="Holiday")
    _, kw = _method_overrides(Method.INQUIRY, deadline, buyer)
    _refused(_draft(buyer, officer, custodians, **kw), officer, "deadline_too_soon", "submission_deadline")


# --------------------------------------------------------------------------- success


def test_valid_tender_publishes_into_enquiry_period_with_audit(buyer, officer, custodians):
    tender = svc.publish(_draft(buyer, officer, custodians), officer)
    stored = db.session.get(Tender, tender.id)
    assert stored.status == TenderStatus.ENQUIRIES
    assert stored.published_at == NOW
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "tender.published"))
    assert entry.obj_id == str(tender.id) and entry.actor_user_id == officer.id


def test_tender_without_enquiry_period_publishes_into_tendering(buyer, officer, custodians):
    tender = svc.publish(_draft(buyer, officer, custodians, enquiry_end=None), officer)
    assert tender.status == TenderStatus.TENDERING


def test_status_now_follows_the_clock_through_the_deadline(buyer, officer, custodians):
    tender = svc.publish(_draft(buyer, officer, custodians), officer)
    assert svc.status_now(tender) == TenderStatus.ENQUIRIES
    clock.set_time(tender.enquiry_end)
    assert svc.status_now(tender) == TenderStatus.TENDERING
    clock.set_time(tender.submission_deadline - TICK)
    assert svc.status_now(tender) == TenderStatus.TENDERING
    clock.set_time(tender.submission_deadline)
    assert svc.status_now(db.session.get(Tender, tender.id)) == TenderStatus.AWAITING_OPENING


def test_published_tender_cannot_be_published_again(buyer, officer, custodians):
    tender = svc.publish(_draft(buyer, officer, custodians), officer)
    with pytest.raises(InvalidTransition):
        svc.publish(tender, officer)


# --------------------------------------------------------------------------- each rule


def test_deadline_in_the_past_is_refused(buyer, officer, custodians):
    past = NOW - timedelta(hours=1)
    _refused(_draft(buyer, officer, custodians, enquiry_end=None, submission_deadline=past, opening_time=NOW),
             officer, "deadline_in_past", "submission_deadline")


def test_deadline_exactly_now_is_in_the_past(buyer, officer, custodians):
    _refused(_draft(buyer, officer, custodians, enquiry_end=None, submission_deadline=NOW, opening_time=NOW),
             officer, "deadline_in_past", "submission_deadline")


def test_opening_before_deadline_is_refused(buyer, officer, custodians):
    deadline = NOW + timedelta(days=30)
    msg = _refused(_draft(buyer, officer, custodians, opening_time=deadline - TICK),
                   officer, "opening_before_deadline", "opening_time")
    assert "opening time" in msg


def test_bond_above_two_percent_of_the_lot_budget_is_refused(buyer, officer, custodians):
    lots = [dict(title_en="A", budget=LOT_BUDGET, bond_amount=LOT_BUDGET // 50),
            dict(title_en="B", budget=LOT_BUDGET, bond_amount=LOT_BUDGET // 50 + 1)]
    msg = _refused(_draft(buyer, officer, custodians, lots=lots), officer, "bond_too_high", "bond_amount")
    assert "Lot 2" in msg and "2%" in msg


def test_bond_of_exactly_two_percent_is_accepted(buyer, officer, custodians):
    lots = [dict(title_en="A", budget=12_345, bond_amount=246)]  # 246.9 would be 2%
    assert svc.publish(_draft(buyer, officer, custodians, lots=lots), officer).status == TenderStatus.ENQUIRIES


def test_bond_on_a_method_that_allows_none_is_refused(buyer, officer, custodians):
    deadline = NOW + timedelta(days=30)
    msg = _refused(_draft(buyer, officer, custodians, method="single_source", evaluation_method="negotiated",
                          enquiry_end=None, submission_deadline=deadline, opening_time=deadline),
                   officer, "bond_not_allowed", "bond_amount")
    assert "bond" in msg


def test_evaluation_method_not_allowed_for_method_is_refused(buyer, officer, custodians):
    _refused(_draft(buyer, officer, custodians, evaluation_method="negotiated"),
             officer, "evaluation_method_not_allowed", "evaluation_method")


def test_scored_weights_not_summing_to_100_are_refused(buyer, officer, custodians):
    criteria = [dict(name_en="Price", weight=30, kind="price"), dict(name_en="Tech", weight=60, kind="technical")]
    msg = _refused(_draft(buyer, officer, custodians, evaluation_method="scored", criteria=criteria),
                   officer, "weights_not_100", "criteria")
    assert "100" in msg and "90" in msg


@pytest.mark.parametrize(("category", "minimum"), [("goods", 30), ("services", 10)])
def test_price_weight_below_the_category_minimum_is_refused(category, minimum, buyer, officer, custodians):
    criteria = [dict(name_en="Price", weight=minimum - 1, kind="price"),
                dict(name_en="Tech", weight=101 - minimum, kind="technical")]
    msg = _refused(_draft(buyer, officer, custodians, category=category, evaluation_method="scored",
                          criteria=criteria), officer, "price_weight_too_low", "price_weight")
    assert f"{minimum}%" in msg


@pytest.mark.parametrize(("category", "minimum"), [("goods", 30), ("services", 10)])
def test_price_weight_at_the_category_minimum_publishes(category, minimum, buyer, officer, custodians):
    criteria = [dict(name_en="Price", weight=minimum, kind="price"),
                dict(name_en="Tech", weight=100 - minimum, kind="technical")]
    tender = svc.publish(_draft(buyer, officer, custodians, category=category, evaluation_method="scored",
                                criteria=criteria), officer)
    assert tender.status == TenderStatus.ENQUIRIES


def test_fewer_custodians_than_threshold_is_refused(buyer, officer, custodians):
    msg = _refused(_draft(buyer, officer, custodians[:1]), officer, "too_few_custodians", "custodians")
    assert "2" in msg


def test_missing_documents_are_refused(buyer, officer, custodians):
    _refused(_draft(buyer, officer, custodians, documents=False), officer, "documents_missing", "documents")


def test_invitation_without_invitees_is_refused(buyer, officer, custodians):
    _refused(_draft(buyer, officer, custodians, method="invitation"), officer, "no_invitees", "invitees")


@pytest.mark.parametrize("pct", [9, 21])
def test_sme_deduction_outside_10_to_20_is_refused(pct, buyer, officer, custodians):
    msg = _refused(_draft(buyer, officer, custodians, sme_deduction_pct=pct),
                   officer, "sme_deduction_out_of_range", "sme_deduction_pct")
    assert "10%" in msg and "20%" in msg


def test_enquiry_period_ending_after_deadline_is_refused(buyer, officer, custodians):
    deadline = NOW + timedelta(days=30)
    _refused(_draft(buyer, officer, custodians, enquiry_end=deadline), officer, "enquiry_end_invalid", "enquiry_end")


def test_tender_without_lots_is_refused(buyer, officer, custodians):
    tender = _draft(buyer, officer, custodians, lots=[])
    assert tender.lots == []
    _refused(tender, officer, "no_lots", "lots")


@pytest.mark.parametrize("weight", [None, -1, 101, "30"])
def test_invalid_criterion_weight_is_refused_at_draft(weight, buyer, officer):
    with pytest.raises(ValidationError) as exc:
        svc.create_draft(buyer, officer, title_en="x", category="goods", method="open",
                         criteria=[dict(name_en="Price", weight=weight, kind="price")])
    assert exc.value.code == "invalid_weight"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tender)) == 0


# --------------------------------------------------------------------------- permissions


def test_supplier_cannot_create_or_publish(buyer, officer, custodians):
    supplier = make_user(make_org(), [Role.BIDDER])
    with pytest.raises(PermissionDenied):
        svc.create_draft(buyer, supplier, title_en="x", category="goods", method="open")
    tender = _draft(buyer, officer, custodians)
    with pytest.raises(PermissionDenied):
        svc.publish(tender, supplier)
    assert db.session.get(Tender, tender.id).status == TenderStatus.DRAFT


def test_officer_of_another_buyer_cannot_publish(buyer, officer, custodians):
    other = make_user(make_org(kinds=[OrgKind.BUYER]), [Role.PROCUREMENT_OFFICER])
    tender = _draft(buyer, officer, custodians)
    with pytest.raises(PermissionDenied):
        svc.publish(tender, other)


def test_custodian_of_the_buyer_cannot_publish(buyer, officer, custodians):
    tender = _draft(buyer, officer, custodians)
    with pytest.raises(PermissionDenied):
        svc.publish(tender, custodians[0])


# --------------------------------------------------------------------------- cancellation


def test_cancel_requires_a_reason(buyer, officer, custodians):
    tender = svc.publish(_draft(buyer, officer, custodians), officer)
    with pytest.raises(ValidationError) as exc:
        svc.cancel(tender, officer, "  ")
    assert exc.value.code == "reason_required"
    assert db.session.get(Tender, tender.id).status == TenderStatus.ENQUIRIES


def test_cancel_records_reason_and_audit_and_is_final(buyer, officer, custodians):
    tender = svc.publish(_draft(buyer, officer, custodians), officer)
    svc.cancel(tender, officer, "Budget withdrawn")
    stored = db.session.get(Tender, tender.id)
    assert stored.status == TenderStatus.CANCELLED and stored.cancel_reason == "Budget withdrawn"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "tender.cancelled"))
    assert entry.data["reason"] == "Budget withdrawn"
    with pytest.raises(InvalidTransition):
        svc.cancel(stored, officer, "again")


def test_supplier_cannot_cancel(buyer, officer, custodians):
    tender = _draft(buyer, officer, custodians)
    with pytest.raises(PermissionDenied):
        svc.cancel(tender, make_user(make_org(), [Role.BIDDER]), "no")


def test_only_verified_suppliers_can_be_invited(buyer, officer, custodians):
    supplier = make_org(kinds=[OrgKind.SUPPLIER])
    unverified = make_org(kinds=[OrgKind.SUPPLIER], verified=False)
    another_buyer = make_org(kinds=[OrgKind.BUYER])
    assert supplier in svc.eligible_invitees()
    assert unverified not in svc.eligible_invitees() and another_buyer not in svc.eligible_invitees()
    for wrong in (unverified, another_buyer):
        with pytest.raises(ValidationError) as refused:
            _draft(buyer, officer, custodians, method="invitation", invitees=[supplier.id, wrong.id])
        assert refused.value.code == "invalid_invitee" and "invitees" in refused.value.fields


def test_each_publishing_refusal_has_its_own_message(buyer, officer, custodians):
    """The issue's seven refusals, each with a message of its own (an officer reading one
    knows which rule to fix)."""
    row = svc.procedure_for(Method.OPEN)
    _row, too_soon = _method_overrides(Method.OPEN, _earliest_deadline(row, row.min_days - 1), buyer)
    deadline = NOW + timedelta(days=30)
    scored = dict(evaluation_method="scored")
    cases = [
        (dict(too_soon), "deadline_too_soon", "submission_deadline"),
        (dict(lots=[dict(title_en="A", budget=LOT_BUDGET, bond_amount=LOT_BUDGET // 50 + 1)]),
         "bond_too_high", "bond_amount"),
        (dict(scored, criteria=[dict(name_en="Price", weight=40, kind="price"),
                                dict(name_en="Tech", weight=50, kind="technical")]), "weights_not_100", "criteria"),
        (dict(scored, criteria=[dict(name_en="Price", weight=20, kind="price"),
                                dict(name_en="Tech", weight=80, kind="technical")]),
         "price_weight_too_low", "price_weight"),
        (dict(custodians=custodians[:1]), "too_few_custodians", "custodians"),
        (dict(enquiry_end=None, submission_deadline=NOW - TICK, opening_time=deadline),
         "deadline_in_past", "submission_deadline"),
        (dict(documents=False), "documents_missing", "documents"),
    ]
    messages = []
    for overrides, code, field in cases:
        who = overrides.pop("custodians", custodians)
        messages.append(_refused(_draft(buyer, officer, who, **overrides), officer, code, field))
    assert len(set(messages)) == len(messages), messages
