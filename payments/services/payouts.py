"""Payouts: money going out to an organization's bank account (DESIGN.md section 5).

Lifecycle (payments.states.PAYOUT_TRANSITIONS): pending -> exported -> paid | failed
(a pending payout may also be failed, i.e. withdrawn before export).

Ledger postings (balance = credits - debits, see payments.ledger):

- create:  `<source>` -> `payouts:pending`            idempotency id `payout:<id>:reserve`
  (the money leaves the payable/bonds account at once, so it cannot be paid twice;
  `payouts:pending` is guarded: it never goes negative)
- export:  no posting (the batch only hands the payouts to the bank)
- paid:    `payouts:pending` -> `platform:clearing`    idempotency id `payout:<id>:paid`
  (the money left the platform's bank account: the clearing asset shrinks)
- failed:  `payouts:pending` -> `<source>`             idempotency id `payout:<id>:failed`
  (a new entry returns the money to the account it came from)

`create_payout` is called by the services of the areas (bond refunds, provider payouts,
supplier payments) which check their own rules; export and marking paid/failed are
finance commands (finance role in the platform organization). Every change is audited;
the payee organization's admins are notified when a payout is paid or failed, and the
events `payout_paid` / `payout_failed` carry the payout id and its source account.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Membership, Organization, User
from accounts.permissions import user_has_platform_role
from accounts.states import Role
from core import audit, clock, events
from core import files as core_files
from core.db import db, for_update, unit_of_work
from core.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.money import MINOR_DIGITS
from core.notifications import Recipient, notify, register_kind
from payments import ledger
from payments.csv import write_csv
from payments.ledger import IdempotencyConflict
from payments.models import Payout, PayoutBatch
from payments.states import PayoutStatus, can_transition_payout

PENDING_KEY = "payouts:pending"
CLEARING_KEY = "platform:clearing"

NOTIFICATION_KINDS = {
    "payout.paid": (_l("Payouts paid to your organization"), True),
    "payout.failed": (_l("Payouts to your organization that failed"), True),
}
for _kind, (_label, _mandatory) in NOTIFICATION_KINDS.items():
    register_kind(_kind, _label, mandatory=_mandatory)

CSV_HEADER = (
    _l("Reference"),
    _l("Payee"),
    _l("Account name"),
    _l("Bank"),
    _l("Account number"),
    _l("Amount"),
    _l("Currency"),
    _l("Reason"),
)


class PayoutNotPossible(Conflict):
    code = "payout_not_possible"
    default_message = _l("This payout cannot be changed now.")


# --------------------------------------------------------------------------- helpers


def _actor(actor: Any) -> audit.Actor | None:
    """An audit Actor from a User, an Actor, "system" or None (the request's user)."""
    if actor is None or isinstance(actor, audit.Actor):
        return actor
    if actor == "system":
        return audit.system("payouts")
    if isinstance(actor, User):
        return audit.user_actor(actor.id, actor.current_org_id, actor.email)
    raise TypeError(f"unknown actor {actor!r}")


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    if isinstance(actor, User):
        return actor.id, actor.email
    if isinstance(actor, audit.Actor):
        return actor.user_id, actor.label
    return None, "system" if actor in (None, "system") else str(actor)


def _require_finance(actor: Any) -> User:
    if not isinstance(actor, User) or not user_has_platform_role(actor, Role.FINANCE):
        raise PermissionDenied(_("Only the platform's finance staff may do this."))
    return actor


def _lock_payout(payout: Payout | int) -> Payout:
    payout_id = payout.id if isinstance(payout, Payout) else int(payout)
    row = db.session.scalars(
        for_update(sa.select(Payout).where(Payout.id == payout_id)).execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise NotFound(_("Payout not found."))
    return row


def _move(payout: Payout, target: PayoutStatus) -> PayoutStatus:
    current = PayoutStatus(payout.status)
    if not can_transition_payout(current, target):
        raise InvalidTransition(
            _("A payout that is %(current)s cannot become %(target)s.", current=_status_text(current),
              target=_status_text(target))
        )
    payout.status = target.value
    return current


def _status_text(status: PayoutStatus) -> str:
    from payments.states import PAYOUT_STATUS_LABELS

    return str(PAYOUT_STATUS_LABELS[status])


def yuan(amount: int, currency: str = "CNY") -> str:
    """Minor units as a plain decimal string with the currency's digits ("1234.50")."""
    digits = MINOR_DIGITS.get(currency, 2)
    return f"{Decimal(int(amount)).scaleb(-digits):.{digits}f}"


def _org_admins(org_id: int) -> list[User]:
    stmt = (
        sa.select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org_id, Membership.active.is_(True), User.active.is_(True))
        .order_by(Membership.id)
    )
    return [m.user for m in db.session.scalars(stmt) if m.has_role(Role.ORG_ADMIN)]


def _notify_payee(payout: Payout, kind: str, title: Any, body: Any) -> None:
    recipients = [Recipient.of(u) for u in _org_admins(payout.payee_org_id)]
    if recipients:
        notify(recipients, kind, title, body, link="")


# --------------------------------------------------------------------------- commands


def create_payout(
    *,
    payee_org_id: int,
    amount: int,
    reason: str,
    source_key: str,
    actor: Any = None,
    idempotency_id: str,
    currency: str = "CNY",
) -> Payout:
    """Create a pending payout and move its money from `source_key` to `payouts:pending`.

    Same `idempotency_id` with the same payee, amount, currency and source returns the
    first payout; with other content it raises IdempotencyConflict. Raises
    ValidationError when the payee has no bank account on file or the input is bad,
    NotFound for an unknown organization, InsufficientFunds when the source (a guarded
    account) does not hold the amount.
    """
    amount = ledger._check_amount(amount)
    currency = ledger._check_currency(currency)
    ledger._check_key(source_key)
    reason = (reason or "").strip()
    idempotency_id = (idempotency_id or "").strip()
    if not reason:
        raise ValidationError(_("Give the reason for this payout."), fields={"reason": [_("Required.")]})
    if not idempotency_id or len(idempotency_id) > 200:
        raise ValidationError(_("A payout needs an idempotency id of at most 200 characters."))
    if source_key == PENDING_KEY:
        raise ValidationError(_("A payout cannot be paid from the pending payouts account."))
    with unit_of_work():
        existing = _replay(idempotency_id, payee_org_id, amount, currency, source_key)
        if existing is not None:
            return existing
        org = db.session.get(Organization, payee_org_id)
        if org is None:
            raise NotFound(_("Organization not found."))
        if not (org.bank_name.strip() and org.bank_account_name.strip() and org.bank_account_number.strip()):
            raise ValidationError(
                _("%(org)s has no bank account on file: its administrator must add the bank name, account "
                  "name and account number to the organization profile before it can be paid.", org=org.name_zh),
                fields={"payee_org_id": [_("No bank account on file.")]},
            )
        user_id, label = _actor_fields(actor)
        payout = Payout(
            idempotency_id=idempotency_id,
            payee_org_id=org.id,
            payee_name=org.name_zh,
            bank_name=org.bank_name.strip(),
            bank_account_name=org.bank_account_name.strip(),
            bank_account_number=org.bank_account_number.strip(),
            amount=amount,
            currency=currency,
            reason=reason[:500],
            source_key=source_key,
            status=PayoutStatus.PENDING.value,
            created_by_id=user_id,
            created_by_label=(label or "")[:255],
        )
        try:
            with db.session.begin_nested():  # a concurrent create with the same id loses here
                db.session.add(payout)
                db.session.flush()
        except sa.exc.IntegrityError:
            existing = _replay(idempotency_id, payee_org_id, amount, currency, source_key)
            if existing is None:
                raise
            return existing
        ledger.get_or_create_account(PENDING_KEY, currency, no_negative=True)
        entry = ledger.post_entry(
            f"payout:{payout.id}:reserve",
            [ledger.TransferSpec(source_key, PENDING_KEY, amount, currency)],
            description=f"Payout {payout.reference} reserved: {reason}"[:500],
            metadata={"payout_id": payout.id, "payee_org_id": org.id},
            actor=_actor(actor),
        )
        payout.reserve_entry_id = entry.id
        audit.record("payout.created", "payout", payout.id, {
            "payee_org_id": org.id, "amount": amount, "currency": currency, "source": source_key,
            "reason": reason[:200], "entry_id": entry.id,
        }, actor=_actor(actor))
    return payout


def _replay(idempotency_id: str, payee_org_id: int, amount: int, currency: str, source_key: str) -> Payout | None:
    """The payout already created with this id (same content), None if there is none."""
    existing = db.session.scalar(sa.select(Payout).where(Payout.idempotency_id == idempotency_id))
    if existing is None:
        return None
    if (existing.payee_org_id, existing.amount, existing.currency, existing.source_key) != (
            payee_org_id, amount, currency, source_key):
        raise IdempotencyConflict()
    return existing


def export_batch(actor: User, currency: str = "CNY") -> PayoutBatch:
    """Put every pending payout of `currency` into a new batch and its CSV file.

    The payouts are locked and moved to `exported` in one transaction, so a payout is in
    at most one batch (a second export at the same time finds nothing pending). Raises
    PayoutNotPossible when nothing is pending.
    """
    actor = _require_finance(actor)
    currency = ledger._check_currency(currency)
    with unit_of_work():
        payouts = list(db.session.scalars(
            for_update(
                sa.select(Payout)
                .where(Payout.status == PayoutStatus.PENDING.value, Payout.currency == currency)
                .order_by(Payout.id)
            ).execution_options(populate_existing=True)
        ))
        if not payouts:
            raise PayoutNotPossible(_("No pending payout to export."))
        now = clock.now()
        batch = PayoutBatch(
            created_at=now, created_by_id=actor.id, created_by_label=actor.email[:255], currency=currency,
            count=len(payouts), total=sum(p.amount for p in payouts),
        )
        db.session.add(batch)
        db.session.flush()
        for payout in payouts:
            _move(payout, PayoutStatus.EXPORTED)
            payout.batch_id = batch.id
            payout.exported_at = now
        rows = [
            (p.reference, p.payee_name, p.bank_account_name, p.bank_name, p.bank_account_number,
             yuan(p.amount, p.currency), p.currency, p.reason)
            for p in payouts
        ]
        data = write_csv(rows, [str(h) for h in CSV_HEADER])
        stored = core_files.store_bytes(
            data, original_name=f"payout-batch-{batch.id}.csv", content_type="text/csv",
            purpose="payout_batch", uploaded_by_id=actor.id,
        )
        batch.file_id = stored.id
        audit.record("payout_batch.exported", "payout_batch", batch.id, {
            "count": batch.count, "total": batch.total, "currency": currency,
            "payout_ids": [p.id for p in payouts], "file_id": stored.id,
        }, actor=_actor(actor))
    return batch


def mark_paid(payout: Payout | int, actor: User, bank_reference: str) -> Payout:
    """The bank confirmed an exported payout: `payouts:pending` -> `platform:clearing`."""
    actor = _require_finance(actor)
    bank_reference = (bank_reference or "").strip()
    if not bank_reference or len(bank_reference) > 100:
        raise ValidationError(_("Enter the bank's reference for this transfer (at most 100 characters)."),
                              fields={"bank_reference": [_("Required.")]})
    with unit_of_work():
        row = _lock_payout(payout)
        previous = _move(row, PayoutStatus.PAID)
        entry = ledger.post_entry(
            f"payout:{row.id}:paid",
            [ledger.TransferSpec(PENDING_KEY, CLEARING_KEY, row.amount, row.currency)],
            description=f"Payout {row.reference} paid (bank ref {bank_reference})"[:500],
            metadata={"payout_id": row.id, "bank_reference": bank_reference},
            actor=_actor(actor),
        )
        row.settle_entry_id = entry.id
        row.bank_reference = bank_reference
        row.paid_at = clock.now()
        audit.record("payout.paid", "payout", row.id, {
            "from": previous.value, "bank_reference": bank_reference, "entry_id": entry.id,
            "amount": row.amount, "currency": row.currency,
        }, actor=_actor(actor))
        _notify_payee(
            row, "payout.paid",
            _l("Payout %(ref)s paid", ref=row.reference),
            _l("%(amount)s was transferred to your bank account (bank reference %(bank_ref)s).",
               amount=_money(row), bank_ref=bank_reference),
        )
        events.publish(events.payout_paid, "payments", payout_id=row.id, source_key=row.source_key,
                       payee_org_id=row.payee_org_id, amount=row.amount, currency=row.currency)
    return row


def mark_failed(payout: Payout | int, actor: User, reason: str) -> Payout:
    """The bank refused the payout (or finance withdrew a pending one): the money returns
    to the source account by a new entry `payouts:pending` -> `<source>`."""
    actor = _require_finance(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give the reason the payout failed."), fields={"reason": [_("Required.")]})
    with unit_of_work():
        row = _lock_payout(payout)
        previous = _move(row, PayoutStatus.FAILED)
        entry = ledger.post_entry(
            f"payout:{row.id}:failed",
            [ledger.TransferSpec(PENDING_KEY, row.source_key, row.amount, row.currency)],
            description=f"Payout {row.reference} failed, money returned: {reason}"[:500],
            metadata={"payout_id": row.id},
            actor=_actor(actor),
        )
        row.settle_entry_id = entry.id
        row.failure_reason = reason[:500]
        row.failed_at = clock.now()
        audit.record("payout.failed", "payout", row.id, {
            "from": previous.value, "reason": reason[:200], "entry_id": entry.id,
            "amount": row.amount, "currency": row.currency, "source": row.source_key,
        }, actor=_actor(actor))
        _notify_payee(
            row, "payout.failed",
            _l("Payout %(ref)s failed", ref=row.reference),
            _l("The transfer of %(amount)s could not be made: %(reason)s. Please check your organization's "
               "bank account details.", amount=_money(row), reason=reason[:200]),
        )
        events.publish(events.payout_failed, "payments", payout_id=row.id, source_key=row.source_key,
                       payee_org_id=row.payee_org_id, amount=row.amount, currency=row.currency,
                       reason=reason[:200])
    return row


def _money(payout: Payout) -> str:
    from core.money import format_money

    return format_money(payout.amount, payout.currency)


# --------------------------------------------------------------------------- reads


def batch_file(batch: PayoutBatch) -> bytes:
    """The stored CSV of a batch (for tests and re-download)."""
    if batch.file is None:
        raise NotFound(_("This batch has no file."))
    return core_files.read_file(batch.file)
