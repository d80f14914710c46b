"""/api/v1/tenders: public tender search and detail (JSON).

No token is needed. A draft is a 404 except to a procurement officer of its buyer (token
of that organization). Nothing about participants is published before the opening; the
opening record is included once the bids are opened.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, url_for
from flask_login import current_user
from marshmallow import Schema, fields, validate

from accounts.permissions import current_org, has_role
from accounts.schemas import ApiErrorSchema
from accounts.states import Role
from core.api import Blueprint
from core.db import db
from core.models.files import StoredFile
from core.views import url_for_ids
from procurement import queries
from procurement.models import Tender
from procurement.services import tenders as svc
from procurement.states import (
    PUBLIC_STATUSES,
    Category,
    CriterionKind,
    EvaluationMethod,
    LotStatus,
    Method,
    TenderStatus,
)

blp = Blueprint(
    "tenders_api",
    __name__,
    description="Public tenders: search and detail. Amounts are integer fen; times are UTC (ISO 8601).",
)

PUBLIC_STATUS_VALUES = [s.value for s in PUBLIC_STATUSES]


# --------------------------------------------------------------------------- schemas


class TenderSearchArgsSchema(Schema):
    q = fields.Str(load_default="", validate=validate.Length(max=200),
                   metadata={"description": "Keyword, Chinese or English (title, description, buyer, category code)"})
    buyer_org_id = fields.Int(load_default=None, metadata={"description": "Buyer organization id"})
    category = fields.Str(load_default=None, validate=validate.OneOf([c.value for c in Category]))
    category_code = fields.Str(load_default=None, validate=validate.Length(max=40),
                               metadata={"description": "Category code prefix, e.g. A02"})
    status = fields.Str(load_default=None, validate=validate.OneOf(PUBLIC_STATUS_VALUES),
                        metadata={"description": "Status now (the enquiry/tendering/awaiting steps follow the clock)"})
    method = fields.Str(load_default=None, validate=validate.OneOf([m.value for m in Method]))
    budget_min = fields.Int(load_default=None, validate=validate.Range(min=0), metadata={"description": "fen"})
    budget_max = fields.Int(load_default=None, validate=validate.Range(min=0), metadata={"description": "fen"})
    deadline_from = fields.Date(load_default=None, metadata={"description": "Local (Beijing) day, inclusive"})
    deadline_to = fields.Date(load_default=None, metadata={"description": "Local (Beijing) day, inclusive"})
    sort = fields.Str(load_default="newest", validate=validate.OneOf(["newest", "deadline"]))


class TenderSummarySchema(Schema):
    id = fields.Int()
    title_zh = fields.Str()
    title_en = fields.Str()
    buyer_org_id = fields.Int()
    buyer_name_zh = fields.Str()
    buyer_name_en = fields.Str()
    category = fields.Str(metadata={"description": ", ".join(c.value for c in Category)})
    category_code = fields.Str()
    method = fields.Str(metadata={"description": ", ".join(m.value for m in Method)})
    budget = fields.Int(metadata={"description": "fen"})
    currency = fields.Str()
    status = fields.Str(metadata={"description": "Status now: " + ", ".join(PUBLIC_STATUS_VALUES)})
    published_at = fields.DateTime(allow_none=True)
    enquiry_end = fields.DateTime(allow_none=True)
    submission_deadline = fields.DateTime(allow_none=True)
    opening_time = fields.DateTime(allow_none=True)
    url = fields.Str(metadata={"description": "The public tender page"})


class LotSchema(Schema):
    id = fields.Int()
    number = fields.Int()
    title_zh = fields.Str()
    title_en = fields.Str()
    budget = fields.Int(metadata={"description": "fen"})
    bond_amount = fields.Int(metadata={"description": "fen; 0 = no bid bond"})
    quantity = fields.Int()
    unit = fields.Str()
    delivery_terms = fields.Str()
    status = fields.Str(metadata={"description": ", ".join(s.value for s in LotStatus)})


class CriterionSchema(Schema):
    id = fields.Int()
    name_zh = fields.Str()
    name_en = fields.Str()
    kind = fields.Str(metadata={"description": ", ".join(k.value for k in CriterionKind)})
    weight = fields.Int(metadata={"description": "percent"})


class DocumentSchema(Schema):
    id = fields.Int()
    title = fields.Str()
    filename = fields.Str()
    size = fields.Int()
    sha256 = fields.Str()
    version = fields.Int(metadata={"description": "Tender version that added it"})
    removed_in_version = fields.Int(allow_none=True, metadata={"description": "Superseded from this version on"})
    current = fields.Bool()
    download_url = fields.Str()


class AnsweredQuestionSchema(Schema):
    id = fields.Int()
    lot_id = fields.Int(allow_none=True)
    question = fields.Str()
    answer = fields.Str()
    asked_at = fields.DateTime()
    answered_at = fields.DateTime()


class AmendmentSchema(Schema):
    number = fields.Int()
    reason = fields.Str()
    changes = fields.Dict()
    material = fields.Bool()
    created_at = fields.DateTime()


class ProcedureSchema(Schema):
    min_days = fields.Int()
    min_days_working = fields.Bool()
    min_bids = fields.Int()
    bond_allowed = fields.Bool()
    evaluation_methods = fields.List(fields.Str())


class TenderDetailSchema(TenderSummarySchema):
    description_zh = fields.Str()
    description_en = fields.Str()
    version = fields.Int()
    evaluation_method = fields.Str(metadata={"description": ", ".join(e.value for e in EvaluationMethod)})
    price_weight = fields.Int(allow_none=True)
    sme_deduction_pct = fields.Int()
    custodian_threshold = fields.Int(metadata={"description": "k: shares needed to open the bids"})
    custodian_count = fields.Int(metadata={"description": "n: key custodians"})
    key_fingerprint = fields.Str(metadata={"description": "SHA-256 fingerprint of the tender's sealing public key"})
    procedure = fields.Nested(ProcedureSchema)
    lots = fields.List(fields.Nested(LotSchema))
    criteria = fields.List(fields.Nested(CriterionSchema))
    documents = fields.List(fields.Nested(DocumentSchema))
    questions = fields.List(fields.Nested(AnsweredQuestionSchema), metadata={"description": "Answered questions only"})
    amendments = fields.List(fields.Nested(AmendmentSchema))
    cancelled_at = fields.DateTime(allow_none=True)
    cancel_reason = fields.Str()
    opened_at = fields.DateTime(allow_none=True)
    opening_record = fields.Dict(allow_none=True, metadata={"description": "Published once the bids are opened"})


# --------------------------------------------------------------------------- helpers


def _summary(tender: Tender | queries.TenderListItem, url: str | None = None) -> dict:
    """The summary fields; `url`: the tender's page address when the caller has it."""
    buyer = getattr(tender, "buyer", None)
    return dict(
        id=tender.id, title_zh=tender.title_zh, title_en=tender.title_en, buyer_org_id=tender.buyer_org_id,
        buyer_name_zh=buyer.name_zh if buyer else "", buyer_name_en=buyer.name_en if buyer else "",
        category=tender.category, category_code=tender.category_code, method=tender.method,
        budget=tender.budget, currency=tender.currency, status=svc.status_now(tender).value,
        published_at=tender.published_at, enquiry_end=tender.enquiry_end,
        submission_deadline=tender.submission_deadline, opening_time=tender.opening_time,
        url=url or url_for("procurement.tender_detail", tender_id=tender.id, _external=True),
    )


