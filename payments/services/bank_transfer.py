"""Bank transfers: reference codes, the receiving account, finance's confirm / reject.

How it goes
-----------
1. The payer chooses "bank transfer" on the payment page: the provider
   (payments.providers.bank_transfer) gives the payment a unique reference code
   (`CNL-XXXX-XXXX`, from an alphabet without I, O, 0 and 1, so it survives being read
   aloud or typed from a slip) and the status becomes `requires_action` (awaiting the
   transfer). The page shows the code, the amount and config BANK_RECEIVING_ACCOUNT.
2. Platform finance (role `finance` in the platform organization) finds the payment by
   the reference code on the bank statement and either
   - confirms it with the bank slip (pdf/png/jpg, core.files) and the amount actually
     received: the payment succeeds through payments.services.payments.record_success
     with THAT amount, so the ledger records what arrived. When it differs from the
     amount due, the difference (received - due, in fen) and a note (required) are
     recorded in the payment's metadata and shown on the payment page and the finance
     list; the owning area gets `payment_succeeded` with the received amount and
     decides what an under- or over-payment means for its subject;
   - or rejects it with a reason: the payment fails.
   Both are audited and the payer's people (the creator, org admins, finance) are
   notified.

Ledger postings (made by record_success, see payments.services.payments):
    debit `platform:clearing` (money now at the platform's bank account),
    credit the payment's destination account, for the amount received.

What finance recorded is kept in `payment.metadata_["bank_transfer"]`:
    {"slip_file_id", "slip_sha256", "amount_due", "amount_received", "difference",
     "note", "confirmed_by_id", "confirmed_at"} or {"rejected_reason", "rejected_by_id",
     "rejected_at"}.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Membership, Organization, User
from accounts.permissions import user_has_platform_role
from accounts.services.organizations import organizations_by_id
from accounts.states import Role
from core import audit, clock
from core.db import db, for_update, unit_of_work
from core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.money import Money
from core.notifications import Recipient, notify, register_kind
from payments.models.payments import Payment
from payments.states import OPEN_STATUSES, PaymentStatus, ProviderName

#: No I, O, 0 or 1: nothing that reads as another character.
REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REF_PREFIX = "CNL"
REF_GROUPS = 2
REF_GROUP_LEN = 4
_REF_RE = re.compile(rf"^{REF_PREFIX}-[{REF_ALPHABET}]{{{REF_GROUP_LEN}}}-[{REF_ALPHABET}]{{{REF_GROUP_LEN}}}$")
SLIP_TYPES = frozenset({"pdf", "png", "jpg", "jpeg"})
META_KEY = "bank_transfer"

NOTIFICATION_KINDS = {
    "payment.transfer_confirmed": _l("Your bank transfer was received"),
    "payment.transfer_rejected": _l("Your bank transfer was rejected"),
}
for _kind, _label in NOTIFICATION_KINDS.items():
    register_kind(_kind, _label)


# --------------------------------------------------------------------------- reference codes


def new_reference_code() -> str:
    """A random code like CNL-7K3Q-9XPD (40 bits of randomness)."""
    groups = ["".join(secrets.choice(REF_ALPHABET) for _ in range(REF_GROUP_LEN)) for _ in range(REF_GROUPS)]
    return "-".join([REF_PREFIX, *groups])


def normalize_reference(text: str | None) -> str:
    """What a person typed -> the canonical form (upper case, dashes), e.g. 'cnl 7k3q9xpd'."""
    raw = re.sub(r"[^0-9A-Za-z]", "", text or "").upper()
    if raw.startswith(REF_PREFIX):
        raw = raw[len(REF_PREFIX):]
    if len(raw) == REF_GROUPS * REF_GROUP_LEN:
        return "-".join([REF_PREFIX, raw[:REF_GROUP_LEN], raw[REF_GROUP_LEN:]])
    return raw


def is_reference_code(text: str) -> bool:
    return bool(_REF_RE.match(text or ""))


def assign_reference_code(payment: Payment) -> str:
    """Give `payment` a unique reference code (kept if it has one). Joins the caller's unit of work."""
    if payment.reference_code:
        return payment.reference_code
    with unit_of_work() as session:
        for _attempt in range(8):
            code = new_reference_code()
            taken = session.scalar(sa.select(Payment.id).where(Payment.reference_code == code))
            if taken is None:
                payment.reference_code = code
                session.flush()  # the unique constraint backs the check up
                return code
    raise RuntimeError("could not draw a free reference code")  # pragma: no cover - 2**40 codes


