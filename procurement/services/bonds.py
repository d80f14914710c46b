"""Bid bonds (投标保证金) per lot: bank transfer or guarantee (保函), finance confirmation,
refunds by payout (DESIGN.md section 7 "Bonds").

Kinds
-----
- transfer: `lodge_transfer` creates the Bond (pending, opaque reference `BOND-XXXX-XXXX`)
  and a payments/ `bank_transfer` Payment (subject `bond:<id>`, purpose "Bid bond": finance
  learns nothing about the tender or the lot), started at once so it has its reference
  code; the supplier transfers the money and says so with `report_transfer`. Finance
  confirms the transfer on the payments finance page; the payment succeeds and our
  `payment_succeeded` subscriber moves the money `subject:bond:<id>` -> `bonds:lot:<lot_id>`
  (a guarded account) and confirms the bond. A rejected transfer (payment_failed) rejects
  the bond. Cards are never offered: the payment only allows `bank_transfer`.
- guarantee: `lodge_guarantee` files the guarantee (issuer, number, amount >= the lot's
  bond, valid at least until the opening, file) -> pending; finance `verify_guarantee`
  -> confirmed, or `reject_guarantee` -> rejected.

One live bond (pending, confirmed, refunding) per lot and supplier.

Refunds: `refund_all` (tender cancelled, lot unsuccessful) pays every confirmed transfer
back by a payout from `bonds:lot:<lot_id>` (bond refunding; released when the payout is
paid, back to confirmed when it fails), releases guarantees and transfers not received
(their payment is cancelled). Payout idempotency id `bond:<id>:refund` (after a failed
payout: `bond:<id>:refund:after:<failed payout id>`).

Confidentiality before the opening: nothing here is shown to officers; finance's queue
(`finance_queue`) carries bond references, amounts, kinds, statuses and times only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Membership, Organization, User
from accounts.permissions import user_has_platform_role
from accounts.services.organizations import has_active_role
from accounts.states import Role
from core import audit, clock, events
from core.db import db, for_update, unit_of_work
from core.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.models.files import StoredFile
from core.notifications import Recipient, notify, register_kind
from payments import ledger
from payments.models import Payment, Payout
from payments.services import payments as payment_svc
from payments.services import payouts as payout_svc
from payments.states import OPEN_STATUSES, PayoutStatus, ProviderName
from procurement.models import Bond, Lot, Tender
from procurement.services import sealed_audit
from procurement.states import (
    BondKind,
    BondStatus,
    LotStatus,
    Method,
    TenderStatus,
    can_transition_bond,
    time_status,
)

__all__ = [
    "SUBJECT_TYPE",
    "GUARANTEE_TYPES",
    "LIVE_STATUSES",
    "bond_account",
    "lodge_transfer",
    "report_transfer",
    "lodge_guarantee",
    "verify_guarantee",
    "reject_guarantee",
    "refund_all",
    "retry_refund",
    "bond_status_for",
    "has_acceptable_bond",
    "supplier_bonds",
    "accepts_bonds",
    "takes_bonds_now",
    "finance_queue",
    "transfer_payment",
    "guarantee_file",
    "connect_subscribers",
]

SUBJECT_TYPE = "bond"
#: Stored in English as it is (not lazy: payments stores str(purpose), which would freeze the
#: requester's language); the finance page shows it through its msgid "Bid bond".
PAYMENT_PURPOSE = "Bid bond"  # opaque on purpose: finance sees no tender, lot or supplier
GUARANTEE_TYPES = frozenset({"pdf", "png", "jpg", "jpeg"})
LIVE_STATUSES = frozenset({BondStatus.PENDING, BondStatus.CONFIRMED, BondStatus.REFUNDING})
#: Same alphabet as payments' reference codes: no I, O, 0 or 1.
REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REF_PREFIX = "BOND"

NOTIFICATION_KINDS = {
    "bond.confirmed": _l("Your bid bond was confirmed"),
    "bond.rejected": _l("Your bid bond was rejected"),
    "bond.refunding": _l("Your bid bond is being refunded"),
    "bond.released": _l("Your bid bond was refunded or released"),
    "bond.refund_failed": _l("The refund of your bid bond failed"),
}
for _kind, _label in NOTIFICATION_KINDS.items():
    register_kind(_kind, _label)




class BondExists(Conflict):
    code = "bond_exists"
    default_message = _l("Your organization already has a bid bond for this lot.")


# --------------------------------------------------------------------------- helpers


def bond_account(lot_id: int) -> str:
    """The guarded ledger account holding the money of a lot's transfer bonds."""
    return f"bonds:lot:{int(lot_id)}"


def _subject_key(bond: Bond) -> str:
    return f"subject:{SUBJECT_TYPE}:{bond.id}"


