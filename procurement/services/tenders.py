"""Tenders: procedure types, drafts, publishing (with the legal minima) and cancellation.

Every command runs in one unit of work and leaves an audit entry. Only a procurement
officer of the buyer organization may create, publish or cancel its tenders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from accounts.models import Membership, Organization, User
from accounts.services.organizations import has_active_role, organizations_by_id
from accounts.states import OrgKind, Role, Verification
from core import audit, clock
from core.calendar import add_working_days
from core.db import after_commit, db, for_update, unit_of_work
from core.errors import InvalidTransition, PermissionDenied, ValidationError
from core.files import CheckedUpload, store_bytes
from core.models.files import StoredFile
from procurement import queries
from procurement.models import (
    Criterion,
    DocumentDownload,
    Lot,
    ProcedureType,
    Tender,
    TenderCustodian,
    TenderDocument,
    TenderInvitee,
)
from procurement.services import alerts, bonds, keys, participants, search_index
from procurement.states import (
    CANCELLABLE,
    Category,
    CriterionKind,
    EvaluationMethod,
    Method,
    OcdsMethod,
    TenderStatus,
    can_transition,
    time_status,
)

__all__ = [
    "PROCEDURE_DEFAULTS",
    "BOND_MAX_PERMILLE",
    "MIN_PRICE_WEIGHT",
    "SME_DEDUCTION_RANGE",
    "seed_procedure_types",
    "procedure_for",
    "create_draft",
    "add_document",
    "publish",
    "cancel",
    "check_publishable",
    "status_now",
    "sync_status",
    "update_draft",
    "remove_document",
    "eligible_custodians",
    "update_procedure_type",
    "record_download",
    "PROCEDURE_SETTINGS",
]

#: DESIGN.md section 7 table: the defaults of each method's row.
PROCEDURE_DEFAULTS: dict[Method, dict[str, Any]] = {
    Method.OPEN: dict(
        name_zh="公开招标", name_en="Open tender", min_days=20, min_days_working=False, min_bids=3,
        committee_min=5, bond_allowed=True,
        evaluation_methods=[EvaluationMethod.LOWEST_PRICE.value, EvaluationMethod.SCORED.value],
        ocds_method=OcdsMethod.OPEN.value,
    ),
    Method.INVITATION: dict(
        name_zh="邀请招标", name_en="Invitation tender", min_days=20, min_days_working=False, min_bids=3,
        committee_min=5, bond_allowed=True,
        evaluation_methods=[EvaluationMethod.LOWEST_PRICE.value, EvaluationMethod.SCORED.value],
        ocds_method=OcdsMethod.SELECTIVE.value,
    ),
    Method.COMPETITIVE_NEGOTIATION: dict(
        name_zh="竞争性谈判", name_en="Competitive negotiation", min_days=3, min_days_working=True, min_bids=3,
        committee_min=3, bond_allowed=True, evaluation_methods=[EvaluationMethod.LOWEST_PRICE.value],
        ocds_method=OcdsMethod.LIMITED.value,
    ),
    Method.COMPETITIVE_CONSULTATION: dict(
        name_zh="竞争性磋商", name_en="Competitive consultation", min_days=10, min_days_working=False, min_bids=3,
        committee_min=3, bond_allowed=True, evaluation_methods=[EvaluationMethod.SCORED.value],
        ocds_method=OcdsMethod.LIMITED.value,
    ),
    Method.INQUIRY: dict(
        name_zh="询价", name_en="Inquiry", min_days=3, min_days_working=True, min_bids=3,
        committee_min=3, bond_allowed=True, evaluation_methods=[EvaluationMethod.LOWEST_PRICE.value],
        ocds_method=OcdsMethod.LIMITED.value,
    ),
    Method.SINGLE_SOURCE: dict(
        name_zh="单一来源", name_en="Single source", min_days=5, min_days_working=True, min_bids=1,
        committee_min=3, bond_allowed=False, evaluation_methods=[EvaluationMethod.NEGOTIATED.value],
        ocds_method=OcdsMethod.DIRECT.value,
    ),
}

BOND_MAX_PERMILLE = 20  # a bond may be at most 2% of its lot's budget
MIN_PRICE_WEIGHT = {Category.GOODS: 30, Category.SERVICES: 10}
SME_DEDUCTION_RANGE = (10, 20)

_DRAFT_FIELDS = {
    "title_zh", "title_en", "description_zh", "description_en", "category", "category_code", "budget",
    "currency", "method", "enquiry_end", "submission_deadline", "opening_time", "custodian_threshold",
    "custodian_count", "evaluation_method", "price_weight", "sme_deduction_pct",
}
_LOT_FIELDS = {"number", "title_zh", "title_en", "budget", "bond_amount", "quantity", "unit", "delivery_terms"}
_CRITERION_FIELDS = {"name_zh", "name_en", "weight", "kind"}


# --------------------------------------------------------------------------- procedure types


def seed_procedure_types() -> int:
    """Insert the missing procedure type rows with their defaults; existing rows are kept
    (an admin may have edited them). Returns the number of rows added."""
    added = 0
    with unit_of_work():
        existing = set(db.session.scalars(sa.select(ProcedureType.code)))
        for method, settings in PROCEDURE_DEFAULTS.items():
            if method.value in existing:
                continue
            db.session.add(ProcedureType(code=method.value, **settings))
            added += 1
        if added:
            audit.record("procedure_types.seeded", "procedure_type", None, {"added": added}, actor=audit.system("seed"))
    return added


def procedure_for(method: Method | str) -> ProcedureType:
    """The settings row of `method` (seeding the defaults the first time)."""
    row = db.session.scalar(sa.select(ProcedureType).where(ProcedureType.code == str(method)))
    if row is None:
        seed_procedure_types()
        row = db.session.scalar(sa.select(ProcedureType).where(ProcedureType.code == str(method)))
    if row is None:
        raise ValidationError(_("Unknown procurement method."), code="unknown_method",
                              fields={"method": _("Unknown procurement method.")})
    return row


# --------------------------------------------------------------------------- permissions


def _actor(user: User, org: Organization) -> audit.Actor:
    return audit.user_actor(user.id, org.id, user.email)


def _require_officer(user: User | None, org_id: int) -> None:
    if user is None:
        raise PermissionDenied()
    if not has_active_role(user, org_id, Role.PROCUREMENT_OFFICER):
        raise PermissionDenied(_("Only a procurement officer of the buyer may do this."))


def _invalid(code: str, field: str, message: str) -> ValidationError:
    return ValidationError(message, code=code, fields={field: message})


# --------------------------------------------------------------------------- drafts


def _check_choice(value: Any, enum: type, field: str) -> str:
    try:
        return enum(value).value
    except ValueError:
        raise _invalid(f"invalid_{field}", field, _("This value is not one of the choices.")) from None


def create_draft(
    buyer_org: Organization,
    actor: User,
    *,
    lots: Iterable[dict[str, Any]] = (),
    criteria: Iterable[dict[str, Any]] = (),
    custodian_ids: Iterable[int] = (),
    invitee_org_ids: Iterable[int] = (),
    documents: Iterable[CheckedUpload] = (),
    **fields: Any,
) -> Tender:
    """Create a draft tender of `buyer_org` with its lots, criteria, custodians, invitees
    and `documents` (checked uploads, stored with the draft: both or neither).

    `fields` are Tender columns (title_zh, category, budget in fen, method, dates...).
    """
    _require_officer(actor, buyer_org.id)
    unknown = set(fields) - _DRAFT_FIELDS
    if unknown:
        raise ValueError(f"unknown tender fields: {sorted(unknown)}")
    fields["category"] = _check_choice(fields.get("category", Category.GOODS), Category, "category")
    fields["method"] = _check_choice(fields.get("method", Method.OPEN), Method, "method")
    fields["evaluation_method"] = _check_choice(
        fields.get("evaluation_method", EvaluationMethod.LOWEST_PRICE), EvaluationMethod, "evaluation_method"
    )
    if int(fields.get("budget", 0) or 0) < 0:
        raise _invalid("negative_budget", "budget", _("The budget cannot be negative."))
    with unit_of_work():
        tender = Tender(buyer_org_id=buyer_org.id, created_by_id=actor.id, status=TenderStatus.DRAFT.value, **fields)
        db.session.add(tender)
        db.session.flush()
        for i, lot in enumerate(lots, start=1):
            db.session.add(Lot(tender_id=tender.id, **_lot_values(i, lot)))
        for crit in criteria:
            db.session.add(Criterion(tender_id=tender.id, **_criterion_values(crit)))
        for user_id in _check_custodians(buyer_org.id, custodian_ids):
            db.session.add(TenderCustodian(tender_id=tender.id, user_id=user_id))
        for org_id in _check_invitees(invitee_org_ids):
            db.session.add(TenderInvitee(tender_id=tender.id, org_id=org_id))
        db.session.flush()
        audit.record("tender.created", "tender", tender.id,
                     {"method": tender.method, "buyer_org_id": buyer_org.id}, actor=_actor(actor, buyer_org))
        store_documents(tender, actor, documents)
    db.session.refresh(tender)
    return tender


def add_document(tender: Tender, actor: User, stored_file: StoredFile, title: str = "") -> TenderDocument:
    """Attach a stored file to a draft tender's documents."""
    _require_officer(actor, tender.buyer_org_id)
    if tender.status != TenderStatus.DRAFT:
        raise InvalidTransition(_("Documents of a published tender change only by an amendment."))
    with unit_of_work():
        doc = _attach_document(tender, actor, stored_file, title)
    db.session.refresh(tender)
    return doc


