"""Sealed bids: preparation in steps, submission, replacement, withdrawal and receipts.

A supplier prepares a *draft* bid part by part (a price per lot, the answers to the
criteria, attachments one by one). Every part is sealed to the tender's X25519 public
key the moment it arrives (`procurement.sealing.seal`, associated data `part_aad`), so
only ciphertext and its SHA-256 reach the database; the plaintext is never written to
the file store, a log, a temporary file or the audit trail. A part's name (the file name
the bidder gave) and the receipt, which the bidder reads back, are sealed at rest
(`BidPart.name`, `Bid.receipt`, core.at_rest).

Submission takes a SHARE lock on the tender row, then checks the deadline with the
server clock: the opening takes FOR UPDATE on the same row, so a racing submission is
either in the opening or refused, while concurrent submissions (a deadline rush) go
side by side; nothing in a submission updates the tender row (that would turn the shared
lock into a deadlock). One bidder's submissions and withdrawals on one tender are
serialized by a transaction advisory lock (PostgreSQL; SQLite serializes writers). A
submission supersedes the bidder's previous one (its ciphertext is kept) and stores a
receipt signed with the platform key. Ciphertext is written once and never loaded back
by these services (receipt sizes and hashes come from the sealing or the database).

Confidentiality before the opening: drafts, parts and bids are visible only to the
bidder's own organization. Audit entries of bid commands are made by the system actor
and their details (tender, bidder, user, bid) are sealed to the tender key, so the
audit log shows neither who bid on which tender nor how many did until the opening.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import set_committed_value

from accounts.models import Organization, User
from accounts.states import OrgKind, Role
from core import clock, signing
from core.db import db, for_update, unit_of_work
from core.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.files import DEFAULT_ALLOWED, check_upload
from procurement import queries, sealing
from procurement.models import Bid, BidPart, Criterion, Lot, Tender, TenderInvitee
from procurement.services import bonds, sealed_audit
from procurement.states import (
    TIME_DRIVEN,
    BidPartKind,
    BidStatus,
    LotStatus,
    Method,
    TenderStatus,
    can_transition_bid,
    time_status,
)

__all__ = [
    "ATTACHMENT_TYPES",
    "DEFAULT_ATTACHMENT_MAX_BYTES",
    "ReceiptCheck",
    "add_answers",
    "add_attachment",
    "add_price",
    "attachment_max_bytes",
    "bids_of_org",
    "check_receipt",
    "current_bids",
    "draft_of",
    "eligibility_problems",
    "live_parts",
    "part_aad",
    "remove_part",
    "sealed_size",
    "start_bid",
    "submit",
    "submit_complete_bid",
    "submitted_of",
    "withdraw",
]

DEFAULT_ATTACHMENT_MAX_BYTES = 20 * 1024 * 1024
ATTACHMENT_TYPES = frozenset(DEFAULT_ALLOWED)
MAX_ATTACHMENTS = 30
MAX_ANSWER_CHARS = 20_000
MAX_PRICE_FEN = 10**15
RECEIPT_MAX_BYTES = 256 * 1024
#: Price plaintexts are padded (JSON allows trailing spaces) so the sealed size does not
#: tell how many digits the price has; answers are padded to whole blocks.
PRICE_PAD = 96
ANSWERS_BLOCK = 1024


# --------------------------------------------------------------------------- read side


def part_aad(bid: Bid, part: BidPart) -> bytes:
    """The associated data a part is sealed with (binds it to tender, bidder, bid and seq)."""
    return sealing.bid_aad(bid.tender_id, bid.bidder_org_id, f"{bid.id}/{part.seq}")


def current_bids(tender: Tender) -> list[Bid]:
    """The bids the opening decrypts: status submitted (at most one per bidder)."""
    return list(
        db.session.scalars(
            sa.select(Bid)
            .where(Bid.tender_id == tender.id, Bid.status == BidStatus.SUBMITTED.value)
            .order_by(Bid.submitted_at, Bid.id)
            .execution_options(populate_existing=True)  # the opening reads them under its lock
        )
    )


def live_parts(bid: Bid) -> list[BidPart]:
    """The parts of a bid that were not removed from the draft, in upload order. The
    sealed bytes are deferred (loaded only if read: pages, API and services need names,
    sizes and hashes; sizes and hashes are columns, see `sealed_size`, names are sealed at
    rest in a small column of their own)."""
    return list(db.session.scalars(
        sa.select(BidPart).where(BidPart.bid_id == bid.id, BidPart.removed_at.is_(None)).order_by(BidPart.seq)
        .options(defer(BidPart.ciphertext))
    ))


def sealed_size(part: BidPart) -> int:
    """The byte size of a part's stored ciphertext without loading it: the plaintext size
    plus the fixed sealing overhead (every part is sealed by `sealing.seal`)."""
    return int(part.size or 0) + sealing.OVERHEAD


def draft_of(tender: Tender, org_id: int) -> Bid | None:
    return db.session.scalar(
        sa.select(Bid)
        .where(Bid.tender_id == tender.id, Bid.bidder_org_id == org_id, Bid.status == BidStatus.DRAFT.value)
        .order_by(Bid.id.desc())
        .limit(1)
    )


def submitted_of(tender: Tender, org_id: int) -> Bid | None:
    return db.session.scalar(
        sa.select(Bid)
        .where(Bid.tender_id == tender.id, Bid.bidder_org_id == org_id, Bid.status == BidStatus.SUBMITTED.value)
        .order_by(Bid.id.desc())
        .limit(1)
    )


def bids_of_org(org_id: int, tender_id: int | None = None) -> list[Bid]:
    """Every bid of one organization (own-org pages and API), newest first."""
    stmt = sa.select(Bid).where(Bid.bidder_org_id == org_id)
    if tender_id is not None:
        stmt = stmt.where(Bid.tender_id == tender_id)
    return list(db.session.scalars(stmt.order_by(Bid.id.desc())))


def attachment_max_bytes() -> int:
    return int(current_app.config.get("PROCUREMENT_BID_ATTACHMENT_MAX_BYTES", DEFAULT_ATTACHMENT_MAX_BYTES))


# --------------------------------------------------------------------------- rules


def _refuse(code: str, message: str, field_name: str | None = None) -> ValidationError:
    return ValidationError(message, code=code, fields={field_name: message} if field_name else None)


def _require_bidder(user: User | None, org_id: int) -> None:
    if user is None:
        raise PermissionDenied()
    # user.memberships is loaded with the user on API requests and by current_org on pages
    membership = next((m for m in user.memberships if m.org_id == org_id and m.active), None)
    if membership is None or not membership.has_role(Role.BIDDER):
        raise PermissionDenied(_("Only a bidder of the supplier organization may do this."))


def eligibility_problems(tender: Tender | _TenderState, org: Organization) -> list[tuple[str, str]]:
    """Why `org` may not bid on `tender` ([(code, message)], empty when it may; only its id
    and method are read)."""
    problems: list[tuple[str, str]] = []
    if not org.has_kind(OrgKind.SUPPLIER):
        problems.append(("not_supplier", _("Only supplier organizations can bid.")))
    if not org.is_verified:
        problems.append(("not_verified", _("Your organization must be verified before it can bid.")))
    if org.is_debarred():
        problems.append(("debarred", _("Your organization is debarred from public procurement.")))
    if tender.method == Method.INVITATION:
        invited = db.session.scalar(
            sa.select(TenderInvitee.id).where(TenderInvitee.tender_id == tender.id, TenderInvitee.org_id == org.id)
        )
        if invited is None:
            problems.append(("not_invited", _("Only invited suppliers can bid on this invitation tender.")))
    return problems


def _check_eligible(tender: Tender | _TenderState, org: Organization) -> None:
    problems = eligibility_problems(tender, org)
    if problems:
        code, message = problems[0]
        raise _refuse(code, message)


def _check_drafting(tender: Tender) -> None:
    """Parts may be added while the tender is published and before its deadline."""
    now = clock.now()
    if tender.status not in TIME_DRIVEN or tender.submission_deadline is None:
        raise InvalidTransition(_("This tender does not accept bids."), code="tender_not_open")
    if now >= tender.submission_deadline:
        raise InvalidTransition(_("The submission deadline has passed: bids can no longer be changed."),
                                code="deadline_passed")
    if not tender.public_key:
        raise InvalidTransition(_("This tender's sealing key is not ready yet; try again later."),
                                code="tender_key_missing")


def _check_submitting(tender: Tender, now) -> None:
    """Submission (and withdrawal) only in the tendering period, by the server clock."""
    if tender.status not in TIME_DRIVEN or tender.submission_deadline is None:
        raise InvalidTransition(_("This tender does not accept bids."), code="tender_not_open")
    status = time_status(tender, now)
    if status == TenderStatus.ENQUIRIES:
        raise InvalidTransition(_("Bids are accepted only after the enquiry period ends."), code="enquiry_period")
    if status != TenderStatus.TENDERING:
        raise InvalidTransition(_("The submission deadline has passed: nothing is accepted any more."),
                                code="deadline_passed")


def drafting_open(tender: Tender) -> bool:
    """Whether bids may be prepared on the tender now (the rule of _check_drafting)."""
    try:
        _check_drafting(tender)
    except InvalidTransition:
        return False
    return True


def submission_open(tender: Tender, now: datetime | None = None) -> bool:
    """Whether bids are submitted (and withdrawn) now (the rule of _check_submitting)."""
    try:
        _check_submitting(tender, now or clock.now())
    except InvalidTransition:
        return False
    return True


def _lock_tender_shared(tender_id: int) -> Tender:
    """Inside a unit of work: the tender row with a SHARE lock, its columns re-read.

    Concurrent submissions and withdrawals share the lock; the opening's FOR UPDATE waits
    for every one in flight (and they wait for it), so a submission is either in the
    opening or sees the opened tender. The caller must not update the tender row."""
    return db.session.scalars(
        sa.select(Tender).where(Tender.id == tender_id).with_for_update(read=True)
        .execution_options(populate_existing=True)
    ).one()


def _lock_bidder(tender_id: int, org_id: int) -> None:
    """Inside a unit of work: serialize one bidder's submissions and withdrawals on one
    tender (so at most one bid is current). PostgreSQL: a transaction advisory lock;
    SQLite already serializes writers."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(_bidder_lock_key(tender_id, org_id))))


