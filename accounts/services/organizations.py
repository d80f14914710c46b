"""Organizations: profile, licence, verification by platform admins, credit status.

Every command opens a unit of work, checks the actor and the current state, writes an
audit entry and notifies the people concerned (notifications go through the outbox of
core.notifications, so they leave the process only after commit).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Membership, Organization, User
from accounts.permissions import user_has_platform_role
from accounts.services._effects import notify_users
from accounts.services._effects import record as audit
from accounts.states import (
    CreditStatus,
    OrgKind,
    Role,
    SizeClass,
    Verification,
    can_verify_transition,
)
from accounts.uscc import is_valid_uscc, normalize, uscc_problem
from core import clock, events
from core.db import db, for_update, unit_of_work
from core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError

#: Kinds an organization may choose when it registers itself; buyer (government unit),
#: regulator, expert pool and platform organizations are created by platform admins.
SELF_REGISTER_KINDS: tuple[OrgKind, ...] = (
    OrgKind.SUPPLIER,
    OrgKind.SME,
    OrgKind.PROVIDER,
    OrgKind.CARRIER,
    OrgKind.BUYER,
)

LICENCE_TYPES = frozenset({"pdf", "png", "jpg"})

PROFILE_FIELDS = (
    "name_zh",
    "name_en",
    "size_class",
    "address",
    "contact_phone",
    "bank_name",
    "bank_account_name",
    "bank_account_number",
    "invoice_title",
    "tax_number",
)


# --------------------------------------------------------------------------- integration

NOTIFICATION_KINDS = {
    "organization.registered": (_l("New organizations to verify"), False),
    "organization.verification_requested": (_l("Organizations asking for verification again"), False),
    "organization.verified": (_l("Your organization was verified"), True),
    "organization.rejected": (_l("Your organization's verification was rejected"), True),
    "organization.sent_to_review": (_l("Your organization is under review again"), True),
    "organization.credit_changed": (_l("Credit status of your organization"), True),
}


def register_notification_kinds() -> None:
    from core.notifications import register_kind

    for kind, (label, mandatory) in NOTIFICATION_KINDS.items():
        register_kind(kind, label, mandatory=mandatory)


register_notification_kinds()


def org_admins(org: Organization) -> list[User]:
    stmt = (
        sa.select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org.id, Membership.active.is_(True), User.active.is_(True))
        .order_by(User.id)
    )
    return [u for u in db.session.scalars(stmt) if _membership_of(u, org.id).has_role(Role.ORG_ADMIN)]


def platform_admins() -> list[User]:
    stmt = (
        sa.select(Membership)
        .join(Organization, Organization.id == Membership.org_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.active.is_(True), User.active.is_(True))
        .order_by(Membership.id)
    )
    users: dict[int, User] = {}
    for m in db.session.scalars(stmt):
        if m.has_role(Role.PLATFORM_ADMIN) and m.organization.has_kind(OrgKind.PLATFORM):
            users.setdefault(m.user_id, m.user)
    return list(users.values())


def _membership_of(user: User, org_id: int) -> Membership:
    return next(m for m in user.memberships if m.org_id == org_id)


def _link(endpoint: str, **values: Any) -> str:
    from flask import has_request_context, url_for

    try:
        return url_for(endpoint, **values) if has_request_context() else ""
    except Exception:  # noqa: BLE001 - a link is a convenience, never a failure
        return ""


# --------------------------------------------------------------------------- validation

#: The English msgids returned by accounts.uscc.uscc_problem and tax_number_problem, listed
#: here so the catalog extractor sees them (they are translated with gettext where shown).
_EXTRACTED_MESSAGES = (
    _l("A unified social credit code has 18 characters."),
    _l("A unified social credit code uses digits and capital letters except I, O, S, V and Z."),
    _l("The check character of this unified social credit code is wrong; please check for a typo."),
    _l("A tax number is the 18-character unified social credit code, or an older 15-, 18- or 20-character number."),
)

_LEGACY_TAX = re.compile(r"^[0-9A-Z]{15}$|^[0-9A-Z]{18}$|^[0-9A-Z]{20}$")


def tax_number_problem(value: str) -> str | None:
    """Why `value` is not an acceptable taxpayer identification number (English msgid), or None.

    Since 2015 an enterprise's taxpayer number IS its unified social credit code (18
    characters, checked with its check character). Older tax registration numbers are
    still printed on some invoices: 15 characters (6-digit division + 9-character
    organization code), 18 or 20 characters (individual businesses: ID number based).
    Those cannot be checked beyond their shape, so any 15/18/20 letters-and-digits
    value is accepted. An 18-character value that looks like a USCC (starts with a
    registration authority digit 1-9 or letter and has a valid check character) passes;
    otherwise 18 characters are accepted as a legacy number.
    """
    value = normalize(value)
    if not value:
        return None
    if is_valid_uscc(value):
        return None
    if _LEGACY_TAX.match(value):
        return None
    return "A tax number is the 18-character unified social credit code, or an older 15-, 18- or 20-character number."


def check_uscc(value: str) -> str:
    """Normalize and validate a USCC; raise ValidationError on the `uscc` field."""
    code = normalize(value)
    problem = uscc_problem(code)
    if problem:
        raise ValidationError(_(problem), fields={"uscc": _(problem)})
    return code


def uscc_taken(code: str) -> bool:
    return db.session.scalar(sa.select(Organization.id).where(Organization.uscc == normalize(code))) is not None


# --------------------------------------------------------------------------- reads


def get_org(org_id: int) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None:
        raise NotFound()
    return org


def list_organizations(
    verification: str | None = None, kind: str | None = None, keyword: str | None = None, limit: int = 200
) -> list[Organization]:
    stmt = sa.select(Organization).order_by(Organization.created_at.desc(), Organization.id.desc())
    if verification:
        stmt = stmt.where(Organization.verification == verification)
    if keyword:
        like = f"%{keyword.strip()}%"
        stmt = stmt.where(
            sa.or_(
                Organization.name_zh.ilike(like),
                Organization.name_en.ilike(like),
                Organization.uscc.ilike(like.upper()),
            )
        )
    orgs = list(db.session.scalars(stmt.limit(limit if not kind else None)))
    if kind:  # kinds is a JSON list: filter portably in Python
        orgs = [o for o in orgs if o.has_kind(kind)][:limit]
    return orgs


def pending_verification_count() -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Organization.id)).where(Organization.verification == Verification.PENDING.value)
    ) or 0


def is_member(user: User, org: Organization) -> bool:
    return any(m.org_id == org.id and m.active for m in user.memberships)


def is_platform_staff(user: User, roles: Iterable[str] = (Role.PLATFORM_ADMIN, Role.AUDITOR)) -> bool:
    """Holds one of `roles` (default: platform admin or auditor) in the platform organization."""
    return user_has_platform_role(user, *roles)


def can_read_licence(user: User | None, org: Organization) -> bool:
    if user is None:
        return False
    return is_member(user, org) or is_platform_staff(user)


# --------------------------------------------------------------------------- commands


def _lock(org: Organization) -> Organization:
    return db.session.scalars(for_update(sa.select(Organization).where(Organization.id == org.id))).one()


def _require_org_admin(org: Organization, actor: User) -> None:
    m = next((m for m in actor.memberships if m.org_id == org.id and m.active), None)
    if m is None or not m.has_role(Role.ORG_ADMIN):
        raise PermissionDenied()


def _require_platform_admin(actor: User) -> None:
    if not is_platform_staff(actor, roles=(Role.PLATFORM_ADMIN,)):
        raise PermissionDenied()


def update_profile(org: Organization, actor: User, **fields: Any) -> Organization:
    """Org admin edits names, size class, contact, bank and invoice details."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError(fields={k: _("Unknown field.") for k in unknown})
    errors: dict[str, str] = {}
    if "name_zh" in fields and not (fields["name_zh"] or "").strip():
        errors["name_zh"] = _("The legal name in Chinese is required.")
    if "size_class" in fields and fields["size_class"] not in {s.value for s in SizeClass}:
        errors["size_class"] = _("Choose a size class.")
    if "tax_number" in fields:
        fields["tax_number"] = normalize(fields["tax_number"] or "")
        problem = tax_number_problem(fields["tax_number"])
        if problem:
            errors["tax_number"] = _(problem)
    if "bank_account_number" in fields:
        fields["bank_account_number"] = (fields["bank_account_number"] or "").replace(" ", "")
        if fields["bank_account_number"] and not re.fullmatch(r"[0-9-]{6,40}", fields["bank_account_number"]):
            errors["bank_account_number"] = _("A bank account number has 6 to 40 digits.")
    if errors:
        raise ValidationError(fields=errors)
    with unit_of_work():
        _require_org_admin(org, actor)
        org = _lock(org)
        changed = []
        for key, value in fields.items():
            value = (value or "").strip() if isinstance(value, str) else value
            if getattr(org, key) != value:
                setattr(org, key, value)
                changed.append(key)
        if changed:
            # Field names only: bank numbers and phones stay out of the audit log.
            audit("organization.updated", "organization", org.id, {"fields": sorted(changed)}, actor=actor)
        if {"name_zh", "name_en"} & set(changed):
            events.publish(events.organization_renamed, "accounts", org_id=org.id)
    return org