def _attach_document(tender: Tender, actor: User, stored_file: StoredFile, title: str = "") -> TenderDocument:
    """Inside a unit of work: the stored file becomes a document of the tender's current version."""
    doc = TenderDocument(tender_id=tender.id, stored_file_id=stored_file.id, version=tender.version,
                         title=(title or stored_file.original_name or "")[:255])
    db.session.add(doc)
    db.session.flush()
    audit.record("tender.document_added", "tender", tender.id, {"document_id": doc.id},
                 actor=audit.user_actor(actor.id, tender.buyer_org_id, actor.email))
    return doc


def store_documents(tender: Tender, actor: User,
                    documents: Iterable[CheckedUpload | tuple[CheckedUpload, str]]) -> list[TenderDocument]:
    """Store checked uploads and attach them to the tender's current version: a draft's
    documents, or an amendment's (which has moved the version first). An upload is titled
    by its file name, or given as (upload, title). Inside the caller's unit of work, after
    its rules are checked: a failure leaves neither rows nor files (see
    core.files.store_bytes)."""
    attached = []
    for item in documents:
        upload, title = item if isinstance(item, tuple) else (item, item.name)
        stored = store_bytes(upload.data, original_name=upload.name, content_type=upload.content_type,
                             purpose="tender_document", uploaded_by_id=actor.id)
        attached.append(_attach_document(tender, actor, stored, title))
    return attached


