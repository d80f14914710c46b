"""The shell in a real browser: CSP-clean pages, the countdown and confirm helpers, the mobile menu."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_clean, shot


@pytest.mark.e2e
def test_pages_load_without_csp_violations_or_script_errors(page):
    for path in ("/", "/no-such-page", "/accounts/login", "/accounts/register"):
        page.goto(path)
        expect(page.locator("nav.canal-navbar")).to_be_visible()
    # Bootstrap's JS runs (it would be blocked by a CSP mistake): the language dropdown opens.
    page.click("#lang-menu")
    expect(page.locator('form[action="/lang"].dropdown-menu')).to_be_visible()
    assert_clean(page)


@pytest.mark.e2e
def test_404_page_in_the_browser_leads_back_home(page, live_server):
    response = page.goto("/no-such-page")
    assert response.status == 404
    expect(page.locator(".canal-error-code")).to_have_text("404")
    shot(page, "10_error_404_zh")
    page.click("main a.btn-primary")
    expect(page).to_have_url(live_server.url + "/")


@pytest.mark.e2e
def test_countdown_helper_shows_remaining_time_and_then_time_is_up(page):
    page.goto("/")
    page.evaluate(
        """() => {
          const soon = new Date(Date.now() + 2500).toISOString();
          const later = new Date(Date.now() + 2 * 86400000 + 3600000).toISOString();
          document.querySelector('main').insertAdjacentHTML('beforeend',
            `<span id="cd1" data-countdown="${soon}" data-countdown-over="closed">x</span>` +
            `<span id="cd2" data-countdown="${later}">x</span>`);
          window.Canal.startCountdowns(document);
        }"""
    )
    expect(page.locator("#cd1")).to_have_text(re.compile(r"^00:00:0[0-3]$"))
    expect(page.locator("#cd2")).to_contain_text("天")  # Chinese page: days in Chinese
    expect(page.locator("#cd1")).to_have_text("closed", timeout=6000)
    expect(page.locator("#cd1")).to_have_class(re.compile("canal-countdown-over"))
    assert_clean(page)


@pytest.mark.e2e
def test_confirm_helper_cancels_or_lets_a_form_through(page):
    page.goto("/")
    page.evaluate(
        """() => {
          document.querySelector('main').insertAdjacentHTML('beforeend',
            '<form id="f" action="/healthz" method="get" data-confirm="Really?"><button id="b">Go</button></form>');
        }"""
    )
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#b")
    page.wait_for_timeout(300)
    assert not page.url.endswith("/healthz")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("#b")
    assert "/healthz" in page.url


@pytest.mark.e2e
def test_mobile_menu_collapses_and_opens(new_page):
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    toggler = page.locator("button.navbar-toggler")
    expect(toggler).to_be_visible()
    expect(page.locator('#mainnav a.nav-link[href="/sme/"]')).to_be_hidden()
    toggler.click()
    expect(page.locator('#mainnav a.nav-link[href="/sme/"]')).to_be_visible()
    shot(page, "11_home_mobile_menu_zh")
    assert_clean(page)
