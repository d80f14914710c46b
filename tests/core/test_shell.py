"""The shell every page shares: header (platforms, language, organization switch, bell, user menu), home page."""

from __future__ import annotations

import re

import pytest
from flask import render_template_string

from accounts.states import OrgKind, Role
from tests.factories import make_org, make_user
from tests.helpers import csrf_token, login


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_home_explains_the_three_platforms_with_calls_to_action(client):
    with client.session_transaction() as sess:
        sess["lang"] = "en"
    html = _html(client.get("/"))
    for text in ("Government e-tendering", "SME informatization services", "Logistics tracking", "Who uses Canal"):
        assert text in html
    for href in ('href="/procurement/"', 'href="/sme/"', 'href="/logistics/"', 'href="/accounts/register"'):
        assert href in html
    assert "Browse tenders" in html and "Browse services" in html and "Track a shipment" in html


def test_anonymous_header_offers_log_in_and_register_but_no_user_menu(client):
    html = _html(client.get("/"))
    assert 'href="/accounts/login"' in html
    assert 'href="/accounts/register"' in html
    assert 'id="user-menu"' not in html
    assert 'action="/accounts/logout"' not in html


def test_language_switch_is_a_csrf_protected_post_form(client):
    html = _html(client.get("/"))
    form = re.search(r'<form method="post" action="/lang".*?</form>', html, re.S).group(0)
    assert 'name="csrf_token"' in form
    assert 'value="zh_Hans_CN"' in form and 'value="en"' in form


def test_language_switch_changes_the_page_language_and_returns_to_the_page(client):
    response = client.post("/lang", data={"lang": "en", "next": "/no-such?x=1", "csrf_token": csrf_token(client)})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/no-such?x=1")
    assert '<html lang="en"' in client.get("/").get_data(as_text=True)


def test_language_switch_refuses_an_offsite_next(client):
    response = client.post("/lang", data={"lang": "en", "next": "https://evil.example/", "csrf_token": csrf_token(client)})
    assert response.status_code == 303
    assert "evil.example" not in response.headers["Location"]


def test_language_switch_without_csrf_token_is_refused(client):
    response = client.post("/lang", data={"lang": "en"})
    assert response.status_code == 400


def test_platform_link_of_the_current_area_is_marked_current(client):
    html = client.get("/sme/").get_data(as_text=True)
    assert re.search(r'class="nav-link active" href="/sme/" aria-current="page"', html)


def test_signed_in_header_has_user_menu_logout_form_bell_and_organization_switch(client):
    org_a = make_org([OrgKind.SME], name="Alpha Ltd")
    org_b = make_org([OrgKind.SUPPLIER], name="Beta Ltd")
    user = make_user(org_a, [Role.ORG_ADMIN], display_name="Wang Fang")
    from accounts.models import Membership
    from core.db import db, unit_of_work

    with unit_of_work():
        db.session.add(Membership(user_id=user.id, org_id=org_b.id, roles=[str(Role.BIDDER)]))
    login(client, user)
    with client.session_transaction() as sess:
        sess["lang"] = "en"
    html = _html(client.get("/"))

    assert "Wang Fang" in html
    logout_form = re.search(r'<form method="post" action="/accounts/logout">.*?</form>', html, re.S)
    assert logout_form and 'name="csrf_token"' in logout_form.group(0)
    assert 'href="/notifications"' in html
    switch = re.search(r'<form method="post" action="/accounts/switch-org".*?</form>', html, re.S)
    assert switch, "organization switch form missing"
    assert f'name="org_id" value="{org_b.id}"' in switch.group(0)
    assert f'value="{org_a.id}"' not in switch.group(0)  # the current one is not a button
    assert 'aria-current="true"' in switch.group(0)
    assert 'href="/accounts/security"' in html and 'href="/accounts/dashboard"' in html
    assert 'href="/accounts/login"' not in html
    # not a platform admin: no admin links
    assert "/accounts/admin/organizations" not in html