def attach_licence(org: Organization, actor: User, data: bytes, filename: str) -> Organization:
    """Upload or replace the business licence (pdf/png/jpg, sniffed by core.files)."""
    from core.files import save_file

    with unit_of_work():
        _require_org_admin(org, actor)
        org = _lock(org)
        stored = save_file(
            data, filename=filename, allowed=set(LICENCE_TYPES), purpose="licence", uploaded_by_id=actor.id
        )
        previous = org.licence_file_id
        org.licence_file_id = stored.id
        audit(
            "organization.licence_uploaded",
            "organization",
            org.id,
            {"file_id": stored.id, "sha256": stored.sha256, "replaced_file_id": previous},
            actor=actor,
        )
    return org


def request_verification(org: Organization, actor: User) -> Organization:
    """After a rejection, the org admin asks for verification again (licence required)."""
    with unit_of_work():
        _require_org_admin(org, actor)
        org = _lock(org)
        current = Verification(org.verification)
        if current != Verification.REJECTED:
            raise InvalidTransition(_("Verification can be requested again only after a rejection."))
        if not org.licence_file_id:
            raise ValidationError(_("Upload the business licence before asking for verification."))
        org.verification = Verification.PENDING.value
        audit("organization.verification_requested", "organization", org.id, {"from": current.value}, actor=actor)
        notify_users(
            platform_admins(),
            "organization.verification_requested",
            _l("Organization to verify: %(name)s", name=org.name_zh),
            _l("%(name)s (%(uscc)s) asks to be verified again.", name=org.name_zh, uscc=org.uscc),
            _link("accounts.admin_organization", org_id=org.id),
        )
    return org


