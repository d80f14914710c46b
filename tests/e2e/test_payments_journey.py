"""Payments in a real browser: a bank transfer confirmed by finance, and a card payment.

A buyer opens the payment page an area sent them to, chooses bank transfer and reads the
reference code and the receiving account; platform finance finds the transfer by its
code, uploads the bank slip and confirms a smaller amount with a note; the buyer's page
refreshes itself (static JS polling the status JSON) and shows the payment paid with the
difference. Then the buyer pays another payment by a Stripe test card (localstripe).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.states import OrgKind, Role
from core.db import db
from payments.models import Payment
from payments.services import payments as payment_svc
from tests.e2e.conftest import assert_clean, shot
from tests.e2e.test_foundation_journey import sign_in
from tests.factories import make_org, make_user
from tests.payments.conftest import TEST_STRIPE_KEY, start_localstripe, stop_localstripe

PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _payment(org, user, subject_id: str, provider: str = "bank_transfer", amount: int = 258_000) -> Payment:
    return payment_svc.create_payment(
        purpose="智能仓储系统实施服务 订单", subject_type="sme.order", subject_id=subject_id,
        payer_org_id=org.id, amount=amount, provider=provider, return_url=f"/sme/orders/{subject_id}", actor=user,
    )


@pytest.fixture(scope="module")
def localstripe_peer(app, tmp_path_factory):
    peer = start_localstripe(tmp_path_factory.mktemp("e2e-localstripe"))
    saved = {k: app.config.get(k) for k in ("STRIPE_API_BASE", "STRIPE_SECRET_KEY")}
    app.config.update(STRIPE_API_BASE=peer.url, STRIPE_SECRET_KEY=TEST_STRIPE_KEY)
    yield peer
    app.config.update(saved)
    stop_localstripe(peer)


@pytest.mark.e2e
def test_finance_confirms_a_bank_transfer(page, new_page, tmp_path):
    slip = tmp_path / "slip.pdf"
    slip.write_bytes(PDF_BYTES)
    buyer_org = make_org([OrgKind.SME], name="扬州绿杨春茶业有限公司")
    buyer = make_user(buyer_org, [Role.BUYER], email="buyer@lvyangchun.example", display_name="王采购",
                      locale="zh_Hans_CN")
    platform = make_org([OrgKind.PLATFORM], name="运河平台")
    finance = make_user(platform, [Role.FINANCE], email="finance@canal.example", display_name="李会计",
                        locale="zh_Hans_CN")
    payment = _payment(buyer_org, buyer, "41")

    # 1. The buyer chooses bank transfer and reads the instructions.
    sign_in(page, buyer.email)
    page.goto(f"/payments/{payment.id}")
    expect(page.locator("#payment-amount")).to_contain_text("2,580.00")
    page.check('input[name="provider"][value="bank_transfer"]')
    page.click("#pay-form [type=submit]")
    page.wait_for_load_state("load")
    code = page.locator("#reference-code").inner_text().strip()
    assert re.fullmatch(r"CNL-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", code)
    expect(page.locator("#bank-instructions")).to_contain_text("扬州运河数字平台运营有限公司")
    shot(page, "payments_01_bank_transfer_instructions")
    assert_clean(page)

    # 2. Finance finds it by the reference code and confirms a smaller amount with the slip.
    fin = new_page()
    sign_in(fin, finance.email, totp_secret=finance.totp_secret)
    fin.goto("/payments/finance/transfers")
    fin.fill('input[name="q"]', code.lower())
    fin.click('form[role="search"] button[type="submit"]')
    fin.wait_for_load_state("load")
    card = fin.locator(f'article[data-reference="{code}"]')
    expect(card).to_be_visible()
    shot(fin, "payments_02_finance_transfers")
    prefix = f"confirm-{payment.id}-"
    card.locator(f'input[name="{prefix}amount_received"]').fill("2570.00")
    card.locator(f'input[name="{prefix}slip"]').set_input_files(str(slip))
    card.locator(f'textarea[name="{prefix}note"]').fill("银行扣除手续费 10 元")
    card.locator("form.canal-confirm-form button[type=submit]").click()
    fin.wait_for_load_state("load")
    row = fin.locator(f'#handled-transfers tr[data-reference="{code}"]')
    expect(row).to_contain_text("2,570.00")
    expect(row).to_contain_text("10.00")
    shot(fin, "payments_03_finance_confirmed")
    assert_clean(fin)

    # 3. The buyer's page refreshes itself and shows the payment paid, with the difference.
    expect(page.locator("#payment-difference")).to_be_visible(timeout=20_000)
    expect(page.locator("#payment-status")).to_have_attribute("data-payment-status", "succeeded")
    expect(page.locator("#payment-received")).to_contain_text("2,570.00")
    expect(page.locator("#payment-back")).to_have_attribute("href", "/sme/orders/41")
    shot(page, "payments_04_buyer_sees_paid")
    assert_clean(page)
    row = db.session.get(Payment, payment.id)
    db.session.refresh(row)
    assert row.status == "succeeded" and row.amount_received == 257_000


@pytest.mark.e2e
def test_buyer_pays_by_card_through_the_payment_page(page, localstripe_peer):
    localstripe_peer.wipe()
    buyer_org = make_org([OrgKind.SME], name="扬州个园文创有限公司")
    buyer = make_user(buyer_org, [Role.BUYER], email="buyer@geyuan.example", display_name="赵经理",
                      locale="zh_Hans_CN")
    payment = _payment(buyer_org, buyer, "42", provider="stripe", amount=88_000)
    sign_in(page, buyer.email)
    page.goto(f"/payments/{payment.id}")
    page.check('input[name="provider"][value="card"]')
    expect(page.locator("#test-card")).to_contain_text("Stripe Elements")
    page.fill('input[name="card_number"]', "4242 4242 4242 4242")
    shot(page, "payments_05_card_form")
    page.click("#pay-form [type=submit]")
    page.wait_for_load_state("load")
    expect(page.locator("#payment-status")).to_have_attribute("data-payment-status", "succeeded")
    expect(page.locator("#payment-back")).to_be_visible()
    shot(page, "payments_06_card_paid")
    assert_clean(page)
    row = db.session.get(Payment, payment.id)
    db.session.refresh(row)
    assert row.status == "succeeded" and row.provider_ref.startswith("pi_")
