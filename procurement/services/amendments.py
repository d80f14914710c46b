"""Amendments of a published tender: dates and documents, versioned.

Each amendment creates the tender's next version (`TenderAmendment.number` =
`tender.version` after it). New documents carry that version; removed or replaced ones
get `removed_in_version` (never deleted). Date changes are kept in `changes` as
`[old, new]` ISO strings.

Rules:
- only the buyer's procurement officer, only while the tender is published and before
  its submission deadline (server time), with a reason;
- within 15 days of the current deadline the deadline must move to at least 15 days
  after now (`deadline_must_move`); the deadline never moves earlier;
- when the deadline moves and no opening time is given, the opening moves by the same
  amount;
- a material amendment flags every bid submitted for an earlier version
  (`needs_resubmission`); their owners are told, nobody else learns how many;
- everyone who downloaded the documents or asked a question is notified, and the
  alert subscribers matching the tender.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import User
from core import audit, clock
from core.db import db, for_update, unit_of_work
from core.errors import InvalidTransition, ValidationError
from core.files import CheckedUpload
from procurement.models import Bid, Tender, TenderAmendment, TenderDocument
from procurement.services import alerts, participants, search_index
from procurement.services.tenders import _require_officer, store_documents
from procurement.states import BidStatus, TenderStatus, time_status

__all__ = [
    "NOTICE_DAYS",
    "REASON_MAX_LENGTH",
    "amend",
    "apply_amendment",
    "deadline_move_required",
    "earliest_new_deadline",
    "current_documents",
    "amendments_of",
]

#: An amendment (or answer) within this many days of the deadline must move the deadline
#: to at least this many days after now.
NOTICE_DAYS = 15
REASON_MAX_LENGTH = 2000
#: Statuses in which a tender may be amended (the clock decides within them).
_AMENDABLE = {TenderStatus.ENQUIRIES, TenderStatus.TENDERING}


def can_amend_now(tender: Tender, now: datetime | None = None) -> bool:
    """Whether the tender may be amended (or its questions answered) at this moment:
    published and before its submission deadline."""
    return time_status(tender, now or clock.now()) in _AMENDABLE


def _invalid(code: str, field: str, message: str) -> ValidationError:
    return ValidationError(message, code=code, fields={field: message})


def deadline_move_required(tender: Tender, now: datetime | None = None) -> bool:
    """True when a change now falls within NOTICE_DAYS of the submission deadline."""
    now = now or clock.now()
    return tender.submission_deadline is not None and now > tender.submission_deadline - timedelta(days=NOTICE_DAYS)


def earliest_new_deadline(now: datetime | None = None) -> datetime:
    """The earliest deadline a forced move may set."""
    return (now or clock.now()) + timedelta(days=NOTICE_DAYS)


def current_documents(tender: Tender) -> list[TenderDocument]:
    """The documents of the tender's current version."""
    return [d for d in tender.documents if d.removed_in_version is None]


def amendments_of(tender: Tender) -> list[TenderAmendment]:
    """Published amendments, oldest first (public)."""
    return list(db.session.scalars(
        sa.select(TenderAmendment).where(TenderAmendment.tender_id == tender.id).order_by(TenderAmendment.number)
    ))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _actor(user: User, tender: Tender) -> audit.Actor:
    return audit.user_actor(user.id, tender.buyer_org_id, user.email)


def amend(tender: Tender, officer: User, reason: str, **changes: Any) -> TenderAmendment:
    """Publish an amendment of `tender` (one unit of work). Returns the amendment.

    `changes` are the keywords of `apply_amendment` (submission_deadline, opening_time,
    enquiry_end, add_documents, remove_document_ids, material)."""
    if "question_id" in changes:
        raise TypeError("amend() takes no question_id: answers amend through clarifications.answer")
    _require_officer(officer, tender.buyer_org_id)
    with unit_of_work():
        locked = db.session.scalars(for_update(sa.select(Tender).where(Tender.id == tender.id))).one()
        amendment = apply_amendment(locked, officer, reason, **changes)
    db.session.refresh(tender)
    return amendment