def _supersede_previous(tender_id: int, org_id: int, except_id: int | None = None) -> list[int]:
    """Mark the bidder's current submission(s) superseded (one UPDATE, the rows locked by
    it; under _lock_bidder); returns their ids."""
    params = {"b_tender_id": tender_id, "b_org_id": org_id}
    if except_id is not None:
        params["b_except_id"] = except_id
    ids = sorted(db.session.scalars(_supersede_query(except_id is not None), params))
    for old_id in ids:  # objects of this session see the new status without a reload
        old = db.session.identity_map.get(sa.inspect(Bid).identity_key_from_primary_key((old_id,)))
        if old is not None:
            set_committed_value(old, "status", BidStatus.SUPERSEDED.value)
    return ids


@functools.cache
def _supersede_query(with_exception: bool) -> sa.Update:
    stmt = (sa.update(Bid)
            .where(Bid.tender_id == sa.bindparam("b_tender_id"), Bid.bidder_org_id == sa.bindparam("b_org_id"),
                   Bid.status == BidStatus.SUBMITTED.value)
            .values(status=BidStatus.SUPERSEDED.value)
            .returning(Bid.id)
            .execution_options(synchronize_session=False))
    return stmt.where(Bid.id != sa.bindparam("b_except_id")) if with_exception else stmt


