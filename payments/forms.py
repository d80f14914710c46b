"""Forms of the payment page and of the finance bank-transfer pages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

SLIP_EXTENSIONS = ("pdf", "png", "jpg", "jpeg")


def parse_yuan(text: str | None) -> int | None:
    """'1,234.5' -> 123450 fen; None for blank; ValueError for anything else, a currency sign
    or commas alone included (no float)."""
    stripped = (text or "").strip()
    if not stripped:
        return None
    raw = stripped.replace(",", "").replace("¥", "").replace("￥", "")
    if not raw:
        raise ValueError(text)
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError(raw) from exc
    if not value.is_finite() or value.as_tuple().exponent < -2:
        raise ValueError(raw)
    return int(value * 100)


class AmountField(StringField):
    """An amount typed in yuan (two decimals at most); `.fen` holds the integer fen value.
    More than zero, or (`allow_zero`) not negative."""

    fen: int | None = None
    allow_zero = False

    def pre_validate(self, form) -> None:
        try:
            self.fen = parse_yuan(self.data)
        except ValueError:
            self.fen = None
            raise ValidationError(_l("Enter an amount in yuan, e.g. 1200.50.")) from None
        if self.fen is None:
            return
        if self.allow_zero and self.fen < 0:
            raise ValidationError(_l("The amount cannot be negative."))
        if not self.allow_zero and self.fen <= 0:
            raise ValidationError(_l("The amount must be more than zero."))


class PayForm(FlaskForm):
    """Choose a provider and pay (the choices are set per payment by the view)."""

    provider = RadioField(_l("How do you want to pay?"), validators=[InputRequired()], choices=[])
    card_number = StringField(
        _l("Test card number"),
        validators=[Optional(), Length(max=30)],
        description=_l("Test mode only: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined."),
    )
    submit = SubmitField(_l("Pay"))

    def validate_card_number(self, field) -> None:
        if self.provider.data and self.provider.data != "bank_transfer":
            digits = (field.data or "").replace(" ", "").replace("-", "")
            if digits and not digits.isdigit():
                raise ValidationError(_l("A card number has digits only."))


class ConfirmTransferForm(FlaskForm):
    """Finance: the money arrived (bank slip + the amount actually received)."""

    payment_id = HiddenField()
    amount_received = AmountField(_l("Amount received (yuan)"), validators=[InputRequired()])
    slip = FileField(_l("Bank slip (PDF, PNG or JPG)"))
    note = TextAreaField(
        _l("Note"),
        validators=[Optional(), Length(max=500)],
        description=_l("Required when the amount received differs from the amount due."),
    )
    submit = SubmitField(_l("Confirm receipt"))


class RejectTransferForm(FlaskForm):
    payment_id = HiddenField()
    reason = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=500)])
    submit = SubmitField(_l("Reject"))


class TransferSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Reference code"), validators=[Optional(), Length(max=40)])
    amount = AmountField(_l("Amount (yuan)"), validators=[Optional()])
