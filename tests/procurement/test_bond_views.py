"""Bond pages through the Flask client: the supplier's bonds page, finance's bond queue,
confidentiality (officers see nothing, finance sees references only, other suppliers 404)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from accounts.states import OrgKind, Role
from core import clock
from core.db import db
from payments.models import Payment
from procurement.models import Bond, Lot
from procurement.services import bonds as svc
from procurement.states import BondStatus
from tests.factories import make_org, make_user
from tests.helpers import login, logout, post_form
from tests.payments.p2_helpers import PDF_BYTES, platform_finance
from tests.procurement.factories import NOW, make_buyer, make_supplier, published_tender


@pytest.fixture(autouse=True)
def _frozen_clock():
    clock.set_time(NOW)
    svc.connect_subscribers()
    yield
    clock.reset()


@pytest.fixture
def tender(buyer):
    return published_tender(buyer, title_zh="保密的办公设备采购", title_en="Secret office equipment")


@pytest.fixture
def lot(tender):
    return db.session.get(Lot, tender.lots[0].id)


@pytest.fixture
def supplier():
    return make_supplier(name="保密供应商有限公司")


def _page(tender):
    return f"/procurement/tenders/{tender.id}/bonds"


def _guarantee_data(lot, tender, **kw):
    p = f"g{lot.id}-"
    data = {p + "issuer": "中国银行", p + "number": "BG-1", p + "amount": f"{lot.bond_amount // 100}",
            p + "valid_until": (tender.opening_time + timedelta(days=90)).date().isoformat(),
            p + "file": (io.BytesIO(PDF_BYTES), "my-company-guarantee.pdf")}
    data.update({p + k: v for k, v in kw.items()})
    return data


def test_supplier_lodges_a_transfer_sees_how_to_pay_and_reports_it(client, tender, lot, supplier):
    org, user = supplier
    login(client, user)
    page = client.get(_page(tender))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "20,000.00" in html and "Pay by bank transfer" in html and "File the guarantee" in html
    response = post_form(client, f"/procurement/tenders/{tender.id}/lots/{lot.id}/bonds/transfer")
    assert response.status_code == 303
    bond = db.session.scalar(sa.select(Bond))
    payment = db.session.get(Payment, bond.payment_id)
    html = client.get(_page(tender)).get_data(as_text=True)
    assert bond.reference in html and payment.reference_code in html
    assert "I have made the transfer" in html
    from payments.services.bank_transfer import receiving_account

    assert receiving_account().account_number in html
    response = post_form(client, f"/procurement/bonds/{bond.id}/report")
    assert response.status_code == 303
    db.session.refresh(bond)
    assert bond.reported_at == NOW
    html = client.get(_page(tender)).get_data(as_text=True)
    assert "I have made the transfer" not in html and "Enough to submit a bid" in html
    # the payment page's way back leads to the bond page
    back = client.get(f"/procurement/bonds/{bond.id}")
    assert back.status_code == 303 and _page(tender) in back.headers["Location"]


def test_supplier_files_a_guarantee_and_sees_field_errors(client, tender, lot, supplier):
    org, user = supplier
    login(client, user)
    url = f"/procurement/tenders/{tender.id}/lots/{lot.id}/bonds/guarantee"
    too_low = post_form(client, url, _guarantee_data(lot, tender, amount="1.00"), content_type="multipart/form-data")
    assert too_low.status_code == 422
    assert "at least the lot" in too_low.get_data(as_text=True)
    expired = post_form(client, url, _guarantee_data(lot, tender, valid_until=NOW.date().isoformat()),
                        content_type="multipart/form-data")
    assert expired.status_code == 422 and "valid at least until the opening" in expired.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Bond.id))) == 0
    ok = post_form(client, url, _guarantee_data(lot, tender), content_type="multipart/form-data")
    assert ok.status_code == 303
    bond = db.session.scalar(sa.select(Bond))
    assert bond.kind == "guarantee" and bond.status == BondStatus.PENDING and bond.amount == lot.bond_amount
    html = client.get(_page(tender)).get_data(as_text=True)
    assert bond.reference in html and "BG-1" in html
    download = client.get(f"/procurement/bonds/{bond.id}/guarantee")
    assert download.status_code == 200 and download.data == PDF_BYTES


def test_another_supplier_gets_404_on_someone_elses_bond(client, tender, lot, supplier):
    org, user = supplier
    bond = svc.lodge_transfer(tender, lot, user, org)
    guarantee_tender = published_tender(make_buyer())
    g = svc.lodge_guarantee(guarantee_tender, guarantee_tender.lots[0], user, org, issuer="Bank", number="N1",
                            amount=guarantee_tender.lots[0].bond_amount,
                            valid_until=(guarantee_tender.opening_time + timedelta(days=1)).date(),
                            file=PDF_BYTES, filename="g.pdf")
    other_org, other_user = make_supplier()
    login(client, other_user)
    assert client.get(f"/procurement/bonds/{bond.id}").status_code == 404
    assert post_form(client, f"/procurement/bonds/{bond.id}/report").status_code == 404
    assert client.get(f"/procurement/bonds/{g.id}/guarantee").status_code == 404
    html = client.get(_page(tender)).get_data(as_text=True)
    assert bond.reference not in html and "Pay by bank transfer" in html  # its own, empty page
    db.session.refresh(bond)
    assert bond.reported_at is None


def test_officers_and_platform_admins_see_no_bond_information(client, buyer, tender, lot, supplier):
    org, user = supplier
    bond = svc.lodge_transfer(tender, lot, user, org)
    login(client, buyer.officer)
    assert client.get(_page(tender)).status_code == 403
    assert client.get(f"/procurement/bonds/{bond.id}").status_code == 403
    assert client.get("/procurement/finance/bonds").status_code == 403
    logout(client)
    admin = make_user(make_org([OrgKind.PLATFORM]), [Role.PLATFORM_ADMIN])
    login(client, admin)
    assert client.get(_page(tender)).status_code == 403
    assert client.get("/procurement/finance/bonds").status_code == 403
    assert client.get(f"/procurement/finance/bonds/{bond.id}/guarantee").status_code == 403


def test_finance_page_shows_references_only_and_verifies_a_guarantee(client, tender, lot, supplier):
    org, user = supplier
    transfer = svc.lodge_transfer(tender, lot, user, org)
    other_org, other_user = make_supplier(name="另一家保密供应商")
    guarantee = svc.lodge_guarantee(tender, lot, other_user, other_org, issuer="中国工商银行", number="ICBC-77",
                                    amount=lot.bond_amount, valid_until=(tender.opening_time + timedelta(days=90)).date(),
                                    file=PDF_BYTES, filename="另一家保密供应商-保函.pdf")
    finance = platform_finance()
    login(client, finance)
    page = client.get("/procurement/finance/bonds")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert transfer.reference in html and guarantee.reference in html and "ICBC-77" in html
    assert db.session.get(Payment, transfer.payment_id).reference_code in html
    assert "/payments/finance/transfers" in html
    for secret in (tender.title_zh, tender.title_en, org.name_zh, org.name_en, other_org.name_zh, lot.title_zh,
                   lot.title_en, f"/procurement/tenders/{tender.id}"):
        assert secret not in html, secret
    # the guarantee file is viewable, named by the reference (not the supplier's file name)
    view = client.get(f"/procurement/finance/bonds/{guarantee.id}/guarantee")
    assert view.status_code == 200 and view.data == PDF_BYTES
    disposition = view.headers.get("Content-Disposition", "")
    assert guarantee.reference in disposition and "%E5%8F%A6" not in disposition
    # reject needs a reason (422, shown on the form), then verify
    bad = post_form(client, f"/procurement/finance/bonds/{guarantee.id}/reject", {f"x{guarantee.id}-reason": ""})
    assert bad.status_code == 422
    ok = post_form(client, f"/procurement/finance/bonds/{guarantee.id}/verify")
    assert ok.status_code == 303
    db.session.refresh(guarantee)
    assert guarantee.status == BondStatus.CONFIRMED and guarantee.verified_by_id == finance.id
    # search by the transfer's reference code
    code = db.session.get(Payment, transfer.payment_id).reference_code
    html = client.get("/procurement/finance/bonds", query_string={"q": code}).get_data(as_text=True)
    assert re.search(rf'id="bond-transfers".*{transfer.reference}', html, re.S)


def test_finance_rejects_a_guarantee_and_the_supplier_sees_the_reason(client, tender, lot, supplier):
    org, user = supplier
    guarantee = svc.lodge_guarantee(tender, lot, user, org, issuer="Bank", number="N-9", amount=lot.bond_amount,
                                    valid_until=(tender.opening_time + timedelta(days=90)).date(),
                                    file=PDF_BYTES, filename="g.pdf")
    finance = platform_finance()
    login(client, finance)
    response = post_form(client, f"/procurement/finance/bonds/{guarantee.id}/reject",
                         {f"x{guarantee.id}-reason": "Unknown at the issuing bank"})
    assert response.status_code == 303
    db.session.refresh(guarantee)
    assert guarantee.status == BondStatus.REJECTED
    logout(client)
    login(client, user)
    html = client.get(_page(tender)).get_data(as_text=True)
    assert "Unknown at the issuing bank" in html and "Pay by bank transfer" in html  # may lodge again


def test_auditors_read_the_finance_queue_but_cannot_act(client, tender, lot, supplier):
    org, user = supplier
    guarantee = svc.lodge_guarantee(tender, lot, user, org, issuer="Bank", number="N-3", amount=lot.bond_amount,
                                    valid_until=(tender.opening_time + timedelta(days=90)).date(),
                                    file=PDF_BYTES, filename="g.pdf")
    auditor = make_user(make_org([OrgKind.PLATFORM]), [Role.AUDITOR])
    login(client, auditor)
    html = client.get("/procurement/finance/bonds").get_data(as_text=True)
    assert guarantee.reference in html and "canal-verify-form" not in html
    assert post_form(client, f"/procurement/finance/bonds/{guarantee.id}/verify").status_code == 403
    db.session.refresh(guarantee)
    assert guarantee.status == BondStatus.PENDING


def test_the_bonds_page_is_closed_for_lodging_after_the_deadline(client, tender, lot, supplier):
    org, user = supplier
    clock.set_time(tender.submission_deadline)
    login(client, user)
    html = client.get(_page(tender)).get_data(as_text=True)
    assert "can no longer be lodged" in html and "Pay by bank transfer" not in html
    response = post_form(client, f"/procurement/tenders/{tender.id}/lots/{lot.id}/bonds/transfer")
    assert response.status_code == 303
    assert db.session.scalar(sa.select(sa.func.count(Bond.id))) == 0


def test_finance_transfers_page_shows_the_bond_purpose_in_the_readers_language(client, tender, lot, supplier):
    import flask_babel

    from payments.services import payments as payment_svc
    from tests.payments.p2_helpers import payer

    org, user = supplier
    bond = svc.lodge_transfer(tender, lot, user, org)
    payment = db.session.get(Payment, bond.payment_id)
    assert payment.purpose == "Bid bond"  # stored in English whatever the supplier's language
    # another payment whose purpose is caller text: shown as typed, escaped, never looked up
    other_org, other_user = payer()
    other = payment_svc.start(payment_svc.create_payment(
        purpose="<b>Order</b> 50% off", subject_type="sme.order", subject_id="8", payer_org_id=other_org.id,
        amount=10_000, provider="bank_transfer", return_url="/", actor=other_user), actor=other_user)
    login(client, platform_finance())
    post_form(client, "/lang", {"lang": "zh_Hans_CN"})
    flask_babel.refresh()
    html = client.get("/payments/finance/transfers").get_data(as_text=True)
    card = html.split(f'data-reference="{payment.reference_code}"')[1].split("</article>")[0]
    assert "投标保证金" in card and "Bid bond" not in card
    assert other.reference_code in html and "&lt;b&gt;Order&lt;/b&gt; 50% off" in html
    post_form(client, "/lang", {"lang": "en"})
    flask_babel.refresh()
    html = client.get("/payments/finance/transfers").get_data(as_text=True)
    assert "Bid bond" in html.split(f'data-reference="{payment.reference_code}"')[1].split("</article>")[0]


def test_the_bid_bonds_menu_link_is_for_platform_finance_only(client):
    """A supplier's own finance member holds FINANCE in the supplier: the platform's bond
    queue (require_platform_role) is not theirs, so the menu does not offer it."""
    supplier_org, _bidder = make_supplier()
    supplier_finance = make_user(supplier_org, [Role.FINANCE])
    login(client, supplier_finance)
    assert "/procurement/finance/bonds" not in client.get("/").get_data(as_text=True)
    assert client.get("/procurement/finance/bonds").status_code == 403
    logout(client)
    login(client, platform_finance())
    assert "/procurement/finance/bonds" in client.get("/").get_data(as_text=True)