@dataclass(frozen=True)
class ReceivingAccount:
    bank_name: str
    account_name: str
    account_number: str


def receiving_account() -> ReceivingAccount:
    cfg = current_app.config.get("BANK_RECEIVING_ACCOUNT") or {}
    return ReceivingAccount(
        bank_name=str(cfg.get("bank_name", "")),
        account_name=str(cfg.get("account_name", "")),
        account_number=str(cfg.get("account_number", "")),
    )


def transfer_info(payment: Payment) -> dict[str, Any]:
    """What finance recorded about this transfer (empty while pending)."""
    return dict((payment.metadata_ or {}).get(META_KEY) or {})


def _set_info(payment: Payment, info: dict[str, Any]) -> None:
    meta = dict(payment.metadata_ or {})
    meta[META_KEY] = info
    payment.metadata_ = meta  # a new dict, so the JSON column is written


# --------------------------------------------------------------------------- permissions


def _require_finance(actor: User) -> None:
    if not user_has_platform_role(actor, Role.FINANCE):
        raise PermissionDenied()


def _actor(user: User) -> audit.Actor:
    return audit.user_actor(user.id, user.current_org_id, user.email)


def _lock_payment(payment_id: int) -> Payment:
    payment = db.session.scalars(for_update(sa.select(Payment).where(Payment.id == payment_id))).first()
    if payment is None:
        raise NotFound()
    db.session.refresh(payment)
    return payment


def _require_pending_transfer(payment: Payment) -> None:
    if payment.provider != ProviderName.BANK_TRANSFER or not payment.reference_code:
        raise InvalidTransition(_("This payment is not a bank transfer."))
    if PaymentStatus(payment.status) not in OPEN_STATUSES:
        raise InvalidTransition(_("This transfer was already handled."))


# --------------------------------------------------------------------------- notifications


def payer_people(payment: Payment) -> list[User]:
    """Who hears about a payment: its creator and the payer's org admins and finance staff."""
    users: dict[int, User] = {}
    if payment.created_by_id:
        creator = db.session.get(User, payment.created_by_id)
        if creator is not None:
            users[creator.id] = creator
    rows = db.session.scalars(
        sa.select(Membership).where(Membership.org_id == payment.payer_org_id, Membership.active.is_(True))
    )
    for m in rows:
        if m.has_role(Role.ORG_ADMIN, Role.FINANCE):
            users.setdefault(m.user_id, m.user)
    return [u for u in users.values() if u.active]


def _notify(payment: Payment, kind: str, title: Any, body: Any) -> None:
    recipients = [Recipient.of(u) for u in payer_people(payment)]
    if recipients:
        notify(recipients, kind, title, body, link=f"/payments/{payment.id}")


# --------------------------------------------------------------------------- commands