def _invalid(code: str, field: str, message: str) -> ValidationError:
    return ValidationError(message, code=code, fields={field: message})


def _new_reference() -> str:
    groups = ["".join(secrets.choice(REF_ALPHABET) for _ in range(4)) for _ in range(2)]
    return "-".join([REF_PREFIX, *groups])


def _free_reference() -> str:
    for _attempt in range(8):
        ref = _new_reference()
        if db.session.scalar(sa.select(Bond.id).where(Bond.reference == ref)) is None:
            return ref
    raise RuntimeError("could not draw a free bond reference")  # pragma: no cover - 2**40 codes


def _user_actor(user: User, org_id: int | None) -> audit.Actor:
    return audit.user_actor(user.id, org_id, user.email)


def _actor_of(actor: Any, source: str) -> audit.Actor:
    if isinstance(actor, audit.Actor):
        return actor
    if isinstance(actor, User):
        return _user_actor(actor, actor.current_org_id)
    return audit.system(source)


def _lock_bond(bond: Bond | int) -> Bond:
    bond_id = bond.id if isinstance(bond, Bond) else int(bond)
    row = db.session.scalars(
        for_update(sa.select(Bond).where(Bond.id == bond_id)).execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise NotFound(_("Bond not found."))
    return row


def _move(bond: Bond, target: BondStatus) -> str:
    previous = bond.status
    if not can_transition_bond(previous, target):
        raise InvalidTransition(_("This bond cannot change to that state now."))
    bond.status = target.value
    return previous


def _record(action: str, bond: Bond, data: dict | None = None, actor: audit.Actor | None = None) -> None:
    """Audit a bond change. The data names the bond by its opaque reference only; a
    change made by the supplier itself before the opening is sealed (its actor would
    name a participant)."""
    payload = {"reference": bond.reference, "kind": bond.kind, "status": bond.status, "amount": bond.amount}
    payload.update(data or {})
    if actor is not None and actor.org_id == bond.supplier_org_id:
        tender = db.session.get(Tender, bond.tender_id)
        if tender is not None and tender.opened_at is None and tender.public_key:
            sealed_audit.record(action, "sealed_bond", tender, {
                **payload, "bond_id": bond.id, "tender_id": tender.id, "lot_id": bond.lot_id,
                "org_id": actor.org_id, "user_id": actor.user_id, "user": actor.label,
            }, source="sealed-bonds")
            return
    audit.record(action, "bond", bond.id, payload, actor=actor)


def _supplier_people(org_id: int) -> list[User]:
    """Who hears about a supplier's bonds: its active bidders and org admins."""
    rows = db.session.scalars(
        sa.select(Membership).join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org_id, Membership.active.is_(True), User.active.is_(True))
        .order_by(Membership.id)
    )
    return [m.user for m in rows if m.has_role(Role.BIDDER, Role.ORG_ADMIN)]


def _tender_title(tender: Tender) -> str:
    return tender.title_zh or tender.title_en or f"#{tender.id}"


def _notify(bond: Bond, kind: str, title: Any, body: Any) -> None:
    recipients = [Recipient.of(u) for u in _supplier_people(bond.supplier_org_id)]
    if recipients:
        notify(recipients, kind, title, body, link=f"/procurement/tenders/{bond.tender_id}/bonds")


def _bond_context(bond: Bond) -> tuple[Tender, Lot]:
    return db.session.get(Tender, bond.tender_id), db.session.get(Lot, bond.lot_id)


def _require_bidder(user: User | None, org: Organization | None) -> None:
    """`user` is an active bidder of `org`, a verified supplier that is not debarred."""
    if user is None or org is None:
        raise PermissionDenied()
    if not has_active_role(user, org.id, Role.BIDDER):
        raise PermissionDenied(_("Only a bidder of the supplier may lodge a bid bond."))
    if not org.is_verified:
        raise PermissionDenied(_("Your organization must be verified before it can lodge a bid bond."))
    if org.is_debarred():
        raise PermissionDenied(_("Your organization is debarred and cannot take part in tenders."))


def _require_own_bond(bond: Bond, user: User | None, org: Organization | None) -> None:
    """Another organization's bond is a 404 (its existence is not revealed)."""
    if org is None or bond.supplier_org_id != org.id:
        raise NotFound(_("Bond not found."))
    _require_bidder(user, org)


def _require_finance(actor: Any) -> User:
    if not isinstance(actor, User) or not user_has_platform_role(actor, Role.FINANCE):
        raise PermissionDenied(_("Only the platform's finance staff may do this."))
    return actor


