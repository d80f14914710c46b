"""Forms of organizations, registration, members and platform administration."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import (
    DateField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Email, EqualTo, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from accounts.states import (
    CREDIT_LABELS,
    KIND_LABELS,
    ROLE_LABELS,
    SIZE_LABELS,
    VERIFICATION_LABELS,
    CreditStatus,
    OrgKind,
    SizeClass,
    Verification,
)
from accounts.uscc import normalize, uscc_problem

LICENCE_EXTENSIONS = ["pdf", "png", "jpg", "jpeg"]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def size_choices():
    return [(s.value, SIZE_LABELS[s]) for s in SizeClass]


def locale_choices():
    return [("zh_Hans_CN", "中文"), ("en", "English")]


def _uscc_check(form, field) -> None:
    field.data = normalize(field.data or "")
    problem = uscc_problem(field.data)
    if problem:
        from flask_babel import gettext

        raise ValidationError(gettext(problem))


class RegisterOrganizationForm(FlaskForm):
    name_zh = StringField(_l("Legal name (Chinese)"), validators=[InputRequired(), Length(max=200)])
    name_en = StringField(_l("Legal name (English)"), validators=[Optional(), Length(max=200)])
    uscc = StringField(
        _l("Unified social credit code"),
        validators=[InputRequired(), _uscc_check],
        description=_l("18 characters, as printed on the business licence (统一社会信用代码)."),
    )
    kinds = MultiCheckboxField(_l("What will you do on Canal?"), validators=[InputRequired()])
    size_class = SelectField(_l("Size class"), choices=size_choices, default=SizeClass.SMALL.value)
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=40)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    licence = FileField(
        _l("Business licence (PDF, PNG or JPG)"),
        validators=[FileAllowed(LICENCE_EXTENSIONS, _l("Upload a PDF, PNG or JPG file."))],
        description=_l("Optional now; required before a platform administrator can verify your organization."),
    )
    email = EmailField(_l("Your email"), validators=[InputRequired(), Email(), Length(max=254)])
    display_name = StringField(_l("Your name"), validators=[InputRequired(), Length(max=100)])
    password = PasswordField(_l("Password"), validators=[InputRequired()])
    password2 = PasswordField(
        _l("Repeat the password"),
        validators=[InputRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )
    locale = SelectField(_l("Language"), choices=locale_choices, default="zh_Hans_CN")
    submit = SubmitField(_l("Register"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from accounts.services.organizations import SELF_REGISTER_KINDS

        self.kinds.choices = [(k.value, KIND_LABELS[k]) for k in SELF_REGISTER_KINDS]


class InvitationSignupForm(FlaskForm):
    display_name = StringField(_l("Your name"), validators=[InputRequired(), Length(max=100)])
    password = PasswordField(_l("Password"), validators=[InputRequired()])
    password2 = PasswordField(
        _l("Repeat the password"),
        validators=[InputRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )
    locale = SelectField(_l("Language"), choices=locale_choices, default="zh_Hans_CN")
    submit = SubmitField(_l("Create my account and join"))


class AcceptInvitationForm(FlaskForm):
    submit = SubmitField(_l("Accept with my current account"))


class OrganizationProfileForm(FlaskForm):
    name_zh = StringField(_l("Legal name (Chinese)"), validators=[InputRequired(), Length(max=200)])
    name_en = StringField(_l("Legal name (English)"), validators=[Optional(), Length(max=200)])
    size_class = SelectField(_l("Size class"), choices=size_choices)
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=40)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    bank_name = StringField(_l("Bank name"), validators=[Optional(), Length(max=200)])
    bank_account_name = StringField(_l("Account name"), validators=[Optional(), Length(max=200)])
    bank_account_number = StringField(_l("Account number"), validators=[Optional(), Length(max=64)])
    invoice_title = StringField(_l("Invoice title"), validators=[Optional(), Length(max=200)])
    tax_number = StringField(
        _l("Taxpayer number"),
        validators=[Optional(), Length(max=32)],
        description=_l(
            "For enterprises this is the unified social credit code (18 characters, checked). "
            "Older 15-, 18- or 20-character tax registration numbers are also accepted."
        ),
    )
    submit = SubmitField(_l("Save"))


class LicenceForm(FlaskForm):
    licence = FileField(
        _l("Business licence (PDF, PNG or JPG)"),
        validators=[InputRequired(), FileAllowed(LICENCE_EXTENSIONS, _l("Upload a PDF, PNG or JPG file."))],
    )
    submit = SubmitField(_l("Upload"))


class ConfirmForm(FlaskForm):
    """A POST with only the CSRF token (request verification, revoke, deactivate)."""

    submit = SubmitField(_l("Confirm"))


class InviteForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(), Email(), Length(max=254)])
    roles = MultiCheckboxField(_l("Roles"), validators=[InputRequired()])
    submit = SubmitField(_l("Send invitation"))


class RolesForm(FlaskForm):
    roles = MultiCheckboxField(_l("Roles"), validators=[InputRequired()])
    submit = SubmitField(_l("Save roles"))


def role_choices(roles) -> list[tuple[str, str]]:
    return [(r.value, ROLE_LABELS[r]) for r in roles]


class OrgFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(
        _l("Verification"),
        choices=lambda: [("", _l("Any"))] + [(v.value, VERIFICATION_LABELS[v]) for v in Verification],
        validators=[Optional()],
        default="",
    )
    kind = SelectField(
        _l("Kind"),
        choices=lambda: [("", _l("Any"))] + [(k.value, KIND_LABELS[k]) for k in OrgKind],
        validators=[Optional()],
        default="",
    )
    q = StringField(_l("Name or code"), validators=[Optional(), Length(max=100)])


class VerifyForm(FlaskForm):
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Verify"))


class RejectForm(FlaskForm):
    note = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=2000)])
    submit = SubmitField(_l("Reject"))


class CreditForm(FlaskForm):
    status = SelectField(
        _l("Credit status"), choices=lambda: [(c.value, CREDIT_LABELS[c]) for c in CreditStatus]
    )
    until = DateField(_l("Debarred until (inclusive)"), validators=[Optional()])
    reason = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=2000)])
    submit = SubmitField(_l("Set credit status"))
