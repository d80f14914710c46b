"""Locale and timezone selection, and template helpers for dates in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, has_request_context, request, session
from flask_babel import format_datetime, get_locale, get_translations
from jinja2 import pass_context
from markupsafe import Markup

from core.clock import LOCAL_TZ


def select_locale() -> str:
    """The visitor's explicit choice, then the user's saved locale, then ?lang=, then zh_Hans_CN.

    Outside a request (tasks, CLI, sweeps) the default locale applies; code that writes to
    a given person forces that person's locale (flask_babel.force_locale).
    """
    languages = current_app.config["LANGUAGES"]
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():
        return default
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    from flask_login import current_user

    locale = getattr(current_user, "locale", None) if current_user else None
    if locale in languages:
        return locale
    query = request.args.get("lang")
    if query in languages:
        return query
    return default


def select_timezone() -> str:
    return LOCAL_TZ.key


def local_datetime(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """`value` in Beijing time, as the CLDR pattern `fmt` (Babel) writes it. The default
    pattern is digits only, the same in every language: written by strftime (a list page
    writes 20 of them; Babel's formatter costs about 20x more). The time zone is always
    LOCAL_TZ (select_timezone)."""
    if value is None:
        return ""
    if fmt == "yyyy-MM-dd HH:mm":
        local = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(LOCAL_TZ)
        if local.year >= 1000:
            return local.strftime("%Y-%m-%d %H:%M")
    return format_datetime(value, fmt)


def to_local(value: datetime) -> datetime:
    return value.astimezone(LOCAL_TZ)


def current_language() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def localized(obj: object, field: str, language: str | None = None) -> str:
    """Pick `field_zh` or `field_en` by locale (`language`, else the current one), falling
    back to the other."""
    zh = getattr(obj, f"{field}_zh", None) or ""
    en = getattr(obj, f"{field}_en", None) or ""
    if (language or current_language()).startswith("zh"):
        return zh or en
    return en or zh


def template_translations() -> dict:
    """Context processor: the templates' `_`/`gettext` and `ngettext` bound to the
    translations of this render (its language, forced ones included), with Jinja's
    "newstyle" behaviour (autoescaped, `%(name)s` variables). Flask-Babel's own resolve
    the translations again on every call: a page makes 30 to 40 of them. (Jinja's own
    jinja2.ext._make_new_gettext/_ngettext, private, do the same through a context.call per
    string, the cost this avoids.)"""
    translations = get_translations()

    @pass_context
    def gettext(context, string: str, **variables) -> str:
        text = translations.ugettext(string)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - our catalogs, as Jinja's newstyle gettext; variables escaped by %
        return text % variables

    @pass_context
    def ngettext(context, singular: str, plural: str, num: int, **variables) -> str:
        variables.setdefault("num", num)
        text = translations.ungettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - our catalogs, as Jinja's newstyle gettext; variables escaped by %
        return text % variables

    return {"gettext": gettext, "ngettext": ngettext}