def accepts_bonds(tender: Tender, now: datetime | None = None) -> bool:
    """The tender takes bonds now: published, in its enquiry or tendering period (before the deadline)."""
    now = now or clock.now()
    if tender.status not in (TenderStatus.ENQUIRIES, TenderStatus.TENDERING) or tender.submission_deadline is None:
        return False
    return time_status(tender, now) in (TenderStatus.ENQUIRIES, TenderStatus.TENDERING)


def takes_bonds_now(tender: Tender, now: datetime | None = None) -> bool:
    """A bond can be lodged now for some lot: the tender takes bonds, a lot is active and
    asks for one (the page offers "Lodge a bond" only then)."""
    return accepts_bonds(tender, now) and any(_takes_bond(lot) for lot in tender.lots)


def _takes_bond(lot: Lot) -> bool:
    return lot.status == LotStatus.ACTIVE and lot.asks_bond


def _check_lodging(tender: Tender, lot: Lot, org: Organization) -> Lot:
    """The lot takes a bond from `org` now; returns the lot locked (serializes lodging per lot)."""
    if lot.tender_id != tender.id:
        raise NotFound(_("Lot not found."))
    lot = db.session.scalars(
        for_update(sa.select(Lot).where(Lot.id == lot.id)).execution_options(populate_existing=True)
    ).one()
    db.session.refresh(tender)
    if not accepts_bonds(tender):
        raise InvalidTransition(_("Bid bonds can be lodged only before the submission deadline."))
    if lot.status != LotStatus.ACTIVE:
        raise InvalidTransition(_("This lot no longer takes bids."))
    if not lot.asks_bond:
        raise _invalid("bond_not_required", "lot", _("This lot needs no bid bond."))
    if tender.method == Method.INVITATION and org.id not in {i.org_id for i in tender.invitees}:
        raise PermissionDenied(_("Only invited suppliers take part in this tender."))
    live = db.session.scalar(
        sa.select(Bond.id).where(
            Bond.lot_id == lot.id, Bond.supplier_org_id == org.id,
            Bond.status.in_([s.value for s in LIVE_STATUSES]),
        )
    )
    if live is not None:
        raise BondExists(_("Your organization already has a bid bond for this lot."))
    return lot


# --------------------------------------------------------------------------- transfers


def lodge_transfer(tender: Tender, lot: Lot, user: User, org: Organization) -> Bond:
    """Lodge a bond by bank transfer: a pending Bond and its started bank_transfer Payment
    (reference code assigned), in one unit of work."""
    _require_bidder(user, org)
    with unit_of_work():
        lot = _check_lodging(tender, lot, org)
        bond = Bond(
            tender_id=tender.id, lot_id=lot.id, supplier_org_id=org.id, kind=BondKind.TRANSFER.value,
            status=BondStatus.PENDING.value, amount=lot.bond_amount, currency=tender.currency or "CNY",
            reference=_free_reference(),
        )
        db.session.add(bond)
        db.session.flush()
        payment = payment_svc.create_payment(
            purpose=PAYMENT_PURPOSE, subject_type=SUBJECT_TYPE, subject_id=bond.id, payer_org_id=org.id,
            amount=bond.amount, currency=bond.currency, provider=ProviderName.BANK_TRANSFER.value,
            return_url=f"/procurement/bonds/{bond.id}", actor=user,
            metadata={"allowed_providers": [ProviderName.BANK_TRANSFER.value], "bond_reference": bond.reference},
        )
        payment = payment_svc.start(payment, actor=user)  # assigns the reference code (no money moves)
        bond.payment_id = payment.id
        _record("bond.lodged", bond, {"payment_id": payment.id}, actor=_user_actor(user, org.id))
    return bond


def report_transfer(bond: Bond, user: User, org: Organization | None = None) -> Bond:
    """The supplier says it has made the transfer (before the deadline). Idempotent."""
    org = org or (db.session.get(Organization, user.current_org_id) if user else None)
    _require_own_bond(bond, user, org)
    with unit_of_work():
        bond = _lock_bond(bond)
        if bond.kind != BondKind.TRANSFER:
            raise InvalidTransition(_("Only a bank transfer is reported."))
        if bond.status != BondStatus.PENDING:
            raise InvalidTransition(_("This bond is no longer awaiting the transfer."))
        if bond.reported_at is not None:
            return bond
        tender = db.session.get(Tender, bond.tender_id)
        if tender.submission_deadline is None or clock.now() >= tender.submission_deadline:
            raise _invalid("deadline_passed", "bond",
                           _("The submission deadline has passed: the transfer can no longer be reported."))
        bond.reported_at = clock.now()
        _record("bond.transfer_reported", bond, actor=_user_actor(user, org.id))
    return bond


def transfer_payment(bond: Bond) -> Payment | None:
    return db.session.get(Payment, bond.payment_id) if bond.payment_id else None