# --------------------------------------------------------------------------- publishing


def _price_weight(tender: Tender) -> int:
    price = [c.weight for c in tender.criteria if c.kind == CriterionKind.PRICE]
    if price:
        return sum(price)
    return int(tender.price_weight or 0)


def check_publishable(tender: Tender, procedure: ProcedureType) -> None:
    """Raise a ValidationError (own code, field named) for the first rule the tender breaks."""
    _check_dates(tender, procedure)
    _check_lots(tender, procedure)
    _check_evaluation(tender, procedure)
    _check_participants(tender)


def _check_dates(tender: Tender, procedure: ProcedureType) -> None:
    now = clock.now()
    deadline = tender.submission_deadline
    if deadline is None:
        raise _invalid("deadline_missing", "submission_deadline", _("Set a submission deadline."))
    if deadline <= now:
        raise _invalid("deadline_in_past", "submission_deadline", _("The submission deadline is in the past."))
    if procedure.min_days_working:
        earliest_day = add_working_days(clock.today_local(), procedure.min_days)
        if deadline.astimezone(clock.LOCAL_TZ).date() < earliest_day:
            raise _invalid(
                "deadline_too_soon", "submission_deadline",
                _("The submission deadline must be at least %(n)s working days after publication for this method.",
                  n=procedure.min_days),
            )
    elif deadline < now + timedelta(days=procedure.min_days):
        raise _invalid(
            "deadline_too_soon", "submission_deadline",
            _("The submission deadline must be at least %(n)s days after publication for this method.",
              n=procedure.min_days),
        )
    if tender.enquiry_end is not None and not (now < tender.enquiry_end < deadline):
        raise _invalid("enquiry_end_invalid", "enquiry_end",
                       _("The enquiry period must end after publication and before the submission deadline."))
    if tender.opening_time is None or tender.opening_time < deadline:
        raise _invalid("opening_before_deadline", "opening_time",
                       _("The opening time cannot be before the submission deadline."))


