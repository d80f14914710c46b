"""Finance pages: role matrix, account and entry pages, entry filters, CSV export, payout forms."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from accounts.states import OrgKind, Role
from core import clock
from core.db import db
from payments import ledger
from payments.ledger import TransferSpec as T
from payments.models import LedgerAccount, Payout
from payments.services import payouts as svc
from payments.states import PayoutStatus
from tests.factories import make_org, make_user
from tests.helpers import login, post_form

READ_URLS = [
    "/payments/finance/accounts",
    "/payments/finance/entries",
    "/payments/finance/entries.csv",
    "/payments/finance/payouts",
    "/payments/finance/reconciliation",
]

BANK = {"bank_name": "Bank of China Yangzhou", "bank_account_name": "Payee Ltd", "bank_account_number": "6222"}


@pytest.fixture
def platform():
    return make_org([OrgKind.PLATFORM], name="Canal platform")


@pytest.fixture
def finance(platform):
    return make_user(platform, [Role.FINANCE])


@pytest.fixture
def payee():
    return make_org([OrgKind.PROVIDER], **BANK)


def _as(client, user):
    response = login(client, user)
    assert response.status_code in (302, 303)
    return client


def _payout(payee, amount=5_000, idem="p1"):
    ledger.post_entry(f"fund-{idem}", [T("platform:clearing", f"org:{payee.id}:payable", amount)])
    return svc.create_payout(payee_org_id=payee.id, amount=amount, reason="Provider payout",
                             source_key=f"org:{payee.id}:payable", actor="system", idempotency_id=idem)


@pytest.mark.parametrize("who,expected", [
    ("platform_finance", 200), ("platform_auditor", 200), ("platform_admin", 403),
    ("org_finance", 403), ("org_admin", 403),
])
def test_finance_pages_role_matrix_for_reading(client, platform, who, expected):
    other = make_org([OrgKind.SUPPLIER])
    user = {
        "platform_finance": lambda: make_user(platform, [Role.FINANCE]),
        "platform_auditor": lambda: make_user(platform, [Role.AUDITOR]),
        "platform_admin": lambda: make_user(platform, [Role.PLATFORM_ADMIN]),
        "org_finance": lambda: make_user(other, [Role.FINANCE]),
        "org_admin": lambda: make_user(other, [Role.ORG_ADMIN]),
    }[who]()
    account = ledger.get_or_create_account("platform:clearing")
    _as(client, user)
    for url in READ_URLS + [f"/payments/finance/accounts/{account.id}"]:
        assert client.get(url).status_code == expected, url


def test_finance_pages_ask_anonymous_visitors_to_log_in(client):
    for url in READ_URLS:
        assert client.get(url).status_code in (302, 401), url


def test_only_platform_finance_may_act_on_payouts(client, platform, payee):
    payout = _payout(payee)
    _as(client, make_user(platform, [Role.AUDITOR]))
    assert post_form(client, "/payments/finance/payouts/export", {"currency": "CNY"}).status_code == 403
    assert post_form(client, f"/payments/finance/payouts/{payout.id}/failed", {"reason": "x"}).status_code == 403
    page = client.get("/payments/finance/payouts").get_data(as_text=True)
    assert "Export a batch" not in page
    assert db.session.get(Payout, payout.id).status == PayoutStatus.PENDING


def test_finance_exports_a_batch_downloads_it_and_marks_payouts_paid_and_failed(client, finance, payee):
    first = _payout(payee, 5_000, "p1")
    second = _payout(payee, 7_000, "p2")
    _as(client, finance)
    page = client.get("/payments/finance/payouts").get_data(as_text=True)
    assert "Export a batch" in page and first.reference in page
    response = post_form(client, "/payments/finance/payouts/export", {"currency": "CNY"})
    assert response.status_code == 303
    db.session.expire_all()
    batch_id = db.session.get(Payout, first.id).batch_id
    assert batch_id and db.session.get(Payout, second.id).batch_id == batch_id
    download = client.get(f"/payments/finance/payouts/batches/{batch_id}.csv")
    assert download.status_code == 200 and first.reference in download.get_data().decode("utf-8-sig")
    # a second export finds nothing: a flashed message, no new batch
    again = post_form(client, "/payments/finance/payouts/export", {"currency": "CNY"}, follow_redirects=True)
    assert "No pending payout to export." in again.get_data(as_text=True)

    assert post_form(client, f"/payments/finance/payouts/{first.id}/paid",
                     {"bank_reference": "BOC-1"}).status_code == 303
    assert post_form(client, f"/payments/finance/payouts/{second.id}/failed",
                     {"reason": "Account closed"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Payout, first.id).status == PayoutStatus.PAID
    assert db.session.get(Payout, second.id).status == PayoutStatus.FAILED
    assert ledger.account_balance(f"org:{payee.id}:payable").posted == 7_000
    # an empty bank reference is a flashed error, not a change
    third = _payout(payee, 1_000, "p3")
    post_form(client, "/payments/finance/payouts/export", {"currency": "CNY"})
    response = post_form(client, f"/payments/finance/payouts/{third.id}/paid", {"bank_reference": ""},
                         follow_redirects=True)
    assert "bank&#39;s reference" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Payout, third.id).status == PayoutStatus.EXPORTED


def test_payout_forms_need_a_csrf_token(client, finance, payee):
    _payout(payee)
    _as(client, finance)
    assert client.post("/payments/finance/payouts/export", data={"currency": "CNY"}).status_code == 400


def test_accounts_page_lists_balances_and_filters_by_prefix_and_currency(client, finance):
    ledger.post_entry("e1", [T("platform:clearing", "org:5:payable", 12_345)])
    ledger.post_entry("e2", [T("platform:clearing", "order:9:escrow", 100, "USD")])
    _as(client, finance)
    html = client.get("/payments/finance/accounts?prefix=org:").get_data(as_text=True)
    assert "org:5:payable" in html and "123.45" in html and "order:9:escrow" not in html
    html = client.get("/payments/finance/accounts?currency=USD").get_data(as_text=True)
    assert "order:9:escrow" in html and "org:5:payable" not in html
    account_id = db.session.scalar(db.select(LedgerAccount.id).where(LedgerAccount.key == "org:5:payable"))
    html = client.get(f"/payments/finance/accounts/{account_id}").get_data(as_text=True)
    assert "platform:clearing" in html and "123.45" in html
    assert client.get("/payments/finance/accounts/999999").status_code == 404


def test_entries_filters_by_date_range_account_and_keyword(client, finance):
    clock.set_time(datetime(2026, 3, 1, 4, 0, tzinfo=UTC))  # 12:00 in Shanghai
    ledger.post_entry("payment:1:succeeded", [T("platform:clearing", "subject:a:1", 100)], description="march")
    clock.set_time(datetime(2026, 3, 5, 4, 0, tzinfo=UTC))
    ledger.post_entry("refund:7", [T("subject:x:2", "platform:clearing", 50)], description="refund of march")
    ledger.post_entry("other-entry", [T("platform:clearing", "org:3:payable", 70)], description="payable topup")
    _as(client, finance)

    def ids(query: str) -> set[str]:
        html = client.get(f"/payments/finance/entries?{query}").get_data(as_text=True)
        return {i for i in ("payment:1:succeeded", "refund:7", "other-entry") if i in html}

    assert ids("") == {"payment:1:succeeded", "refund:7", "other-entry"}
    assert ids("date_from=2026-03-01&date_to=2026-03-01") == {"payment:1:succeeded"}
    assert ids("date_from=2026-03-02") == {"refund:7", "other-entry"}
    assert ids("account=org:3:payable") == {"other-entry"}
    assert ids("account=platform:clearing&date_to=2026-03-04") == {"payment:1:succeeded"}
    assert ids("q=refund") == {"refund:7"}
    assert ids("q=TOPUP") == {"other-entry"}
    assert ids("q=payment:1:") == {"payment:1:succeeded"}
    assert ids("date_from=not-a-date") == {"payment:1:succeeded", "refund:7", "other-entry"}


def test_entries_csv_export_follows_the_filters_and_escapes_formula_cells(client, finance):
    ledger.post_entry("=cmd|calc", [T("platform:clearing", "org:1:payable", 250)], description="@SUM(A1:A9)")
    ledger.post_entry("plain", [T("platform:clearing", "org:2:payable", 99)], description="plain one")
    _as(client, finance)
    response = client.get("/payments/finance/entries.csv?q=cmd")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert len(rows) == 2
    row = rows[1]
    assert row[2] == "'=cmd|calc" and row[4] == "'@SUM(A1:A9)"
    assert row[5:9] == ["platform:clearing", "org:1:payable", "2.50", "CNY"]


def test_entries_page_paginates(client, finance):
    for n in range(55):
        ledger.post_entry(f"bulk-{n:02d}", [T("platform:clearing", "org:1:payable", 1)])
    _as(client, finance)
    first = client.get("/payments/finance/entries").get_data(as_text=True)
    second = client.get("/payments/finance/entries?page=2").get_data(as_text=True)
    assert "bulk-54" in first and "bulk-00" not in first
    assert "bulk-00" in second and "bulk-54" not in second
    assert client.get("/payments/finance/entries?page=99").status_code == 200


def test_dashboard_home_of_finance_redirects_to_accounts(client, finance):
    _as(client, finance)
    response = client.get("/payments/finance/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/payments/finance/accounts")


def test_the_dashboard_finance_card_links_the_finance_pages_for_platform_finance_only(client, finance):
    _as(client, finance)
    html = client.get("/accounts/dashboard").get_data(as_text=True)
    assert "/payments/finance/accounts" in html and "/payments/finance/reconciliation" in html
    client.post("/accounts/logout")
    other = make_user(make_org([OrgKind.SUPPLIER]), [Role.FINANCE])
    client2 = client.application.test_client()
    _as(client2, other)
    assert "/payments/finance/accounts" not in client2.get("/accounts/dashboard").get_data(as_text=True)
