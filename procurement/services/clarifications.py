"""Clarifications (Q&A): suppliers ask, the buyer's officers answer, answers are public.

- Asking: a verified, non-debarred supplier organization, through a member with the
  bidder role (an invited one for an invitation tender), during the enquiry period.
  A tender published without an enquiry period takes questions while it accepts bids
  (until the submission deadline): otherwise its suppliers could never ask, and a late
  answer moves the deadline anyway (below).
- The asker is known only to the buyer's procurement officers (and the asking
  supplier itself). Public pages and the API show question and answer without it.
- Answering: a procurement officer of the buyer, before the submission deadline.
  An answer published later than 15 days before the deadline must come with a new
  deadline at least 15 days after now; the answer then creates an amendment (the
  deadline moves, the opening by the same amount) in the same unit of work.
- The asker is told of the answer; everyone who downloaded the documents or asked a
  question is told a clarification was published.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Organization, User
from accounts.services.organizations import has_active_role
from accounts.states import OrgKind, Role
from core import audit, clock
from core.db import db, for_update, unit_of_work
from core.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from procurement.models import Lot, Question, Tender, TenderAmendment
from procurement.services import amendments, participants, sealed_audit
from procurement.services.tenders import _require_officer
from procurement.states import Method, TenderStatus, time_status

__all__ = [
    "QUESTION_MIN_LENGTH",
    "QUESTION_MAX_LENGTH",
    "ANSWER_MAX_LENGTH",
    "can_ask_now",
    "ask",
    "answer",
    "questions_of_org",
    "officer_questions",
    "amendment_for",
]

QUESTION_MIN_LENGTH = 5
QUESTION_MAX_LENGTH = 2000
ANSWER_MAX_LENGTH = 5000


def _invalid(code: str, field: str, message: str) -> ValidationError:
    return ValidationError(message, code=code, fields={field: message})


# --------------------------------------------------------------------------- asking


def can_ask_now(tender: Tender, now: datetime | None = None) -> bool:
    """Whether the tender takes questions at this moment (the enquiry period, or while
    it accepts bids when it has none)."""
    now = now or clock.now()
    status = time_status(tender, now)
    if tender.enquiry_end is not None:
        return status == TenderStatus.ENQUIRIES
    return status == TenderStatus.TENDERING


def _check_asker(tender: Tender, user: User, org: Organization) -> None:
    if not has_active_role(user, org.id, Role.BIDDER):
        raise PermissionDenied(_("Only a supplier's bidder can ask questions about a tender."))
    if not org.has_kind(OrgKind.SUPPLIER) or not org.is_verified:
        raise PermissionDenied(_("Only verified suppliers can ask questions about a tender."))
    if org.is_debarred():
        raise PermissionDenied(_("Your organization is debarred and cannot take part in tenders."))
    if org.id == tender.buyer_org_id:
        raise PermissionDenied(_("The buyer cannot ask questions about its own tender."))
    if tender.method == Method.INVITATION and org.id not in {i.org_id for i in tender.invitees}:
        raise PermissionDenied(_("Only invited suppliers can ask questions about this tender."))


def ask(tender: Tender, user: User, org: Organization, text: str, lot_id: int | None = None) -> Question:
    """A supplier asks a question about `tender` (optionally about one lot)."""
    text = (text or "").strip()
    if len(text) < QUESTION_MIN_LENGTH:
        raise _invalid("question_too_short", "text",
                       _("Write your question (at least %(n)s characters).", n=QUESTION_MIN_LENGTH))
    if len(text) > QUESTION_MAX_LENGTH:
        raise _invalid("question_too_long", "text",
                       _("A question can be at most %(n)s characters long.", n=QUESTION_MAX_LENGTH))
    if tender.status == TenderStatus.DRAFT:
        raise NotFound()
    _check_asker(tender, user, org)
    with unit_of_work():
        tender = db.session.scalars(for_update(sa.select(Tender).where(Tender.id == tender.id))).one()
        now = clock.now()
        if not can_ask_now(tender, now):
            if tender.enquiry_end is not None and time_status(tender, now) in (
                TenderStatus.TENDERING, TenderStatus.AWAITING_OPENING
            ):
                raise InvalidTransition(
                    _("The enquiry period of this tender ended on %(date)s: questions are no longer accepted.",
                      date=participants.local_text(tender.enquiry_end)),
                    code="enquiry_period_over",
                )
            raise InvalidTransition(_("This tender does not accept questions now."), code="questions_closed")
        if lot_id is not None:
            lot = db.session.get(Lot, lot_id)
            if lot is None or lot.tender_id != tender.id:
                raise _invalid("unknown_lot", "lot_id", _("This lot is not part of the tender."))
        question = Question(tender_id=tender.id, lot_id=lot_id, asker_org_id=org.id, asker_user_id=user.id,
                            text=text, asked_at=now)
        db.session.add(question)
        db.session.flush()
        # who asked (and how many did) stays sealed until the opening
        sealed_audit.record("tender.question_asked", "sealed_question", tender,
                            {"tender_id": tender.id, "question_id": question.id, "lot_id": lot_id,
                             "org_id": org.id, "user_id": user.id, "user": user.email})
    return question


# --------------------------------------------------------------------------- answering


def answer(
    question: Question,
    officer: User,
    text: str,
    *,
    new_submission_deadline: datetime | None = None,
    material: bool = False,
) -> Question:
    """The buyer's officer answers; the answer is public. Late answers (within 15 days of
    the deadline) need `new_submission_deadline` and create an amendment."""
    tender = db.session.get(Tender, question.tender_id)
    _require_officer(officer, tender.buyer_org_id)
    text = (text or "").strip()
    if not text:
        raise _invalid("answer_required", "answer", _("Write the answer."))
    if len(text) > ANSWER_MAX_LENGTH:
        raise _invalid("answer_too_long", "answer",
                       _("An answer can be at most %(n)s characters long.", n=ANSWER_MAX_LENGTH))
    with unit_of_work():
        tender = db.session.scalars(for_update(sa.select(Tender).where(Tender.id == tender.id))).one()
        question = db.session.scalars(for_update(sa.select(Question).where(Question.id == question.id))).one()
        now = clock.now()
        if question.answered_at is not None:
            raise Conflict(_("This question has already been answered."), code="already_answered")
        if not amendments.can_amend_now(tender, now):
            raise InvalidTransition(_("Questions can be answered only before the submission deadline."),
                                    code="answer_too_late")
        late = amendments.deadline_move_required(tender, now)
        if late and new_submission_deadline is None:
            raise _invalid(
                "deadline_move_required", "new_submission_deadline",
                _("This answer comes less than %(n)s days before the submission deadline: set a new deadline at "
                  "least %(n)s days from now.", n=amendments.NOTICE_DAYS),
            )
        amendment: TenderAmendment | None = None
        if new_submission_deadline is not None:
            if new_submission_deadline < amendments.earliest_new_deadline(now) and late:
                raise _invalid(
                    "new_deadline_too_soon", "new_submission_deadline",
                    _("The new deadline must be at least %(n)s days from now.", n=amendments.NOTICE_DAYS),
                )
            if new_submission_deadline <= tender.submission_deadline:
                raise _invalid("new_deadline_not_later", "new_submission_deadline",
                               _("The new deadline must be later than the current one."))
            amendment = amendments.apply_amendment(
                tender, officer,
                _("Submission deadline moved with the answer to a clarification question."),
                submission_deadline=new_submission_deadline, material=material, question_id=question.id,
            )
        question.answer = text
        question.answered_at = now
        question.answered_by_id = officer.id
        audit.record("tender.question_answered", "tender_question", question.id,
                     {"tender_id": tender.id, "amendment_number": amendment.number if amendment else None},
                     actor=audit.user_actor(officer.id, tender.buyer_org_id, officer.email))
        _notify_answer(tender, question)
    return question


def _notify_answer(tender: Tender, question: Question) -> None:
    title = tender.title_zh or tender.title_en
    link = participants.tender_link(tender.id)
    participants.notify_users(
        [question.asker_user_id],
        _l("Your question was answered: %(title)s", title=title),
        body=_l("Question: %(question)s\n\nAnswer: %(answer)s", question=question.text, answer=question.answer),
        link=link,
    )
    others = participants.user_ids(tender, downloaders=True, askers=True) - {question.asker_user_id}
    participants.notify_users(
        others,
        _l("New clarification published: %(title)s", title=title),
        body=_l("Question: %(question)s\n\nAnswer: %(answer)s", question=question.text, answer=question.answer),
        link=link,
    )


# --------------------------------------------------------------------------- reading


def questions_of_org(tender: Tender, org_id: int) -> list[Question]:
    """The questions one supplier organization asked about a tender (shown to it only)."""
    return list(db.session.scalars(
        sa.select(Question).where(Question.tender_id == tender.id, Question.asker_org_id == org_id)
        .order_by(Question.asked_at, Question.id)
    ))


def officer_questions(buyer_org_id: int, tender_id: int | None = None, *, answered: bool | None = None) -> list[Question]:
    """Questions about the buyer's tenders (with the asker: officers of the buyer only)."""
    stmt = sa.select(Question).join(Tender, Tender.id == Question.tender_id).where(Tender.buyer_org_id == buyer_org_id)
    if tender_id is not None:
        stmt = stmt.where(Question.tender_id == tender_id)
    if answered is True:
        stmt = stmt.where(Question.answered_at.is_not(None)).order_by(Question.answered_at.desc(), Question.id.desc())
    elif answered is False:
        stmt = stmt.where(Question.answered_at.is_(None)).order_by(Question.asked_at, Question.id)
    else:
        stmt = stmt.order_by(Question.asked_at, Question.id)
    return list(db.session.scalars(stmt))


def amendment_for(question: Question) -> TenderAmendment | None:
    """The amendment an answer created (deadline moved), if any."""
    return db.session.scalar(sa.select(TenderAmendment).where(TenderAmendment.question_id == question.id))