def _held_amount(bond: Bond) -> int:
    """What the lot's bond account holds for this bond: the amount actually received."""
    payment = transfer_payment(bond)
    return int(payment.amount_captured or 0) if payment is not None else 0


def _on_payment_succeeded(sender: Any, *, subject_type: str = "", subject_id: str = "", amount: int = 0,
                          currency: str = "CNY", payment_id: int | None = None, **_kw: Any) -> None:
    """A bond transfer was confirmed by finance: money to the lot's bond account, bond confirmed
    (or, if less than due arrived or the bond is no longer live, rejected / refunded at once)."""
    if subject_type != SUBJECT_TYPE:
        return
    bond = _lock_bond(int(subject_id))
    account = bond_account(bond.lot_id)
    ledger.get_or_create_account(account, currency, no_negative=True)
    ledger.post_entry(
        f"bond:{bond.id}:received",
        [ledger.TransferSpec(_subject_key(bond), account, amount, currency)],
        description=f"Bid bond {bond.reference} received",
        metadata={"bond_id": bond.id, "payment_id": payment_id},
        actor=audit.system("payments"),
    )
    tender, lot = _bond_context(bond)
    if bond.status != BondStatus.PENDING:
        # Released (tender cancelled) or rejected before the money was confirmed: pay it back.
        _record("bond.late_transfer", bond, {"amount_received": amount}, actor=audit.system("payments"))
        _create_refund_payout(bond, amount, audit.system("payments"))
        return
    if amount < bond.amount:
        _move(bond, BondStatus.REJECTED)
        bond.reject_reason = _("Received %(received)s, %(due)s was due; the money is paid back.",
                               received=_yuan(amount), due=_yuan(bond.amount))
        _record("bond.rejected", bond, {"amount_received": amount}, actor=audit.system("payments"))
        _create_refund_payout(bond, amount, audit.system("payments"))
        _notify(bond, "bond.rejected", _l("Bid bond %(ref)s rejected", ref=bond.reference),
                _l("Your bid bond %(ref)s for lot %(lot)s of “%(tender)s” was rejected: %(reason)s",
                   ref=bond.reference, lot=lot.number, tender=_tender_title(tender), reason=bond.reject_reason))
        return
    _move(bond, BondStatus.CONFIRMED)
    bond.verified_at = clock.now()
    _record("bond.confirmed", bond, {"amount_received": amount}, actor=audit.system("payments"))
    _notify(bond, "bond.confirmed", _l("Bid bond %(ref)s confirmed", ref=bond.reference),
            _l("Your bid bond %(ref)s for lot %(lot)s of “%(tender)s” was received and confirmed.",
               ref=bond.reference, lot=lot.number, tender=_tender_title(tender)))


def _on_payment_failed(sender: Any, *, subject_type: str = "", subject_id: str = "",
                       payment_id: int | None = None, **_kw: Any) -> None:
    """Finance rejected the transfer: the bond is rejected (the supplier may lodge again)."""
    if subject_type != SUBJECT_TYPE:
        return
    bond = _lock_bond(int(subject_id))
    if bond.status != BondStatus.PENDING:
        return
    payment = db.session.get(Payment, payment_id) if payment_id else None
    _move(bond, BondStatus.REJECTED)
    bond.reject_reason = ((payment.failure_message if payment else "") or _("The transfer was rejected."))[:2000]
    _record("bond.rejected", bond, actor=audit.system("payments"))
    tender, lot = _bond_context(bond)
    _notify(bond, "bond.rejected", _l("Bid bond %(ref)s rejected", ref=bond.reference),
            _l("Your bid bond %(ref)s for lot %(lot)s of “%(tender)s” was rejected: %(reason)s",
               ref=bond.reference, lot=lot.number, tender=_tender_title(tender), reason=bond.reject_reason))


def _yuan(amount: int) -> str:
    from core.money import format_money

    return format_money(amount, "CNY")


# --------------------------------------------------------------------------- guarantees


