"""Forms of the procurement pages owned by the tender pages: search, the officer's tender
form (with lot and criterion rows), cancellation, procedure type settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from core.clock import LOCAL_TZ
from core.forms import FilterSelectField, LongSelect
from core.i18n import current_language, localized
from payments.forms import AmountField
from procurement.states import (
    CATEGORY_LABELS,
    CRITERION_KIND_LABELS,
    EVALUATION_METHOD_LABELS,
    METHOD_LABELS,
    PUBLIC_STATUSES,
    TENDER_STATUS_LABELS,
)

#: Tender document types an officer may upload.
DOCUMENT_TYPES = frozenset({"pdf", "docx", "xlsx", "zip", "txt"})
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(k.value, v) for k, v in labels.items()]


def to_utc(local_naive: datetime | None) -> datetime | None:
    """A datetime-local value (Beijing time) as an aware UTC datetime."""
    if local_naive is None:
        return None
    return local_naive.replace(tzinfo=LOCAL_TZ).astimezone(UTC)


def to_local_naive(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ).replace(tzinfo=None, second=0, microsecond=0)


def fen_to_yuan_text(fen: int | None) -> str:
    """123450 -> '1234.50' (integer arithmetic, no float)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


class YuanField(AmountField):
    """An amount typed in yuan (at most two decimals, zero allowed); `.fen` is integer fen."""

    allow_zero = True


# --------------------------------------------------------------------------- public search


class SearchForm(FlaskForm):
    """The public tender search (GET, no CSRF)."""

    class Meta:
        csrf = False

    q = SearchField(_l("Keyword"), validators=[Optional(), Length(max=200)],
                    description=_l("Chinese or English words of the title, description, buyer or category code."))
    status = FilterSelectField(_l("Status"), validators=[Optional()], choices=[], widget=LongSelect())
    method = FilterSelectField(_l("Procurement method"), validators=[Optional()], choices=[], widget=LongSelect())
    category = FilterSelectField(_l("Category"), validators=[Optional()], choices=[], widget=LongSelect())
    category_code = StringField(_l("Category code"), validators=[Optional(), Length(max=40)])
    buyer = FilterSelectField(_l("Buyer"), validators=[Optional()], choices=[], widget=LongSelect())
    budget_min = YuanField(_l("Budget from (yuan)"), validators=[Optional()])
    budget_max = YuanField(_l("Budget to (yuan)"), validators=[Optional()])
    deadline_from = DateField(_l("Deadline from"), validators=[Optional()])
    deadline_to = DateField(_l("Deadline to"), validators=[Optional()])
    sort = FilterSelectField(_l("Sort by"), validators=[Optional()], choices=[], widget=LongSelect())

    def set_choices(self, buyers: list) -> None:
        """The selects' options: the same list objects on every request (LongSelect writes
        their markup once per language); the buyers by their name in the page's language
        (the other when it has none), one list per language while `buyers` is the same
        list (queries.buyer_orgs keeps it for a minute)."""
        self.status.choices = _STATUS_CHOICES
        self.method.choices = _METHOD_CHOICES
        self.category.choices = _CATEGORY_CHOICES
        self.sort.choices = _SORT_CHOICES
        language = current_language()
        cached = _buyer_choices.get(language)
        if cached is None or cached[0] is not buyers:
            cached = (buyers, [_ANY] + [SelectChoice(str(o.id), localized(o, "name", language)) for o in buyers])
            _buyer_choices[language] = cached
        self.buyer.choices = cached[1]


_ANY = SelectChoice("", _l("Any"))
_STATUS_CHOICES = [_ANY] + [SelectChoice(s.value, TENDER_STATUS_LABELS[s]) for s in PUBLIC_STATUSES]
_METHOD_CHOICES = [_ANY] + _choices(METHOD_LABELS)
_CATEGORY_CHOICES = [_ANY] + _choices(CATEGORY_LABELS)
_SORT_CHOICES = [SelectChoice("newest", _l("Newest first")), SelectChoice("deadline", _l("Deadline soonest"))]
#: language -> (the buyers list they were made from, the choices)
_buyer_choices: dict[str, tuple[list, list[SelectChoice]]] = {}


# --------------------------------------------------------------------------- officer: tender form


class LotRowForm(Form):
    title_zh = StringField(_l("Lot title (Chinese)"), validators=[Optional(), Length(max=300)])
    title_en = StringField(_l("Lot title (English)"), validators=[Optional(), Length(max=300)])
    budget = YuanField(_l("Lot budget (yuan)"), validators=[Optional()])
    bond_amount = YuanField(_l("Bid bond (yuan)"), validators=[Optional()])
    quantity = IntegerField(_l("Quantity"), validators=[Optional(), NumberRange(min=1, max=10_000_000)])
    unit = StringField(_l("Unit"), validators=[Optional(), Length(max=40)])
    delivery_terms = StringField(_l("Delivery terms"), validators=[Optional(), Length(max=2000)])

    def is_blank(self) -> bool:
        return not any((getattr(self, name).data or "").strip()
                       for name in ("title_zh", "title_en", "budget", "bond_amount"))

    def values(self) -> dict[str, Any]:
        return dict(
            title_zh=(self.title_zh.data or "").strip(), title_en=(self.title_en.data or "").strip(),
            budget=self.budget.fen or 0, bond_amount=self.bond_amount.fen or 0,
            quantity=self.quantity.data or 1, unit=(self.unit.data or "").strip(),
            delivery_terms=(self.delivery_terms.data or "").strip(),
        )


