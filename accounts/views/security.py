"""accounts views: account security (password, email, 2FA, recovery codes, sessions, API tokens)."""

from __future__ import annotations

from datetime import datetime, time

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts import bp
from accounts.auth import current_session_hash, end_session
from accounts.forms.auth import (
    ChangeEmailForm,
    ChangePasswordForm,
    ConfirmForm,
    RecoveryCodesForm,
    TokenForm,
    TwoFactorDisableForm,
    TwoFactorSetupForm,
)
from accounts.models import Membership
from accounts.permissions import login_required
from accounts.services import auth as auth_service
from accounts.services import tokens as token_service
from accounts.services import twofactor
from core.clock import LOCAL_TZ
from core.errors import DomainError
from core.extensions import limiter
from core.forms import apply_errors

SETUP_SECRET_KEY = "totp_setup_secret"  # noqa: S105 - a session key name


def _user():
    return current_user._get_current_object()


def _security_page(**forms):
    user = _user()
    context = {
        "password_form": forms.get("password_form") or ChangePasswordForm(formdata=None),
        "email_form": forms.get("email_form") or ChangeEmailForm(formdata=None),
        "disable_form": forms.get("disable_form") or TwoFactorDisableForm(formdata=None),
        "codes_form": forms.get("codes_form") or RecoveryCodesForm(formdata=None),
        "confirm_form": ConfirmForm(formdata=None),
        "sessions": auth_service.list_sessions(user),
        "current_hash": current_session_hash(),
        "two_factor_required": twofactor.two_factor_required(user),
        "recovery_remaining": twofactor.remaining_recovery_codes(user) if user.two_factor_enabled else 0,
        "tokens_count": len([t for t in token_service.list_tokens(user) if token_service.token_status(t) == "active"]),
    }
    return render_template("accounts/security.html", title=_("Account security"), **context)


@bp.get("/security")
@login_required
def security():
    return _security_page()