def lodge_guarantee(
    tender: Tender,
    lot: Lot,
    user: User,
    org: Organization,
    issuer: str,
    number: str,
    amount: int,
    valid_until: date | None,
    file: Any,
    filename: str | None = None,
) -> Bond:
    """File a guarantee (保函) for a lot: pending until finance verifies it.

    `file` is bytes or an uploaded FileStorage (pdf, png or jpg); `amount` in fen, at least
    the lot's bond; `valid_until` not before the opening date (Asia/Shanghai)."""
    _require_bidder(user, org)
    issuer, number = (issuer or "").strip(), (number or "").strip()
    filename = filename or getattr(file, "filename", None) or ""
    if not issuer:
        raise _invalid("issuer_required", "issuer", _("Name the bank or insurer that issued the guarantee."))
    if len(issuer) > 200:
        raise _invalid("issuer_too_long", "issuer", _("At most 200 characters."))
    if not number:
        raise _invalid("number_required", "number", _("Enter the guarantee's number."))
    if len(number) > 100:
        raise _invalid("number_too_long", "number", _("At most 100 characters."))
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise _invalid("amount_invalid", "amount", _("Enter the guarantee's amount."))
    if not isinstance(valid_until, date):
        raise _invalid("valid_until_required", "valid_until", _("Enter the date until which the guarantee is valid."))
    if file is None or not filename:
        raise _invalid("file_required", "file", _("Attach the guarantee (PDF, PNG or JPG)."))
    with unit_of_work():
        lot = _check_lodging(tender, lot, org)
        if amount < lot.bond_amount:
            raise _invalid("guarantee_amount_too_low", "amount",
                           _("The guarantee must cover at least the lot's bond of %(bond)s.",
                             bond=_yuan(lot.bond_amount)))
        opening_day = tender.opening_time.astimezone(clock.LOCAL_TZ).date()
        if valid_until < opening_day:
            raise _invalid("guarantee_expires_before_opening", "valid_until",
                           _("The guarantee must be valid at least until the opening on %(day)s.",
                             day=opening_day.isoformat()))
        reused = db.session.scalar(
            sa.select(Bond.id).where(
                Bond.kind == BondKind.GUARANTEE.value, Bond.guarantee_issuer == issuer,
                Bond.guarantee_number == number, Bond.status.in_([s.value for s in LIVE_STATUSES]),
            )
        )
        if reused is not None:
            raise _invalid("guarantee_reused", "number", _("This guarantee is already lodged for another bond."))
        from core.files import save_file

        try:
            stored = save_file(file, filename=filename, allowed=set(GUARANTEE_TYPES), purpose="bond_guarantee",
                               uploaded_by_id=user.id)
        except ValidationError as exc:
            messages = exc.fields.get("file") or [exc.message]
            raise ValidationError(exc.message, code="guarantee_file_invalid", fields={"file": messages}) from exc
        bond = Bond(
            tender_id=tender.id, lot_id=lot.id, supplier_org_id=org.id, kind=BondKind.GUARANTEE.value,
            status=BondStatus.PENDING.value, amount=amount, currency=tender.currency or "CNY",
            reference=_free_reference(), reported_at=clock.now(), guarantee_issuer=issuer,
            guarantee_number=number, guarantee_valid_until=valid_until, guarantee_file_id=stored.id,
        )
        db.session.add(bond)
        db.session.flush()
        _record("bond.lodged", bond, {"file_id": stored.id, "valid_until": valid_until.isoformat()},
                actor=_user_actor(user, org.id))
    return bond


def verify_guarantee(bond: Bond, actor: User) -> Bond:
    """Finance checked the guarantee with its issuer: the bond is confirmed."""
    actor = _require_finance(actor)
    with unit_of_work():
        bond = _lock_bond(bond)
        if bond.kind != BondKind.GUARANTEE:
            raise InvalidTransition(_("Bank transfers are confirmed on the bank transfers page."))
        if bond.status != BondStatus.PENDING:
            raise InvalidTransition(_("This guarantee was already handled."))
        _move(bond, BondStatus.CONFIRMED)
        bond.verified_at = clock.now()
        bond.verified_by_id = actor.id
        _record("bond.confirmed", bond, actor=_user_actor(actor, actor.current_org_id))
        tender, lot = _bond_context(bond)
        _notify(bond, "bond.confirmed", _l("Bid bond %(ref)s confirmed", ref=bond.reference),
                _l("Your guarantee %(ref)s for lot %(lot)s of “%(tender)s” was verified.",
                   ref=bond.reference, lot=lot.number, tender=_tender_title(tender)))
    return bond


def reject_guarantee(bond: Bond, actor: User, reason: str) -> Bond:
    """Finance refuses the guarantee (not genuine, wrong beneficiary...), with the reason."""
    actor = _require_finance(actor)
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason_required", "reason", _("Say why the guarantee is rejected."))
    with unit_of_work():
        bond = _lock_bond(bond)
        if bond.kind != BondKind.GUARANTEE:
            raise InvalidTransition(_("Bank transfers are rejected on the bank transfers page."))
        if bond.status != BondStatus.PENDING:
            raise InvalidTransition(_("This guarantee was already handled."))
        _move(bond, BondStatus.REJECTED)
        bond.reject_reason = reason[:2000]
        bond.verified_by_id = actor.id
        _record("bond.rejected", bond, {"reason": reason[:500]}, actor=_user_actor(actor, actor.current_org_id))
        tender, lot = _bond_context(bond)
        _notify(bond, "bond.rejected", _l("Bid bond %(ref)s rejected", ref=bond.reference),
                _l("Your bid bond %(ref)s for lot %(lot)s of “%(tender)s” was rejected: %(reason)s",
                   ref=bond.reference, lot=lot.number, tender=_tender_title(tender), reason=reason))
    return bond


