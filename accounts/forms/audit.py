"""Forms of the audit log page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional


class AuditFilterForm(FlaskForm):
    """GET filters (no CSRF: they change nothing)."""

    class Meta:
        csrf = False

    action = StringField(_l("Action"), validators=[Optional(), Length(max=100)],
                         description=_l("An action or its beginning, e.g. org."))
    obj_type = SelectField(_l("Object type"), choices=[], validate_choice=False, validators=[Optional()])
    obj_id = StringField(_l("Object ID"), validators=[Optional(), Length(max=100)])
    actor = StringField(_l("Actor"), validators=[Optional(), Length(max=255)],
                        description=_l("Email or system source"))
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])


class VerifyChainForm(FlaskForm):
    """The "verify now" button (POST, CSRF-protected)."""
