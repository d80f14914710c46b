"""/api/v1 procurement: clarification questions of a tender.

- `GET /tenders/<id>/questions`: public (no token needed): answered questions without
  the asker. The buyer's procurement officer sees every question with the asking
  organization; a supplier also sees its own unanswered questions (`mine: true`).
- `POST /tenders/<id>/questions`: a supplier's bidder asks (bearer token; honours
  `Idempotency-Key`).
- `POST /tenders/<id>/questions/<qid>/answer`: the buyer's officer answers; within 15
  days of the deadline `new_submission_deadline` is required (the answer then publishes
  an amendment moving the deadline and the opening).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import abort
from flask_login import current_user
from marshmallow import Schema, fields, validate

from accounts.models import Organization
from accounts.permissions import current_org, has_role
from accounts.schemas import ApiErrorSchema
from accounts.states import Role
from core.api import Blueprint
from core.db import db
from core.errors import NotFound
from core.idempotency import idempotent
from procurement import queries
from procurement.models import Question, Tender
from procurement.services import clarifications as svc
from procurement.states import TenderStatus

blp = Blueprint(
    "tender_questions_api",
    __name__,
    description="Clarification questions of a tender. The asker is shown only to the buyer's officers.",
)

BEARER = [{"bearerAuth": []}]


class AskerSchema(Schema):
    id = fields.Int(dump_only=True)
    name_zh = fields.Str(dump_only=True)
    name_en = fields.Str(dump_only=True)


class QuestionSchema(Schema):
    id = fields.Int(dump_only=True)
    tender_id = fields.Int(dump_only=True)
    lot_id = fields.Int(dump_only=True, allow_none=True)
    text = fields.Str(dump_only=True)
    asked_at = fields.DateTime(dump_only=True)
    answer = fields.Str(dump_only=True, allow_none=True)
    answered_at = fields.DateTime(dump_only=True, allow_none=True)
    mine = fields.Bool(dump_only=True, metadata={"description": "Asked by the caller's organization"})
    asker = fields.Nested(AskerSchema, dump_only=True, allow_none=True,
                          metadata={"description": "The asking organization: the buyer's officers only"})
    amendment_number = fields.Int(dump_only=True, allow_none=True,
                                  metadata={"description": "The amendment the answer published (deadline moved)"})


class AskSchema(Schema):
    text = fields.Str(required=True, validate=validate.Length(min=svc.QUESTION_MIN_LENGTH,
                                                              max=svc.QUESTION_MAX_LENGTH))
    lot_id = fields.Int(load_default=None, allow_none=True)


class AnswerSchema(Schema):
    answer = fields.Str(required=True, validate=validate.Length(min=1, max=svc.ANSWER_MAX_LENGTH))
    new_submission_deadline = fields.AwareDateTime(
        load_default=None, allow_none=True,
        metadata={"description": "ISO 8601 with offset; required within 15 days of the deadline, "
                                 "at least 15 days from now"},
    )
    material = fields.Bool(load_default=False,
                           metadata={"description": "With a new deadline: bids submitted before must be resubmitted"})


def _caller() -> tuple[Any, Organization | None]:
    if not current_user.is_authenticated:
        return None, None
    return current_user._get_current_object(), current_org()  # type: ignore[attr-defined]


def _is_buyer_officer(tender: Tender, org: Organization | None) -> bool:
    return org is not None and org.id == tender.buyer_org_id and has_role(Role.PROCUREMENT_OFFICER)


def _tender_or_404(tender_id: int, org: Organization | None) -> Tender:
    tender = db.session.get(Tender, tender_id)
    if tender is None:
        raise NotFound()
    if tender.status == TenderStatus.DRAFT and not _is_buyer_officer(tender, org):
        raise NotFound()
    return tender


def _out(question: Question, *, officer: bool, org_id: int | None) -> dict[str, Any]:
    answered = question.answered_at is not None
    data: dict[str, Any] = {
        "id": question.id,
        "tender_id": question.tender_id,
        "lot_id": question.lot_id,
        "text": question.text,
        "asked_at": question.asked_at,
        "answer": question.answer if answered else None,
        "answered_at": question.answered_at,
        "mine": org_id is not None and question.asker_org_id == org_id,
        "asker": None,
        "amendment_number": None,
    }
    if officer:
        data["asker"] = db.session.get(Organization, question.asker_org_id)
    if answered:
        amendment = svc.amendment_for(question)
        data["amendment_number"] = amendment.number if amendment else None
    return data


@blp.route("/tenders/<int:tender_id>/questions", methods=["GET"])
@blp.response(200, QuestionSchema(many=True))
@blp.doc(summary="Questions of a tender",
         description="Anyone: answered questions without the asker. The buyer's officer (token): every question "
                     "with the asking organization. A supplier (token): also its own unanswered questions.")
@blp.alt_response(404, schema=ApiErrorSchema, description="No such published tender")
def list_questions(tender_id: int):
    _user, org = _caller()
    tender = _tender_or_404(tender_id, org)
    if _is_buyer_officer(tender, org):
        rows = svc.officer_questions(tender.buyer_org_id, tender.id)
        return [_out(q, officer=True, org_id=org.id) for q in rows]
    rows = queries.answered_questions(tender.id)
    if org is not None:
        seen = {q.id for q in rows}
        rows += [q for q in svc.questions_of_org(tender, org.id) if q.id not in seen]
    return [_out(q, officer=False, org_id=org.id if org else None) for q in rows]


@blp.route("/tenders/<int:tender_id>/questions", methods=["POST"])
@idempotent
@blp.arguments(AskSchema)
@blp.response(201, QuestionSchema)
@blp.doc(security=BEARER, summary="Ask a question (supplier's bidder, during the enquiry period)",
         parameters=[{"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"}}])
@blp.alt_response(401, schema=ApiErrorSchema, description="Not authenticated")
@blp.alt_response(403, schema=ApiErrorSchema, description="Not a verified supplier's bidder")
@blp.alt_response(409, schema=ApiErrorSchema, description="Outside the enquiry period (enquiry_period_over, questions_closed)")
@blp.alt_response(422, schema=ApiErrorSchema, description="Invalid text or lot")
def ask_question(data: dict[str, Any], tender_id: int):
    user, org = _caller()
    if user is None:
        abort(401)
    if org is None:
        abort(403)
    tender = _tender_or_404(tender_id, org)
    question = svc.ask(tender, user, org, data["text"], lot_id=data.get("lot_id"))
    return _out(question, officer=False, org_id=org.id), 201


@blp.route("/tenders/<int:tender_id>/questions/<int:question_id>/answer", methods=["POST"])
@blp.arguments(AnswerSchema)
@blp.response(200, QuestionSchema)
@blp.doc(security=BEARER, summary="Answer a question (the buyer's procurement officer)")
@blp.alt_response(401, schema=ApiErrorSchema, description="Not authenticated")
@blp.alt_response(404, schema=ApiErrorSchema, description="No such question of the caller's tenders")
@blp.alt_response(409, schema=ApiErrorSchema, description="Already answered (already_answered) or after the deadline")
@blp.alt_response(422, schema=ApiErrorSchema,
                  description="deadline_move_required / new_deadline_too_soon / deadline_must_move / invalid fields")
def answer_question(data: dict[str, Any], tender_id: int, question_id: int):
    user, org = _caller()
    if user is None:
        abort(401)
    tender = db.session.get(Tender, tender_id)
    question = db.session.get(Question, question_id)
    if tender is None or question is None or question.tender_id != tender.id or org is None \
            or org.id != tender.buyer_org_id:
        raise NotFound()
    new_deadline = data.get("new_submission_deadline")
    question = svc.answer(question, user, data["answer"],
                          new_submission_deadline=new_deadline.astimezone(UTC) if new_deadline else None,
                          material=bool(data.get("material")))
    return _out(question, officer=True, org_id=org.id)