def confirm_transfer(
    payment_id: int,
    *,
    amount_received: int,
    slip: Any,
    slip_filename: str,
    actor: User,
    note: str = "",
) -> Payment:
    """Finance confirms the money arrived: the slip is stored, the payment succeeds with the amount received."""
    from payments.services import payments as payment_svc

    note = (note or "").strip()
    errors: dict[str, str] = {}
    if not isinstance(amount_received, int) or isinstance(amount_received, bool) or amount_received <= 0:
        errors["amount_received"] = _("The amount received must be more than zero.")
    if slip is None or not slip_filename:
        errors["slip"] = _("Attach the bank slip (PDF, PNG or JPG).")
    if errors:
        raise ValidationError(fields=errors)
    with unit_of_work():
        _require_finance(actor)
        payment = _lock_payment(payment_id)
        _require_pending_transfer(payment)
        difference = amount_received - payment.amount
        if difference and not note:
            raise ValidationError(
                fields={"note": _("The amount received differs from the amount due: say why in the note.")}
            )
        from core.files import save_file

        try:
            stored = save_file(
                slip, filename=slip_filename, allowed=set(SLIP_TYPES), purpose="bank_slip", uploaded_by_id=actor.id
            )
        except ValidationError as exc:
            raise ValidationError(exc.message, fields={"slip": exc.fields.get("file", exc.message)}) from exc
        now = clock.now()
        info = {
            "slip_file_id": stored.id,
            "slip_sha256": stored.sha256,
            "amount_due": payment.amount,
            "amount_received": amount_received,
            "difference": difference,
            "note": note,
            "confirmed_by_id": actor.id,
            "confirmed_at": now.isoformat(),
        }
        _set_info(payment, info)
        payment.amount_received = amount_received
        audit.record(
            "payment.transfer_confirmed",
            "payment",
            payment.id,
            {
                "reference_code": payment.reference_code,
                "amount_due": payment.amount,
                "amount_received": amount_received,
                "difference": difference,
                "slip_file_id": stored.id,
                "note": note,
            },
            actor=_actor(actor),
        )
        db.session.flush()  # record_success re-reads the row under its lock
        payment = payment_svc.record_success(payment, amount_received, actor=actor)
        received = Money(amount_received, payment.currency)
        if difference:
            body = _l(
                "We received %(received)s for %(ref)s; %(due)s was due. Note from finance: %(note)s",
                received=str(received), ref=payment.reference_code,
                due=str(Money(payment.amount, payment.currency)), note=note,
            )
        else:
            body = _l("We received %(received)s for %(ref)s. Thank you.", received=str(received),
                      ref=payment.reference_code)
        _notify(payment, "payment.transfer_confirmed",
                _l("Bank transfer %(ref)s received", ref=payment.reference_code), body)
    return payment


def reject_transfer(payment_id: int, *, reason: str, actor: User) -> Payment:
    """Finance rejects a transfer (nothing arrived, wrong payer...): the payment fails."""
    from payments.services import payments as payment_svc

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(fields={"reason": _("Say why the transfer is rejected.")})
    with unit_of_work():
        _require_finance(actor)
        payment = _lock_payment(payment_id)
        _require_pending_transfer(payment)
        info = transfer_info(payment)
        info.update({"rejected_reason": reason, "rejected_by_id": actor.id, "rejected_at": clock.now().isoformat()})
        _set_info(payment, info)
        audit.record(
            "payment.transfer_rejected",
            "payment",
            payment.id,
            {"reference_code": payment.reference_code, "reason": reason},
            actor=_actor(actor),
        )
        db.session.flush()
        payment = payment_svc.record_failure(payment, code="transfer_rejected", message=reason, actor=actor)
        _notify(
            payment,
            "payment.transfer_rejected",
            _l("Bank transfer %(ref)s rejected", ref=payment.reference_code),
            _l("Finance rejected the transfer %(ref)s: %(reason)s", ref=payment.reference_code, reason=reason),
        )
    return payment


# --------------------------------------------------------------------------- queries


def transfers(
    *, pending: bool = True, q: str | None = None, amount: int | None = None, limit: int = 200
) -> list[Payment]:
    """Bank-transfer payments, pending (awaiting finance) or handled, optionally searched."""
    stmt = sa.select(Payment).where(
        Payment.provider == ProviderName.BANK_TRANSFER.value, Payment.reference_code.is_not(None)
    )
    open_values = [s.value for s in OPEN_STATUSES]
    if pending:
        stmt = stmt.where(Payment.status.in_(open_values)).order_by(Payment.created_at, Payment.id)
    else:
        stmt = stmt.where(Payment.status.not_in(open_values)).order_by(Payment.updated_at.desc(), Payment.id.desc())
    if q:
        code = normalize_reference(q)
        stmt = stmt.where(Payment.reference_code.contains(code, autoescape=True))
    if amount is not None:
        stmt = stmt.where(sa.or_(Payment.amount == amount, Payment.amount_received == amount))
    return list(db.session.scalars(stmt.limit(limit)))


def payer_orgs(payments: list[Payment]) -> dict[int, Organization]:
    return organizations_by_id(p.payer_org_id for p in payments)