def test_platform_admin_sees_admin_links(client):
    platform = make_org([OrgKind.PLATFORM])
    admin = make_user(platform, [Role.PLATFORM_ADMIN])
    login(client, admin)
    html = _html(client.get("/"))
    assert 'href="/accounts/admin/organizations"' in html


def test_unread_notifications_show_a_badge(app):
    with app.test_request_context("/"):
        html = render_template_string(
            '{% include "_nav.html" %}', unread_notifications=3, nav_memberships=[], current_user=_FakeUser()
        )
    badge = re.search(r'<span class="badge[^"]*"[^>]*>(\d+)</span>', html)
    assert badge and badge.group(1) == "3"


def test_header_renders_when_optional_context_is_missing(app):
    """Pages render even where another area's context (orgs, notifications) is absent."""
    with app.test_request_context("/"):
        html = render_template_string('{% include "_nav.html" %}', current_user=_FakeUser())
    assert 'id="user-menu"' in html


class _FakeUser:
    is_authenticated = True
    display_name = "Someone"
    email = "someone@example.test"


@pytest.mark.parametrize(
    ("name", "expected"), [("core.home", True), ("accounts.login", True), ("nowhere.page", False)]
)
def test_has_endpoint_guard(app, name, expected):
    with app.test_request_context("/"):
        assert render_template_string("{{ has_endpoint(name) }}", name=name) == str(expected)


def test_url_and_path_guards_give_none_for_missing_routes(app):
    with app.test_request_context("/"):
        out = render_template_string(
            "{{ url_if('core.home') }}|{{ url_if('nowhere.page') }}|{{ path_if('/healthz') }}|{{ path_if('/nope') }}"
        )
    assert out == "/|None|/healthz|None"


def test_static_assets_of_the_shell_are_served(client):
    for path in ("/static/css/canal.css", "/static/js/canal.js", "/static/img/canal.svg"):
        assert client.get(path).status_code == 200
    js = client.get("/static/js/canal.js").get_data(as_text=True)
    assert "data-countdown" in js and "data-confirm" in js


# --------------------------------------------------------------------------- fragments rendered once


_FRAGMENT = ("{% call(h) fragment('probe', area, cache=cache, token=token, back=back) %}"
             "[{{ _('Log in') }}|{{ h.token }}|{{ h.back }}|{{ count() }}]{% endcall %}")


def _fragment_renders(app, language: str, area: str, token: str, back: str, cache: bool = True,
                      counter: list | None = None) -> str:
    counter = counter if counter is not None else []

    def count() -> int:
        counter.append(1)
        return len(counter)

    with app.app_context(), app.test_request_context("/"):  # an app context of its own: a fresh locale
        from flask import session
        session["lang"] = language
        return render_template_string(_FRAGMENT, area=area, cache=cache, token=token, back=back, count=count)


def test_a_fragment_is_rendered_once_per_language_and_key_with_its_holes_filled_and_escaped(app):
    app.extensions.pop("canal.fragments", None)
    renders: list = []
    first = _fragment_renders(app, "en", "one", "t1", "/a?q=1", counter=renders)
    again = _fragment_renders(app, "en", "one", 'x"<y>&', "/b?q=<script>", counter=renders)
    assert first == "[Log in|t1|/a?q=1|1]"
    # the block did not run again (the counter inside it stayed at 1); the holes are this request's, escaped
    assert again == "[Log in|x&#34;&lt;y&gt;&amp;|/b?q=&lt;script&gt;|1]"
    assert len(renders) == 1
    # another key and another language are rendered separately
    assert _fragment_renders(app, "en", "two", "t", "/", counter=renders) == "[Log in|t|/|2]"
    assert _fragment_renders(app, "zh_Hans_CN", "one", "t", "/", counter=renders) == "[登录|t|/|3]"


