"""Registration: a new organization with its first user (its org admin), or joining by invitation."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Membership, Organization, User
from accounts.services.organizations import (
    LICENCE_TYPES,
    SELF_REGISTER_KINDS,
    _link,
    audit,
    check_uscc,
    notify_users,
    platform_admins,
    uscc_taken,
)
from accounts.states import Role, SizeClass, Verification
from core import events
from core.db import db, unit_of_work
from core.errors import Conflict, ValidationError


@dataclass
class NewOrganization:
    name_zh: str
    uscc: str
    kinds: list[str]
    email: str
    display_name: str
    password: str
    name_en: str = ""
    size_class: str = SizeClass.SMALL.value
    contact_phone: str = ""
    address: str = ""
    locale: str = "zh_Hans_CN"
    licence: tuple[bytes, str] | None = None  # (data, filename)
    extra: dict = field(default_factory=dict)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def email_taken(email: str) -> bool:
    return db.session.scalar(sa.select(User.id).where(User.email == normalize_email(email))) is not None


def password_errors(password: str, email: str) -> list[str]:
    from accounts.passwords import password_problems

    return [str(p) for p in (password_problems(password, email=email) or [])]


def _hash(password: str) -> str:
    from accounts.passwords import hash_password

    return hash_password(password)


def register_organization(data: NewOrganization) -> tuple[Organization, User]:
    """Create the organization (pending verification) and its first user as org admin.

    Raises ValidationError with per-field messages; nothing is written unless all is well.
    """
    errors: dict[str, str] = {}
    email = normalize_email(data.email)
    name_zh = (data.name_zh or "").strip()
    if not name_zh:
        errors["name_zh"] = _("The legal name in Chinese is required.")
    try:
        uscc = check_uscc(data.uscc)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.fields.items()})
        uscc = None
    kinds = [str(k) for k in data.kinds or []]
    allowed = {k.value for k in SELF_REGISTER_KINDS}
    if not kinds:
        errors["kinds"] = _("Choose at least one kind of organization.")
    elif not set(kinds) <= allowed:
        errors["kinds"] = _("This kind of organization cannot register itself.")
    if data.size_class not in {s.value for s in SizeClass}:
        errors["size_class"] = _("Choose a size class.")
    if not email:
        errors["email"] = _("An email address is required.")
    if not (data.display_name or "").strip():
        errors["display_name"] = _("Your name is required.")
    problems = password_errors(data.password, email)
    if problems:
        errors["password"] = " ".join(problems)
    if errors:
        raise ValidationError(fields=errors)

    try:
        return _create(data, uscc, email, name_zh, kinds)
    except sa.exc.IntegrityError as exc:  # a concurrent registration won the race
        msg = _("This organization or email address was registered a moment ago. Check and try again.")
        raise Conflict(msg, code="registration_conflict") from exc


def _create(data: NewOrganization, uscc: str, email: str, name_zh: str, kinds: list[str]) -> tuple[Organization, User]:
    with unit_of_work():
        if uscc_taken(uscc):
            msg = _(
                "An organization with this unified social credit code is already registered. "
                "Ask its administrator to invite you."
            )
            raise Conflict(msg, code="uscc_taken", fields={"uscc": msg})
        if email_taken(email):
            msg = _("An account with this email already exists. Log in, or use another address.")
            raise Conflict(msg, code="email_taken", fields={"email": msg})
        org = Organization(
            kinds=[k for k in allowed_order(kinds)],
            name_zh=name_zh,
            name_en=(data.name_en or "").strip(),
            uscc=uscc,
            size_class=data.size_class,
            contact_phone=(data.contact_phone or "").strip(),
            address=(data.address or "").strip(),
            verification=Verification.PENDING.value,
        )
        user = User(
            email=email,
            password_hash=_hash(data.password),
            display_name=data.display_name.strip(),
            locale=data.locale or "zh_Hans_CN",
        )
        db.session.add_all([org, user])
        db.session.flush()
        user.current_org_id = org.id
        db.session.add(Membership(user_id=user.id, org_id=org.id, roles=[Role.ORG_ADMIN.value]))
        db.session.flush()
        if data.licence is not None:
            from core.files import save_file

            content, filename = data.licence
            stored = save_file(
                content, filename=filename, allowed=set(LICENCE_TYPES), purpose="licence", uploaded_by_id=user.id
            )
            org.licence_file_id = stored.id
        audit(
            "organization.registered",
            "organization",
            org.id,
            {"uscc": uscc, "kinds": org.kinds, "licence": bool(org.licence_file_id)},
            actor=user,
        )
        audit("user.registered", "user", user.id, {"org_id": org.id}, actor=user)
        events.publish(events.user_registered, "accounts", user_id=user.id, org_id=org.id)
        notify_users(
            platform_admins(),
            "organization.registered",
            _l("New organization to verify: %(name)s", name=org.name_zh),
            _l("%(name)s (%(uscc)s) registered and waits for verification.", name=org.name_zh, uscc=uscc),
            _link("accounts.admin_organization", org_id=org.id),
        )
    db.session.refresh(user)
    return org, user


def allowed_order(kinds: list[str]) -> list[str]:
    order = [k.value for k in SELF_REGISTER_KINDS]
    return sorted(set(kinds), key=order.index)