class CriterionRowForm(Form):
    name_zh = StringField(_l("Criterion (Chinese)"), validators=[Optional(), Length(max=200)])
    name_en = StringField(_l("Criterion (English)"), validators=[Optional(), Length(max=200)])
    kind = SelectField(_l("Kind"), choices=_choices(CRITERION_KIND_LABELS), validators=[Optional()])
    weight = IntegerField(_l("Weight (%)"), validators=[Optional(), NumberRange(min=0, max=100)])

    def is_blank(self) -> bool:
        return not ((self.name_zh.data or "").strip() or (self.name_en.data or "").strip()
                    or self.weight.data is not None)

    def values(self) -> dict[str, Any]:
        return dict(name_zh=(self.name_zh.data or "").strip(), name_en=(self.name_en.data or "").strip(),
                    kind=self.kind.data or "technical", weight=self.weight.data or 0)


class TenderForm(FlaskForm):
    title_zh = StringField(_l("Title (Chinese)"), validators=[InputRequired(), Length(max=300)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=300)])
    description_zh = TextAreaField(_l("Description (Chinese)"), validators=[Optional(), Length(max=20000)])
    description_en = TextAreaField(_l("Description (English)"), validators=[Optional(), Length(max=20000)])
    category = SelectField(_l("Category"), choices=_choices(CATEGORY_LABELS), validators=[InputRequired()])
    category_code = StringField(_l("Category code"), validators=[Optional(), Length(max=40)],
                                description=_l("Government procurement catalogue code, e.g. A0201."))
    budget = YuanField(_l("Budget (yuan)"), validators=[InputRequired()])
    method = SelectField(_l("Procurement method"), choices=[], validators=[InputRequired()])
    enquiry_end = DateTimeLocalField(_l("End of the enquiry period"), format=DATETIME_FORMAT,
                                     validators=[Optional()], description=_l("Beijing time. Leave empty for none."))
    submission_deadline = DateTimeLocalField(_l("Submission deadline"), format=DATETIME_FORMAT,
                                             validators=[Optional()], description=_l("Beijing time."))
    opening_time = DateTimeLocalField(_l("Opening time"), format=DATETIME_FORMAT, validators=[Optional()],
                                      description=_l("Beijing time."))
    custodians = SelectMultipleField(_l("Key custodians"), coerce=int, choices=[], validators=[Optional()],
                                     description=_l("Members of your organization with the key custodian role."))
    custodian_threshold = IntegerField(_l("Shares needed to open (k)"), default=2,
                                       validators=[InputRequired(), NumberRange(min=1, max=20)])
    evaluation_method = SelectField(_l("Evaluation method"), choices=_choices(EVALUATION_METHOD_LABELS),
                                    validators=[InputRequired()])
    price_weight = IntegerField(_l("Price weight (%)"), validators=[Optional(), NumberRange(min=0, max=100)],
                                description=_l("Scored evaluation: used when no criterion of kind price is given."))
    sme_deduction_pct = IntegerField(_l("SME price deduction (%)"), default=10,
                                     validators=[InputRequired(), NumberRange(min=0, max=100)])
    lots = FieldList(FormField(LotRowForm), min_entries=1, max_entries=50)
    criteria = FieldList(FormField(CriterionRowForm), min_entries=0, max_entries=50)
    invitees = SelectMultipleField(_l("Invited suppliers"), coerce=int, choices=[], validators=[Optional()],
                                   description=_l("Invitation tenders: verified suppliers only."))
    documents = MultipleFileField(_l("Add documents"),
                                  description=_l("PDF, DOCX, XLSX, ZIP or TXT."))
    submit = SubmitField(_l("Save draft"))

    def set_choices(self, procedure_types, custodians, suppliers) -> None:
        self.method.choices = [SelectChoice(p.code, p.name_zh if not p.name_en else f"{p.name_zh} / {p.name_en}")
                               for p in procedure_types] or _choices(METHOD_LABELS)
        self.custodians.choices = [SelectChoice(u.id, f"{u.display_name} <{u.email}>") for u in custodians]
        self.invitees.choices = [SelectChoice(o.id, f"{o.name_zh} ({o.uscc})") for o in suppliers]

    def validate_lots(self, field) -> None:
        rows = [entry.form for entry in field.entries if not entry.form.is_blank()]
        if not rows:
            raise ValidationError(_l("Add at least one lot."))
        for row in rows:
            if not ((row.title_zh.data or "").strip() or (row.title_en.data or "").strip()):
                row.title_zh.errors = [*row.title_zh.errors, _l("Give the lot a title.")]
                raise ValidationError(_l("Each lot needs a title."))
            if row.budget.fen is None:
                row.budget.errors = [*row.budget.errors, _l("Enter the lot budget.")]
                raise ValidationError(_l("Each lot needs a budget."))

    def validate_criteria(self, field) -> None:
        for entry in field.entries:
            row = entry.form
            if row.is_blank():
                continue
            if not ((row.name_zh.data or "").strip() or (row.name_en.data or "").strip()):
                raise ValidationError(_l("Each criterion needs a name."))
            if row.weight.data is None:
                raise ValidationError(_l("Each criterion needs a weight."))

    def tender_fields(self) -> dict[str, Any]:
        """The Tender columns of the form (amounts in fen, times in UTC)."""
        return dict(
            title_zh=(self.title_zh.data or "").strip(), title_en=(self.title_en.data or "").strip(),
            description_zh=self.description_zh.data or "", description_en=self.description_en.data or "",
            category=self.category.data, category_code=(self.category_code.data or "").strip(),
            budget=self.budget.fen or 0, method=self.method.data,
            enquiry_end=to_utc(self.enquiry_end.data), submission_deadline=to_utc(self.submission_deadline.data),
            opening_time=to_utc(self.opening_time.data), custodian_threshold=self.custodian_threshold.data,
            evaluation_method=self.evaluation_method.data, price_weight=self.price_weight.data,
            sme_deduction_pct=self.sme_deduction_pct.data,
        )

    def lot_values(self) -> list[dict[str, Any]]:
        return [e.form.values() for e in self.lots.entries if not e.form.is_blank()]

    def criterion_values(self) -> list[dict[str, Any]]:
        return [e.form.values() for e in self.criteria.entries if not e.form.is_blank()]

    def fill_from(self, tender) -> None:
        """Pre-fill from a tender (GET of the edit page)."""
        for name in ("title_zh", "title_en", "description_zh", "description_en", "category", "category_code",
                     "method", "custodian_threshold", "evaluation_method", "price_weight", "sme_deduction_pct"):
            getattr(self, name).data = getattr(tender, name)
        self.budget.data = fen_to_yuan_text(tender.budget)
        for name in ("enquiry_end", "submission_deadline", "opening_time"):
            getattr(self, name).data = to_local_naive(getattr(tender, name))
        self.custodians.data = [c.user_id for c in tender.custodians]
        self.invitees.data = [i.org_id for i in tender.invitees]
        while self.lots.entries:
            self.lots.pop_entry()
        for lot in tender.lots or [None]:
            entry = self.lots.append_entry()
            if lot is not None:
                f = entry.form
                f.title_zh.data, f.title_en.data = lot.title_zh, lot.title_en
                f.budget.data, f.bond_amount.data = fen_to_yuan_text(lot.budget), fen_to_yuan_text(lot.bond_amount)
                f.quantity.data, f.unit.data, f.delivery_terms.data = lot.quantity, lot.unit, lot.delivery_terms
        while self.criteria.entries:
            self.criteria.pop_entry()
        for crit in tender.criteria:
            f = self.criteria.append_entry().form
            f.name_zh.data, f.name_en.data, f.kind.data, f.weight.data = (crit.name_zh, crit.name_en, crit.kind,
                                                                          crit.weight)


class CancelForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the cancellation"), validators=[InputRequired(), Length(max=2000)],
                           description=_l("Published on the tender page and sent to the participants."))
    submit = SubmitField(_l("Cancel the tender"))


class ActionForm(FlaskForm):
    """A bare POST (publish, remove a document): the CSRF token only."""


# --------------------------------------------------------------------------- admin: procedure types


class ProcedureTypeForm(FlaskForm):
    min_days = IntegerField(_l("Minimum days to the deadline"), validators=[InputRequired(), NumberRange(0, 365)])
    min_days_working = BooleanField(_l("Counted in working days"))
    min_bids = IntegerField(_l("Minimum bids"), validators=[InputRequired(), NumberRange(1, 50)])
    committee_min = IntegerField(_l("Minimum committee size (odd)"), validators=[InputRequired(), NumberRange(1, 49)])
    bond_allowed = BooleanField(_l("Bid bond allowed"))
    evaluation_methods = SelectMultipleField(_l("Evaluation methods"), choices=_choices(EVALUATION_METHOD_LABELS),
                                             validators=[InputRequired()])
    submit = SubmitField(_l("Save"))

    def fill_from(self, ptype) -> None:
        for name in ("min_days", "min_days_working", "min_bids", "committee_min", "bond_allowed",
                     "evaluation_methods"):
            getattr(self, name).data = getattr(ptype, name)

    def settings(self) -> dict[str, Any]:
        return dict(min_days=self.min_days.data, min_days_working=bool(self.min_days_working.data),
                    min_bids=self.min_bids.data, committee_min=self.committee_min.data,
                    bond_allowed=bool(self.bond_allowed.data), evaluation_methods=list(self.evaluation_methods.data))
