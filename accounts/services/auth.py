"""Authentication rules: password login with lockout, password change/reset, email change, sessions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from accounts.models import User, UserSession
from accounts.passwords import dummy_verify, hash_password, needs_rehash, password_problems, verify_password
from accounts.services._effects import email_domain, record
from core import clock
from core.db import db, for_update, unit_of_work
from core.errors import DomainError, NotFound, ValidationError
from core.notifications import send_email

RESET_SALT = "password-reset"


class LoginFailed(DomainError):
    code = "login_failed"
    status = 401


class AccountLocked(DomainError):
    code = "account_locked"
    status = 429


@dataclass
class LoginResult:
    user: User
    needs_second_factor: bool


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalize_email(email)))


def _generic_failure() -> LoginFailed:
    return LoginFailed(_("Email or password is incorrect."))


def _locked_error(user: User) -> AccountLocked:
    until = clock.as_utc(user.locked_until)
    return AccountLocked(
        _(
            "Too many failed sign-in attempts. This account is locked until %(time)s.",
            time=format_datetime(until, "yyyy-MM-dd HH:mm"),
        )
    )


def is_locked(user: User) -> bool:
    return user.locked_until is not None and clock.as_utc(user.locked_until) > clock.now()


def register_failure(user: User, reason: str) -> bool:
    """Count a failed attempt (password or second factor) on a locked row. True if it locked."""
    cfg = current_app.config
    now = clock.now()
    window = cfg.get("LOGIN_FAILURE_WINDOW", cfg["LOGIN_LOCKOUT"])
    if user.failed_logins and user.updated_at and now - clock.as_utc(user.updated_at) > window:
        user.failed_logins = 0  # the previous failures are outside the window
    user.failed_logins = (user.failed_logins or 0) + 1
    user.updated_at = now
    locked = False
    if user.failed_logins >= cfg["LOGIN_MAX_FAILURES"]:
        user.locked_until = now + cfg["LOGIN_LOCKOUT"]
        user.failed_logins = 0
        locked = True
        record("auth.lockout", "user", user.id, {"until": user.locked_until.isoformat()}, actor="system")
    record("auth.login_failed", "user", user.id, {"reason": reason}, actor="system")
    return locked


def authenticate(email: str, password: str) -> LoginResult:
    """Check email + password. Raises LoginFailed (generic) or AccountLocked.

    A failed attempt is committed before the error is raised. On success the failure
    counter is cleared and an outdated hash is upgraded; the caller then either starts
    the session (complete_login) or asks for the second factor.
    """
    email = normalize_email(email)
    error: DomainError | None = None
    result: LoginResult | None = None
    with unit_of_work():
        user = db.session.scalar(for_update(sa.select(User).where(User.email == email)))
        if user is None:
            dummy_verify(password or "")
            record("auth.login_failed", "user", None, {"email_domain": email_domain(email)}, actor="system")
            error = _generic_failure()
        elif is_locked(user):
            record("auth.login_refused_locked", "user", user.id, {}, actor="system")
            error = _locked_error(user)
        elif not verify_password(user.password_hash, password or "") or not user.active:
            locked = register_failure(user, "password" if user.active else "inactive")
            error = _locked_error(user) if locked else _generic_failure()
        else:
            user.failed_logins = 0
            user.locked_until = None
            if needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
                record("auth.password_rehashed", "user", user.id, {}, actor="system")
            result = LoginResult(user, user.two_factor_enabled)
    if error is not None:
        raise error
    assert result is not None
    return result


def complete_login(user: User) -> None:
    """Record a successful login (after all factors); the view then starts the session."""
    with unit_of_work():
        row = db.session.get(User, user.id)
        row.last_login_at = clock.now()
        row.failed_logins = 0
        record("auth.login", "user", user.id, {"two_factor": user.two_factor_enabled}, actor=_as_actor(user))


def _as_actor(user: User):
    """The user as audit actor when they are not (yet) the request's current_user."""
    return user


def record_logout(user: User) -> None:
    with unit_of_work():
        record("auth.logout", "user", user.id, {})


# --------------------------------------------------------------------------- password change


def _check_new_password(user: User, new_password: str, field: str = "new_password") -> None:
    problems = password_problems(new_password, email=user.email, name=user.display_name)
    if problems:
        raise ValidationError(problems[0], fields={field: problems})


def change_password(user: User, current_password: str, new_password: str, *, keep_session_hash: str | None = None) -> None:
    """Change the password (needs the current one); every other session is signed out."""
    from accounts.auth import revoke_all_sessions

    if not verify_password(user.password_hash, current_password or ""):
        raise ValidationError(_("The current password is incorrect."), fields={"current_password": _("The current password is incorrect.")})
    _check_new_password(user, new_password)
    with unit_of_work():
        row = db.session.scalar(for_update(sa.select(User).where(User.id == user.id)))
        row.password_hash = hash_password(new_password)
        row.password_changed_at = clock.now()
        revoke_all_sessions(row, "password_changed", except_hash=keep_session_hash)
        record("auth.password_changed", "user", row.id, {})
    user.password_hash = row.password_hash


