"""accounts views: sign in (password, then TOTP), sign out, password reset."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts import bp
from accounts.auth import end_session, start_session
from accounts.forms.auth import LoginForm, ResetPasswordForm, ResetRequestForm, TwoFactorLoginForm
from accounts.services import auth as auth_service
from accounts.services import twofactor
from core import clock
from core.db import db
from core.errors import DomainError
from core.extensions import limiter

PENDING_KEY = "pending_2fa"


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _reset_limit() -> str:
    return current_app.config["RESET_RATE_LIMIT"]


def safe_next(target: str | None) -> str | None:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target:
        return None
    target = target.strip()
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def _after_login_target(next_url: str | None) -> str:
    return safe_next(next_url) or url_for("accounts.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_after_login_target(request.args.get("next")))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            result = auth_service.authenticate(form.email.data, form.password.data)
        except DomainError as exc:
            form.password.errors = list(form.password.errors) + [exc.message]
            return render_template("accounts/login.html", form=form, title=_("Sign in")), 200
        if result.needs_second_factor:
            kept_lang = session.get("lang")
            session.clear()  # nothing of the anonymous session survives
            if kept_lang:
                session["lang"] = kept_lang
            session[PENDING_KEY] = {
                "uid": result.user.id,
                "exp": int(clock.now().timestamp()) + int(current_app.config["TWO_FACTOR_PENDING_SECONDS"]),
                "next": safe_next(form.next.data) or "",
            }
            return redirect(url_for("accounts.login_2fa"), code=303)
        auth_service.complete_login(result.user)
        start_session(result.user)
        return redirect(_after_login_target(form.next.data), code=303)
    return render_template("accounts/login.html", form=form, title=_("Sign in"))


def _pending_user_id() -> int | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    if int(pending.get("exp", 0)) < int(clock.now().timestamp()):
        session.pop(PENDING_KEY, None)
        return None
    uid = pending.get("uid")
    return uid if isinstance(uid, int) else None


@bp.route("/login/2fa", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_2fa():
    uid = _pending_user_id()
    if uid is None:
        flash(_("Please sign in again."), "warning")
        return redirect(url_for("accounts.login"))
    form = TwoFactorLoginForm()
    if form.validate_on_submit():
        try:
            user = twofactor.verify_second_factor(uid, form.code.data)
        except DomainError as exc:
            form.code.errors = list(form.code.errors) + [exc.message]
            return render_template("accounts/login_2fa.html", form=form, title=_("Two-factor authentication"))
        next_url = (session.get(PENDING_KEY) or {}).get("next")
        auth_service.complete_login(user)
        start_session(user)  # clears the pending marker with the rest of the session
        remaining = twofactor.remaining_recovery_codes(user)
        if remaining <= 3:
            flash(_("You have %(n)d recovery codes left. Generate new ones on the security page.", n=remaining), "warning")
        return redirect(_after_login_target(next_url), code=303)
    return render_template("accounts/login_2fa.html", form=form, title=_("Two-factor authentication"))


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        auth_service.record_logout(user)
    end_session("logout")
    flash(_("You have signed out."), "info")
    return redirect(url_for("accounts.login"), code=303)


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        auth_service.request_password_reset(form.email.data)
        flash(
            _("If an account exists for that address, we have sent it a link to reset the password."),
            "info",
        )
        return redirect(url_for("accounts.login"), code=303)
    return render_template("accounts/reset_request.html", form=form, title=_("Reset password"))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def reset_password(token: str):
    try:
        auth_service.check_reset_token(token)
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("accounts.reset_request"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        if form.password.data != form.confirm.data:
            form.confirm.errors = list(form.confirm.errors) + [_("The two passwords differ.")]
        else:
            try:
                auth_service.reset_password(token, form.password.data)
            except DomainError as exc:
                form.password.errors = list(form.password.errors) + list(exc.fields.get("password") or [exc.message])
            else:
                if current_user.is_authenticated:
                    end_session("password_reset")
                db.session.expire_all()
                flash(_("Your password has been changed. Please sign in."), "success")
                return redirect(url_for("accounts.login"), code=303)
    return render_template("accounts/reset.html", form=form, title=_("Choose a new password"))