def guarantee_file(bond: Bond) -> StoredFile | None:
    return db.session.get(StoredFile, bond.guarantee_file_id) if bond.guarantee_file_id else None


# --------------------------------------------------------------------------- refunds


def _refund_idempotency_id(bond: Bond) -> str:
    """`bond:<id>:refund`; after a failed payout, a new id derived from the failed one."""
    if bond.refund_payout_id is None:
        return f"bond:{bond.id}:refund"
    previous = db.session.get(Payout, bond.refund_payout_id)
    if previous is not None and previous.status == PayoutStatus.FAILED:
        return f"bond:{bond.id}:refund:after:{previous.id}"
    return previous.idempotency_id if previous is not None else f"bond:{bond.id}:refund"


def _has_bank_account(org_id: int) -> bool:
    org = db.session.get(Organization, org_id)
    return bool(org and org.bank_name.strip() and org.bank_account_name.strip() and org.bank_account_number.strip())


def _create_refund_payout(bond: Bond, amount: int, actor: audit.Actor) -> Payout | None:
    """A payout of `amount` from the lot's bond account back to the supplier (None when the
    supplier has no bank account on file: finance retries once it has one)."""
    if amount <= 0 or not _has_bank_account(bond.supplier_org_id):
        return None
    payout = payout_svc.create_payout(
        payee_org_id=bond.supplier_org_id, amount=amount, reason=f"Bid bond refund {bond.reference}",
        source_key=bond_account(bond.lot_id), actor=actor, idempotency_id=_refund_idempotency_id(bond),
        currency=bond.currency,
    )
    bond.refund_payout_id = payout.id
    return payout


def _refund_transfer(bond: Bond, actor: audit.Actor) -> bool:
    """Start the payout of a confirmed transfer bond; False when it cannot be made now."""
    payout = _create_refund_payout(bond, _held_amount(bond), actor)
    if payout is None:
        _record("bond.refund_waiting", bond, {"missing": "bank_account"}, actor=actor)
        return False
    _move(bond, BondStatus.REFUNDING)
    _record("bond.refunding", bond, {"payout_id": payout.id}, actor=actor)
    return True


def refund_all(tender: Tender, *, reason: str, lot: Lot | None = None, actor: Any = None) -> int:
    """Refund (by payout) or release every bond of `tender` (or of one lot), inside the
    caller's unit of work. Returns the number of bonds handled (refund started or released).

    Confirmed transfers -> payout from the lot's bond account, status refunding (released
    when the payout is paid). Transfers not received yet -> released, their payment
    cancelled. Guarantees -> released. Idempotent: refunding / released / rejected bonds
    are left alone, and the payout id is `bond:<id>:refund`. A supplier without a bank
    account on file keeps a confirmed bond (with the refund reason) until finance retries.
    """
    who = _actor_of(actor, "bond_refunds")
    reason = (str(reason or "")).strip() or _("Bid bonds refunded.")
    handled = 0
    with unit_of_work():
        stmt = sa.select(Bond).where(Bond.tender_id == tender.id)
        if lot is not None:
            stmt = stmt.where(Bond.lot_id == lot.id)
        stmt = for_update(stmt.order_by(Bond.id)).execution_options(populate_existing=True)
        title = _tender_title(tender)
        for bond in list(db.session.scalars(stmt)):
            if bond.status not in (BondStatus.PENDING, BondStatus.CONFIRMED):
                continue
            bond.refund_reason = reason[:2000]
            lot_row = db.session.get(Lot, bond.lot_id)
            if bond.kind == BondKind.TRANSFER and bond.status == BondStatus.CONFIRMED:
                if _refund_transfer(bond, who):
                    handled += 1
                    _notify(bond, "bond.refunding", _l("Bid bond %(ref)s is being refunded", ref=bond.reference),
                            _l("Your bid bond %(ref)s for lot %(lot)s of “%(tender)s” is being paid back to your "
                               "bank account. Reason: %(reason)s", ref=bond.reference, lot=lot_row.number,
                               tender=title, reason=reason))
                else:
                    _notify(bond, "bond.refund_failed",
                            _l("Bid bond %(ref)s: add your bank account", ref=bond.reference),
                            _l("Your bid bond %(ref)s for lot %(lot)s of “%(tender)s” is to be paid back (%(reason)s), "
                               "but your organization has no bank account on file. Add it to the organization "
                               "profile; finance will then make the refund.", ref=bond.reference,
                               lot=lot_row.number, tender=title, reason=reason))
                continue
            if bond.kind == BondKind.TRANSFER:
                payment = transfer_payment(bond)
                if payment is not None and payment.status in {s.value for s in OPEN_STATUSES}:
                    payment_svc.cancel(payment, actor=who)
            _move(bond, BondStatus.RELEASED)
            bond.released_at = clock.now()
            _record("bond.released", bond, actor=who)
            handled += 1
            _notify(bond, "bond.released", _l("Bid bond %(ref)s released", ref=bond.reference),
                    _l("Your bid bond %(ref)s for lot %(lot)s of “%(tender)s” is released; nothing was held, so "
                       "nothing is paid back. Reason: %(reason)s", ref=bond.reference, lot=lot_row.number,
                       tender=title, reason=reason)
                    if bond.kind == BondKind.TRANSFER else
                    _l("Your guarantee %(ref)s for lot %(lot)s of “%(tender)s” is released. Reason: %(reason)s",
                       ref=bond.reference, lot=lot_row.number, tender=title, reason=reason))
    return handled


