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
