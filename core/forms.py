"""Form helpers shared by every area's pages."""

from __future__ import annotations

from collections.abc import Mapping

from flask import flash
from flask_babel import get_locale
from markupsafe import Markup, escape
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice, SelectFieldBase
from wtforms.widgets import Select, html_params

from core.errors import DomainError


def apply_errors(
    form,
    exc: DomainError,
    rename: Mapping[str, str] | None = None,
    default_field: str | None = None,
    sections: dict[str, list[str]] | None = None,
) -> bool:
    """Show a service error on the form; True when the form shows it, False when it was flashed.

    Each of the error's fields goes to the form field of that name (``rename`` maps a
    service field name to a form field name first). A name that is a key of ``sections``
    collects its messages there instead (a page shows them above a group of rows). When
    nothing placed the error, its message goes on ``default_field`` if given, else it is
    flashed.
    """
    rename = rename or {}
    shown = False
    for name, messages in (exc.fields or {}).items():
        target = rename.get(name, name)
        if sections is not None and target in sections:
            sections[target].extend(messages)
            shown = True
            continue
        field = getattr(form, target, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*(field.errors or []), *messages]
            shown = True
    if shown:
        return True
    if default_field is not None:
        field = form[default_field]
        field.errors = [*(field.errors or []), exc.message]
        return True
    flash(exc.message, "danger")
    return False


def flash_errors(form) -> None:
    """Flash every error of a refused form (a page that shows the form's errors as messages)."""
    for messages in form.errors.values():
        for message in messages:
            flash(message, "danger")


class LongSelect(Select):
    """wtforms' Select widget, the same markup, for option lists that stay the same from
    request to request (a few hundred buyers on every search page): each option's markup
    is written once per choices list and language and reused; a request only picks the
    selected one. A form keeps such a list by reusing the same list object (the search
    form caches its translated choices per language). Option groups, per-option
    attributes, multiple selection and non-string values fall back to wtforms."""

    #: (id of the choices list, language) -> (that list, [(value, markup, selected markup)])
    _CACHE_LIMIT = 64

    def __init__(self, multiple: bool = False) -> None:
        super().__init__(multiple=multiple)
        self._options: dict[tuple[int, str], tuple[list, list[tuple[str, str, str]]]] = {}

    def _option_markup(self, field) -> list[tuple[str, str, str]] | None:
        choices = field.choices
        if not isinstance(choices, list):
            return None
        key = (id(choices), str(get_locale()))
        cached = self._options.get(key)
        if cached is not None and cached[0] is choices:
            return cached[1]
        rows: list[tuple[str, str, str]] = []
        for choice in choices:
            if not isinstance(choice, SelectChoice) or choice.render_kw or choice.optgroup \
                    or not isinstance(choice.value, str):
                return None
            label = choice.label if choice.label not in (None, "") else choice.value
            body = f' value="{escape(choice.value)}">{escape(label)}</option>'
            rows.append((choice.value, "<option" + body, "<option selected" + body))
        if len(self._options) >= self._CACHE_LIMIT:
            self._options.clear()
        self._options[key] = (choices, rows)
        return rows

    def _rows(self, field) -> list[tuple[str, str, str]] | None:
        return None if (self.multiple or field.coerce is not str) else self._option_markup(field)

    def options(self, field) -> Markup:
        """The `<option>` elements alone (for a caller writing its own `<select>`)."""
        rows = self._rows(field)
        if rows is None:
            return Markup("".join(self.render_option(c) for c in field._iter_choices_normalized()))  # noqa: S704
        data = field.data
        return Markup("".join(selected if value == data else plain for value, plain, selected in rows))  # noqa: S704

    def __call__(self, field, **kwargs):
        if self._rows(field) is None:
            return super().__call__(field, **kwargs)
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for key in dir(flags):
            if key in self.validation_attrs and key not in kwargs:
                kwargs[key] = getattr(flags, key)
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{self.options(field)}</select>")  # noqa: S704


def search_field(field, placeholder: str = "", button: str | None = None) -> Markup:
    """A search form's labelled control: label, then the select (a LongSelect's cached
    options) or the input (of its widget's type: text, search, date...), joined by a submit
    button with the search icon when `button` is its text, then the field's errors and its
    description. Written in one Python pass: as a macro it cost a tenth of the tender list
    page (ten fields)."""
    invalid = " is-invalid" if field.errors else ""
    ident = escape(field.id)
    name = escape(field.name)
    described = f' aria-describedby="{ident}-help"' if field.description else ""
    options = getattr(field.widget, "options", None)
    if options is not None:
        control = (f'<select class="form-select{invalid}" id="{ident}" name="{name}"{described}>'
                   f"{options(field)}</select>")
    elif isinstance(field, SelectFieldBase):  # any other select: wtforms' own widget
        control = str(field(class_="form-select" + invalid, **({"aria-describedby": f"{field.id}-help"}
                                                               if field.description else {})))
    else:
        maxlength = getattr(field.flags, "maxlength", None)
        extra = (f' maxlength="{escape(maxlength)}"' if maxlength else "") + \
            (f' placeholder="{escape(placeholder)}"' if placeholder else "")
        control = (f'<input class="form-control{invalid}" id="{ident}"{extra} name="{name}"{described} '
                   f'type="{escape(getattr(field.widget, "input_type", "text"))}" value="{escape(field._value())}">')
    if button is not None:
        control = (f'<div class="input-group">{control}<button class="btn btn-primary" type="submit">'
                   f'<i class="bi bi-search" aria-hidden="true"></i> {escape(button)}</button></div>')
    feedback = "invalid-feedback d-block" if button is not None else "invalid-feedback"
    errors = "".join(f'<div class="{feedback}">{escape(error)}</div>' for error in field.errors)
    help_text = (f'<div class="form-text" id="{ident}-help">{escape(field.description)}</div>'
                 if field.description else "")
    return Markup(  # noqa: S704 - every value above is escaped
        f'<div class="mb-3"><label class="form-label" for="{ident}">{escape(field.label.text)}</label>'
        f"{control}{errors}{help_text}</div>")


class FilterSelectField(SelectField):
    """A select of a search form whose empty choice means "no filter": nothing chosen is
    valid without walking the choices (wtforms would build a Choice per option, raise
    "Not a valid choice." and load its message catalog, for Optional() to drop it)."""

    def pre_validate(self, form) -> None:
        if self.data in (None, ""):
            return
        super().pre_validate(form)
