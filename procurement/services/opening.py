"""The opening of sealed bids.

From the opening time on (server clock), each custodian presents their share (code or
share file) after a fresh TOTP code. Each share is checked against that custodian's
public commitment (a wrong one is named and refused, nothing stored) and kept encrypted
at rest until k have arrived. The k-th share triggers the opening, in the same unit of
work and under a lock on the tender row (a bid submission also locks it, so a
submission racing the opening is either in the opening or refused, never lost):

* the KEK is rebuilt in memory, the private key unwrapped and checked against the
  tender's public key;
* every current bid (status submitted) is decrypted part by part; each part's SHA-256
  is checked against the stored hash and its AEAD tag verified; prices and answers go
  to `opened_value`, attachments to the file store (`opened_file_id`); a bid with a bad
  part is INVALID (its `open_error` says which part), the others still open;
* every share kept by the platform (pending or presented) is erased;
* the tender moves to `opened`; lots with fewer valid bids than the method's minimum
  become unsuccessful (流标) and their bonds are refunded; if every lot is unsuccessful
  the tender is unsuccessful;
* the opening record is published (`Tender.opening_record`).

`open_with_recovery` (CLI) does the same with the offline recovery key and k - 1
custodian codes.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from accounts.models import User
from accounts.services.organizations import organizations_by_id
from core import audit, clock
from core.db import db, for_update, unit_of_work
from core.errors import Conflict, InvalidTransition, NotFound, ValidationError
from core.files import store_bytes
from procurement import sealing
from procurement.models import Bid, Lot, Tender, TenderCustodian
from procurement.services import bids as bids_svc
from procurement.services import bonds, keys
from procurement.services import tenders as tender_svc
from procurement.states import (
    LOT_TRANSITIONS,
    BidPartKind,
    BidStatus,
    LotStatus,
    TenderStatus,
    can_transition_bid,
)

__all__ = [
    "Progress",
    "OpeningResult",
    "progress",
    "present_share",
    "open_with_recovery",
    "shares_accepted_now",
]

RECORD_VERSION = 1


@dataclass(frozen=True)
class Progress:
    received: int  # valid shares presented so far
    needed: int  # k
    opened: bool


@dataclass(frozen=True)
class OpeningResult:
    tender_id: int
    status: str  # the tender's status after the opening (opened / unsuccessful)
    bids_opened: int
    bids_invalid: int
    unsuccessful_lots: tuple[int, ...]  # lot numbers


def _invalid(code: str, field_name: str, message: str) -> ValidationError:
    return ValidationError(message, code=code, fields={field_name: message})


# --------------------------------------------------------------------------- reading


def _lock_tender(tender_id: int) -> Tender:
    tender = db.session.scalars(
        for_update(sa.select(Tender).where(Tender.id == tender_id)).execution_options(populate_existing=True)
    ).one_or_none()
    if tender is None:
        raise NotFound()
    # Relationships loaded before the lock may be stale (another custodian presented meanwhile).
    db.session.expire(tender, ["custodians", "lots"])
    db.session.scalars(
        sa.select(TenderCustodian).where(TenderCustodian.tender_id == tender.id)
        .execution_options(populate_existing=True)
    ).all()
    return tender


def _presented(tender: Tender) -> list[TenderCustodian]:
    return [c for c in tender.custodians if c.presented_share is not None]


def progress(tender: Tender) -> Progress:
    """How many shares have been presented (a count only) and how many are needed."""
    received = sum(1 for c in tender.custodians if c.presented_at is not None)
    return Progress(received=received, needed=int(tender.custodian_threshold or 0),
                    opened=tender.opened_at is not None)


def shares_accepted_now(tender: Tender) -> bool:
    return tender.opening_time is not None and clock.now() >= tender.opening_time


def _check_can_open(tender: Tender) -> None:
    """Inside the unit of work, on the locked tender: the opening time has come, the
    tender waits for its opening (stored status synced with the clock first)."""
    if tender.opened_at is not None or TenderStatus(tender.status) in (TenderStatus.OPENED, TenderStatus.UNSUCCESSFUL):
        raise Conflict(_("The bids of this tender have already been opened."), code="already_opened")
    if tender.public_key is None or tender.wrapped_private_key is None:
        raise InvalidTransition(_("This tender has no sealed-bid keys."), code="no_keys")
    if not shares_accepted_now(tender):
        raise _invalid("opening_not_started", "share",
                       _("The opening has not started: key shares are accepted from the opening time on."))
    status = tender_svc.sync_status(tender, source="opening")
    if status != TenderStatus.AWAITING_OPENING:
        raise InvalidTransition(_("This tender cannot be opened in its current state."), code="not_awaiting_opening")


# --------------------------------------------------------------------------- custodians


def _wrong_share(index: int) -> ValidationError:
    """A share that does not match its commitment, named (custodians' and recovery path)."""
    return _invalid("wrong_share", "share", _("Share %(index)s does not match its commitment: it is mistyped, altered "
                                              "or belongs to another tender.", index=index))


def _key_mismatch() -> Conflict:
    return Conflict(_("The rebuilt key does not match this tender's public key: the stored key material was "
                      "altered."), code="key_mismatch")


def _read_share(share_input: str | bytes | None) -> sealing.KeyShare:
    try:
        return sealing.parse_share(share_input or "")
    except sealing.InvalidShareCode as exc:
        raise _invalid("invalid_share_code", "share",
                       _("The key share cannot be read: %(detail)s", detail=exc.message)) from exc


def present_share(tender: Tender, user: User, share_input: str | bytes | None, *, totp_code: str | None) -> Progress:
    """A custodian presents their share (typed code or share file content) at the opening.

    Needs a fresh TOTP code. Refused before the opening time (code opening_not_started),
    for a share that is not this custodian's or does not match its commitment (code
    wrong_share, the share named), or twice. The k-th valid share opens the bids.
    """
    keys.custodian_for(tender, user)
    keys.require_fresh_code(user, totp_code)
    with unit_of_work():
        tender = _lock_tender(tender.id)
        _check_can_open(tender)
        custodian = keys.custodian_for(tender, user, lock=True)
        if custodian.presented_share is not None:
            raise Conflict(_("You have already presented your key share; the other custodians' shares are awaited."),
                           code="share_already_presented")
        share = _read_share(share_input)
        expected_fp = keys.fingerprint(tender)
        if share.key_fingerprint and share.key_fingerprint != expected_fp:
            raise _invalid("wrong_share", "share",
                           _("Share %(index)s was issued for another tender.", index=share.index))
        if share.index != custodian.share_index:
            raise _invalid("wrong_share", "share",
                           _("Share %(index)s is not yours: your share for this tender is number %(mine)s.",
                             index=share.index, mine=custodian.share_index))
        try:
            sealing.check_share(share, keys.commitments_of(tender))
        except sealing.WrongShare as exc:
            raise _wrong_share(share.index) from exc
        custodian.presented_share = keys.seal_share_at_rest(share, keys.PRESENTED, tender.id, custodian.id)
        custodian.presented_at = clock.now()
        actor = audit.user_actor(user.id, user.current_org_id or tender.buyer_org_id, user.email)
        audit.record("tender.share_presented", "tender", tender.id,
                     {"custodian_id": custodian.id, "index": custodian.share_index}, actor=actor)
        db.session.flush()
        presented = _presented(tender)
        if len(presented) >= tender.custodian_threshold:
            shares = [keys.open_share_at_rest(c.presented_share, keys.PRESENTED, tender.id, c.id) for c in presented]
            private_key = _rebuild(tender, shares)
            _open(tender, private_key, via="custodians", presenters=presented, actor=actor, actor_user=user)
        result = progress(tender)
    return result


def _rebuild(tender: Tender, shares: list[sealing.KeyShare]):
    try:
        return sealing.rebuild_private_key(
            shares, keys.commitments_of(tender), tender.wrapped_private_key, tender.public_key,
            threshold=int(tender.custodian_threshold),
        )
    except sealing.WrongShare as exc:
        raise _wrong_share(exc.index) from exc
    except sealing.NotEnoughShares as exc:
        raise _invalid("not_enough_shares", "share",
                       _("%(have)s valid distinct key shares given; %(need)s are needed to open.",
                         have=exc.have, need=exc.need)) from exc
    except sealing.KeyMismatch as exc:
        raise _key_mismatch() from exc


# --------------------------------------------------------------------------- recovery


def open_with_recovery(
    tender_id: int, recovery_private_key_pem: bytes, custodian_shares: list[str], *, password: bytes | None = None,
    source: str = "cli",
) -> OpeningResult:
    """Open with the offline recovery key standing in for one lost share: the recovery
    share stored on the tender plus k - 1 custodian share codes (from the opening time on)."""
    with unit_of_work():
        tender = _lock_tender(tender_id)
        _check_can_open(tender)
        given = [_read_share(code) for code in custodian_shares]
        by_index = {c.share_index: c for c in tender.custodians}
        try:
            private_key = sealing.open_with_recovery(
                recovery_private_key_pem, tender.recovery_share, given,
                commitments=keys.commitments_of(tender), wrapped_private_key=tender.wrapped_private_key,
                public_key_raw=tender.public_key, threshold=int(tender.custodian_threshold), password=password,
            )
        except sealing.RecoveryFailed as exc:
            raise _invalid("recovery_failed", "key", _("The recovery key does not open this tender's recovery share "
                                                       "(wrong key file or passphrase).")) from exc
        except sealing.WrongShare as exc:
            raise _wrong_share(exc.index) from exc
        except sealing.NotEnoughShares as exc:
            raise _invalid("not_enough_shares", "share",
                           _("The recovery share needs %(need)s custodian share(s) beside it; %(have)s valid given.",
                             need=exc.need, have=max(exc.have, 0))) from exc
        except sealing.KeyMismatch as exc:
            raise _key_mismatch() from exc
        presenters = [by_index[s.index] for s in given if s.index in by_index]
        presenters = list({c.id: c for c in presenters}.values())
        return _open(tender, private_key, via="recovery", presenters=presenters, actor=audit.system(source),
                     actor_user=None)


# --------------------------------------------------------------------------- the opening


@dataclass
class _Opened:
    values: dict[int, Any]  # part id -> decoded JSON (price / answers)
    files: dict[int, bytes]  # part id -> attachment bytes
    error: str = ""


def _decrypt_bid(tender: Tender, bid: Bid, private_key) -> _Opened:
    opened = _Opened(values={}, files={})
    for part in bid.parts:
        if part.removed_at is not None:
            continue
        label = f"part {part.seq} ({part.kind})"
        data = part.ciphertext or b""
        if hashlib.sha256(data).hexdigest() != (part.ciphertext_sha256 or "").lower():
            opened.error = f"{label}: the ciphertext does not match its receipt hash"
            return opened
        try:
            plaintext = sealing.unseal(private_key, data, aad=bids_svc.part_aad(bid, part))
        except sealing.AuthenticationFailed:
            opened.error = f"{label}: failed authentication (altered or sealed for another context)"
            return opened
        if part.kind == BidPartKind.ATTACHMENT:
            opened.files[part.id] = plaintext
            continue
        try:
            opened.values[part.id] = json.loads(plaintext.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            opened.error = f"{label}: the content is not valid JSON"
            return opened
    return opened


def _price_of(bid: Bid, lot_id: int) -> int | None:
    for part in bid.parts:
        value = part.opened_value
        if part.kind == BidPartKind.PRICE and isinstance(value, dict) and value.get("lot_id") == lot_id:
            price = value.get("price")
            if isinstance(price, int) and not isinstance(price, bool):
                return price
    return None


def _bid_lots(bid: Bid) -> set[int]:
    lots = {int(x) for x in (bid.lot_ids or [])}
    lots.update(p.lot_id for p in bid.parts if p.kind == BidPartKind.PRICE and p.lot_id and p.removed_at is None)
    return lots


def _bond_status(lot: Lot, org_id: int) -> str | None:
    bond = bonds.bond_status_for(lot.tender_id, lot.id, org_id)
    return str(bond.status) if bond is not None else None


def _withdrawn_count(tender: Tender, bidders: set[int]) -> int:
    """Bidders who withdrew and have no bid in the opening."""
    withdrawn = set(db.session.scalars(
        sa.select(Bid.bidder_org_id).where(Bid.tender_id == tender.id, Bid.status == BidStatus.WITHDRAWN.value)
    ))
    return len(withdrawn - bidders)


def _open(tender: Tender, private_key, *, via: str, presenters: list[TenderCustodian], actor: audit.Actor,
          actor_user: User | None) -> OpeningResult:
    """Decrypt every current bid, erase the shares, move the tender and publish the record
    (inside the caller's unit of work, on the locked tender)."""
    now = clock.now()
    bids = bids_svc.current_bids(tender)
    opened_count = invalid_count = 0
    for bid in bids:
        result = _decrypt_bid(tender, bid, private_key)
        target = BidStatus.INVALID if result.error else BidStatus.OPENED
        if not can_transition_bid(bid.status, target):  # pragma: no cover - current bids are submitted
            continue
        if result.error:
            bid.open_error = result.error[:200]
            invalid_count += 1
        else:
            for part in bid.parts:
                if part.id in result.values:
                    part.opened_value = result.values[part.id]
                elif part.id in result.files:
                    content_type = mimetypes.guess_type(part.name)[0] or "application/octet-stream"
                    stored = store_bytes(result.files[part.id], original_name=part.name,
                                         content_type=content_type, purpose="bid_attachment")
                    part.opened_file_id = stored.id
            opened_count += 1
        bid.status = target.value
        bid.opened_at = now
    del private_key

    for custodian in tender.custodians:
        custodian.pending_share = None
        custodian.presented_share = None

    tender_svc._move(tender, TenderStatus.OPENED, _("This tender cannot be opened in its current state."))
    tender.opened_at = now
    db.session.flush()

    procedure = tender_svc.procedure_for(tender.method)
    min_bids = int(procedure.min_bids)
    bidders = {b.bidder_org_id for b in bids}
    orgs = organizations_by_id(bidders)
    lots_record = []
    unsuccessful: list[int] = []
    for lot in tender.lots:
        entries = []
        valid = 0
        for bid in bids:
            if lot.id not in _bid_lots(bid):
                continue
            org = orgs.get(bid.bidder_org_id)
            is_valid = bid.status == BidStatus.OPENED
            valid += int(is_valid)
            entries.append({
                "bid_id": bid.id,
                "bidder_org_id": bid.bidder_org_id,
                "bidder_name_zh": org.name_zh if org else "",
                "bidder_name_en": org.name_en if org else "",
                "price": _price_of(bid, lot.id) if is_valid else None,
                "status": bid.status,
                "open_error": bid.open_error if not is_valid else "",
                "bond_status": _bond_status(lot, bid.bidder_org_id),
                "submitted_at": bid.submitted_at.isoformat() if bid.submitted_at else None,
            })
        entries.sort(key=lambda e: (e["price"] is None, e["price"] or 0, e["bid_id"]))
        if valid < min_bids and lot.status == LotStatus.ACTIVE and LotStatus.UNSUCCESSFUL in LOT_TRANSITIONS[
            LotStatus(lot.status)
        ]:
            lot.status = LotStatus.UNSUCCESSFUL.value
            unsuccessful.append(lot.number)
            bonds.refund_all(tender, lot=lot, actor=actor_user,
                             reason=_("Lot %(n)s unsuccessful at the opening: %(valid)s valid bid(s), %(min)s needed.",
                                      n=lot.number, valid=valid, min=min_bids))
        lots_record.append({
            "lot_id": lot.id, "number": lot.number, "title_zh": lot.title_zh, "title_en": lot.title_en,
            "status": lot.status, "valid_bids": valid, "min_bids": min_bids, "bids": entries,
        })

    if tender.lots and all(lot.status != LotStatus.ACTIVE for lot in tender.lots):
        tender_svc._move(tender, TenderStatus.UNSUCCESSFUL, _("This tender cannot be declared unsuccessful."))

    custodian_users = {u.id: u for u in db.session.scalars(
        sa.select(User).where(User.id.in_([c.user_id for c in tender.custodians] or [0]))
    )}
    presenter_ids = {c.id for c in presenters}
    tender.opening_record = {
        "version": RECORD_VERSION,
        "tender_id": tender.id,
        "opened_at": now.isoformat(),
        "opening_time": tender.opening_time.isoformat() if tender.opening_time else None,
        "via": via,
        "key_fingerprint": keys.fingerprint(tender),
        "custodians": [
            {"name": custodian_users[c.user_id].display_name if c.user_id in custodian_users else "",
             "index": c.share_index, "presented": c.id in presenter_ids,
             "presented_at": c.presented_at.isoformat() if c.presented_at and c.id in presenter_ids else None}
            for c in sorted(tender.custodians, key=lambda c: c.share_index or 0)
        ],
        "bid_count": len(bids),
        "opened_count": opened_count,
        "invalid_count": invalid_count,
        "withdrawn_count": _withdrawn_count(tender, bidders),
        "status": tender.status,
        "lots": lots_record,
    }
    audit.record(
        "tender.opened", "tender", tender.id,
        {"via": via, "bid_count": len(bids), "opened_count": opened_count, "invalid_count": invalid_count,
         "unsuccessful_lots": unsuccessful, "status": tender.status,
         "custodian_ids": sorted(c.id for c in presenters)},
        actor=actor,
    )
    return OpeningResult(tender_id=tender.id, status=tender.status, bids_opened=opened_count,
                         bids_invalid=invalid_count, unsuccessful_lots=tuple(unsuccessful))