def _transition(org: Organization, target: Verification) -> Verification:
    current = Verification(org.verification)
    if not can_verify_transition(current, target):
        raise InvalidTransition(
            _("An organization that is %(state)s cannot become %(target)s.", state=current.value, target=target.value)
        )
    return current


def verify(org: Organization, actor: User, note: str = "") -> Organization:
    with unit_of_work():
        _require_platform_admin(actor)
        org = _lock(org)
        current = _transition(org, Verification.VERIFIED)
        if not org.licence_file_id:
            raise ValidationError(_("This organization has not uploaded its business licence yet."))
        org.verification = Verification.VERIFIED.value
        org.verification_note = (note or "").strip()
        org.verified_at = clock.now()
        org.verified_by_id = actor.id
        audit("organization.verified", "organization", org.id, {"from": current.value, "note": org.verification_note}, actor=actor)
        notify_users(
            org_admins(org),
            "organization.verified",
            _l("Your organization is verified"),
            _l("%(name)s has been verified; all functions are now available.", name=org.name_zh),
            _link("accounts.org_profile"),
        )
        events.publish(events.organization_verified, "accounts", org_id=org.id, verified_by_id=actor.id)
    return org


def reject(org: Organization, actor: User, note: str) -> Organization:
    note = (note or "").strip()
    if not note:
        raise ValidationError(fields={"note": _("Say why the organization is rejected, so it can correct it.")})
    with unit_of_work():
        _require_platform_admin(actor)
        org = _lock(org)
        current = _transition(org, Verification.REJECTED)
        org.verification = Verification.REJECTED.value
        org.verification_note = note
        org.verified_at = None
        org.verified_by_id = None
        audit("organization.rejected", "organization", org.id, {"from": current.value, "note": note}, actor=actor)
        notify_users(
            org_admins(org),
            "organization.rejected",
            _l("Your organization's verification was rejected"),
            _l("Reason: %(note)s. Correct your profile or licence, then request verification again.", note=note),
            _link("accounts.org_profile"),
        )
    return org