def change_email(user: User, password: str, new_email: str) -> None:
    """Change the login email (needs the current password); the old address is told."""
    new_email = normalize_email(new_email)
    if not verify_password(user.password_hash, password or ""):
        raise ValidationError(_("The current password is incorrect."), fields={"password": _("The current password is incorrect.")})
    if "@" not in new_email or len(new_email) > 254:
        raise ValidationError(_("Enter a valid email address."), fields={"email": _("Enter a valid email address.")})
    if new_email == user.email:
        return
    if get_user_by_email(new_email) is not None:
        raise ValidationError(_("This email address is already in use."), fields={"email": _("This email address is already in use.")})
    old = user.email
    with unit_of_work():
        row = db.session.scalar(for_update(sa.select(User).where(User.id == user.id)))
        row.email = new_email
        record("auth.email_changed", "user", row.id, {"old_domain": email_domain(old), "new_domain": email_domain(new_email)})
        send_email(
            old,
            _("Your Canal sign-in email was changed"),
            _("The sign-in email of your Canal account was changed to %(email)s. If this was not you, contact the platform administrator.", email=new_email),
        )
    user.email = new_email


# --------------------------------------------------------------------------- password reset


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode("utf-8")).hexdigest()[:16]


def make_reset_token(user: User) -> str:
    return _serializer().dumps([user.id, _fingerprint(user)])


def _user_for_reset_token(token: str) -> User:
    invalid = ValidationError(_("This reset link is invalid or has expired. Request a new one."), code="reset_token_invalid")
    max_age = int(current_app.config["PASSWORD_RESET_MAX_AGE"])
    try:
        # itsdangerous compares against time.time(); pass the app clock through max_age.
        user_id, fingerprint = _loads_with_clock(token, max_age)
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        raise invalid from None
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or fingerprint != _fingerprint(user):
        raise invalid
    return user


def _loads_with_clock(token: str, max_age: int):
    """Load the token checking its age against core.clock (so tests can move time)."""
    serializer = _serializer()
    value, issued = serializer.loads(token, return_timestamp=True)
    age = (clock.now() - clock.as_utc(issued)).total_seconds()
    if age > max_age or age < -60:
        raise SignatureExpired("expired")
    return value


def check_reset_token(token: str) -> User:
    return _user_for_reset_token(token)


def request_password_reset(email: str) -> None:
    """Email a reset link when the account exists; the caller always shows the same answer."""
    user = get_user_by_email(email)
    with unit_of_work():
        if user is None or not user.active:
            record("auth.reset_requested_unknown", "user", None, {"email_domain": email_domain(normalize_email(email))}, actor="system")
            return
        token = make_reset_token(user)
        link = url_for("accounts.reset_password", token=token, _external=True)
        minutes = int(current_app.config["PASSWORD_RESET_MAX_AGE"]) // 60
        send_email(
            user.email,
            _("Reset your Canal password"),
            _(
                "Someone asked to reset the password of your Canal account. To choose a new password, open this link within %(minutes)d minutes:\n\n%(link)s\n\nIf this was not you, ignore this email; your password stays unchanged.",
                minutes=minutes,
                link=link,
            ),
        )
        record("auth.reset_requested", "user", user.id, {}, actor="system")


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link: single use; every session is signed out."""
    from accounts.auth import revoke_all_sessions

    user = _user_for_reset_token(token)
    _check_new_password(user, new_password, field="password")
    with unit_of_work():
        row = db.session.scalar(for_update(sa.select(User).where(User.id == user.id)))
        if _fingerprint(row) != _fingerprint(user):  # used concurrently
            raise ValidationError(_("This reset link is invalid or has expired. Request a new one."), code="reset_token_invalid")
        row.password_hash = hash_password(new_password)
        row.password_changed_at = clock.now()
        row.failed_logins = 0
        row.locked_until = None
        revoke_all_sessions(row, "password_reset")
        record("auth.password_reset", "user", row.id, {}, actor="system")
    return row


# --------------------------------------------------------------------------- sessions


def list_sessions(user: User) -> list[UserSession]:
    now = clock.now()
    cfg = current_app.config
    rows = db.session.scalars(
        sa.select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.last_seen_at.desc())
    ).all()
    return [
        r
        for r in rows
        if now - clock.as_utc(r.last_seen_at) < cfg["SESSION_IDLE_TIMEOUT"]
        and now - clock.as_utc(r.created_at) < cfg["SESSION_ABSOLUTE_TIMEOUT"]
    ]


def revoke_session(user: User, session_id: int) -> None:
    with unit_of_work():
        row = db.session.get(UserSession, session_id)
        if row is None or row.user_id != user.id:
            raise NotFound()
        if row.revoked_at is None:
            row.revoked_at = clock.now()
            row.revoked_reason = "revoked_by_user"
            record("auth.session_revoked", "user", user.id, {"session": row.id})


def revoke_other_sessions(user: User, current_hash: str | None) -> int:
    from accounts.auth import revoke_all_sessions

    with unit_of_work():
        count = revoke_all_sessions(user, "signed_out_elsewhere", except_hash=current_hash)
        record("auth.other_sessions_revoked", "user", user.id, {"count": count})
    return count


def set_user_active(user: User, active: bool) -> None:
    """Enable or disable a user; disabling ends all their sessions at once."""
    from accounts.auth import revoke_all_sessions

    with unit_of_work():
        row = db.session.scalar(for_update(sa.select(User).where(User.id == user.id)))
        row.active = active
        if not active:
            revoke_all_sessions(row, "user_disabled")
        record("auth.user_enabled" if active else "auth.user_disabled", "user", row.id, {})
    user.active = active
