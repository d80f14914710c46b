"""Forms of sign-in, password reset, account security, 2FA and API tokens."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, HiddenField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from accounts.passwords import MAX_LENGTH

_PW = [DataRequired(), Length(max=MAX_LENGTH)]
#: A plain shape check (the address is proven by the mail it receives).
_EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter a valid email address."))


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=_PW)
    next = HiddenField()
    submit = SubmitField(_l("Sign in"))


class TwoFactorLoginForm(FlaskForm):
    code = StringField(
        _l("Authentication code"),
        validators=[DataRequired(), Length(max=20)],
        description=_l("The 6-digit code from your authenticator app, or one of your recovery codes."),
        render_kw={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True},
    )
    submit = SubmitField(_l("Verify"))


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), _EMAIL, Length(max=254)])
    submit = SubmitField(_l("Send reset link"))


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=_PW,
        description=_l("At least 8 characters. A long passphrase is best."),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(_l("Repeat the new password"), validators=_PW, render_kw={"autocomplete": "new-password"})
    submit = SubmitField(_l("Set new password"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=_PW, render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(
        _l("New password"),
        validators=_PW,
        description=_l("At least 8 characters. A long passphrase is best."),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(_l("Repeat the new password"), validators=_PW, render_kw={"autocomplete": "new-password"})
    submit = SubmitField(_l("Change password"))


class ChangeEmailForm(FlaskForm):
    email = EmailField(_l("New email"), validators=[DataRequired(), _EMAIL, Length(max=254)])
    password = PasswordField(_l("Current password"), validators=_PW, render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Change email"))


class TwoFactorSetupForm(FlaskForm):
    code = StringField(
        _l("Code from the app"),
        validators=[DataRequired(), Length(min=6, max=8)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField(_l("Turn on two-factor authentication"))


class TwoFactorDisableForm(FlaskForm):
    password = PasswordField(_l("Current password"), validators=_PW, render_kw={"autocomplete": "current-password"})
    code = StringField(_l("Code from the app"), validators=[DataRequired(), Length(max=8)], render_kw={"autocomplete": "one-time-code"})
    submit = SubmitField(_l("Turn off two-factor authentication"))


class RecoveryCodesForm(FlaskForm):
    password = PasswordField(_l("Current password"), validators=_PW, render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Generate new recovery codes"))


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)], description=_l("What the token is for, e.g. 'ERP integration'."))
    org_id = SelectField(_l("Organization"), coerce=int, validators=[DataRequired()])
    expires_on = DateField(_l("Expires on"), validators=[Optional()], description=_l("Leave empty for no expiry."))
    submit = SubmitField(_l("Create token"))


class ConfirmForm(FlaskForm):
    """A bare form (CSRF token only) for POST buttons such as revoke or sign out."""

    submit = SubmitField(_l("Confirm"))