def send_back_to_review(org: Organization, actor: User, note: str) -> Organization:
    """A verified organization goes back to pending (e.g. licence revoked)."""
    note = (note or "").strip()
    if not note:
        raise ValidationError(fields={"note": _("A reason is required.")})
    with unit_of_work():
        _require_platform_admin(actor)
        org = _lock(org)
        current = _transition(org, Verification.PENDING)
        org.verification = Verification.PENDING.value
        org.verification_note = note
        audit("organization.sent_to_review", "organization", org.id, {"from": current.value, "note": note}, actor=actor)
        notify_users(
            org_admins(org),
            "organization.sent_to_review",
            _l("Your organization is under review again"),
            _l("Reason: %(note)s", note=note),
            _link("accounts.org_profile"),
        )
    return org


def set_credit_status(
    org: Organization, actor: User, status: str, reason: str, until: date | None = None
) -> Organization:
    """good / warning / debarred until a date (inclusive, Asia/Shanghai) with a reason."""
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    try:
        status_enum = CreditStatus(status)
    except ValueError:
        errors["status"] = _("Choose a credit status.")
        status_enum = None
    if not reason:
        errors["reason"] = _("A reason is required.")
    if status_enum == CreditStatus.DEBARRED:
        if until is None:
            errors["until"] = _("A debarment needs an end date.")
        elif until < clock.today_local():
            errors["until"] = _("The end date of a debarment cannot be in the past.")
    if errors:
        raise ValidationError(fields=errors)
    with unit_of_work():
        _require_platform_admin(actor)
        org = _lock(org)
        previous = {"status": org.credit_status, "until": org.debarred_until.isoformat() if org.debarred_until else None}
        org.credit_status = status_enum.value
        org.debarred_until = until if status_enum == CreditStatus.DEBARRED else None
        org.credit_note = reason
        audit(
            "organization.credit_changed",
            "organization",
            org.id,
            {
                "from": previous,
                "status": org.credit_status,
                "until": org.debarred_until.isoformat() if org.debarred_until else None,
                "reason": reason,
            },
            actor=actor,
        )
        if status_enum == CreditStatus.DEBARRED:
            body = _l("Debarred until %(date)s. Reason: %(reason)s", date=org.debarred_until.isoformat(), reason=reason)
        else:
            body = _l("Credit status: %(status)s. Reason: %(reason)s", status=status_enum.value, reason=reason)
        notify_users(
            org_admins(org), "organization.credit_changed", _l("Your organization's credit status changed"), body,
            _link("accounts.org_profile"),
        )
    return org


def organizations_by_id(ids: Iterable[int]) -> dict[int, Organization]:
    """The organizations of `ids` in one query, by id (missing ids are absent)."""
    wanted = {int(i) for i in ids if i is not None}
    if not wanted:
        return {}
    return {o.id: o for o in db.session.scalars(sa.select(Organization).where(Organization.id.in_(wanted)))}


def active_membership(user: User | None, org_id: int | None) -> Membership | None:
    """`user`'s active membership of organization `org_id` (None when there is no user, no
    organization or no such active membership): one query, read in the current transaction."""
    if user is None or org_id is None:
        return None
    return db.session.scalar(sa.select(Membership).where(
        Membership.user_id == user.id, Membership.org_id == org_id, Membership.active.is_(True)))


def has_active_role(user: User | None, org_id: int | None, *roles: Role | str) -> bool:
    """`user` is an active member of `org_id` holding one of `roles`."""
    membership = active_membership(user, org_id)
    return membership is not None and membership.has_role(*roles)
