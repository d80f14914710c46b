"""TOTP two-factor authentication (RFC 6238 via pyotp) and one-time recovery codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import pyotp
import segno
import sqlalchemy as sa
from flask_babel import gettext as _

from accounts.models import RecoveryCode, User
from accounts.passwords import verify_password
from accounts.services._effects import record
from accounts.states import TWO_FACTOR_ROLES
from core import at_rest, clock
from core.db import db, for_update, unit_of_work
from core.errors import PermissionDenied, ValidationError

ISSUER = "Canal"
STEP_SECONDS = 30
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def two_factor_required(user: User) -> bool:
    """True when the user holds a 2FA role in any active membership."""
    roles = [m.roles for m in user.memberships if m.active]  # loaded with the user on API requests
    required = {str(r) for r in TWO_FACTOR_ROLES}
    return any(required.intersection(rs or []) for rs in roles)


def needs_two_factor_setup(user: User) -> bool:
    return not user.two_factor_enabled and two_factor_required(user)


# --------------------------------------------------------------------------- TOTP


def _setup_label(user: User) -> bytes:
    return b"canal-totp-setup-v1|user=%d" % user.id


def setup_secret(user: User, token: str | None) -> tuple[str, str]:
    """The secret being set up and its session token: the one `token` holds, or a new one.

    The session cookie is signed but readable by whoever holds a copy, so it keeps the
    secret sealed (core.at_rest, bound to this user) as base64 text."""
    secret = open_setup_secret(user, token)
    if secret and token:
        return secret, token
    secret = pyotp.random_base32()
    sealed = at_rest.seal(_setup_label(user), secret.encode("ascii"))
    return secret, base64.urlsafe_b64encode(sealed).decode("ascii")


def open_setup_secret(user: User, token: str | None) -> str | None:
    """The secret a `setup_secret` token holds, or None (none, altered, another user's)."""
    if not token:
        return None
    try:
        return at_rest.open_sealed(_setup_label(user), base64.urlsafe_b64decode(token.encode("ascii"))).decode("ascii")
    except (at_rest.Unreadable, ValueError):
        return None


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    """The provisioning URI as an SVG QR code in a data: URI (allowed by the CSP img-src)."""
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(scale=5, dark="#000", light="#fff")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _normalize_code(code: str) -> str:
    return "".join((code or "").split()).replace("-", "").lower()


def _matching_step(secret: str | None, code: str) -> int | None:
    """The time step (within the window) whose code equals `code`, or None (also without
    a secret: none set, or one that no longer opens)."""
    if not secret or not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int(clock.now().timestamp()) // STEP_SECONDS
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found


def _check_totp_locked(user: User, code: str) -> bool:
    """Verify a TOTP code on a row locked by the caller, refusing a replayed time step."""
    step = _matching_step(user.totp_secret, _normalize_code(code))
    if step is None:
        return False
    if user.totp_last_step is not None and step <= user.totp_last_step:
        return False
    user.totp_last_step = step
    return True


def _hash_code(code: str) -> str:
    return hashlib.sha256(_normalize_code(code).encode("utf-8")).hexdigest()


def _use_recovery_code_locked(user: User, code: str) -> bool:
    normalized = _normalize_code(code)
    if len(normalized) != 8:
        return False
    row = db.session.scalar(
        for_update(
            sa.select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == _hash_code(normalized),
                RecoveryCode.used_at.is_(None),
            )
        )
    )
    if row is None:
        return False
    row.used_at = clock.now()
    remaining = db.session.scalar(
        sa.select(sa.func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    )
    record("auth.recovery_code_used", "user", user.id, {"remaining": remaining}, actor=user)
    return True


def verify_second_factor(user_id: int, code: str) -> User:
    """The login's second step: a TOTP code or a recovery code. Failures count toward lockout."""
    from accounts.services.auth import _locked_error, is_locked, register_failure

    error = None
    with unit_of_work():
        user = db.session.scalar(for_update(sa.select(User).where(User.id == user_id)))
        if user is None or not user.active or not user.two_factor_enabled:
            error = ValidationError(_("The code is not valid."), fields={"code": _("The code is not valid.")})
        elif is_locked(user):
            error = _locked_error(user)
        elif _check_totp_locked(user, code) or _use_recovery_code_locked(user, code):
            user.failed_logins = 0
        else:
            locked = register_failure(user, "second_factor")
            error = _locked_error(user) if locked else ValidationError(
                _("The code is not valid."), fields={"code": _("The code is not valid.")}
            )
    if error is not None:
        raise error
    return user


def check_code(user: User, code: str) -> bool:
    """Verify a TOTP code for a logged-in user (re-authentication); records the step."""
    with unit_of_work():
        row = db.session.scalar(for_update(sa.select(User).where(User.id == user.id)))
        ok = _check_totp_locked(row, code)
    if ok:
        user.totp_last_step = row.totp_last_step
    return ok


# --------------------------------------------------------------------------- setup / disable


def _make_recovery_codes() -> list[str]:
    codes = []
    for _i in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _j in range(8))
        codes.append(f"{raw[:4]}-{raw[4:]}")
    return codes


