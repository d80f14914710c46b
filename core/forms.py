"""Form helpers shared by every area's pages."""

from __future__ import annotations

from collections.abc import Mapping

from flask import flash
from markupsafe import Markup, escape
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


class LongSelect(Select):
    """wtforms' Select widget for long option lists (a few hundred buyers): the same
    markup, each option written with one escaped f-string instead of wtforms' generic
    attribute rendering (about 10x faster; the search page renders 170+ options on every
    request). Option groups and per-option attributes fall back to wtforms."""

    def __call__(self, field, **kwargs):
        if field.has_groups():
            return super().__call__(field, **kwargs)
        kwargs.setdefault("id", field.id)
        if self.multiple:
            kwargs["multiple"] = True
        flags = getattr(field, "flags", {})
        for key in dir(flags):
            if key in self.validation_attrs and key not in kwargs:
                kwargs[key] = getattr(flags, key)
        html = [f"<select {html_params(name=field.name, **kwargs)}>"]
        for choice in field._iter_choices_normalized():
            if choice.render_kw:
                html.append(self.render_option(choice))
                continue
            value = str(choice.value) if isinstance(choice.value, bool) else choice.value
            label = choice.label if choice.label not in (None, "") else choice.value
            selected = " selected" if choice.selected else ""
            html.append(f'<option{selected} value="{escape(value)}">{escape(label)}</option>')
        html.append("</select>")
        return Markup("".join(html))  # noqa: S704 - every value and label escaped above
