"""Flask-Login wiring: server-side sessions behind the signed cookie, and API tokens.

Cookie sessions: the signed session cookie carries a random `sid`; the database keeps
`UserSession(sid_hash=SHA-256(sid))`. A cookie is honoured only while its row exists,
is not revoked, belongs to an active user, has been idle less than
SESSION_IDLE_TIMEOUT and is younger than SESSION_ABSOLUTE_TIMEOUT. So logout, a
password reset and disabling a user end sessions server-side, and a copied cookie
stops working with them.

API tokens: a request carrying `Authorization: Bearer ...` is authenticated by that
token ONLY; the cookie is ignored (core.security's CSRF rule relies on this). The
token's organization becomes the current organization (`g.token_org_id`).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, g, jsonify, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from sqlalchemy.orm import contains_eager

from accounts.models import ApiToken, Membership, Organization, User, UserSession
from core import clock
from core.db import db, unit_of_work
from core.errors import wants_json
from core.extensions import login_manager
from core.security import bearer_token

SID_KEY = "sid"
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
#: Session keys kept across the rotation at login (user preferences, not identity).
KEPT_SESSION_KEYS = ("lang",)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- sessions


def start_session(user: User) -> None:
    """Log `user` in with a NEW session (rotation: nothing of the old cookie survives)."""
    kept = {k: session[k] for k in KEPT_SESSION_KEYS if k in session}
    session.clear()
    session.update(kept)
    sid = secrets.token_urlsafe(32)
    with unit_of_work():
        db.session.add(
            UserSession(
                sid_hash=sha256_hex(sid),
                user_id=user.id,
                created_at=clock.now(),
                last_seen_at=clock.now(),
                ip=(request.remote_addr or "")[:64],
                user_agent=(request.user_agent.string or "")[:255],
            )
        )
    session[SID_KEY] = sid
    session.permanent = True
    login_user(user, remember=False)
    g.user_session_hash = sha256_hex(sid)


def current_session_hash() -> str | None:
    sid = session.get(SID_KEY)
    return sha256_hex(sid) if sid else None


def end_session(reason: str = "logout") -> None:
    """Revoke the current server-side session, log out and clear the cookie."""
    sid_hash = current_session_hash()
    if sid_hash:
        with unit_of_work():
            db.session.execute(
                sa.update(UserSession)
                .where(UserSession.sid_hash == sid_hash, UserSession.revoked_at.is_(None))
                .values(revoked_at=clock.now(), revoked_reason=reason[:40])
            )
    logout_user()
    kept = {k: session[k] for k in KEPT_SESSION_KEYS if k in session}
    session.clear()
    session.update(kept)


def revoke_all_sessions(user: User | int, reason: str, *, except_hash: str | None = None) -> int:
    """Revoke every live session of `user` (joins the caller's unit of work). Returns the count."""
    user_id = user if isinstance(user, int) else user.id
    stmt = sa.update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if except_hash:
        stmt = stmt.where(UserSession.sid_hash != except_hash)
    with unit_of_work():
        result = db.session.execute(stmt.values(revoked_at=clock.now(), revoked_reason=reason[:40]))
    return result.rowcount or 0


def _session_expired(row: UserSession) -> str | None:
    now = clock.now()
    cfg = current_app.config
    if now - clock.as_utc(row.last_seen_at) >= cfg["SESSION_IDLE_TIMEOUT"]:
        return "idle_timeout"
    if now - clock.as_utc(row.created_at) >= cfg["SESSION_ABSOLUTE_TIMEOUT"]:
        return "absolute_timeout"
    return None


@login_manager.user_loader
def load_user_from_session(user_id: str) -> User | None:
    if bearer_token(request) is not None:
        return None  # a bearer request is authenticated by its token alone
    sid = session.get(SID_KEY)
    if not sid:
        return None
    row = db.session.scalar(sa.select(UserSession).where(UserSession.sid_hash == sha256_hex(sid)))
    if row is None or row.revoked_at is not None or str(row.user_id) != str(user_id):
        return None
    expired = _session_expired(row)
    if expired:
        with unit_of_work():
            db.session.execute(
                sa.update(UserSession)
                .where(UserSession.id == row.id, UserSession.revoked_at.is_(None))
                .values(revoked_at=clock.now(), revoked_reason=expired)
            )
        session.pop(SID_KEY, None)
        g.session_expired = True
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    now = clock.now()
    if now - clock.as_utc(row.last_seen_at) >= LAST_SEEN_RESOLUTION:
        with unit_of_work():
            db.session.execute(
                sa.update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now)
            )
    g.user_session_hash = row.sid_hash
    return user


