"""Chinese is the default language; English is one switch away and complete."""

from __future__ import annotations

import re

from app import create_app
from config import Config, TestConfig


def _anonymous_home(config_overrides: dict) -> str:
    app = create_app(TestConfig, **config_overrides)
    return app.test_client().get("/").get_data(as_text=True)


def test_the_platform_speaks_chinese_by_default(app):
    assert Config.BABEL_DEFAULT_LOCALE == "zh_Hans_CN"
    page = _anonymous_home({"BABEL_DEFAULT_LOCALE": Config.BABEL_DEFAULT_LOCALE,
                            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    assert 'lang="zh-CN"' in page
    assert "运河平台" in page
    assert "政府电子招标" in page or "电子招标" in page


def test_switching_to_english_translates_the_page(app):
    client = create_app(TestConfig, BABEL_DEFAULT_LOCALE="zh_Hans_CN",
                        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"]).test_client()
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/lang", data={"lang": "en", "csrf_token": token, "next": "/"})
    english = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in english
    assert "Canal" in english
    assert "运河平台" not in english


def test_templates_translate_with_this_renders_language_and_escape_variables(app):
    """core.i18n.template_translations: `_` and `ngettext` bound once per render, newstyle
    (variables formatted and escaped), in a forced language too (mails to other people)."""
    from flask import render_template_string
    from flask_babel import force_locale

    source = ("{{ _('%(n)s tenders found.', n=value) }}|"
              "{{ ngettext('Notifications, %(num)d unread', 'Notifications, %(num)d unread', 3) }}")
    with app.test_request_context("/?lang=en"):
        assert render_template_string(source, value="<b>") == "&lt;b&gt; tenders found.|Notifications, 3 unread"
        with force_locale("zh_Hans_CN"):
            assert render_template_string(source, value=2) == "共找到 2 个招标项目。|通知，3 条未读"


def test_local_datetime_writes_what_babel_writes_in_beijing_time(app):
    from datetime import UTC, datetime

    from flask_babel import format_datetime

    from core.i18n import local_datetime

    with app.test_request_context("/?lang=en"):
        for value in (datetime(2026, 3, 1, 16, 5, 59, tzinfo=UTC),  # 00:05 next day in Beijing
                      datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2026, 6, 1, 3, 4)):  # naive = UTC
            assert local_datetime(value) == format_datetime(value.replace(tzinfo=value.tzinfo or UTC),
                                                            "yyyy-MM-dd HH:mm")
        assert local_datetime(datetime(2026, 3, 1, 16, 5, tzinfo=UTC)) == "2026-03-02 00:05"
        assert local_datetime(None) == ""
        assert local_datetime(datetime(2026, 3, 1, 16, 5, tzinfo=UTC), "yyyy") == "2026"  # other patterns: Babel


def test_url_for_ids_builds_what_url_for_builds(app):
    from flask import url_for

    from core.views import url_for_ids

    with app.test_request_context("/"):
        url = url_for_ids("procurement.tender_detail", "tender_id")
        external = url_for_ids("procurement.tender_detail", "tender_id", _external=True)
        for ident in (1, 42, 9876543210, 10**12):
            assert url(ident) == url_for("procurement.tender_detail", tender_id=ident)
            assert external(ident) == url_for("procurement.tender_detail", tender_id=ident, _external=True)
