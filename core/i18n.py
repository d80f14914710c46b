"""Locale and timezone selection, and template helpers for dates in Asia/Shanghai."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, request, session
from flask_babel import format_datetime, get_locale

from core.clock import LOCAL_TZ


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang") if _has_session() else None
    if chosen in languages:
        return chosen
    from flask_login import current_user

    locale = getattr(current_user, "locale", None) if current_user else None
    if locale in languages:
        return locale
    query = request.args.get("lang") if request else None
    if query in languages:
        return query
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return "Asia/Shanghai"


def _has_session() -> bool:
    try:
        return session is not None
    except RuntimeError:
        return False


def local_datetime(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    if value is None:
        return ""
    return format_datetime(value, fmt)


def to_local(value: datetime) -> datetime:
    return value.astimezone(LOCAL_TZ)


def current_language() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def localized(obj: object, field: str) -> str:
    """Pick `field_zh` or `field_en` by locale, falling back to the other."""
    zh = getattr(obj, f"{field}_zh", None) or ""
    en = getattr(obj, f"{field}_en", None) or ""
    if current_language().startswith("zh"):
        return zh or en
    return en or zh