def _check_lots(tender: Tender, procedure: ProcedureType) -> None:
    if not tender.lots:
        raise _invalid("no_lots", "lots", _("Add at least one lot."))
    for lot in tender.lots:
        if lot.bond_amount and not procedure.bond_allowed:
            raise _invalid("bond_not_allowed", "bond_amount",
                           _("Lot %(n)s: this method does not allow a bid bond.", n=lot.number))
        if lot.bond_amount * 1000 > lot.budget * BOND_MAX_PERMILLE:
            raise _invalid("bond_too_high", "bond_amount",
                           _("Lot %(n)s: the bid bond cannot exceed 2%% of the lot budget.", n=lot.number))


def _check_evaluation(tender: Tender, procedure: ProcedureType) -> None:
    if tender.evaluation_method not in (procedure.evaluation_methods or []):
        raise _invalid("evaluation_method_not_allowed", "evaluation_method",
                       _("This evaluation method is not allowed for this procurement method."))
    if tender.evaluation_method == EvaluationMethod.SCORED:
        total = sum(c.weight for c in tender.criteria)
        if total != 100:
            raise _invalid("weights_not_100", "criteria",
                           _("The criteria weights must add up to 100 (now %(total)s).", total=total))
        minimum = MIN_PRICE_WEIGHT.get(Category(tender.category))
        weight = _price_weight(tender)
        if minimum is not None and weight < minimum:
            raise _invalid("price_weight_too_low", "price_weight",
                           _("The price weight must be at least %(min)s%% for this category.", min=minimum))
    low, high = SME_DEDUCTION_RANGE
    if not (low <= (tender.sme_deduction_pct or 0) <= high):
        raise _invalid("sme_deduction_out_of_range", "sme_deduction_pct",
                       _("The SME price deduction must be between %(low)s%% and %(high)s%%.", low=low, high=high))


def _check_participants(tender: Tender) -> None:
    k = tender.custodian_threshold or 0
    if k < 1 or len(tender.custodians) < k:
        raise _invalid("too_few_custodians", "custodians",
                       _("At least %(k)s key custodians are needed for the opening.", k=max(k, 1)))
    if not tender.documents:
        raise _invalid("documents_missing", "documents", _("Upload the tender documents before publishing."))
    if tender.method == Method.INVITATION and not tender.invitees:
        raise _invalid("no_invitees", "invitees", _("An invitation tender needs invited suppliers."))