def test_an_uncached_fragment_and_reloading_templates_render_the_block_every_time(app):
    app.extensions.pop("canal.fragments", None)
    renders: list = []
    assert _fragment_renders(app, "en", "one", "a", "/", cache=False, counter=renders) == "[Log in|a|/|1]"
    assert _fragment_renders(app, "en", "one", "b", "/", cache=False, counter=renders) == "[Log in|b|/|2]"
    app.jinja_env.auto_reload = True
    try:
        _fragment_renders(app, "en", "one", "a", "/", counter=renders)
        assert _fragment_renders(app, "en", "one", "a", "/", counter=renders) == "[Log in|a|/|4]"
    finally:
        app.jinja_env.auto_reload = False
    assert "canal.fragments" not in app.extensions


def _own(app, call):
    """`call()` in an app context of its own, as every request is in production (the test's
    shared one would keep flask.g, the CSRF token and the signed-in user, between clients)."""
    with app.app_context():
        return call()


def test_the_visitors_header_is_shared_but_each_request_gets_its_own_token_return_path_and_area(app):
    app.extensions.pop("canal.fragments", None)
    first, second = app.test_client(), app.test_client()
    a = _html(_own(app, lambda: first.get("/procurement/tenders?q=%3Cb%3E")))
    b = _html(_own(app, lambda: second.get("/sme/")))
    c = _html(_own(app, lambda: second.get("/procurement/tenders?q=x")))
    tokens = []
    for html, path in ((a, "/procurement/tenders?q=%3Cb%3E"), (c, "/procurement/tenders?q=x")):
        form = re.search(r'<form method="post" action="/lang".*?</form>', html, re.S).group(0)
        assert f'name="next" value="{path}"' in form
        tokens.append(re.search(r'name="csrf_token" value="([^"]+)"', form).group(1))
    # each visitor's form carries a token of its own session: accepted there, refused in the other
    def switch(client, token):
        return _own(app, lambda: client.post("/lang", data={"lang": "en", "csrf_token": token})).status_code

    assert switch(first, tokens[1]) == 400 and switch(second, tokens[0]) == 400
    assert switch(first, tokens[0]) == 303 and switch(second, tokens[1]) == 303
    assert re.search(r'class="nav-link active" href="/procurement/"', a)
    assert re.search(r'class="nav-link active" href="/sme/"', b) and not re.search(r'class="nav-link active" href="/procurement/"', b)
    cached = app.extensions["canal.fragments"]  # the tests' default language is English
    assert {("nav", "en", "procurement"), ("nav", "en", "sme"), ("head", "en"), ("footer", "en")} <= set(cached)
    chinese = _html(_own(app, lambda: app.test_client().get("/procurement/tenders?lang=zh_Hans_CN")))
    assert "</i>登录</a>" in chinese and "</i>Log in</a>" not in chinese
    assert "</i>Log in</a>" in a and "登录" not in a and ("nav", "zh_Hans_CN", "procurement") in cached


def test_a_signed_in_header_is_never_shared(client, app):
    one = make_user(make_org([OrgKind.SME], name="One Ltd"), [Role.ORG_ADMIN], email="one@example.com")
    two = make_user(make_org([OrgKind.SME], name="Two Ltd"), [Role.ORG_ADMIN], email="two@example.com")
    _own(app, lambda: login(client, one))
    assert "one@example.com" in _html(_own(app, lambda: client.get("/procurement/tenders")))
    other = app.test_client()
    _own(app, lambda: login(other, two))
    html = _html(_own(app, lambda: other.get("/procurement/tenders")))
    assert "two@example.com" in html and "one@example.com" not in html
    visitor = _html(_own(app, lambda: app.test_client().get("/procurement/tenders")))
    assert "one@example.com" not in visitor and "two@example.com" not in visitor and 'href="/accounts/login"' in visitor


def test_a_fragment_whose_holes_are_not_written_as_they_are_is_never_cached(app, caplog):
    app.extensions.pop("canal.fragments", None)
    template = "{% call(h) fragment('odd', token=token) %}[{{ h.token|upper }}]{% endcall %}"
    with app.app_context(), app.test_request_context("/"):
        assert render_template_string(template, token="abc") == "[ABC]"
        assert render_template_string(template, token="xyz") == "[XYZ]"
    assert not app.extensions.get("canal.fragments") and "not cached" in caplog.text