@bp.post("/security/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if form.new_password.data != form.confirm.data:
            form.confirm.errors = list(form.confirm.errors) + [_("The two passwords differ.")]
        else:
            try:
                auth_service.change_password(
                    _user(), form.current_password.data, form.new_password.data, keep_session_hash=current_session_hash()
                )
            except DomainError as exc:
                apply_errors(form, exc, default_field="new_password")
            else:
                flash(_("Your password has been changed. Your other sessions were signed out."), "success")
                return redirect(url_for("accounts.security"), code=303)
    return _security_page(password_form=form), 422


@bp.post("/security/email")
@login_required
def change_email():
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            auth_service.change_email(_user(), form.password.data, form.email.data)
        except DomainError as exc:
            apply_errors(form, exc, default_field="email")
        else:
            flash(_("Your sign-in email has been changed."), "success")
            return redirect(url_for("accounts.security"), code=303)
    return _security_page(email_form=form), 422


@bp.route("/security/2fa/setup", methods=["GET", "POST"])
@login_required
def twofa_setup():
    user = _user()
    if user.two_factor_enabled:
        flash(_("Two-factor authentication is already on."), "info")
        return redirect(url_for("accounts.security"))
    secret, session[SETUP_SECRET_KEY] = twofactor.setup_secret(user, session.get(SETUP_SECRET_KEY))
    form = TwoFactorSetupForm()
    if form.validate_on_submit():
        try:
            codes = twofactor.enable_two_factor(user, secret, form.code.data)
        except DomainError as exc:
            form.code.errors = list(form.code.errors) + [exc.message]
        else:
            session.pop(SETUP_SECRET_KEY, None)
            flash(_("Two-factor authentication is on."), "success")
            return render_template("accounts/recovery_codes.html", codes=codes, title=_("Recovery codes"))
    uri = twofactor.provisioning_uri(user, secret)
    return render_template(
        "accounts/twofa_setup.html",
        form=form,
        secret=secret,
        qr=twofactor.qr_data_uri(uri),
        required=twofactor.two_factor_required(user),
        title=_("Set up two-factor authentication"),
    )


@bp.post("/security/2fa/disable")
@login_required
def twofa_disable():
    form = TwoFactorDisableForm()
    status = 422
    if form.validate_on_submit():
        try:
            twofactor.disable_two_factor(_user(), form.password.data, form.code.data)
        except DomainError as exc:
            apply_errors(form, exc, default_field="code")
            status = exc.status
        else:
            flash(_("Two-factor authentication is off."), "warning")
            return redirect(url_for("accounts.security"), code=303)
    return _security_page(disable_form=form), status


@bp.post("/security/recovery-codes")
@login_required
def recovery_codes():
    form = RecoveryCodesForm()
    if form.validate_on_submit():
        try:
            codes = twofactor.regenerate_recovery_codes(_user(), form.password.data)
        except DomainError as exc:
            apply_errors(form, exc, default_field="password")
        else:
            return render_template("accounts/recovery_codes.html", codes=codes, title=_("Recovery codes"))
    return _security_page(codes_form=form), 422


@bp.post("/security/sessions/<int:session_id>/revoke")
@login_required
def revoke_session(session_id: int):
    auth_service.revoke_session(_user(), session_id)
    flash(_("The session has been signed out."), "success")
    return redirect(url_for("accounts.security"), code=303)


@bp.post("/security/sessions/revoke-others")
@login_required
def revoke_other_sessions():
    count = auth_service.revoke_other_sessions(_user(), current_session_hash())
    flash(_("%(n)d other sessions were signed out.", n=count), "success")
    return redirect(url_for("accounts.security"), code=303)


@bp.post("/security/sessions/revoke-all")
@login_required
def revoke_all_sessions():
    user = _user()
    auth_service.revoke_other_sessions(user, None)
    end_session("signed_out_everywhere")
    flash(_("You have been signed out everywhere."), "info")
    return redirect(url_for("accounts.login"), code=303)


# --------------------------------------------------------------------------- API tokens


def _token_limit() -> str:
    return current_app.config["TOKEN_RATE_LIMIT"]


def _token_form(user, blank: bool = False) -> TokenForm:
    form = TokenForm(formdata=None) if blank else TokenForm()
    memberships = [m for m in user.memberships if m.active]
    form.org_id.choices = [(m.org_id, _org_label(m)) for m in memberships]
    if (blank or request.method == "GET") and user.current_org_id:
        form.org_id.data = user.current_org_id
    return form


def _org_label(m: Membership) -> str:
    from core.i18n import localized

    return localized(m.organization, "name")


def _tokens_page(form, new_token: str | None = None, status: int = 200):
    user = _user()
    rows = token_service.list_tokens(user)
    return (
        render_template(
            "accounts/tokens.html",
            form=form,
            tokens=[(t, token_service.token_status(t)) for t in rows],
            new_token=new_token,
            confirm_form=ConfirmForm(formdata=None),
            two_factor_missing=twofactor.needs_two_factor_setup(user),
            title=_("API tokens"),
        ),
        status,
    )


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
@limiter.limit(_token_limit, methods=["POST"])
def tokens():
    user = _user()
    form = _token_form(user)
    if request.method == "POST":
        if form.validate_on_submit():
            expires = None
            if form.expires_on.data:
                expires = datetime.combine(form.expires_on.data, time(23, 59, 59), tzinfo=LOCAL_TZ)
            try:
                _token, raw = token_service.create_token(user, form.org_id.data, form.name.data, expires)
            except DomainError as exc:
                apply_errors(form, exc, default_field="name")
                return _tokens_page(form, status=exc.status)
            flash(_("Copy the token now. It will not be shown again."), "warning")
            return _tokens_page(_token_form(user, blank=True), new_token=raw)
        return _tokens_page(form, status=422)
    return _tokens_page(form)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    token_service.revoke_token(_user(), token_id)
    flash(_("The token has been revoked."), "success")
    return redirect(url_for("accounts.tokens"), code=303)
