"""Enums and transition tables of accounts."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class OrgKind(StrEnum):
    BUYER = "buyer"  # government unit
    SUPPLIER = "supplier"
    SME = "sme"
    PROVIDER = "provider"
    CARRIER = "carrier"
    REGULATOR = "regulator"
    EXPERT_POOL = "expert_pool"
    PLATFORM = "platform"


class SizeClass(StrEnum):
    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class Verification(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


VERIFICATION_TRANSITIONS: dict[Verification, set[Verification]] = {
    Verification.PENDING: {Verification.VERIFIED, Verification.REJECTED},
    # A rejected organization may correct its data and ask again; a verified one may be
    # sent back to review (e.g. licence revoked).
    Verification.REJECTED: {Verification.PENDING},
    Verification.VERIFIED: {Verification.PENDING},
}


class CreditStatus(StrEnum):
    GOOD = "good"
    WARNING = "warning"
    DEBARRED = "debarred"


class Role(StrEnum):
    ORG_ADMIN = "org_admin"
    BIDDER = "bidder"
    PROCUREMENT_OFFICER = "procurement_officer"
    EVALUATOR = "evaluator"
    KEY_CUSTODIAN = "key_custodian"
    BUYER = "buyer"  # SME purchasing
    PROVIDER_STAFF = "provider_staff"
    CARRIER_AGENT = "carrier_agent"
    FINANCE = "finance"
    REGULATOR = "regulator"
    PLATFORM_ADMIN = "platform_admin"
    AUDITOR = "auditor"


#: Roles whose holders must use TOTP 2FA (DESIGN.md section 4).
TWO_FACTOR_ROLES = frozenset(
    {
        Role.PROCUREMENT_OFFICER,
        Role.KEY_CUSTODIAN,
        Role.EVALUATOR,
        Role.FINANCE,
        Role.REGULATOR,
        Role.PLATFORM_ADMIN,
    }
)

#: Which roles an organization of each kind may grant (org_admin always).
ROLES_BY_KIND: dict[OrgKind, set[Role]] = {
    OrgKind.BUYER: {Role.PROCUREMENT_OFFICER, Role.KEY_CUSTODIAN, Role.FINANCE},
    OrgKind.SUPPLIER: {Role.BIDDER, Role.FINANCE},
    OrgKind.SME: {Role.BUYER, Role.FINANCE},
    OrgKind.PROVIDER: {Role.PROVIDER_STAFF, Role.FINANCE},
    OrgKind.CARRIER: {Role.CARRIER_AGENT},
    OrgKind.REGULATOR: {Role.REGULATOR},
    OrgKind.EXPERT_POOL: {Role.EVALUATOR},
    OrgKind.PLATFORM: {Role.PLATFORM_ADMIN, Role.AUDITOR, Role.FINANCE, Role.KEY_CUSTODIAN},
}

ROLE_LABELS = {
    Role.ORG_ADMIN: _l("Organization administrator"),
    Role.BIDDER: _l("Bidder"),
    Role.PROCUREMENT_OFFICER: _l("Procurement officer"),
    Role.EVALUATOR: _l("Evaluation expert"),
    Role.KEY_CUSTODIAN: _l("Key custodian"),
    Role.BUYER: _l("Service buyer"),
    Role.PROVIDER_STAFF: _l("Provider staff"),
    Role.CARRIER_AGENT: _l("Carrier agent"),
    Role.FINANCE: _l("Finance"),
    Role.REGULATOR: _l("Regulator"),
    Role.PLATFORM_ADMIN: _l("Platform administrator"),
    Role.AUDITOR: _l("Auditor"),
}

KIND_LABELS = {
    OrgKind.BUYER: _l("Government buyer"),
    OrgKind.SUPPLIER: _l("Supplier"),
    OrgKind.SME: _l("SME"),
    OrgKind.PROVIDER: _l("Service provider"),
    OrgKind.CARRIER: _l("Carrier"),
    OrgKind.REGULATOR: _l("Regulator"),
    OrgKind.EXPERT_POOL: _l("Expert pool"),
    OrgKind.PLATFORM: _l("Platform operator"),
}

SIZE_LABELS = {
    SizeClass.MICRO: _l("Micro"),
    SizeClass.SMALL: _l("Small"),
    SizeClass.MEDIUM: _l("Medium"),
    SizeClass.LARGE: _l("Large"),
}

VERIFICATION_LABELS = {
    Verification.PENDING: _l("Pending verification"),
    Verification.VERIFIED: _l("Verified"),
    Verification.REJECTED: _l("Rejected"),
}

CREDIT_LABELS = {
    CreditStatus.GOOD: _l("Good standing"),
    CreditStatus.WARNING: _l("Warning"),
    CreditStatus.DEBARRED: _l("Debarred"),
}


def can_verify_transition(current: Verification, target: Verification) -> bool:
    return target in VERIFICATION_TRANSITIONS.get(current, set())
