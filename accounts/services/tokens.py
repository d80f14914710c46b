"""Per-user API tokens, each scoped to one organization; only SHA-256 is stored."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from accounts.auth import sha256_hex
from accounts.models import ApiToken, User
from accounts.services._effects import record
from accounts.services.organizations import active_membership
from accounts.services.twofactor import needs_two_factor_setup
from core import clock
from core.db import db, unit_of_work
from core.errors import NotFound, PermissionDenied, ValidationError

TOKEN_PREFIX = "cnl_"  # noqa: S105 - a public marker, not a secret
DISPLAY_PREFIX_LEN = 12  # "cnl_" + 8 characters


def create_token(user: User, org_id: int, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user` in `org_id`; returns (row, raw token). The raw token is shown once."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError(_("Give the token a name (at most 100 characters)."), fields={"name": _("Required.")})
    if needs_two_factor_setup(user):
        raise PermissionDenied(_("Set up two-factor authentication before creating API tokens."), code="two_factor_required")
    if active_membership(user, org_id) is None:
        raise ValidationError(_("Choose one of your organizations."), fields={"org_id": _("Choose one of your organizations.")})
    if expires_at is not None and clock.as_utc(expires_at) <= clock.now():
        raise ValidationError(_("The expiry must be in the future."), fields={"expires_at": _("The expiry must be in the future.")})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work():
        token = ApiToken(
            user_id=user.id,
            org_id=org_id,
            name=name,
            token_hash=sha256_hex(raw),
            prefix=raw[:DISPLAY_PREFIX_LEN],
            created_at=clock.now(),
            expires_at=expires_at,
        )
        db.session.add(token)
        db.session.flush()
        record("auth.token_created", "api_token", token.id, {"org_id": org_id, "prefix": token.prefix})
    return token, raw


def list_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
        )
    )


def revoke_token(user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (another user's token is a 404)."""
    with unit_of_work():
        token = db.session.get(ApiToken, token_id)
        if token is None or token.user_id != user.id:
            raise NotFound()
        if token.revoked_at is None:
            token.revoked_at = clock.now()
            record("auth.token_revoked", "api_token", token.id, {"prefix": token.prefix})
    return token


def token_status(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and clock.as_utc(token.expires_at) <= clock.now():
        return "expired"
    return "active"