def retry_refund(bond: Bond, actor: User) -> Bond:
    """Finance starts again the refund of a confirmed transfer bond whose refund was decided
    but could not be paid (payout failed, or no bank account on file then)."""
    actor = _require_finance(actor)
    with unit_of_work():
        bond = _lock_bond(bond)
        if bond.kind != BondKind.TRANSFER or bond.status != BondStatus.CONFIRMED or not bond.refund_reason:
            raise InvalidTransition(_("This bond has no refund to retry."))
        if not _refund_transfer(bond, _user_actor(actor, actor.current_org_id)):
            raise _invalid("no_bank_account", "bond",
                           _("The supplier still has no bank account on file: the refund cannot be paid yet."))
    return bond


def _bond_of_payout(payout_id: int, source_key: str) -> Bond | None:
    if not str(source_key or "").startswith("bonds:lot:"):
        return None
    bond_id = db.session.scalar(sa.select(Bond.id).where(Bond.refund_payout_id == payout_id))
    return _lock_bond(bond_id) if bond_id is not None else None


def _on_payout_paid(sender: Any, *, payout_id: int, source_key: str = "", **_kw: Any) -> None:
    bond = _bond_of_payout(payout_id, source_key)
    if bond is None:
        return
    who = audit.system("payouts")
    bond.released_at = clock.now()
    if bond.status == BondStatus.REFUNDING:
        _move(bond, BondStatus.RELEASED)
    _record("bond.refunded", bond, {"payout_id": payout_id}, actor=who)
    tender, lot = _bond_context(bond)
    _notify(bond, "bond.released", _l("Bid bond %(ref)s refunded", ref=bond.reference),
            _l("Your bid bond %(ref)s for lot %(lot)s of “%(tender)s” was paid back to your bank account.",
               ref=bond.reference, lot=lot.number, tender=_tender_title(tender)))


def _on_payout_failed(sender: Any, *, payout_id: int, source_key: str = "", reason: str = "", **_kw: Any) -> None:
    bond = _bond_of_payout(payout_id, source_key)
    if bond is None:
        return
    who = audit.system("payouts")
    if bond.status == BondStatus.REFUNDING:
        _move(bond, BondStatus.CONFIRMED)  # the money is back in the lot's bond account
    _record("bond.refund_failed", bond, {"payout_id": payout_id, "reason": str(reason)[:200]}, actor=who)
    tender, lot = _bond_context(bond)
    _notify(bond, "bond.refund_failed", _l("Refund of bid bond %(ref)s failed", ref=bond.reference),
            _l("The refund of your bid bond %(ref)s for lot %(lot)s of “%(tender)s” failed: %(reason)s. Check your "
               "organization's bank account; finance will try again.", ref=bond.reference, lot=lot.number,
               tender=_tender_title(tender), reason=str(reason)[:200]))


# --------------------------------------------------------------------------- reads


def bond_status_for(tender_id: int, lot_id: int, org_id: int) -> Bond | None:
    """The supplier's current bond for the lot: the latest one not rejected (None if none)."""
    return db.session.scalar(
        sa.select(Bond).where(
            Bond.tender_id == tender_id, Bond.lot_id == lot_id, Bond.supplier_org_id == org_id,
            Bond.status != BondStatus.REJECTED.value,
        ).order_by(Bond.id.desc()).limit(1)
    )