# --------------------------------------------------------------------------- API tokens


@functools.cache
def _token_query() -> sa.Select:
    """The token, its user and the user's memberships with their organizations, by token
    hash: built once (every API request runs it; a statement object reused keeps its
    SQLAlchemy cache key instead of rebuilding the select and its eager-load options)."""
    return (
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(Membership, Membership.user_id == User.id)
        .outerjoin(Organization, Organization.id == Membership.org_id)
        .options(contains_eager(User.memberships).contains_eager(Membership.organization))
        .where(ApiToken.token_hash == sa.bindparam("token_hash"))
    )


@login_manager.request_loader
def load_user_from_token(req) -> User | None:
    raw = bearer_token(req)
    if raw is None:
        return None
    # One statement: the token, its user and the user's memberships with their
    # organizations (the API request's current membership and organization come from it,
    # so no lazy load follows).
    row = db.session.execute(_token_query(), {"token_hash": sha256_hex(raw)}).unique().first()
    if row is None:
        return None
    token, user = row
    now = clock.now()
    if token.revoked_at is not None:
        return None
    if token.expires_at is not None and clock.as_utc(token.expires_at) <= now:
        return None
    if not user.active:
        return None
    membership = next((m for m in user.memberships if m.org_id == token.org_id and m.active), None)
    if membership is None:
        return None
    from accounts.services.twofactor import needs_two_factor_setup

    if needs_two_factor_setup(user):
        return None  # tokens stop working until a required second factor is set up
    g.token_org_id = token.org_id
    g.api_token_id = token.id
    g.current_membership = membership
    if token.last_used_at is None or now - clock.as_utc(token.last_used_at) >= LAST_SEEN_RESOLUTION:
        with unit_of_work():
            db.session.execute(sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    return user


def authenticated_by_token() -> bool:
    return g.get("api_token_id") is not None


# --------------------------------------------------------------------------- unauthorized


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json() or bearer_token(request) is not None:
        body = {"error": {"code": "unauthorized", "message": str(_l("Authentication required.")), "fields": {}}}
        return jsonify(body), 401
    return redirect(url_for("accounts.login", next=request.full_path if request.query_string else request.path))


def _actor():
    """Actor provider for core.audit: the logged-in user and current organization."""
    try:
        user = current_user._get_current_object()  # type: ignore[attr-defined]
    except Exception:
        return None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    from accounts.permissions import current_org
    from core import audit

    org = current_org()
    return audit.user_actor(user.id, org.id if org else None, user.email)


#: Endpoints a user who must set up 2FA may still reach.
TWO_FACTOR_SETUP_ALLOWED = frozenset(
    {"accounts.twofa_setup", "accounts.logout", "accounts.login", "accounts.login_2fa", "core.set_language", "static"}
)


def enforce_two_factor():
    """A user holding a 2FA role without 2FA reaches only the set-up page (and logout)."""
    endpoint = request.endpoint or ""
    if endpoint in TWO_FACTOR_SETUP_ALLOWED or endpoint.endswith(".static") or not endpoint:
        return None
    if not current_user.is_authenticated or authenticated_by_token():
        return None
    from accounts.services.twofactor import needs_two_factor_setup

    if "needs_2fa_setup" not in g:
        g.needs_2fa_setup = needs_two_factor_setup(current_user._get_current_object())
    if not g.needs_2fa_setup:
        return None
    if wants_json():
        body = {
            "error": {
                "code": "two_factor_required",
                "message": str(_l("Set up two-factor authentication to continue.")),
                "fields": {},
            }
        }
        return jsonify(body), 403
    return redirect(url_for("accounts.twofa_setup"))


#: Per-request authentication state kept in `g`.
_AUTH_G_KEYS = (
    "_login_user", "token_org_id", "api_token_id", "current_membership",
    "needs_2fa_setup", "user_session_hash", "session_expired",
)


def reset_request_auth_state() -> None:
    """Forget the previous request's identity held in `g`.

    In production every request has a fresh app context (so a fresh `g`); the test
    suite keeps one app context pushed around many requests, so without this a user
    loaded by one request would be seen by the next.
    """
    for key in _AUTH_G_KEYS:
        g.pop(key, None)


def init_auth(app) -> None:
    login_manager.session_protection = None  # the server-side session does this job
    login_manager.login_view = "accounts.login"
    app.before_request_funcs.setdefault(None, []).insert(0, reset_request_auth_state)
    app.before_request(enforce_two_factor)
    from core import audit

    audit.set_actor_provider(_actor)
