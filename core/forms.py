"""Form helpers shared by every area's pages."""

from __future__ import annotations

from collections.abc import Mapping

from flask import flash

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