def _check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason_required", "reason", _("Give the reason for the amendment."))
    if len(reason) > REASON_MAX_LENGTH:
        raise _invalid("reason_too_long", "reason",
                       _("The reason can be at most %(n)s characters long.", n=REASON_MAX_LENGTH))
    return reason


def _new_dates(
    tender: Tender, now: datetime, submission_deadline: datetime | None, opening_time: datetime | None,
    enquiry_end: datetime | None,
) -> tuple[datetime, datetime, datetime | None]:
    """Check the requested dates; returns (deadline, opening, enquiry end) after the amendment."""
    old_deadline, old_opening, old_enquiry_end = tender.submission_deadline, tender.opening_time, tender.enquiry_end
    new_deadline = submission_deadline if submission_deadline is not None else old_deadline
    if new_deadline < old_deadline:
        raise _invalid("deadline_earlier", "submission_deadline",
                       _("An amendment cannot bring the submission deadline forward."))
    if deadline_move_required(tender, now) and new_deadline < earliest_new_deadline(now):
        raise _invalid(
            "deadline_must_move", "submission_deadline",
            _("Within %(n)s days of the submission deadline an amendment must move the deadline to at least "
              "%(n)s days from now.", n=NOTICE_DAYS),
        )
    if opening_time is not None:
        new_opening = opening_time
    elif old_opening is not None:
        new_opening = old_opening + (new_deadline - old_deadline)
    else:
        new_opening = new_deadline
    if new_opening < new_deadline:
        raise _invalid("opening_before_deadline", "opening_time",
                       _("The opening time cannot be before the submission deadline."))
    new_enquiry_end = old_enquiry_end
    if enquiry_end is not None and enquiry_end != old_enquiry_end:
        if old_enquiry_end is None or now >= old_enquiry_end:
            raise _invalid("enquiry_period_over", "enquiry_end",
                           _("The enquiry period can be changed only while it is running."))
        if not (now < enquiry_end < new_deadline):
            raise _invalid("enquiry_end_invalid", "enquiry_end",
                           _("The enquiry period must end in the future and before the submission deadline."))
        new_enquiry_end = enquiry_end
    return new_deadline, new_opening, new_enquiry_end


def _check_documents(tender: Tender, add_count: int, remove_ids: list[int]) -> dict[int, TenderDocument]:
    current = {d.id: d for d in current_documents(tender)}
    if any(i not in current for i in remove_ids):
        raise _invalid("unknown_document", "remove_document_ids",
                       _("A document to remove is not among the current documents of this tender."))
    if len(current) - len(remove_ids) + add_count < 1:
        raise _invalid("documents_missing", "documents", _("The tender must keep at least one document."))
    return current


def _change_documents(
    tender: Tender, officer: User, add_documents: list[CheckedUpload | tuple[CheckedUpload, str]],
    remove: list[TenderDocument],
) -> dict[str, Any]:
    """Inside the amendment, once `tender.version` is the new one."""
    changes: dict[str, Any] = {}
    added = [{"id": doc.id, "title": doc.title} for doc in store_documents(tender, officer, add_documents)]
    for doc in remove:
        doc.removed_in_version = tender.version
    if added:
        changes["documents_added"] = added
    if remove:
        changes["documents_removed"] = [{"id": d.id, "title": d.title} for d in remove]
    return changes


def _flag_bids(tender: Tender, number: int) -> tuple[set[int], set[int]]:
    """Flag the bids submitted for an earlier version; returns (their orgs, their authors)."""
    orgs: set[int] = set()
    authors: set[int] = set()
    bids = db.session.scalars(
        for_update(sa.select(Bid).where(
            Bid.tender_id == tender.id, Bid.status == BidStatus.SUBMITTED.value, Bid.tender_version < number,
        ))
    ).all()
    for bid in bids:
        bid.needs_resubmission = True
        orgs.add(bid.bidder_org_id)
        if bid.created_by_id:
            authors.add(bid.created_by_id)
    return orgs, authors