def _move(tender: Tender, target: TenderStatus, message: str) -> str:
    """Change the status through the transition table; returns the previous status."""
    previous = tender.status
    if not can_transition(previous, target):
        raise InvalidTransition(message)
    tender.status = target.value
    search_index.tender_changed(tender.id)
    if previous == TenderStatus.DRAFT:
        queries.forget_buyer_list()  # its buyer may be new to the search form's buyer list
    return previous


def publish(tender: Tender, actor: User) -> Tender:
    """Publish a draft: check every rule, then active.enquiries (or active.tendering when
    there is no enquiry period), in one unit of work with an audit entry."""
    _require_officer(actor, tender.buyer_org_id)
    procedure = procedure_for(tender.method)
    with unit_of_work():
        tender = db.session.scalars(for_update(sa.select(Tender).where(Tender.id == tender.id))).one()
        if tender.status != TenderStatus.DRAFT:
            raise InvalidTransition(_("Only a draft tender can be published."))
        db.session.refresh(tender)
        check_publishable(tender, procedure)
        target = TenderStatus.ENQUIRIES if tender.enquiry_end is not None else TenderStatus.TENDERING
        _move(tender, target, _("Only a draft tender can be published."))
        tender.published_at = clock.now()
        tender.custodian_count = max(tender.custodian_count or 0, len(tender.custodians))
        keys.setup_keys(tender)
        tender_id = tender.id
        after_commit(lambda: alerts.notify_new_tender(tender_id))
        audit.record(
            "tender.published", "tender", tender.id,
            {"status": tender.status, "method": tender.method,
             "submission_deadline": tender.submission_deadline.isoformat()},
            actor=audit.user_actor(actor.id, tender.buyer_org_id, actor.email),
        )
    return tender


def can_cancel(tender: Tender) -> bool:
    """Whether the tender may still be cancelled (before the award)."""
    return TenderStatus(tender.status) in CANCELLABLE


def cancel(tender: Tender, actor: User, reason: str) -> Tender:
    """Cancel a tender before the award; the reason is required (it is published)."""
    _require_officer(actor, tender.buyer_org_id)
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason_required", "reason", _("Give the reason for the cancellation."))
    with unit_of_work():
        tender = db.session.scalars(for_update(sa.select(Tender).where(Tender.id == tender.id))).one()
        if not can_cancel(tender):
            raise InvalidTransition(_("This tender can no longer be cancelled."))
        previous = _move(tender, TenderStatus.CANCELLED, _("This tender can no longer be cancelled."))
        tender.cancel_reason = reason
        tender.cancelled_at = clock.now()
        bonds.refund_all(tender, reason=_("Tender cancelled: %(reason)s", reason=reason), actor=actor)
        participants.notify_cancelled(tender, actor=actor)
        audit.record("tender.cancelled", "tender", tender.id, {"from": previous, "reason": reason},
                     actor=audit.user_actor(actor.id, tender.buyer_org_id, actor.email))
    return tender


def status_now(tender: Tender) -> TenderStatus:
    """The tender's status at this moment (clock-derived for published tenders)."""
    return time_status(tender, clock.now())


#: The clock-driven part of the state machine, in order (see states.time_status).
_TIME_ORDER = (TenderStatus.ENQUIRIES, TenderStatus.TENDERING, TenderStatus.AWAITING_OPENING)


def sync_status(tender: Tender, *, source: str = "clock") -> TenderStatus:
    """Walk the stored status forward through the transition table, one audited step
    (actor system:<source>) at a time, up to `time_status(tender, now)`; never backwards.

    Joins the caller's unit of work; the caller locks the tender row first.
    """
    current = TenderStatus(tender.status)
    target = time_status(tender, clock.now())
    if current not in _TIME_ORDER or target not in _TIME_ORDER:
        return current
    if _TIME_ORDER.index(target) <= _TIME_ORDER.index(current):
        return current
    with unit_of_work():
        while current != target:
            step = _TIME_ORDER[_TIME_ORDER.index(current) + 1]
            previous = _move(tender, step, _("This tender cannot move on."))
            audit.record("tender.status_changed", "tender", tender.id, {"from": previous, "to": step.value},
                         actor=audit.system(source))
            current = step
    return current