_SUMMARY_DATETIMES = tuple(name for name, field in TenderSummarySchema._declared_fields.items()
                           if isinstance(field, fields.DateTime))


def _summary_json(tender: Tender | queries.TenderListItem, url: str | None = None) -> dict:
    """`_summary` as TenderSummarySchema dumps it (datetimes in ISO 8601)."""
    out = _summary(tender, url)
    for key in _SUMMARY_DATETIMES:
        if out[key] is not None:
            out[key] = out[key].isoformat()
    return out


def _is_buyer_officer(tender: Tender) -> bool:
    if not current_user.is_authenticated:
        return False
    org = current_org()
    return bool(org is not None and org.id == tender.buyer_org_id and has_role(Role.PROCUREMENT_OFFICER))


def _detail(tender: Tender) -> dict:
    out = _summary(tender)
    files = {}
    if tender.documents:
        files = {f.id: f for f in db.session.scalars(
            sa.select(StoredFile).where(StoredFile.id.in_([d.stored_file_id for d in tender.documents])))}
    procedure = svc.procedure_for(tender.method)
    status = svc.status_now(tender)
    opened = tender.opened_at is not None
    out.update(
        description_zh=tender.description_zh, description_en=tender.description_en, version=tender.version,
        evaluation_method=tender.evaluation_method, price_weight=tender.price_weight,
        sme_deduction_pct=tender.sme_deduction_pct, custodian_threshold=tender.custodian_threshold,
        custodian_count=len(tender.custodians) or tender.custodian_count, key_fingerprint=tender.key_fingerprint,
        procedure=procedure,
        lots=tender.lots, criteria=tender.criteria,
        documents=[dict(
            id=d.id, title=d.title, filename=files[d.stored_file_id].original_name if d.stored_file_id in files else "",
            size=files[d.stored_file_id].size if d.stored_file_id in files else 0,
            sha256=files[d.stored_file_id].sha256 if d.stored_file_id in files else "",
            version=d.version, removed_in_version=d.removed_in_version, current=d.removed_in_version is None,
            download_url=url_for("procurement.document_download", tender_id=tender.id, doc_id=d.id, _external=True),
        ) for d in tender.documents],
        questions=[dict(id=q.id, lot_id=q.lot_id, question=q.text, answer=q.answer, asked_at=q.asked_at,
                        answered_at=q.answered_at) for q in queries.answered_questions(tender.id)],
        amendments=tender.amendments,
        cancelled_at=tender.cancelled_at, cancel_reason=tender.cancel_reason,
        opened_at=tender.opened_at,
        opening_record=tender.opening_record if opened and status != TenderStatus.DRAFT else None,
    )
    return out