def _bidder_lock_key(tender_id: int, org_id: int) -> int:
    digest = hashlib.sha256(f"canal-bid:{tender_id}:{org_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass
class _LotState:
    id: int
    number: int
    bond_amount: int


@dataclass
class _TenderState:
    """The tender columns a one-call submission checks, read under the SHARE lock (it
    stands in for the Tender where only these are read: the deadline rules, the bond
    check, the sealed audit entry)."""

    id: int
    status: str
    method: str
    enquiry_end: Any
    submission_deadline: Any
    public_key: bytes | None
    version: int
    lots: dict[int, _LotState] = field(default_factory=dict)  # active lots by id
    criteria: set[int] = field(default_factory=set)
    new_bid_id: int | None = None  # PostgreSQL: reserved from the bids' sequence


def _lock_tender_state(tender_id: int, bidder_org_id: int) -> _TenderState:
    """Inside a unit of work: the tender row locked FOR SHARE (as `_lock_tender_shared`,
    only the columns checked) and, on PostgreSQL in the same statement, the bidder's lock
    (`_lock_bidder`) and the next bid id from its sequence (so the bid and its parts, whose
    associated data hold the bid id, go in one flush); then, in a second statement (so a
    fresh snapshot, taken after the locks: an amendment that changed the lots has
    committed or waits), the tender's active lots and its criteria ids.

    Lock order: the SHARE lock never conflicts with another submission's, and the opening
    (FOR UPDATE on the row) takes no bidder lock, so whichever of the two locks this
    statement gets first, no cycle can form."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    params = {"tender_id": tender_id}
    if postgres:
        params["lock_key"] = _bidder_lock_key(tender_id, bidder_org_id)
    row = db.session.execute(_tender_state_query(postgres), params).one_or_none()
    if row is None:
        raise NotFound()
    state = _TenderState(*row[:7])
    if postgres:
        state.new_bid_id = int(row[8])
    for kind, item_id, number, bond in db.session.execute(_lots_and_criteria_query(), {"tender_id": tender_id}):
        if kind == "lot":
            state.lots[item_id] = _LotState(item_id, number, bond or 0)
        else:
            state.criteria.add(item_id)
    return state


@functools.cache
def _tender_state_query(postgres: bool) -> sa.Select:
    """The statement of `_lock_tender_state`, built once per dialect kind (the deadline
    rush runs it on every submission; a reused statement keeps its cache key)."""
    columns = [Tender.id, Tender.status, Tender.method, Tender.enquiry_end, Tender.submission_deadline,
               Tender.public_key, Tender.version]
    if postgres:
        columns += [sa.func.pg_advisory_xact_lock(sa.bindparam("lock_key", type_=sa.BigInteger)),
                    sa.func.nextval(sa.func.pg_get_serial_sequence("tender_bids", "id"))]
    return sa.select(*columns).where(Tender.id == sa.bindparam("tender_id")).with_for_update(read=True, of=Tender)


@functools.cache
def _lots_and_criteria_query() -> sa.CompoundSelect:
    return sa.union_all(
        sa.select(sa.literal("lot").label("kind"), Lot.id, Lot.number, Lot.bond_amount).where(
            Lot.tender_id == sa.bindparam("tender_id"), Lot.status == LotStatus.ACTIVE.value),
        sa.select(sa.literal("criterion").label("kind"), Criterion.id, sa.null(), sa.null()).where(
            Criterion.tender_id == sa.bindparam("tender_id")),
    )


def _clean_answers(criteria: set[int], answers: Any) -> dict[str, str]:
    """{criterion id: stripped text} for the tender's criteria, or a ValidationError."""
    if not isinstance(answers, dict):
        raise _refuse("invalid_answers", _("The answers are not valid."), "answers")
    clean: dict[str, str] = {}
    for key, text in answers.items():
        try:
            criterion_id = int(key)
        except (TypeError, ValueError):
            criterion_id = -1
        if criterion_id not in criteria:
            raise _refuse("unknown_criterion", _("An answer refers to a criterion of another tender."), "answers")
        if not isinstance(text, str):
            raise _refuse("invalid_answers", _("The answers are not valid."), "answers")
        text = text.strip()
        if len(text) > MAX_ANSWER_CHARS:
            raise _refuse("answer_too_long", _("Each answer may have at most %(n)s characters.",
                                               n=MAX_ANSWER_CHARS), "answers")
        if text:
            clean[str(criterion_id)] = text
    if not clean:
        raise _refuse("no_answers", _("Write at least one answer."), "answers")
    return clean


def _criteria_ids(tender_id: int) -> set[int]:
    return set(db.session.scalars(sa.select(Criterion.id).where(Criterion.tender_id == tender_id)))


def _price_plaintext(lot_id: int, price_fen: int) -> bytes:
    return _pad(json.dumps({"lot_id": lot_id, "price": price_fen}, separators=(",", ":")).encode(), PRICE_PAD)


def _answers_plaintext(clean: dict[str, str]) -> bytes:
    return _pad(json.dumps({"answers": clean}, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
                ANSWERS_BLOCK)


def _valid_price(price_fen: Any) -> bool:
    return isinstance(price_fen, int) and not isinstance(price_fen, bool) and 0 < price_fen < MAX_PRICE_FEN


def _lots_by_id(tender: Tender) -> dict[int, Lot]:
    return {lot.id: lot for lot in tender.lots if lot.status == LotStatus.ACTIVE}


def _clean_lot_ids(tender: Tender, lot_ids: Any) -> list[int]:
    lots = _lots_by_id(tender)
    try:
        wanted = {int(x) for x in (lot_ids or [])}
    except (TypeError, ValueError):
        wanted = set()
    if not wanted:
        raise _refuse("no_lots", _("Choose at least one lot to bid on."), "lots")
    unknown = wanted - set(lots)
    if unknown:
        raise _refuse("unknown_lot", _("A chosen lot is not part of this tender."), "lots")
    return sorted(wanted, key=lambda i: lots[i].number)


# --------------------------------------------------------------------------- audit


def _audit(action: str, tender: Tender, bid: Bid, user: User, extra: dict | None = None) -> None:
    """An audit entry whose details (tender, bid, bidder, user) are sealed until the opening."""
    details = {"tender_id": tender.id, "bid_id": bid.id, "bidder_org_id": bid.bidder_org_id,
               "user_id": user.id, "user": user.email, **(extra or {})}
    sealed_audit.record(action, "sealed_bid", tender, details)


# --------------------------------------------------------------------------- drafting


def _tender_of(bid: Bid) -> Tender:
    tender = db.session.get(Tender, bid.tender_id)
    if tender is None:  # pragma: no cover - foreign key
        raise NotFound()
    return tender


def _new_draft(tender: Tender, user: User, org: Organization, lot_ids: list[int]) -> Bid:
    bid = Bid(tender_id=tender.id, bidder_org_id=org.id, created_by_id=user.id, status=BidStatus.DRAFT.value,
              lot_ids=lot_ids, tender_version=tender.version, created_at=clock.now())
    db.session.add(bid)
    db.session.flush()
    return bid


def start_bid(tender: Tender, user: User, org: Organization, lot_ids: Any) -> Bid:
    """Start the organization's draft for `tender` on `lot_ids` (or change the lots of the
    existing draft: prices of lots no longer chosen are removed). Allowed during the
    enquiry period and tendering; a submitted bid stays current until a draft replaces it."""
    _require_bidder(user, org.id)
    _check_eligible(tender, org)
    _check_drafting(tender)
    lots = _clean_lot_ids(tender, lot_ids)
    with unit_of_work():
        bid = draft_of(tender, org.id)
        if bid is None:
            bid = _new_draft(tender, user, org, lots)
            _audit("bid.draft_started", tender, bid, user, {"lots": lots})
        else:
            bid = db.session.scalars(for_update(sa.select(Bid).where(Bid.id == bid.id))).one()
            if bid.status != BidStatus.DRAFT:
                raise InvalidTransition(_("Only a draft bid can be changed."), code="not_draft")
            bid.lot_ids = lots
            now = clock.now()
            for part in live_parts(bid):
                if part.kind == BidPartKind.PRICE and part.lot_id not in lots:
                    part.removed_at = now
            _audit("bid.lots_changed", tender, bid, user, {"lots": lots})
    return bid


def _lock_draft(bid: Bid, user: User) -> tuple[Bid, Tender]:
    """Inside a unit of work: the bid row locked, a draft of the user's organization, and
    its tender still open for drafting."""
    _require_bidder(user, bid.bidder_org_id)
    bid = db.session.scalars(for_update(sa.select(Bid).where(Bid.id == bid.id))).one()
    if bid.status != BidStatus.DRAFT:
        raise InvalidTransition(_("Only a draft bid can be changed."), code="not_draft")
    tender = _tender_of(bid)
    _check_drafting(tender)
    return bid, tender


def _seal_part(bid: Bid, tender: Tender, kind: BidPartKind, name: str, plaintext: bytes,
               lot_id: int | None = None) -> BidPart:
    """Seal `plaintext` as the bid's next part (its seq is allocated before sealing)."""
    last = db.session.scalar(sa.select(sa.func.max(BidPart.seq)).where(BidPart.bid_id == bid.id)) or 0
    part = BidPart(bid_id=bid.id, seq=last + 1, kind=kind.value, lot_id=lot_id, size=len(plaintext),
                   received_at=clock.now())
    part.name = name  # sealed at rest under (bid, seq)
    blob = sealing.seal(tender.public_key, plaintext, aad=part_aad(bid, part))
    part.ciphertext = blob.data
    part.ciphertext_sha256 = blob.sha256
    db.session.add(part)
    db.session.flush()
    return part


def _pad(data: bytes, block: int) -> bytes:
    """Trailing spaces (still valid JSON) up to a whole number of blocks."""
    return data + b" " * (-len(data) % block)


def add_price(bid: Bid, user: User, lot_id: Any, price_fen: Any) -> BidPart:
    """Seal the price (integer fen) of one lot of the draft; a new price replaces the old."""
    if not _valid_price(price_fen):
        raise _refuse("invalid_price", _("Enter a price above zero."), "price")
    with unit_of_work():
        bid, tender = _lock_draft(bid, user)
        try:
            lot_id = int(lot_id)
        except (TypeError, ValueError):
            lot_id = -1
        lot = _lots_by_id(tender).get(lot_id)
        if lot is None or lot_id not in (bid.lot_ids or []):
            raise _refuse("lot_not_in_bid", _("Choose this lot for your bid before pricing it."), "lot_id")
        now = clock.now()
        for part in live_parts(bid):
            if part.kind == BidPartKind.PRICE and part.lot_id == lot.id:
                part.removed_at = now
        plaintext = _price_plaintext(lot.id, price_fen)
        part = _seal_part(bid, tender, BidPartKind.PRICE, f"price-lot-{lot.number}", plaintext, lot_id=lot.id)
        _audit("bid.part_added", tender, bid, user, {"part": part.seq, "kind": part.kind})
    return part


def add_answers(bid: Bid, user: User, answers: Any) -> BidPart:
    """Seal the answers to the tender's criteria ({criterion id: text}); replaces earlier answers."""
    if not isinstance(answers, dict):
        raise _refuse("invalid_answers", _("The answers are not valid."), "answers")
    with unit_of_work():
        bid, tender = _lock_draft(bid, user)
        clean = _clean_answers(_criteria_ids(tender.id), answers)
        now = clock.now()
        for part in live_parts(bid):
            if part.kind == BidPartKind.ANSWERS:
                part.removed_at = now
        plaintext = _answers_plaintext(clean)
        del clean
        part = _seal_part(bid, tender, BidPartKind.ANSWERS, "answers", plaintext)
        _audit("bid.part_added", tender, bid, user, {"part": part.seq, "kind": part.kind})
    return part


def add_attachment(bid: Bid, user: User, filename: str, data: Any) -> BidPart:
    """Check an uploaded file in memory (size, type, content) and seal it; nothing of its
    plaintext (not even its hash) is stored."""
    upload = check_upload(data, filename=filename or "", allowed=ATTACHMENT_TYPES, max_bytes=attachment_max_bytes())
    with unit_of_work():
        bid, tender = _lock_draft(bid, user)
        count = sum(1 for p in live_parts(bid) if p.kind == BidPartKind.ATTACHMENT)
        if count >= MAX_ATTACHMENTS:
            raise _refuse("too_many_attachments", _("A bid may have at most %(n)s attachments.", n=MAX_ATTACHMENTS),
                          "file")
        part = _seal_part(bid, tender, BidPartKind.ATTACHMENT, upload.name, upload.data)
        _audit("bid.part_added", tender, bid, user, {"part": part.seq, "kind": part.kind})
    return part


def remove_part(bid: Bid, user: User, part_id: Any) -> BidPart:
    """Remove a part from the draft (marked, ciphertext kept)."""
    with unit_of_work():
        bid, tender = _lock_draft(bid, user)
        part = db.session.get(BidPart, part_id) if isinstance(part_id, int) else None
        if part is None or part.bid_id != bid.id or part.removed_at is not None:
            raise NotFound(_("This part is not in your draft."))
        part.removed_at = clock.now()
        _audit("bid.part_removed", tender, bid, user, {"part": part.seq, "kind": part.kind})
    return part


# --------------------------------------------------------------------------- submission


def _check_key_ready(tender: Tender) -> None:
    if not tender.public_key:
        raise InvalidTransition(_("This tender's sealing key is not ready yet; try again later."),
                                code="tender_key_missing")


def submit(bid: Bid, user: User) -> Bid:
    """Submit a draft: every rule is checked under the tender row's SHARE lock with the
    server time; the bidder's previous submission is superseded; a signed receipt is stored."""
    _require_bidder(user, bid.bidder_org_id)
    with unit_of_work():
        tender = _lock_tender_shared(bid.tender_id)
        db.session.expire(tender, ["lots"])  # read after the lock, like the columns
        now = clock.now()  # after the lock: the opening takes FOR UPDATE on the same row
        _check_submitting(tender, now)
        _lock_bidder(tender.id, bid.bidder_org_id)
        bid = db.session.scalars(for_update(sa.select(Bid).where(Bid.id == bid.id))
                                 .execution_options(populate_existing=True)).one()
        if bid.status != BidStatus.DRAFT:
            raise InvalidTransition(_("This bid has already been submitted or withdrawn."), code="not_draft")
        org = db.session.get(Organization, bid.bidder_org_id)
        _check_eligible(tender, org)
        _check_key_ready(tender)
        lots = _lots_by_id(tender)
        lot_ids = [i for i in (bid.lot_ids or []) if i in lots]
        if not lot_ids or len(lot_ids) != len(bid.lot_ids or []):
            raise _refuse("no_lots", _("Choose at least one lot to bid on."), "lots")
        parts = live_parts(bid)
        priced = {p.lot_id for p in parts if p.kind == BidPartKind.PRICE}
        for lot_id in lot_ids:
            lot = lots[lot_id]
            if lot_id not in priced:
                raise _refuse("price_missing", _("Lot %(n)s has no price yet.", n=lot.number), "price")
            if not bonds.has_acceptable_bond(tender, lot, org.id):
                raise _refuse("bond_missing", _("Lot %(n)s requires a bid bond: lodge it before submitting.",
                                                n=lot.number), "bond")
        previous = _supersede_previous(tender.id, org.id, except_id=bid.id)
        if previous:
            bid.supersedes_id = previous[-1]
        if not can_transition_bid(bid.status, BidStatus.SUBMITTED):  # pragma: no cover - checked above
            raise InvalidTransition()
        bid.status = BidStatus.SUBMITTED.value
        bid.submitted_at = now
        bid.tender_version = tender.version
        bid.needs_resubmission = False
        names = [p.opened_name() for p in parts]
        if None in names:  # never sign a placeholder into the receipt
            raise Conflict(_("The name of a part of this bid can no longer be read. Remove that part and "
                             "add it again."), code="bid_part_unreadable")
        bid.receipt = sealing.make_receipt(
            tender.id, org.id, lot_ids, now,
            [(name, p.ciphertext_sha256, sealed_size(p)) for name, p in zip(names, parts, strict=True)]
        )
        _audit("bid.submitted", tender, bid, user, {"parts": len(parts), "replaced": previous})
    return bid


def withdraw(bid: Bid, user: User) -> Bid:
    """Withdraw a submitted bid before the deadline (kept, marked withdrawn)."""
    _require_bidder(user, bid.bidder_org_id)
    with unit_of_work():
        tender = _lock_tender_shared(bid.tender_id)
        now = clock.now()
        _check_submitting(tender, now)
        _lock_bidder(tender.id, bid.bidder_org_id)
        bid = db.session.scalars(for_update(sa.select(Bid).where(Bid.id == bid.id))
                                 .execution_options(populate_existing=True)).one()
        if bid.status != BidStatus.SUBMITTED or not can_transition_bid(bid.status, BidStatus.WITHDRAWN):
            raise InvalidTransition(_("Only a submitted bid can be withdrawn."), code="not_submitted")
        bid.status = BidStatus.WITHDRAWN.value
        bid.withdrawn_at = now
        _audit("bid.withdrawn", tender, bid, user)
    return bid


@dataclass
class Attachment:
    name: str
    data: bytes = field(repr=False)


def submit_complete_bid(tender_id: int, user: User, org: Organization, *, prices: dict[int, int],
                        answers: dict | None = None, attachments: list[Attachment] | None = None) -> Bid:
    """Create, fill and submit a bid in one unit of work (the API): all or nothing.
    NotFound for a draft or no such tender (the tender is read once, under the lock).

    The lean path of a deadline rush: membership is checked first, the uploads before any
    lock, then under the tender's SHARE lock eligibility and (by the server clock after
    the lock) the deadline; every part is sealed in memory, the bid and its parts are
    inserted, the previous submission superseded and ONE sealed audit entry (listing the
    parts) written. Ciphertext is never read back; the receipt's hashes and sizes are those
    of the sealed bytes stored. The returned bid has its parts loaded (`bid.parts`).

    A draft the organization is preparing on the pages is left alone."""
    _require_bidder(user, org.id)
    for price in (prices or {}).values():
        if not _valid_price(price):
            raise _refuse("invalid_price", _("Enter a price above zero."), "price")
    if answers is not None and not isinstance(answers, dict):
        raise _refuse("invalid_answers", _("The answers are not valid."), "answers")
    attachments = list(attachments or [])
    if len(attachments) > MAX_ATTACHMENTS:
        raise _refuse("too_many_attachments", _("A bid may have at most %(n)s attachments.", n=MAX_ATTACHMENTS),
                      "file")
    max_bytes = attachment_max_bytes()
    uploads = [check_upload(item.data, filename=item.name or "", allowed=ATTACHMENT_TYPES, max_bytes=max_bytes)
               for item in attachments]
    with unit_of_work():
        state = _lock_tender_state(tender_id, org.id)
        if not queries.is_public(state):
            raise NotFound()  # a draft's existence is not revealed
        _check_eligible(state, org)
        now = clock.now()  # after the lock: the opening takes FOR UPDATE on the same row
        _check_submitting(state, now)
        _check_key_ready(state)
        lots = state.lots
        try:
            wanted = {int(x) for x in (prices or {})}
        except (TypeError, ValueError):
            wanted = set()
        if not wanted:
            raise _refuse("no_lots", _("Choose at least one lot to bid on."), "lots")
        if wanted - set(lots):
            raise _refuse("unknown_lot", _("A chosen lot is not part of this tender."), "lots")
        lot_ids = sorted(wanted, key=lambda i: lots[i].number)
        for lot_id in lot_ids:
            if lots[lot_id].bond_amount and not bonds.has_acceptable_bond(  # a lot without a bond: no query
                    state, db.session.get(Lot, lot_id), org.id):  # type: ignore[arg-type]
                raise _refuse("bond_missing", _("Lot %(n)s requires a bid bond: lodge it before submitting.",
                                                n=lots[lot_id].number), "bond")
        by_lot = {int(k): v for k, v in prices.items()}
        plain: list[tuple[BidPartKind, str, int | None, bytes]] = [
            (BidPartKind.PRICE, f"price-lot-{lots[i].number}", i, _price_plaintext(i, by_lot[i]))
            for i in lot_ids
        ]
        if answers:
            plain.append((BidPartKind.ANSWERS, "answers", None, _answers_plaintext(_clean_answers(state.criteria,
                                                                                                  answers))))
        plain += [(BidPartKind.ATTACHMENT, upload.name, None, upload.data) for upload in uploads]

        new_id = state.new_bid_id  # the bidder's lock is held since _lock_tender_state
        previous = _supersede_previous(state.id, org.id)
        bid = Bid(id=new_id, tender_id=state.id, bidder_org_id=org.id, created_by_id=user.id,
                  status=BidStatus.SUBMITTED.value, lot_ids=lot_ids, tender_version=state.version,
                  needs_resubmission=False, supersedes_id=previous[-1] if previous else None,
                  created_at=now, submitted_at=now)
        db.session.add(bid)
        if bid.id is None:
            db.session.flush()  # the bid id is in every part's associated data
        parts: list[BidPart] = []
        receipt_parts: list[tuple[str, str, int]] = []
        for seq, (kind, name, lot_id, plaintext) in enumerate(plain, start=1):
            part = BidPart(bid_id=bid.id, seq=seq, kind=kind.value, lot_id=lot_id, size=len(plaintext),
                           received_at=now)
            part.name = name  # sealed at rest under (bid, seq)
            blob = sealing.seal(state.public_key, plaintext, aad=part_aad(bid, part))
            part.ciphertext = blob.data
            part.ciphertext_sha256 = blob.sha256
            parts.append(part)
            receipt_parts.append((part.name, blob.sha256, blob.size))
        del plain, uploads
        bid.receipt = sealing.make_receipt(state.id, org.id, lot_ids, now, receipt_parts)
        db.session.add_all(parts)
        db.session.flush()  # PostgreSQL: the bid and all its parts in this one flush
        set_committed_value(bid, "parts", parts)
        _audit("bid.submitted", state, bid, user, {  # type: ignore[arg-type]
            "lots": lot_ids, "replaced": previous, "one_call": True,
            "parts": [{"seq": p.seq, "kind": p.kind, "lot_id": p.lot_id, "size": p.size} for p in parts],
        })
    return bid


# --------------------------------------------------------------------------- receipts


def receipt_of(bid: Bid) -> dict:
    """The bid's signed receipt. NotFound before submission; a Conflict when it is stored
    but no longer opens (a SECRET_KEY dropped from SECRET_KEY_FALLBACKS): the bidder keeps
    the copy it downloaded, which still verifies."""
    if not bid.has_receipt:
        raise NotFound(_("This bid has no receipt yet."))
    receipt = bid.receipt
    if receipt is None:
        raise Conflict(_("This receipt can no longer be read on the platform. The copy you downloaded at "
                         "submission still verifies."), code="receipt_unreadable")
    return receipt


@dataclass
class ReceiptCheck:
    """The outcome of checking a receipt document (for the public page, API and CLI)."""

    valid: bool
    reason: str = ""
    receipt: dict | None = None
    platform_key_id: str = ""

    @property
    def parts(self) -> list[dict]:
        parts = (self.receipt or {}).get("parts")
        return parts if isinstance(parts, list) else []


def check_receipt(document: str | bytes | dict) -> ReceiptCheck:
    """Verify a receipt (JSON text, bytes or a parsed dict) against the platform key."""
    key_id = signing.key_id()
    if isinstance(document, bytes | bytearray):
        if len(document) > RECEIPT_MAX_BYTES:
            return ReceiptCheck(False, _("The receipt is too large."), None, key_id)
        try:
            document = bytes(document).decode("utf-8-sig")
        except UnicodeDecodeError:
            return ReceiptCheck(False, _("The receipt is not UTF-8 text."), None, key_id)
    if isinstance(document, str):
        if len(document) > RECEIPT_MAX_BYTES:
            return ReceiptCheck(False, _("The receipt is too large."), None, key_id)
        try:
            document = json.loads(document)
        except ValueError:
            return ReceiptCheck(False, _("This is not valid JSON."), None, key_id)
    if not isinstance(document, dict):
        return ReceiptCheck(False, _("This is not a Canal bid receipt."), None, key_id)
    if document.get("type") != "canal-bid-receipt":
        return ReceiptCheck(False, _("This is not a Canal bid receipt."), document, key_id)
    if not sealing.verify_receipt(document, trusted_public_key_pem=signing.public_key_pem()):
        return ReceiptCheck(False, _("The signature does not match: the receipt was altered or not issued by "
                                     "this platform."), document, key_id)
    return ReceiptCheck(True, "", document, key_id)
