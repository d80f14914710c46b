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
