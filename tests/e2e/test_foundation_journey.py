"""The foundation journey in a real browser.

A visitor reads the home page in Chinese and English and registers an organization (first
with a mistyped credit code, then correctly, with its licence); a platform administrator
signs in with 2FA and verifies it; the organization's administrator signs in, switches
the language to English and back, and sees the dashboard with the organization verified.
Screenshots of every step land in tests/e2e/screenshots/.
"""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from accounts.models import Organization, User
from accounts.states import OrgKind, Role, Verification
from accounts.uscc import make_uscc
from core.db import db
from tests.e2e.conftest import assert_clean, shot
from tests.factories import DEFAULT_PASSWORD, make_org, make_user

ORG_NAME_ZH = "扬州运河数字科技有限公司"
ORG_NAME_EN = "Yangzhou Canal Digital Technology Co., Ltd."
ADMIN_EMAIL = "founder@canal-digital.example"
# A minimal PDF: the licence upload checks the magic bytes, not the rendering.
PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def switch_language(page, code: str) -> None:
    page.click("#lang-menu")
    page.click(f'form[action="/lang"] button[name="lang"][value="{code}"]')
    page.wait_for_load_state("load")
    expected = "zh-CN" if code.startswith("zh") else "en"
    expect(page.locator("html")).to_have_attribute("lang", expected)


def log_out(page) -> None:
    page.click("#user-menu")
    page.click('form[action="/accounts/logout"] button[type="submit"]')
    page.wait_for_load_state("load")
    expect(page.locator("#user-menu")).to_have_count(0)


def sign_in(page, email: str, password: str = DEFAULT_PASSWORD, totp_secret: str | None = None) -> None:
    page.goto("/accounts/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.click('form[action="/accounts/login"] button[type="submit"]')
    page.wait_for_load_state("load")
    if totp_secret:
        expect(page).to_have_url(re.compile(r"/accounts/login/2fa"))
        page.fill('input[name="code"]', pyotp.TOTP(totp_secret).now())
        page.click('form[action="/accounts/login/2fa"] button[type="submit"]')
        page.wait_for_load_state("load")
    expect(page.locator("#user-menu")).to_be_visible()


@pytest.mark.e2e
def test_register_verify_and_use_the_dashboard(page, new_page, tmp_path):
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(PDF_BYTES)
    platform = make_org([OrgKind.PLATFORM], name="Canal Platform")
    platform_admin = make_user(platform, [Role.PLATFORM_ADMIN], email="ops@canal.example", display_name="平台管理员")
    assert platform_admin.totp_secret, "platform admins must have 2FA"

    # 1. A visitor reads the home page: Chinese by default, then English, then Chinese again.
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("nav.canal-navbar")).to_be_visible()
    expect(page.locator('a.nav-link[href="/procurement/"]')).to_be_visible()
    shot(page, "01_home_zh")
    switch_language(page, "en")
    expect(page.get_by_role("heading", name="Three platforms, one account")).to_be_visible()
    shot(page, "02_home_en")
    switch_language(page, "zh_Hans_CN")

    # 2. Registration: a mistyped credit code is a clear form error, nothing is created.
    page.click("a.canal-register")
    expect(page).to_have_url(re.compile(r"/accounts/register$"))
    good_uscc = make_uscc(424242)
    bad_uscc = good_uscc[:-1] + ("0" if good_uscc[-1] != "0" else "1")
    page.fill('input[name="name_zh"]', ORG_NAME_ZH)
    page.fill('input[name="name_en"]', ORG_NAME_EN)
    page.fill('input[name="uscc"]', bad_uscc)
    page.check('input[name="kinds"][value="supplier"]')
    page.fill('input[name="email"]', ADMIN_EMAIL)
    page.fill('input[name="display_name"]', "李明")
    page.fill('input[name="password"]', DEFAULT_PASSWORD)
    page.fill('input[name="password2"]', DEFAULT_PASSWORD)
    page.click('form[action="/accounts/register"] [type="submit"]')
    page.wait_for_load_state("load")
    expect(page.locator('input[name="uscc"].is-invalid')).to_be_visible()
    expect(page.locator("#uscc ~ .invalid-feedback, input[name=uscc] ~ .invalid-feedback").first).to_be_visible()
    shot(page, "03_register_error")
    db.session.rollback()  # end the test thread's read transaction: see the server's commits
    assert db.session.scalar(db.select(Organization).where(Organization.name_zh == ORG_NAME_ZH)) is None

    page.fill('input[name="uscc"]', good_uscc)
    page.fill('input[name="password"]', DEFAULT_PASSWORD)  # password fields are not re-filled by the server
    page.fill('input[name="password2"]', DEFAULT_PASSWORD)
    if not page.locator('input[name="kinds"][value="supplier"]').is_checked():
        page.check('input[name="kinds"][value="supplier"]')
    page.set_input_files('input[name="licence"]', str(licence))
    page.click('form[action="/accounts/register"] [type="submit"]')
    page.wait_for_load_state("load")
    expect(page).to_have_url(re.compile(r"/accounts/dashboard"))
    expect(page.locator(".alert-success")).to_be_visible()
    db.session.rollback()  # end the test thread's read transaction: see the server's commits
    org = db.session.scalar(db.select(Organization).where(Organization.name_zh == ORG_NAME_ZH))
    assert org is not None and org.verification == Verification.PENDING.value
    shot(page, "04_registered_dashboard_pending")
    log_out(page)

    # 3. The platform administrator signs in with 2FA and verifies the organization.
    admin_page = new_page()
    sign_in(admin_page, platform_admin.email, totp_secret=platform_admin.totp_secret)
    admin_page.click("#user-menu")
    admin_page.click('a.dropdown-item[href="/accounts/admin/organizations"]')
    expect(admin_page).to_have_url(re.compile(r"/accounts/admin/organizations"))
    admin_page.click(f'a[href="/accounts/admin/organizations/{org.id}"]')
    expect(admin_page.get_by_role("heading", name=ORG_NAME_ZH)).to_be_visible()
    shot(admin_page, "05_admin_verification")
    admin_page.click(f'form[action="/accounts/admin/organizations/{org.id}/verify"] [type="submit"]')
    admin_page.wait_for_load_state("load")
    expect(admin_page.locator(".alert-success")).to_be_visible()
    shot(admin_page, "06_admin_verified")
    db.session.rollback()  # end the test thread's read transaction: see the server's commits
    assert db.session.get(Organization, org.id).verification == Verification.VERIFIED.value
    assert_clean(admin_page)

    # 4. The organization's administrator signs in, switches to English and back, sees the dashboard.
    user = db.session.scalar(db.select(User).where(User.email == ADMIN_EMAIL))
    sign_in(page, ADMIN_EMAIL, totp_secret=user.totp_secret if user.two_factor_enabled else None)
    page.goto("/accounts/dashboard")
    expect(page.locator("#org-menu")).to_contain_text(ORG_NAME_ZH)
    switch_language(page, "en")
    expect(page).to_have_url(re.compile(r"/accounts/dashboard"))
    shot(page, "07_dashboard_en")
    switch_language(page, "zh_Hans_CN")
    expect(page).to_have_url(re.compile(r"/accounts/dashboard"))
    expect(page.locator("main")).to_contain_text(ORG_NAME_ZH)
    shot(page, "08_dashboard_zh")
    assert_clean(page)
