"""Forms of the working-day calendar page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

HOLIDAY = "holiday"
MAKEUP = "makeup"


class CalendarDayForm(FlaskForm):
    day = DateField(_l("Date"), validators=[InputRequired()])
    kind = RadioField(
        _l("Kind"),
        choices=[
            SelectChoice(HOLIDAY, _l("Public holiday (no work)")),
            SelectChoice(MAKEUP, _l("Make-up working day (调休)")),
        ],
        default=HOLIDAY,
        validators=[InputRequired()],
    )
    name_zh = StringField(_l("Name (Chinese)"), validators=[Optional(), Length(max=100)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=100)])


class DeleteDayForm(FlaskForm):
    """CSRF only."""