def has_acceptable_bond(tender: Tender, lot: Lot, org_id: int) -> bool:
    """May `org_id` bid on `lot` as far as the bond goes?

    True when the lot needs no bond, for a confirmed bond, or for a pending one reported
    (transfer) / filed (guarantee) before the submission deadline (an unconfirmed bond
    fails qualification later). False otherwise (none, rejected, reported late, refunded).
    """
    if not lot.asks_bond:
        return True
    bond = bond_status_for(tender.id, lot.id, org_id)
    if bond is None:
        return False
    if bond.status == BondStatus.CONFIRMED:
        return True
    if bond.status == BondStatus.PENDING:
        deadline = tender.submission_deadline
        return bond.reported_at is not None and deadline is not None and bond.reported_at < deadline
    return False


def supplier_bonds(tender_id: int, org_id: int) -> dict[int, list[Bond]]:
    """The supplier's bonds of a tender by lot id, newest first (its own page only)."""
    rows = db.session.scalars(
        sa.select(Bond).where(Bond.tender_id == tender_id, Bond.supplier_org_id == org_id).order_by(Bond.id.desc())
    )
    result: dict[int, list[Bond]] = {}
    for bond in rows:
        result.setdefault(bond.lot_id, []).append(bond)
    return result


@dataclass(frozen=True)
class FinanceRow:
    """What finance sees of a bond: never the tender, the lot or the supplier."""

    id: int
    reference: str
    kind: str
    status: str
    amount: int
    currency: str
    reported_at: datetime | None
    created_at: datetime | None
    payment_reference: str | None
    payment_status: str | None
    guarantee_issuer: str
    guarantee_number: str
    guarantee_valid_until: date | None
    has_file: bool
    reject_reason: str
    refund_due: bool  # a refund was decided but no payout is under way


def _finance_row(bond: Bond, payment: Payment | None) -> FinanceRow:
    return FinanceRow(
        id=bond.id, reference=bond.reference, kind=bond.kind, status=bond.status, amount=bond.amount,
        currency=bond.currency, reported_at=bond.reported_at, created_at=bond.created_at,
        payment_reference=payment.reference_code if payment else None,
        payment_status=payment.status if payment else None,
        guarantee_issuer=bond.guarantee_issuer, guarantee_number=bond.guarantee_number,
        guarantee_valid_until=bond.guarantee_valid_until, has_file=bond.guarantee_file_id is not None,
        reject_reason=bond.reject_reason,
        refund_due=bool(bond.kind == BondKind.TRANSFER and bond.status == BondStatus.CONFIRMED and bond.refund_reason),
    )


def finance_queue(*, q: str | None = None, limit: int = 200) -> dict[str, list[FinanceRow]]:
    """Finance's bond work: guarantees to verify, transfer bonds (pending first), refunds
    to retry, and recently handled guarantees; optionally searched by reference."""
    def search(stmt: sa.Select) -> sa.Select:
        if q:
            text = q.strip().upper()
            stmt = stmt.outerjoin(Payment, Payment.id == Bond.payment_id).where(
                sa.or_(Bond.reference.contains(text, autoescape=True),
                       Payment.reference_code.contains(text, autoescape=True)))
        return stmt

    def rows(stmt: sa.Select) -> list[FinanceRow]:
        bonds = list(db.session.scalars(search(stmt).limit(limit)))
        ids = {b.payment_id for b in bonds if b.payment_id}
        payments = {p.id: p for p in db.session.scalars(sa.select(Payment).where(Payment.id.in_(ids)))} if ids else {}
        return [_finance_row(b, payments.get(b.payment_id)) for b in bonds]

    guarantee = Bond.kind == BondKind.GUARANTEE.value
    transfer = Bond.kind == BondKind.TRANSFER.value
    pending = Bond.status == BondStatus.PENDING.value
    return {
        "guarantees": rows(sa.select(Bond).where(guarantee, pending).order_by(Bond.reported_at, Bond.id)),
        "transfers": rows(sa.select(Bond).where(transfer, pending).order_by(Bond.reported_at.is_(None),
                                                                            Bond.reported_at, Bond.id)),
        "refunds": rows(sa.select(Bond).where(transfer, Bond.status == BondStatus.CONFIRMED.value,
                                              Bond.refund_reason != "").order_by(Bond.id)),
        "handled": rows(sa.select(Bond).where(Bond.status != BondStatus.PENDING.value)
                        .order_by(Bond.updated_at.desc(), Bond.id.desc())),
    }


# --------------------------------------------------------------------------- subscribers


_SUBSCRIPTIONS = (
    (events.payment_succeeded, _on_payment_succeeded),
    (events.payment_failed, _on_payment_failed),
    (events.payout_paid, _on_payout_paid),
    (events.payout_failed, _on_payout_failed),
)


def connect_subscribers() -> None:
    """Subscribe to the payments events (idempotent; done at import)."""
    for signal, handler in _SUBSCRIPTIONS:
        signal.connect(handler, weak=False)


connect_subscribers()