# --------------------------------------------------------------------------- drafts: editing
# (added for the officer pages: editing a draft, removing its documents, procedure type
# settings and document downloads)


def _lot_values(number: int, lot: dict[str, Any]) -> dict[str, Any]:
    extra = set(lot) - _LOT_FIELDS
    if extra:
        raise ValueError(f"unknown lot fields: {sorted(extra)}")
    values = {**lot, "number": number}
    if int(values.get("budget", 0) or 0) < 0 or int(values.get("bond_amount", 0) or 0) < 0:
        raise _invalid("negative_amount", "lots", _("Lot amounts cannot be negative."))
    if int(values.get("quantity", 1) or 0) < 1:
        raise _invalid("invalid_quantity", "lots", _("Each lot needs a quantity of at least 1."))
    return values


def _criterion_values(crit: dict[str, Any]) -> dict[str, Any]:
    extra = set(crit) - _CRITERION_FIELDS
    if extra:
        raise ValueError(f"unknown criterion fields: {sorted(extra)}")
    values = dict(crit)
    values["kind"] = _check_choice(values.get("kind", CriterionKind.TECHNICAL), CriterionKind, "kind")
    weight = values.get("weight")
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise _invalid("invalid_weight", "criteria", _("Each criterion weight must be a whole number from 0 to 100."))
    return values


def eligible_custodians(org_id: int) -> list[User]:
    """Active members of `org_id` holding the key custodian role."""
    rows = db.session.scalars(
        sa.select(Membership).where(Membership.org_id == org_id, Membership.active.is_(True))
    )
    users = [m.user for m in rows if m.has_role(Role.KEY_CUSTODIAN) and m.user.active]
    return sorted(users, key=lambda u: (u.display_name or "", u.id))


def _check_custodians(org_id: int, user_ids: Iterable[int]) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in user_ids))
    allowed = {u.id for u in eligible_custodians(org_id)}
    if any(i not in allowed for i in ids):
        raise _invalid("invalid_custodian", "custodians",
                       _("Key custodians must be members of the buyer with the key custodian role."))
    return ids


def _invitable(org: Organization | None) -> bool:
    return org is not None and org.has_kind(OrgKind.SUPPLIER) and org.is_verified


def eligible_invitees() -> list[Organization]:
    """The organizations an invitation tender may invite: verified suppliers, by name."""
    rows = db.session.scalars(
        sa.select(Organization).where(Organization.verification == Verification.VERIFIED.value)
        .order_by(Organization.name_zh)
    )
    return [o for o in rows if _invitable(o)]


def _check_invitees(org_ids: Iterable[int]) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in org_ids))
    orgs = organizations_by_id(ids)
    if any(not _invitable(orgs.get(i)) for i in ids):
        raise _invalid("invalid_invitee", "invitees", _("Only verified suppliers can be invited."))
    return ids


def _locked_draft(tender: Tender) -> Tender:
    tender = db.session.scalars(for_update(sa.select(Tender).where(Tender.id == tender.id))).one()
    db.session.refresh(tender)
    if tender.status != TenderStatus.DRAFT:
        raise InvalidTransition(_("Only a draft tender can be edited; a published tender changes by an amendment."))
    return tender


