"""The payment page, its status JSON and finance's bank-transfer pages, through the client."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from accounts.states import OrgKind, Role
from core.db import db
from payments.models import Payment
from payments.services import bank_transfer as svc
from tests.factories import make_org, make_user
from tests.helpers import csrf_token, login, post_form
from tests.payments.p2_helpers import PDF_BYTES, bank_payment, new_payment, payer, platform_finance


def _row(payment_id):
    row = db.session.get(Payment, payment_id)
    db.session.refresh(row)
    return row


# --------------------------------------------------------------------------- access matrix


def test_payment_page_requires_login(client):
    org, user = payer()
    payment = new_payment(org, user)
    r = client.get(f"/payments/{payment.id}")
    assert r.status_code in (302, 303) and "/accounts/login" in r.headers["Location"]
    assert client.get(f"/payments/{payment.id}/status.json", headers={"Accept": "application/json"}).status_code == 401


def test_payment_page_of_another_organization_is_404(client):
    org, user = payer()
    payment = new_payment(org, user)
    other_org, other = payer()
    login(client, other)
    assert client.get(f"/payments/{payment.id}").status_code == 404
    assert client.get(f"/payments/{payment.id}/status.json").status_code == 404
    assert post_form(client, f"/payments/{payment.id}/pay", {"provider": "bank_transfer"}).status_code == 404
    assert _row(payment.id).status == "created"


def test_any_member_of_the_payer_sees_the_page(client):
    org, user = payer()
    payment = new_payment(org, user)
    colleague = make_user(org, [Role.ORG_ADMIN])
    login(client, colleague)
    page = client.get(f"/payments/{payment.id}").get_data(as_text=True)
    assert "¥1,200.00" in page and "Order 7" in page and "sme.order" in page
    assert 'href="/sme/orders/7"' in page


@pytest.mark.parametrize("who", ["anonymous", "payer", "payer_finance", "platform_admin", "platform_finance"])
def test_finance_transfer_pages_need_platform_finance(client, who):
    org, user = payer()
    payment = bank_payment(org, user)
    platform = make_org([OrgKind.PLATFORM], name="Canal")
    actors = {
        "payer": user,
        "payer_finance": make_user(org, [Role.FINANCE]),
        "platform_admin": make_user(platform, [Role.PLATFORM_ADMIN]),
        "platform_finance": make_user(platform, [Role.FINANCE]),
    }
    if who != "anonymous":
        login(client, actors[who])
    r = client.get("/payments/finance/transfers")
    confirm = post_form(client, f"/payments/finance/transfers/{payment.id}/reject", {f"reject-{payment.id}-reason": "x"})
    expected = {"anonymous": 302, "platform_finance": 200}.get(who, 403)
    assert r.status_code == expected
    if who == "platform_finance":
        assert payment.reference_code in r.get_data(as_text=True)
        assert confirm.status_code == 303 and _row(payment.id).status == "failed"
    else:
        assert confirm.status_code in (302, 400, 403) and _row(payment.id).status == "requires_action"


# --------------------------------------------------------------------------- paying


def test_payer_chooses_bank_transfer_and_sees_reference_and_account(client, app):
    org, user = payer()
    payment = new_payment(org, user)
    login(client, user)
    page = client.get(f"/payments/{payment.id}").get_data(as_text=True)
    assert 'value="bank_transfer"' in page and "payments.js" in page and "<script>" not in page
    r = post_form(client, f"/payments/{payment.id}/pay", {"provider": "bank_transfer"})
    assert r.status_code == 303
    row = _row(payment.id)
    assert row.status == "requires_action" and svc.is_reference_code(row.reference_code)
    page = client.get(f"/payments/{payment.id}").get_data(as_text=True)
    assert row.reference_code in page
    assert app.config["BANK_RECEIVING_ACCOUNT"]["account_number"] in page
    assert 'id="pay-form"' not in page  # nothing more to choose
    status = client.get(f"/payments/{payment.id}/status.json").get_json()
    assert status == {**status, "id": row.id, "status": "requires_action", "final": False,
                      "reference_code": row.reference_code}
    # paying twice does not draw a second code
    post_form(client, f"/payments/{payment.id}/pay", {"provider": "bank_transfer"})
    assert _row(payment.id).reference_code == row.reference_code


def test_allowed_providers_in_metadata_restrict_the_methods(client):
    org, user = payer()
    payment = new_payment(org, user, metadata={"allowed_providers": ["bank_transfer"]})
    login(client, user)
    page = client.get(f"/payments/{payment.id}").get_data(as_text=True)
    assert 'value="bank_transfer"' in page and 'value="card"' not in page
    r = post_form(client, f"/payments/{payment.id}/pay", {"provider": "card", "card_number": "4242424242424242"})
    assert r.status_code == 422
    assert _row(payment.id).status == "created"


def test_card_is_offered_with_a_test_card_field_outside_production(client):
    org, user = payer()
    payment = new_payment(org, user)
    login(client, user)
    page = client.get(f"/payments/{payment.id}").get_data(as_text=True)
    assert 'value="card"' in page and 'name="card_number"' in page and "Stripe Elements" in page


def test_the_test_card_field_is_never_shown_in_production(client, app):
    org, user = payer()
    payment = new_payment(org, user)
    login(client, user)
    app.config.update(PRODUCTION=True)
    try:
        page = client.get(f"/payments/{payment.id}").get_data(as_text=True)
    finally:
        app.config.update(PRODUCTION=False)
    assert 'name="card_number"' not in page


def test_card_without_a_number_is_a_form_error_and_changes_nothing(client):
    org, user = payer()
    payment = new_payment(org, user)
    login(client, user)
    r = post_form(client, f"/payments/{payment.id}/pay", {"provider": "card", "card_number": ""})
    assert r.status_code == 422 and "Enter a test card number." in r.get_data(as_text=True)
    assert _row(payment.id).status == "created"


def test_pay_without_csrf_is_refused(client):
    org, user = payer()
    payment = new_payment(org, user)
    login(client, user)
    r = client.post(f"/payments/{payment.id}/pay", data={"provider": "bank_transfer"})
    assert r.status_code in (400, 302, 303) and _row(payment.id).status == "created"


def test_finance_confirms_with_a_different_amount_and_both_sides_see_the_difference(client, app):
    org, user = payer()
    payment = bank_payment(org, user)
    finance = platform_finance()
    login(client, finance)
    prefix = f"confirm-{payment.id}-"
    # no slip: a form error, nothing confirmed
    r = post_form(client, f"/payments/finance/transfers/{payment.id}/confirm",
                  {prefix + "amount_received": "1000.00", prefix + "note": "short"})
    assert r.status_code == 422 and "Attach the bank slip" in r.get_data(as_text=True)
    assert _row(payment.id).status == "requires_action"
    r = client.post(
        f"/payments/finance/transfers/{payment.id}/confirm",
        data={"csrf_token": csrf_token(client), prefix + "amount_received": "1,000.00",
              prefix + "note": "Bank fee", prefix + "slip": (io.BytesIO(PDF_BYTES), "slip.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    row = _row(payment.id)
    assert row.status == "succeeded" and row.amount_received == 100_000
    listing = client.get("/payments/finance/transfers").get_data(as_text=True)
    assert "¥200.00 short" in listing and "Bank fee" in listing
    slip = client.get(f"/payments/finance/transfers/{payment.id}/slip")
    assert slip.status_code == 200 and slip.data == PDF_BYTES
    # the payer's page shows what arrived and the difference
    payer_client = app.test_client()
    login(payer_client, user)
    page = payer_client.get(f"/payments/{payment.id}").get_data(as_text=True)
    assert "¥1,000.00" in page and "¥200.00 short" in page and "Bank fee" in page
    assert payer_client.get(f"/payments/{payment.id}/status.json").get_json()["final"] is True
    assert payer_client.get(f"/payments/finance/transfers/{payment.id}/slip").status_code == 403


def test_finance_confirms_the_exact_amount_through_the_page(client):
    org, user = payer()
    payment = bank_payment(org, user)
    finance = platform_finance()
    login(client, finance)
    prefix = f"confirm-{payment.id}-"
    r = client.post(
        f"/payments/finance/transfers/{payment.id}/confirm",
        data={"csrf_token": csrf_token(client), prefix + "amount_received": "1200",
              prefix + "slip": (io.BytesIO(PDF_BYTES), "slip.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    assert _row(payment.id).status == "succeeded"
    assert client.get("/payments/finance/transfers").status_code == 200


def test_finance_search_by_reference_and_amount(client):
    org, user = payer()
    a = bank_payment(org, user, amount=50_000)
    b = bank_payment(org, user, amount=70_000, subject_id="9")
    login(client, platform_finance())
    page = client.get("/payments/finance/transfers", query_string={"q": a.reference_code.lower()}).get_data(as_text=True)
    assert a.reference_code in page and b.reference_code not in page
    page = client.get("/payments/finance/transfers", query_string={"amount": "700"}).get_data(as_text=True)
    assert b.reference_code in page and a.reference_code not in page


def test_payments_home_lists_my_organization_payments_and_finance_links(client):
    org, user = payer()
    mine = new_payment(org, user)
    other_org, other = payer()
    theirs = new_payment(other_org, other, subject_id="99")
    login(client, user)
    page = client.get("/payments/").get_data(as_text=True)
    assert f"/payments/{mine.id}" in page and f"/payments/{theirs.id}\"" not in page
    assert "/payments/finance/transfers" not in page
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 2


# --------------------------------------------------------------------------- card through localstripe


def test_payer_pays_by_test_card_through_the_page(client, localstripe):
    from payments import ledger
    from payments.services.payments import subject_account

    org, user = payer()
    payment = new_payment(org, user, provider="stripe")
    login(client, user)
    r = post_form(client, f"/payments/{payment.id}/pay", {"provider": "card", "card_number": "4242 4242 4242 4242"})
    assert r.status_code == 303
    row = _row(payment.id)
    assert row.status == "succeeded" and row.provider == "stripe" and row.provider_ref.startswith("pi_")
    assert ledger.account_balance(subject_account(row)).posted == row.amount
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "the payment succeeded" in page and 'id="payment-back"' in page


def test_a_declined_card_shows_a_clear_message_and_posts_nothing(client, localstripe):
    from payments import ledger
    from payments.services.payments import subject_account

    org, user = payer()
    payment = new_payment(org, user)  # created for bank transfer; the payer switches to card
    login(client, user)
    r = post_form(client, f"/payments/{payment.id}/pay", {"provider": "card", "card_number": "4000000000000002"},
                  follow_redirects=True)
    assert "declined" in r.get_data(as_text=True)
    row = _row(payment.id)
    assert row.status == "failed" and row.provider == "stripe"
    assert ledger.get_account(subject_account(row)) is None
