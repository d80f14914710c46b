"""Clarifications: who may ask and when, answers, the forced deadline move, notices."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from accounts.states import CreditStatus, Role
from core import clock
from core.db import db, unit_of_work
from core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from core.models.audit import AuditEntry
from procurement.models import DocumentDownload, Question, Tender, TenderAmendment
from procurement.queries import answered_questions
from procurement.services import clarifications as svc
from tests.factories import make_user
from tests.procurement.factories import inbox_of, make_buyer, make_supplier, published_tender

pytestmark = pytest.mark.usefixtures("frozen_clock")


def _downloaded(tender, user, org):
    with unit_of_work():
        db.session.add(DocumentDownload(tender_id=tender.id, user_id=user.id, org_id=org.id))


# --------------------------------------------------------------------------- asking


def test_a_verified_supplier_asks_during_the_enquiry_period(tender):
    org, bidder = make_supplier()
    q = svc.ask(tender, bidder, org, "Is delivery to several sites included?", lot_id=tender.lots[0].id)
    assert q.id and q.asker_org_id == org.id and q.lot_id == tender.lots[0].id and q.answered_at is None
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "tender.question_asked"))
    assert entry is not None and "text" not in entry.data
    # the audit log (platform admins and auditors read it) does not tell who asked: no
    # actor, no object, nothing of the asker in the clear; only the tender key opens it
    assert entry.actor_user_id is None and entry.actor_org_id is None and entry.obj_type == "sealed_question"
    clear = json.dumps(entry.data, ensure_ascii=False) + (entry.actor_label or "") + str(entry.obj_id)
    assert entry.obj_id is None
    for secret in (bidder.email, org.name_zh, org.name_en):
        assert secret not in clear, secret
    assert set(entry.data) == {"sealed"}


def test_asking_after_the_enquiry_period_is_refused(tender):
    org, bidder = make_supplier()
    clock.set_time(tender.enquiry_end)
    with pytest.raises(InvalidTransition) as exc:
        svc.ask(tender, bidder, org, "A question too late")
    assert exc.value.code == "enquiry_period_over"
    assert db.session.scalar(sa.select(sa.func.count(Question.id))) == 0


def test_asking_one_tick_before_the_end_of_the_enquiry_period_is_accepted(tender):
    org, bidder = make_supplier()
    clock.set_time(tender.enquiry_end - timedelta(microseconds=1))
    assert svc.ask(tender, bidder, org, "Just in time question").id


def test_a_tender_without_enquiry_period_takes_questions_until_the_deadline(buyer):
    tender = published_tender(buyer, enquiry_end=None)
    org, bidder = make_supplier()
    assert svc.ask(tender, bidder, org, "Question while tendering").id
    clock.set_time(tender.submission_deadline)
    with pytest.raises(InvalidTransition) as exc:
        svc.ask(tender, bidder, org, "Question at the deadline")
    assert exc.value.code == "questions_closed"


def test_question_length_limits(tender):
    org, bidder = make_supplier()
    with pytest.raises(ValidationError) as short:
        svc.ask(tender, bidder, org, "  hi ")
    assert short.value.code == "question_too_short"
    with pytest.raises(ValidationError) as long:
        svc.ask(tender, bidder, org, "x" * (svc.QUESTION_MAX_LENGTH + 1))
    assert long.value.code == "question_too_long"


def test_only_verified_non_debarred_bidders_ask(tender):
    pending_org, pending_user = make_supplier(verified=False)
    with pytest.raises(PermissionDenied):
        svc.ask(tender, pending_user, pending_org, "Unverified question")
    debarred_org, debarred_user = make_supplier(credit_status=CreditStatus.DEBARRED.value)
    with pytest.raises(PermissionDenied):
        svc.ask(tender, debarred_user, debarred_org, "Debarred question")
    org, _bidder = make_supplier()
    finance = make_user(org, [Role.FINANCE])
    with pytest.raises(PermissionDenied):
        svc.ask(tender, finance, org, "Finance question")


def test_a_question_about_a_lot_of_another_tender_is_refused(buyer, tender):
    other = published_tender(buyer)
    org, bidder = make_supplier()
    with pytest.raises(ValidationError) as exc:
        svc.ask(tender, bidder, org, "Wrong lot question", lot_id=other.lots[0].id)
    assert exc.value.code == "unknown_lot"


def test_invitation_tender_only_invited_suppliers_ask(buyer):
    invited_org, invited = make_supplier()
    tender = published_tender(buyer, method="invitation", invitees=[invited_org.id])
    assert svc.ask(tender, invited, invited_org, "Invited question").id
    org, bidder = make_supplier()
    with pytest.raises(PermissionDenied):
        svc.ask(tender, bidder, org, "Uninvited question")


# --------------------------------------------------------------------------- answering


def test_an_early_answer_is_public_and_moves_nothing(buyer, tender):
    org, bidder = make_supplier()
    q = svc.ask(tender, bidder, org, "Is installation included?")
    deadline = tender.submission_deadline
    svc.answer(q, buyer.officer, "Yes, installation is included.")
    db.session.refresh(tender)
    assert tender.submission_deadline == deadline and tender.version == 1
    assert [x.id for x in answered_questions(tender.id)] == [q.id]
    assert db.session.scalar(sa.select(sa.func.count(TenderAmendment.id))) == 0


def test_only_the_buyers_officer_answers_and_only_once(buyer, tender):
    org, bidder = make_supplier()
    q = svc.ask(tender, bidder, org, "Who answers this question?")
    other = make_buyer()
    with pytest.raises(PermissionDenied):
        svc.answer(q, other.officer, "Not mine to answer")
    with pytest.raises(PermissionDenied):
        svc.answer(q, buyer.custodians[0], "A custodian answering")
    svc.answer(q, buyer.officer, "The officer answers.")
    with pytest.raises(Conflict) as exc:
        svc.answer(q, buyer.officer, "Again")
    assert exc.value.code == "already_answered"


def test_a_late_answer_without_a_new_deadline_is_refused(buyer, tender):
    org, bidder = make_supplier()
    q = svc.ask(tender, bidder, org, "A question answered late")
    clock.set_time(tender.submission_deadline - timedelta(days=15) + timedelta(seconds=1))
    with pytest.raises(ValidationError) as exc:
        svc.answer(q, buyer.officer, "Late answer")
    assert exc.value.code == "deadline_move_required" and "new_submission_deadline" in exc.value.fields
    db.session.refresh(q)
    assert q.answered_at is None


def test_an_answer_exactly_15_days_before_the_deadline_needs_no_move(buyer, tender):
    org, bidder = make_supplier()
    q = svc.ask(tender, bidder, org, "Answered at the limit")
    clock.set_time(tender.submission_deadline - timedelta(days=15))
    svc.answer(q, buyer.officer, "On time")
    assert q.answered_at is not None


def test_a_late_answer_with_a_new_deadline_creates_an_amendment(buyer, tender):
    org, bidder = make_supplier()
    q = svc.ask(tender, bidder, org, "A question answered late")
    old_deadline, old_opening = tender.submission_deadline, tender.opening_time
    late = old_deadline - timedelta(days=5)
    clock.set_time(late)
    with pytest.raises(ValidationError) as exc:
        svc.answer(q, buyer.officer, "Late answer", new_submission_deadline=late + timedelta(days=14))
    assert exc.value.code in ("new_deadline_too_soon", "deadline_must_move")
    new_deadline = late + timedelta(days=16)
    svc.answer(q, buyer.officer, "Late answer", new_submission_deadline=new_deadline)
    db.session.refresh(tender)
    assert tender.submission_deadline == new_deadline
    assert tender.opening_time == old_opening + (new_deadline - old_deadline)
    assert tender.version == 2
    amendment = svc.amendment_for(q)
    assert amendment.number == 2 and amendment.question_id == q.id
    assert amendment.changes["submission_deadline"] == [old_deadline.isoformat(), new_deadline.isoformat()]
    assert "opening_time" in amendment.changes
    assert q.answer == "Late answer"


def test_answering_after_the_deadline_is_refused(buyer, tender):
    org, bidder = make_supplier()
    q = svc.ask(tender, bidder, org, "Never answered in time")
    clock.set_time(tender.submission_deadline)
    with pytest.raises(InvalidTransition) as exc:
        svc.answer(q, buyer.officer, "Too late", new_submission_deadline=clock.now() + timedelta(days=20))
    assert exc.value.code == "answer_too_late"


def test_the_answer_reaches_the_asker_downloaders_and_askers_only(buyer, tender):
    org, asker = make_supplier()
    other_org, other_asker = make_supplier()
    dl_org, downloader = make_supplier()
    bystander_org, bystander = make_supplier()
    _downloaded(tender, downloader, dl_org)
    q = svc.ask(tender, asker, org, "The question to be answered")
    svc.ask(tender, other_asker, other_org, "Another question")
    svc.answer(q, buyer.officer, "The public answer")
    mine = inbox_of(asker)
    assert len(mine) == 1 and "answered" in mine[0].title and "The public answer" in mine[0].body
    assert mine[0].link == f"/procurement/tenders/{tender.id}"
    assert len(inbox_of(other_asker)) == 1 and len(inbox_of(downloader)) == 1
    assert inbox_of(bystander) == [] and inbox_of(buyer.officer) == []
    # the notice never names the asker
    for n in inbox_of(downloader) + inbox_of(other_asker):
        assert org.name_zh not in n.body and org.name_en not in n.body


def test_officer_view_lists_the_asker_public_list_only_answered(buyer, tender):
    org, bidder = make_supplier()
    q1 = svc.ask(tender, bidder, org, "First question here")
    q2 = svc.ask(tender, bidder, org, "Second question here")
    svc.answer(q1, buyer.officer, "Answer one")
    assert [q.id for q in svc.officer_questions(buyer.org.id, answered=False)] == [q2.id]
    assert [q.id for q in svc.officer_questions(buyer.org.id, answered=True)] == [q1.id]
    assert [q.id for q in answered_questions(tender.id)] == [q1.id]
    assert svc.officer_questions(make_buyer().org.id) == []
    assert {q.id for q in svc.questions_of_org(tender, org.id)} == {q1.id, q2.id}


def test_questions_on_a_draft_are_not_found(buyer):
    from core.errors import NotFound
    from tests.procurement.factories import draft_tender

    draft = draft_tender(buyer)
    org, bidder = make_supplier()
    with pytest.raises(NotFound):
        svc.ask(draft, bidder, org, "A question about a draft")
    assert db.session.get(Tender, draft.id).status == "draft"