def _sync_lots(tender: Tender, lots: Iterable[dict[str, Any]]) -> None:
    wanted = [_lot_values(i, lot) for i, lot in enumerate(lots, start=1)]
    existing = {lot.number: lot for lot in tender.lots}
    for lot in list(tender.lots):
        if lot.number > len(wanted):
            db.session.delete(lot)
    db.session.flush()
    for values in wanted:
        row = existing.get(values["number"])
        if row is None:
            db.session.add(Lot(tender_id=tender.id, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)


def _sync_criteria(tender: Tender, criteria: Iterable[dict[str, Any]]) -> None:
    wanted = [_criterion_values(c) for c in criteria]
    for crit in list(tender.criteria):
        db.session.delete(crit)
    db.session.flush()
    for values in wanted:
        db.session.add(Criterion(tender_id=tender.id, **values))


def _sync_links(rows: Iterable[Any], key: str, ids: list[int], make: Callable[[int], Any]) -> None:
    """Make a tender's link rows (custodians by user_id, invitees by org_id) exactly `ids`:
    the others are deleted, the missing ones added with `make(id)`; kept rows stay as they are."""
    rows = list(rows)
    for row in rows:
        if getattr(row, key) not in ids:
            db.session.delete(row)
    have = {getattr(row, key) for row in rows}
    for ident in ids:
        if ident not in have:
            db.session.add(make(ident))


def update_draft(
    tender: Tender,
    actor: User,
    *,
    lots: Iterable[dict[str, Any]] | None = None,
    criteria: Iterable[dict[str, Any]] | None = None,
    custodian_ids: Iterable[int] | None = None,
    invitee_org_ids: Iterable[int] | None = None,
    documents: Iterable[CheckedUpload] = (),
    **fields: Any,
) -> Tender:
    """Change a draft: Tender columns in `fields`; `lots`, `criteria`, `custodian_ids` and
    `invitee_org_ids`, when given, replace the current ones (lots keep their ids by number);
    `documents` (checked uploads) are added, all in one unit of work."""
    _require_officer(actor, tender.buyer_org_id)
    unknown = set(fields) - _DRAFT_FIELDS
    if unknown:
        raise ValueError(f"unknown tender fields: {sorted(unknown)}")
    for name, enum in (("category", Category), ("method", Method), ("evaluation_method", EvaluationMethod)):
        if name in fields:
            fields[name] = _check_choice(fields[name], enum, name)
    if int(fields.get("budget", 0) or 0) < 0:
        raise _invalid("negative_budget", "budget", _("The budget cannot be negative."))
    with unit_of_work():
        tender = _locked_draft(tender)
        changed = sorted(k for k, v in fields.items() if getattr(tender, k) != v)
        for key, value in fields.items():
            setattr(tender, key, value)
        if lots is not None:
            _sync_lots(tender, lots)
            changed.append("lots")
        if criteria is not None:
            _sync_criteria(tender, criteria)
            changed.append("criteria")
        if custodian_ids is not None:
            _sync_links(tender.custodians, "user_id", _check_custodians(tender.buyer_org_id, custodian_ids),
                        lambda user_id: TenderCustodian(tender_id=tender.id, user_id=user_id))
            changed.append("custodians")
        if invitee_org_ids is not None:
            _sync_links(tender.invitees, "org_id", _check_invitees(invitee_org_ids),
                        lambda org_id: TenderInvitee(tender_id=tender.id, org_id=org_id))
            changed.append("invitees")
        db.session.flush()
        db.session.expire(tender)
        audit.record("tender.updated", "tender", tender.id, {"fields": changed},
                     actor=audit.user_actor(actor.id, tender.buyer_org_id, actor.email))
        store_documents(tender, actor, documents)
    db.session.refresh(tender)
    return tender


def remove_document(tender: Tender, actor: User, document_id: int) -> None:
    """Take a document off a draft (a published tender's documents change by amendment).

    A draft's documents were never public, so the row goes; the stored file stays."""
    _require_officer(actor, tender.buyer_org_id)
    with unit_of_work():
        tender = _locked_draft(tender)
        doc = db.session.get(TenderDocument, document_id)
        if doc is None or doc.tender_id != tender.id:
            raise _invalid("unknown_document", "documents", _("This document is not part of the tender."))
        stored_file_id = doc.stored_file_id
        db.session.delete(doc)
        audit.record("tender.document_removed", "tender", tender.id,
                     {"document_id": document_id, "stored_file_id": stored_file_id},
                     actor=audit.user_actor(actor.id, tender.buyer_org_id, actor.email))
    db.session.refresh(tender)


# --------------------------------------------------------------------------- procedure types: editing

PROCEDURE_SETTINGS = ("min_days", "min_days_working", "min_bids", "committee_min", "bond_allowed",
                      "evaluation_methods")


def update_procedure_type(ptype: ProcedureType, actor: User, **settings: Any) -> ProcedureType:
    """Change a method's settings (platform admin only; audited with before and after)."""
    from accounts.permissions import user_has_platform_role

    if not user_has_platform_role(actor, Role.PLATFORM_ADMIN):
        raise PermissionDenied(_("Only a platform administrator may change procedure settings."))
    unknown = set(settings) - set(PROCEDURE_SETTINGS)
    if unknown:
        raise ValueError(f"unknown procedure settings: {sorted(unknown)}")

    def whole(name: str, low: int, high: int) -> int:
        value = settings[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _invalid(f"invalid_{name}", name,
                           _("Enter a whole number from %(low)s to %(high)s.", low=low, high=high))
        return value

    if "min_days" in settings:
        whole("min_days", 0, 365)
    if "min_bids" in settings:
        whole("min_bids", 1, 50)
    if "committee_min" in settings:
        if whole("committee_min", 1, 49) % 2 == 0:
            raise _invalid("committee_min_even", "committee_min", _("The committee must have an odd number of members."))
    for flag in ("min_days_working", "bond_allowed"):
        if flag in settings:
            settings[flag] = bool(settings[flag])
    if "evaluation_methods" in settings:
        methods = [_check_choice(m, EvaluationMethod, "evaluation_methods") for m in settings["evaluation_methods"]]
        if not methods:
            raise _invalid("evaluation_methods_empty", "evaluation_methods",
                           _("Choose at least one evaluation method."))
        settings["evaluation_methods"] = list(dict.fromkeys(methods))
    platform_org_id = next(
        (m.org_id for m in actor.memberships
         if m.active and m.has_role(Role.PLATFORM_ADMIN) and m.organization.has_kind("platform")),
        None,
    )
    with unit_of_work():
        row = db.session.scalars(for_update(sa.select(ProcedureType).where(ProcedureType.id == ptype.id))).one()
        before = {k: getattr(row, k) for k in settings}
        for key, value in settings.items():
            setattr(row, key, value)
        after = {k: getattr(row, k) for k in settings}
        changes = {k: [before[k], after[k]] for k in settings if before[k] != after[k]}
        audit.record("procedure_type.updated", "procedure_type", row.id, {"method": row.code, "changes": changes},
                     actor=audit.user_actor(actor.id, platform_org_id, actor.email))
    return row


# --------------------------------------------------------------------------- document downloads


def record_download(tender: Tender, user: User | None, org: Organization | None) -> bool:
    """Remember that `user` (of `org`) downloaded the published tender's documents (first
    time only; anonymous users and the buyer's own organization: nothing).

    Returns True when this was the first download. Not audited on purpose: who downloaded
    is confidential before the opening (DESIGN.md section 7), and the audit log is read by
    platform staff; the row itself is shown only to that supplier and used to notify
    downloaders of amendments."""
    if user is None or not queries.is_public(tender):
        return False  # anonymous, or the buyer's own preview of a draft
    if org is not None and org.id == tender.buyer_org_id:
        return False  # the buyer's own people are not "downloaders" (nobody to notify of amendments)
    exists = sa.select(DocumentDownload.id).where(DocumentDownload.tender_id == tender.id,
                                                  DocumentDownload.user_id == user.id)
    if db.session.scalar(exists) is not None:
        return False
    try:
        with unit_of_work():
            if db.session.scalar(exists) is not None:
                return False
            db.session.add(DocumentDownload(tender_id=tender.id, user_id=user.id, org_id=org.id if org else None,
                                            first_at=clock.now()))
    except sa.exc.IntegrityError:  # a concurrent first download of the same user won
        return False
    return True