def _replace_recovery_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = _make_recovery_codes()
    for code in codes:
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(code), created_at=clock.now()))
    return codes


def enable_two_factor(user: User, secret: str, code: str) -> list[str]:
    """Confirm the new secret with a code from the app; returns the recovery codes (shown once)."""
    if not secret:
        raise ValidationError(_("Start the set-up again."))
    step = _matching_step(secret, _normalize_code(code))
    if step is None:
        raise ValidationError(_("The code is not valid."), fields={"code": _("The code is not valid.")})
    with unit_of_work():
        row = db.session.scalar(for_update(sa.select(User).where(User.id == user.id)))
        row.totp_secret = secret
        row.totp_enabled_at = clock.now()
        row.totp_last_step = step
        codes = _replace_recovery_codes(row)
        record("auth.2fa_enabled", "user", row.id, {})
    user.sealed_totp_secret, user.totp_enabled_at, user.totp_last_step = (row.sealed_totp_secret, row.totp_enabled_at,
                                                                          step)
    return codes


def disable_two_factor(user: User, password: str, code: str) -> None:
    """Turn 2FA off (password + a current code); refused while a role requires it."""
    if two_factor_required(user):
        raise PermissionDenied(_("Two-factor authentication is required for your role and cannot be turned off."))
    if not verify_password(user.password_hash, password or ""):
        message = _("The current password is incorrect.")
        raise ValidationError(message, fields={"password": message})
    if not check_code(user, code):
        raise ValidationError(_("The code is not valid."), fields={"code": _("The code is not valid.")})
    _turn_off(user, "auth.2fa_disabled", {})


def reset_two_factor(user: User, reason: str) -> None:
    """Turn a user's 2FA off for them (a platform operator, `flask accounts reset-2fa`,
    after checking who asks): a lost phone with lost recovery codes, or a secret that no
    longer opens. The user sets it up again at the next sign-in when the role needs it.
    The reason (a support ticket, say) is required and goes into the audit entry."""
    reason = (reason or "").strip()
    if not reason:
        message = _("Give the reason for the reset.")
        raise ValidationError(message, fields={"reason": message})
    if not user.two_factor_enabled:
        raise ValidationError(_("%(email)s does not use two-factor authentication.", email=user.email))
    _turn_off(user, "auth.2fa_reset", {"reason": reason[:200]}, actor="system")


def _turn_off(user: User, action: str, data: dict, actor: str | None = None) -> None:
    """Clear the secret and the recovery codes on the locked row, with an audit entry."""
    with unit_of_work():
        row = db.session.scalar(for_update(sa.select(User).where(User.id == user.id)))
        row.sealed_totp_secret = row.totp_enabled_at = row.totp_last_step = None
        db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == row.id))
        record(action, "user", row.id, data, actor=actor)
    user.sealed_totp_secret = user.totp_enabled_at = user.totp_last_step = None


def regenerate_recovery_codes(user: User, password: str) -> list[str]:
    if not user.two_factor_enabled:
        raise ValidationError(_("Two-factor authentication is not enabled."))
    if not verify_password(user.password_hash, password or ""):
        message = _("The current password is incorrect.")
        raise ValidationError(message, fields={"password": message})
    with unit_of_work():
        row = db.session.scalar(for_update(sa.select(User).where(User.id == user.id)))
        codes = _replace_recovery_codes(row)
        record("auth.recovery_codes_regenerated", "user", row.id, {})
    return codes


def remaining_recovery_codes(user: User) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    ) or 0