# --------------------------------------------------------------------------- routes


@blp.route("/tenders", methods=["GET"])
@blp.arguments(TenderSearchArgsSchema, location="query", as_kwargs=True)
@blp.response(200, TenderSummarySchema(many=True))
@blp.paginate(page_size=20, max_page_size=100)
@blp.doc(summary="Search published tenders (X-Pagination header)", security=[])
@blp.alt_response(422, schema=ApiErrorSchema, description="Invalid search parameters")
def list_tenders(pagination_parameters, **args):
    params = queries.TenderSearch(
        q=args.get("q") or "", buyer_org_id=args.get("buyer_org_id"), category=args.get("category"),
        category_code=args.get("category_code"), status=args.get("status"), method=args.get("method"),
        budget_min=args.get("budget_min"), budget_max=args.get("budget_max"),
        deadline_from=args.get("deadline_from"), deadline_to=args.get("deadline_to"),
        sort=args.get("sort") or "newest", page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
    )
    result = queries.search_tenders(params)
    pagination_parameters.item_count = result.total
    # The busiest public endpoint: the page is serialized here, as TenderSummarySchema
    # would (tests compare the two), without marshmallow's per-field walk.
    url_of = url_for_ids("procurement.tender_detail", "tender_id", _external=True)
    return current_app.json.response([_summary_json(t, url_of(t.id)) for t in result.items])


@blp.route("/tenders/<int:tender_id>", methods=["GET"])
@blp.response(200, TenderDetailSchema)
@blp.doc(summary="One tender: lots, criteria, documents, answered questions, amendments, opening record",
         security=[])
@blp.alt_response(404, schema=ApiErrorSchema, description="No such published tender")
def get_tender(tender_id: int):
    tender = queries.public_tender(tender_id)
    if tender is None or (not queries.is_public(tender) and not _is_buyer_officer(tender)):
        abort(404)
    return _detail(tender)