def apply_amendment(
    tender: Tender,
    officer: User,
    reason: str,
    *,
    submission_deadline: datetime | None = None,
    opening_time: datetime | None = None,
    enquiry_end: datetime | None = None,
    add_documents: Iterable[CheckedUpload | tuple[CheckedUpload, str]] = (),
    remove_document_ids: Iterable[int] = (),
    material: bool = False,
    question_id: int | None = None,
) -> TenderAmendment:
    """The amendment itself, inside the caller's unit of work, on a tender row already
    locked by the caller (`amend`, `clarifications.answer`). Checks every rule first, so
    a refusal changes nothing."""
    now = clock.now()
    reason = _check_reason(reason)
    if not can_amend_now(tender, now):
        raise InvalidTransition(_("Only a published tender can be amended, and only before its submission deadline."),
                                code="not_amendable")
    add_documents = list(add_documents)
    remove_ids = list(dict.fromkeys(int(i) for i in remove_document_ids))
    new_deadline, new_opening, new_enquiry_end = _new_dates(tender, now, submission_deadline, opening_time,
                                                            enquiry_end)
    current = _check_documents(tender, len(add_documents), remove_ids)

    changes: dict[str, Any] = {}
    for name, new in (("submission_deadline", new_deadline), ("opening_time", new_opening),
                      ("enquiry_end", new_enquiry_end)):
        old = getattr(tender, name)
        if new != old:
            changes[name] = [_iso(old), _iso(new)]
    if not changes and not add_documents and not remove_ids:
        raise _invalid("nothing_to_change", "reason",
                       _("Change a date or the documents: this amendment changes nothing."))

    number = tender.version = (tender.version or 1) + 1  # the new documents belong to it
    changes.update(_change_documents(tender, officer, add_documents, [current[i] for i in remove_ids]))
    tender.submission_deadline = new_deadline
    tender.opening_time = new_opening
    tender.enquiry_end = new_enquiry_end
    search_index.tender_changed(tender.id)
    amendment = TenderAmendment(tender_id=tender.id, number=number, reason=reason, changes=changes,
                                material=bool(material), question_id=question_id, created_by_id=officer.id,
                                created_at=now)
    db.session.add(amendment)
    db.session.flush()
    flagged_orgs, flagged_authors = _flag_bids(tender, number) if material else (set(), set())
    audit.record(
        "tender.amended", "tender", tender.id,
        {"amendment_number": number, "reason": reason, "material": bool(material), "question_id": question_id,
         "changes": changes},
        actor=_actor(officer, tender),
    )
    _notify(tender, amendment, flagged_orgs, flagged_authors)
    return amendment


def _notify(tender: Tender, amendment: TenderAmendment, flagged_orgs: set[int], flagged_authors: set[int]) -> None:
    title = tender.title_zh or tender.title_en
    link = participants.tender_link(tender.id)
    deadline_text = participants.local_text(tender.submission_deadline)
    resubmit: set[int] = set()
    if flagged_orgs:
        resubmit = participants._org_bidders(flagged_orgs) | flagged_authors
        participants.notify_users(
            resubmit,
            _l("Resubmit your bid: %(title)s was amended", title=title),
            body=_l("A material amendment (%(n)s) changed the tender \"%(title)s\" after you submitted your bid. "
                    "Please review the changes and submit your bid again before %(deadline)s (Beijing time). "
                    "Reason: %(reason)s",
                    n=amendment.number, title=title, deadline=deadline_text, reason=amendment.reason),
            link=link,
        )
    told = participants.user_ids(tender, downloaders=True, askers=True) - resubmit
    participants.notify_users(
        told,
        _l("Tender amended: %(title)s", title=title),
        body=_l("The tender \"%(title)s\" was amended (amendment %(n)s). Submission deadline: %(deadline)s "
                "(Beijing time). Reason: %(reason)s",
                title=title, n=amendment.number, deadline=deadline_text, reason=amendment.reason),
        link=link,
    )
    alerts.notify_amendment(tender, amendment, exclude_user_ids=told | resubmit)
