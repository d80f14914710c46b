"""Organizations, users, memberships, sessions, 2FA recovery codes, invitations, API tokens."""

from __future__ import annotations

import logging
from datetime import date, datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.states import CreditStatus, OrgKind, Role, SizeClass, Verification
from core import at_rest, clock
from core.db import Base, IdMixin, TimestampMixin

log = logging.getLogger(__name__)

#: the at-rest label of TOTP secrets (core.at_rest)
TOTP_LABEL = b"canal-totp-v1|user"


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organizations"

    kinds: Mapped[list] = mapped_column(default=list)  # list of OrgKind values
    name_zh: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200), default="")
    uscc: Mapped[str] = mapped_column(sa.String(18), unique=True)  # 统一社会信用代码
    size_class: Mapped[str] = mapped_column(sa.String(10), default=SizeClass.SMALL.value)
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(40), default="")

    verification: Mapped[str] = mapped_column(sa.String(10), default=Verification.PENDING.value, index=True)
    verification_note: Mapped[str] = mapped_column(sa.Text, default="")
    verified_at: Mapped[datetime | None]
    verified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", use_alter=True))
    licence_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))

    credit_status: Mapped[str] = mapped_column(sa.String(10), default=CreditStatus.GOOD.value)
    debarred_until: Mapped[date | None] = mapped_column(sa.Date)
    credit_note: Mapped[str] = mapped_column(sa.Text, default="")

    bank_name: Mapped[str] = mapped_column(sa.String(200), default="")
    bank_account_name: Mapped[str] = mapped_column(sa.String(200), default="")
    bank_account_number: Mapped[str] = mapped_column(sa.String(64), default="")
    invoice_title: Mapped[str] = mapped_column(sa.String(200), default="")
    tax_number: Mapped[str] = mapped_column(sa.String(32), default="")

    memberships: Mapped[list[Membership]] = relationship(back_populates="organization")

    def has_kind(self, kind: OrgKind | str) -> bool:
        return str(kind) in (self.kinds or [])

    @property
    def is_verified(self) -> bool:
        return self.verification == Verification.VERIFIED

    def is_debarred(self, on: date | None = None) -> bool:
        """Debarred today (dates in Asia/Shanghai); a debarment ends after `debarred_until`."""
        if self.credit_status != CreditStatus.DEBARRED:
            return False
        on = on or clock.today_local()
        return self.debarred_until is None or on <= self.debarred_until


class User(IdMixin, TimestampMixin, UserMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(sa.String(254), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    display_name: Mapped[str] = mapped_column(sa.String(100))
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    locale: Mapped[str] = mapped_column(sa.String(16), default="zh_Hans_CN")
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)

    sealed_totp_secret: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # `totp_secret`, at rest
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)  # refuse a replayed code

    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime] = mapped_column(default=clock.now)

    current_org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"))

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", foreign_keys="Membership.user_id"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return bool(self.active)

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def totp_secret(self) -> str | None:
        """The TOTP secret (base32), sealed at rest so a copy of the database cannot make
        codes. None when unset, and (logged) when it no longer opens: a SECRET_KEY dropped
        from SECRET_KEY_FALLBACKS; no code is then accepted until an operator resets it
        (`flask accounts reset-2fa`; recovery codes still sign in meanwhile)."""
        if self.sealed_totp_secret is None:
            return None
        try:
            return at_rest.open_sealed(TOTP_LABEL, self.sealed_totp_secret).decode("ascii")
        except at_rest.Unreadable:
            log.error("The TOTP secret of user %s cannot be opened (SECRET_KEY changed?).", self.id)
            return None

    @totp_secret.setter
    def totp_secret(self, secret: str | None) -> None:
        self.sealed_totp_secret = None if secret is None else at_rest.seal(TOTP_LABEL, secret.encode("ascii"))


class Membership(IdMixin, TimestampMixin, Base):
    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("user_id", "org_id"),)

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    roles: Mapped[list] = mapped_column(default=list)  # list of Role values
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)

    user: Mapped[User] = relationship(back_populates="memberships", foreign_keys=[user_id])
    organization: Mapped[Organization] = relationship(back_populates="memberships")

    def has_role(self, *roles: Role | str) -> bool:
        held = set(self.roles or [])
        return any(str(r) in held for r in roles)


class Invitation(IdMixin, TimestampMixin, Base):
    """An org admin invites an email address to join with given roles (token shown/sent once)."""

    __tablename__ = "invitations"

    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    roles: Mapped[list] = mapped_column(default=list)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    organization: Mapped[Organization] = relationship()


class UserSession(Base):
    """Server-side half of a login session: the cookie carries `sid`; we store its SHA-256."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(default=clock.now)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str] = mapped_column(sa.String(40), default="")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(255), default="")


class RecoveryCode(IdMixin, Base):
    __tablename__ = "recovery_codes"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ApiToken(IdMixin, Base):
    """Per-user API token scoped to one organization; only SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))  # shown in lists to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
    organization: Mapped[Organization] = relationship()
