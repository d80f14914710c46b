"""E-tendering in a real browser (issue 4), on the Chinese pages.

An officer creates a tender with a lot, a bond and a document and publishes it; the key
custodians collect their shares (one keeps the code, one the share file); a supplier asks
a question in the enquiry period and the officer answers it; the supplier lodges a bond by
bank transfer, reports it, and platform finance confirms the transfer on the payments
page; the enquiry period ends; the supplier starts its bid, seals a price and an
attachment, submits, downloads its receipt and verifies it on the public verification
page (a tampered copy is refused). Two competitors file guarantees (finance verifies one on
its bonds page) and bid through the services. The clock
moves past the deadline and the opening time; two custodians present their shares (code,
then file) and the public opening record shows every bidder's price.

The live server runs in this process (tests/e2e/conftest.py), so `core.clock` moved here
is the server's clock too. Jumps of days end everyone's sessions (idle timeout), so each
phase signs its users in again, with TOTP codes computed by `core.clock` (fresh_totp).
Screenshots land in tests/e2e/screenshots/procurement_*.png.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect

from accounts.models import Organization, User
from accounts.states import OrgKind, Role
from core import clock
from core.db import db
from core.extensions import limiter
from procurement.models import Bond, Tender
from procurement.services import bids as bid_svc
from procurement.services import bonds as bond_svc
from procurement.states import TenderStatus
from tests.e2e.conftest import assert_clean, shot
from tests.factories import DEFAULT_PASSWORD, make_org, make_user
from tests.helpers import fresh_totp

# Monday 2 March 2026, 10:00 in Beijing.
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
TITLE_ZH = "扬州市教育局 2026 年学校计算机设备采购"
TITLE_EN = "Yangzhou Education Bureau 2026 school computer equipment"
QUESTION = "第1包台式电脑是否接受同等配置的国产处理器？"
ANSWER = "接受，性能不低于招标文件第三章所列指标即可。"
OUR_PRICE = "868000.00"


def _local(moment: datetime) -> str:
    """A datetime-local input value (Beijing time)."""
    return moment.astimezone(clock.LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")


def _sync() -> None:
    """End the test thread's read transaction: on SQLite it would keep reading the snapshot
    taken before the server's last writes."""
    db.session.rollback()


def totp(user: User) -> str:
    _sync()
    return fresh_totp(user)


def sign_in(page, user: User) -> None:
    """The real login pages; the TOTP step with a code valid by the server's (core) clock.

    Every browser here comes from 127.0.0.1, where in life the officer, custodians, suppliers
    and finance sign in from their own machines: the per-address login rate limit (10 a
    minute) is reset first so that a dozen people signing in within a minute is not a 429.
    """
    limiter.reset()
    page.goto("/accounts/login")
    page.fill('input[name="email"]', user.email)
    page.fill('input[name="password"]', DEFAULT_PASSWORD)
    page.click('form[action="/accounts/login"] button[type="submit"]')
    page.wait_for_load_state("load")
    if re.search(r"/accounts/login/2fa", page.url):
        page.fill('input[name="code"]', totp(user))
        page.click('form[action="/accounts/login/2fa"] button[type="submit"]')
        page.wait_for_load_state("load")
    expect(page.locator("#user-menu")).to_be_visible()


def submit(page, selector: str) -> None:
    page.click(selector)
    page.wait_for_load_state("load")


def accept_dialogs(page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def _flash_ok(page) -> None:
    expect(page.locator(".alert-danger")).to_have_count(0)


def _competitor(tender_id: int, name: str) -> tuple[Organization, User, Bond]:
    """A competitor supplier that files a guarantee (保函) for lot 1 through the services."""
    _sync()
    tender = db.session.get(Tender, tender_id)
    org = make_org([OrgKind.SUPPLIER], name=name)
    bidder = make_user(org, [Role.BIDDER], locale="zh_Hans_CN")
    lot = tender.lots[0]
    bond = bond_svc.lodge_guarantee(
        tender, lot, bidder, org, issuer="中国银行扬州分行", number=f"BH-{org.id}-2026", amount=lot.bond_amount,
        valid_until=date(2026, 6, 30), file=PDF, filename="guarantee.pdf",
    )
    return org, bidder, bond


def _competitor_bids(tender_id: int, org: Organization, bidder: User, price_fen: int) -> None:
    """The competitor submits a sealed bid through the services (as the API does)."""
    _sync()
    tender = db.session.get(Tender, tender_id)
    bid_svc.submit_complete_bid(tender.id, db.session.get(User, bidder.id), db.session.get(Organization, org.id),
                                prices={tender.lots[0].id: price_fen})


@pytest.mark.e2e
def test_officer_publishes_supplier_bids_custodians_open(new_page, tmp_path):
    clock.set_time(T0)
    document = tmp_path / "招标文件.pdf"
    document.write_bytes(PDF)
    attachment = tmp_path / "technical-offer.pdf"
    attachment.write_bytes(PDF.replace(b"%%EOF", b"% technical offer\n%%EOF"))
    slip = tmp_path / "slip.pdf"
    slip.write_bytes(PDF)

    buyer = make_org([OrgKind.BUYER], name="扬州市教育局")
    officer = make_user(buyer, [Role.PROCUREMENT_OFFICER], email="officer@edu.yz.example", display_name="周采购",
                        locale="zh_Hans_CN")
    custodians = [
        make_user(buyer, [Role.KEY_CUSTODIAN], email=f"keeper{i}@edu.yz.example", display_name=name,
                  locale="zh_Hans_CN")
        for i, name in enumerate(("钱保管", "孙保管", "李保管"), start=1)
    ]
    supplier_org = make_org([OrgKind.SUPPLIER], name="扬州广陵信息技术有限公司")
    bidder = make_user(supplier_org, [Role.BIDDER], email="bids@guangling-it.example", display_name="吴投标",
                       locale="zh_Hans_CN")
    platform = make_org([OrgKind.PLATFORM], name="运河平台")
    finance = make_user(platform, [Role.FINANCE], email="finance@canal.example", display_name="李会计",
                        locale="zh_Hans_CN")

    enquiry_end = T0 + timedelta(days=10)
    deadline = T0 + timedelta(days=30)
    opening_time = deadline + timedelta(hours=1)

    # ------------------------------------------------------------------ 1. the officer publishes
    off = new_page()
    accept_dialogs(off)
    sign_in(off, officer)
    off.goto("/procurement/manage/tenders/new")
    off.fill('input[name="title_zh"]', TITLE_ZH)
    off.fill('input[name="title_en"]', TITLE_EN)
    off.fill('textarea[name="description_zh"]', "为全市中小学采购台式电脑 100 台，含三年上门保修。")
    off.select_option('select[name="category"]', "goods")
    off.fill('input[name="category_code"]', "A02010104")
    off.fill('input[name="budget"]', "1000000.00")
    off.select_option('select[name="method"]', "open")
    off.fill('input[name="enquiry_end"]', _local(enquiry_end))
    off.fill('input[name="submission_deadline"]', _local(deadline))
    off.fill('input[name="opening_time"]', _local(opening_time))
    off.fill('input[name="lots-0-title_zh"]', "台式电脑")
    off.fill('input[name="lots-0-title_en"]', "Desktop computers")
    off.fill('input[name="lots-0-budget"]', "1000000.00")
    off.fill('input[name="lots-0-bond_amount"]', "20000.00")
    off.fill('input[name="lots-0-quantity"]', "100")
    off.fill('input[name="lots-0-unit"]', "台")
    off.fill('input[name="lots-0-delivery_terms"]', "合同签订后 30 日内送达各校")
    for custodian in custodians:
        expect(off.locator(f'input[name="custodians"][value="{custodian.id}"]')).to_be_checked()
    off.fill('input[name="custodian_threshold"]', "2")
    off.select_option('select[name="evaluation_method"]', "lowest_price")
    off.set_input_files('input[name="documents"]', str(document))
    shot(off, "procurement_01_officer_new_tender")
    submit(off, "#tender-form button.btn-primary[type=submit]")
    expect(off).to_have_url(re.compile(r"/procurement/manage/tenders/\d+/edit"))
    tender_id = int(re.search(r"/tenders/(\d+)/edit", off.url).group(1))
    expect(off.locator("#documents .list-group-item")).to_have_count(1)
    shot(off, "procurement_02_officer_draft_saved")
    assert_clean(off)

    submit(off, f'form[action="/procurement/manage/tenders/{tender_id}/publish"] button[type=submit]')
    expect(off).to_have_url(re.compile(rf"/procurement/tenders/{tender_id}$"))
    _flash_ok(off)
    expect(off.locator("h1")).to_contain_text(TITLE_ZH)
    shot(off, "procurement_03_tender_published")
    assert_clean(off)
    _sync()
    tender = db.session.get(Tender, tender_id)
    assert tender.status == TenderStatus.ENQUIRIES and tender.public_key
    lot = tender.lots[0]
    fingerprint = tender.key_fingerprint

    off.goto("/procurement/manage/tenders")
    expect(off.locator(f'a[href="/procurement/tenders/{tender_id}"]').first).to_be_visible()
    shot(off, "procurement_03b_officer_my_tenders")
    assert_clean(off)

    # The public sees the notice in the list.
    visitor = new_page()
    visitor.goto("/procurement/tenders?q=计算机")
    expect(visitor.locator(f'a[href="/procurement/tenders/{tender_id}"]').first).to_be_visible()
    shot(visitor, "procurement_04_public_list")
    assert_clean(visitor)

    # ------------------------------------------------------------------ 2. custodians collect their shares
    share_codes: dict[int, str] = {}
    share_file = tmp_path / "share-2.json"
    for number, custodian in enumerate(custodians[:2], start=1):
        cp = new_page()
        sign_in(cp, custodian)
        cp.goto("/procurement/keys")
        row = cp.locator(f'#custodian-tenders tr[data-tender-id="{tender_id}"]')
        expect(row).to_have_attribute("data-share-status", "to_collect")
        if number == 1:
            shot(cp, "procurement_05_custodian_keys")
        row.locator(f'a[href="/procurement/keys/{tender_id}/collect"]').click()
        cp.wait_for_load_state("load")
        assert re.sub(r"\s", "", cp.locator(".canal-fingerprint").inner_text()) == fingerprint
        cp.fill('input[name="code"]', totp(custodian))
        submit(cp, f'form[action="/procurement/keys/{tender_id}/collect"] button[type=submit]')
        code = cp.locator("#share-code").inner_text().strip()
        assert code, "the share code is shown once"
        share_codes[custodian.id] = code
        if number == 1:
            shot(cp, "procurement_06_custodian_share_shown")
        else:
            with cp.expect_download() as info:
                cp.click("#share-file-link")
            info.value.save_as(share_file)
            assert json.loads(share_file.read_text(encoding="utf-8"))
        submit(cp, f'form[action="/procurement/keys/{tender_id}/confirm"] button[type=submit]')
        expect(cp.locator(f'#custodian-tenders tr[data-tender-id="{tender_id}"]')).to_have_attribute(
            "data-share-status", "confirmed")
        assert_clean(cp)
        # Shown once: the collection page now only says it was collected.
        cp.goto(f"/procurement/keys/{tender_id}/collect")
        expect(cp.locator("#share-code")).to_have_count(0)
        expect(cp.locator("body")).not_to_contain_text(code)


    # ------------------------------------------------------------------ 3. a question in the enquiry period
    clock.advance(timedelta(days=1))
    sup = new_page()
    sign_in(sup, bidder)
    sup.goto(f"/procurement/tenders/{tender_id}")
    expect(sup.locator(f'a[href="/procurement/tenders/{tender_id}/questions/new"]')).to_be_visible()
    # The countdown runs on the server's (moved) clock, not the browser's: 29 days minus a tick.
    expect(sup.locator(".canal-tender-countdown")).to_have_text(re.compile(r"^28 天 \d\d:\d\d:\d\d$"))
    shot(sup, "procurement_07_supplier_tender_detail")
    sup.click(f'a[href="/procurement/tenders/{tender_id}/questions/new"]')
    sup.wait_for_load_state("load")
    sup.fill('textarea[name="text"]', QUESTION)
    submit(sup, "#ask-form button[type=submit]")
    _flash_ok(sup)
    expect(sup.locator(".canal-my-question")).to_contain_text(QUESTION)
    shot(sup, "procurement_08_supplier_asked")
    assert_clean(sup)

    off = new_page()
    sign_in(off, officer)
    off.goto(f"/procurement/manage/questions?tender_id={tender_id}")
    card = off.locator(".canal-question", has_text=QUESTION)
    expect(card.locator(".canal-asker")).to_contain_text("扬州广陵信息技术有限公司")
    shot(off, "procurement_09_officer_inbox")
    card.locator('a[href*="/answer"]').click()
    off.wait_for_load_state("load")
    off.fill('textarea[name="answer"]', ANSWER)
    submit(off, "#answer-form button[type=submit]")
    _flash_ok(off)
    assert_clean(off)

    # The answer is public, the asker is not.
    visitor.goto(f"/procurement/tenders/{tender_id}")
    expect(visitor.locator("body")).to_contain_text(ANSWER)
    expect(visitor.locator("body")).not_to_contain_text("扬州广陵信息技术有限公司")
    shot(visitor, "procurement_10_public_qa")
    assert_clean(visitor)

    # ------------------------------------------------------------------ 4. the bond, by bank transfer
    sup.goto(f"/procurement/tenders/{tender_id}")
    sup.click(f'a[href="/procurement/tenders/{tender_id}/bonds"]')
    sup.wait_for_load_state("load")
    submit(sup, f"#lot-{lot.id} .canal-transfer-form button[type=submit]")
    reference_code = sup.locator(f"#lot-{lot.id} .canal-reference").inner_text().strip()
    assert re.fullmatch(r"CNL-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", reference_code)
    shot(sup, "procurement_11_bond_transfer_instructions")
    submit(sup, f"#lot-{lot.id} .canal-report-form button[type=submit]")
    _flash_ok(sup)
    assert_clean(sup)
    _sync()
    bond = db.session.scalar(db.select(Bond).where(Bond.supplier_org_id == supplier_org.id))
    payment_id = bond.payment_id

    # Two competitors file guarantees: finance verifies one on its page, the other by the service.
    hanjiang = _competitor(tender_id, "扬州邗江电子科技有限公司")
    yunhe = _competitor(tender_id, "江苏运河数码有限公司")
    bond_svc.verify_guarantee(yunhe[2], db.session.get(User, finance.id))

    fin = new_page()
    sign_in(fin, finance)
    fin.goto("/procurement/finance/bonds")
    guarantee = fin.locator(f'article.canal-bond-guarantee[data-reference="{hanjiang[2].reference}"]')
    expect(guarantee).to_contain_text("中国银行扬州分行")
    expect(fin.locator("article.canal-bond-guarantee")).to_have_count(1)
    expect(fin.locator(f'#bond-transfers tr[data-reference="{bond.reference}"]')).to_be_visible()
    # Finance sees the bond by reference only: no tender, no lot, no supplier.
    for secret in (TITLE_ZH, "扬州广陵信息技术有限公司", "台式电脑"):
        expect(fin.locator("main")).not_to_contain_text(secret)
    shot(fin, "procurement_12_finance_bonds_pending")
    submit(fin, f'article[data-reference="{hanjiang[2].reference}"] form.canal-verify-form button[type=submit]')
    _flash_ok(fin)
    expect(fin.locator(f'#handled-bonds tr[data-reference="{hanjiang[2].reference}"]')).to_be_visible()
    fin.goto(f"/payments/finance/transfers?q={reference_code}")
    card = fin.locator(f'article[data-reference="{reference_code}"]')
    expect(card).to_be_visible()
    for secret in (TITLE_ZH, "扬州广陵信息技术有限公司", "台式电脑"):
        expect(card).not_to_contain_text(secret)
    shot(fin, "procurement_12b_finance_bond_transfer")
    prefix = f"confirm-{payment_id}-"
    card.locator(f'input[name="{prefix}amount_received"]').fill("20000.00")
    card.locator(f'input[name="{prefix}slip"]').set_input_files(str(slip))
    submit(fin, f'article[data-reference="{reference_code}"] form.canal-confirm-form button[type=submit]')
    _flash_ok(fin)
    fin.goto("/procurement/finance/bonds")
    expect(fin.locator(f'#handled-bonds tr[data-reference="{bond.reference}"]')).to_be_visible()
    shot(fin, "procurement_13_finance_bond_confirmed")
    assert_clean(fin)
    _sync()
    assert db.session.get(Bond, hanjiang[2].id).status == "confirmed"
    assert db.session.get(Bond, bond.id).status == "confirmed"

    sup.goto(f"/procurement/tenders/{tender_id}/bonds")
    expect(sup.locator(f"#lot-{lot.id} .canal-bond")).to_be_visible()
    shot(sup, "procurement_14_supplier_bond_confirmed")

    # ------------------------------------------------------------------ 5. the bid, after the enquiry period
    clock.set_time(enquiry_end + timedelta(days=1))
    sup = new_page()
    sign_in(sup, bidder)
    sup.goto(f"/procurement/tenders/{tender_id}")
    sup.click(f'a[href="/procurement/tenders/{tender_id}/bid"]')
    sup.wait_for_load_state("load")
    # 19 days to the deadline on the server's clock (the browser's may be past it).
    expect(sup.locator("#bid-countdown")).to_have_text(re.compile(r"^1[89] 天 \d\d:\d\d:\d\d$"))
    sup.check(f"#lot-{lot.id}")
    submit(sup, "#bid-lots-form button[type=submit]")
    _flash_ok(sup)
    sup.fill(f"#price-{lot.id}", OUR_PRICE)
    submit(sup, f'.bid-price-form:has(#price-{lot.id}) button[type=submit]')
    _flash_ok(sup)
    sup.set_input_files("#bid-file", str(attachment))
    submit(sup, "#bid-attachment-form button[type=submit]")
    _flash_ok(sup)
    expect(sup.locator("#bid-draft tr.bid-part")).to_have_count(2)
    # The price is sealed: never shown back.
    expect(sup.locator("main")).not_to_contain_text("868,000.00")
    expect(sup.locator("main")).not_to_contain_text(OUR_PRICE)
    shot(sup, "procurement_15_bid_draft_sealed")
    submit(sup, "#bid-submit")
    _flash_ok(sup)
    expect(sup.locator("#bid-current")).to_be_visible()
    shot(sup, "procurement_16_bid_submitted")
    assert_clean(sup)

    with sup.expect_download() as info:
        sup.click("#bid-receipt-link")
    receipt_path = tmp_path / "receipt.json"
    info.value.save_as(receipt_path)
    receipt = json.loads(receipt_path.read_text(encoding="utf-8"))
    assert receipt["tender_id"] == tender_id

    sup.goto("/procurement/bids")
    expect(sup.locator('#my-bids a[href$="/receipt.json"]')).to_have_count(1)
    shot(sup, "procurement_16b_my_bids")
    assert_clean(sup)

    # Anyone verifies it: a stranger's browser, the file upload.
    visitor.goto("/procurement/receipts/verify")
    visitor.set_input_files('input[name="receipt_file"]', str(receipt_path))
    submit(visitor, "#verify-form button[type=submit]")
    expect(visitor.locator("#receipt-valid")).to_be_visible()
    expect(visitor.locator("#receipt-parts li")).to_have_count(2)
    shot(visitor, "procurement_17_receipt_valid")
    assert_clean(visitor)
    # A tampered copy (another lot id) is refused.
    tampered = dict(receipt, lots=[*receipt["lots"], 999])
    visitor.goto("/procurement/receipts/verify")
    visitor.fill('textarea[name="receipt_json"]', json.dumps(tampered))
    submit(visitor, "#verify-form button[type=submit]")
    expect(visitor.locator("#receipt-invalid")).to_be_visible()
    shot(visitor, "procurement_18_receipt_tampered")

    # Two competitors bid through the services (3 bids: the open method's minimum).
    _competitor_bids(tender_id, *hanjiang[:2], 912_500_00)
    _competitor_bids(tender_id, *yunhe[:2], 889_900_00)

    # Before the opening the officer sees neither who nor how many bid.
    off = new_page()
    sign_in(off, officer)
    off.goto(f"/procurement/tenders/{tender_id}")
    for secret in ("扬州广陵信息技术有限公司", "扬州邗江电子科技有限公司", "868,000.00"):
        expect(off.locator("main")).not_to_contain_text(secret)
    shot(off, "procurement_19_officer_before_opening")
    off.goto(f"/procurement/tenders/{tender_id}/opening")
    expect(off.locator("#not-opened")).to_be_visible()

    # ------------------------------------------------------------------ 6. deadline, then the opening
    clock.set_time(deadline)
    sup = new_page()
    sign_in(sup, bidder)
    sup.goto(f"/procurement/tenders/{tender_id}/bid")
    expect(sup.locator("#bid-submit")).to_have_count(0)
    expect(sup.locator("#bid-closed-note")).to_be_visible()
    shot(sup, "procurement_20_bid_after_deadline")

    clock.set_time(opening_time + timedelta(minutes=1))
    first, second = custodians[0], custodians[1]
    cp = new_page()
    sign_in(cp, first)
    cp.goto("/procurement/keys")
    cp.locator(f'#custodian-tenders tr[data-tender-id="{tender_id}"] '
               f'a[href="/procurement/tenders/{tender_id}/opening/present"]').click()
    cp.wait_for_load_state("load")
    cp.fill('textarea[name="share"]', share_codes[first.id])
    cp.fill('input[name="code"]', totp(first))
    shot(cp, "procurement_21_present_share")
    submit(cp, f'form[action="/procurement/tenders/{tender_id}/opening/present"] button[type=submit]')
    _flash_ok(cp)
    expect(cp.locator("#opening-progress")).to_contain_text("1")
    shot(cp, "procurement_22_first_share_accepted")
    assert_clean(cp)

    cp2 = new_page()
    sign_in(cp2, second)
    cp2.goto(f"/procurement/tenders/{tender_id}/opening/present")
    cp2.set_input_files('input[name="share_file"]', str(share_file))
    cp2.fill('input[name="code"]', totp(second))
    submit(cp2, f'form[action="/procurement/tenders/{tender_id}/opening/present"] button[type=submit]')
    expect(cp2).to_have_url(re.compile(rf"/procurement/tenders/{tender_id}/opening$"))
    expect(cp2.locator("#opening-summary")).to_be_visible()
    assert_clean(cp2)

    # ------------------------------------------------------------------ 7. the public opening record
    visitor.goto(f"/procurement/tenders/{tender_id}")
    visitor.click(f'a[href="/procurement/tenders/{tender_id}/opening"]')
    visitor.wait_for_load_state("load")
    lot_section = visitor.locator(f'.canal-opening-lot[data-lot-id="{lot.id}"]')
    ours = lot_section.locator(f'tr[data-bidder-org-id="{supplier_org.id}"]')
    expect(ours).to_contain_text("扬州广陵信息技术有限公司")
    expect(ours.locator(".canal-price")).to_contain_text("868,000.00")
    expect(lot_section.locator(".canal-price")).to_have_count(3)
    expect(lot_section).to_contain_text("912,500.00")
    expect(lot_section).to_contain_text("889,900.00")
    expect(visitor.locator("#opening-summary")).to_contain_text("钱保管")
    shot(visitor, "procurement_23_opening_record")
    assert_clean(visitor)
    _sync()
    tender = db.session.get(Tender, tender_id)
    assert tender.opened_at is not None
