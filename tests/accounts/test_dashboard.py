"""The dashboard: one card per role held in the current organization."""

from __future__ import annotations

import pytest

from accounts.states import OrgKind, Role
from core.notifications import Recipient, notify
from tests.accounts.orgs_helpers import _unlink_verifier, english, platform_admin  # noqa: F401
from tests.factories import make_org, make_user
from tests.helpers import login


@pytest.mark.parametrize(
    ("kind", "roles", "expected", "absent"),
    [
        (OrgKind.SUPPLIER, [Role.BIDDER], ["Open tenders", "My bids"], ["Members and invitations"]),
        (OrgKind.BUYER, [Role.PROCUREMENT_OFFICER, Role.ORG_ADMIN], ["My tenders", "Members and invitations"], ["Open tenders"]),
        (OrgKind.BUYER, [Role.KEY_CUSTODIAN], ["Openings"], ["My tenders"]),
        (OrgKind.EXPERT_POOL, [Role.EVALUATOR], ["Evaluations"], ["Openings"]),
        (OrgKind.SME, [Role.BUYER], ["Marketplace"], ["My listings"]),
        (OrgKind.PROVIDER, [Role.PROVIDER_STAFF], ["My listings"], ["Marketplace"]),
        (OrgKind.CARRIER, [Role.CARRIER_AGENT], ["Shipments"], ["Payments"]),
        (OrgKind.SUPPLIER, [Role.FINANCE], ["Payments"], ["Shipments"]),
        (OrgKind.REGULATOR, [Role.REGULATOR], ["Complaints"], ["Audit log"]),
        (OrgKind.PLATFORM, [Role.AUDITOR], ["Audit log"], ["Organizations to verify"]),
    ],
)
def test_each_role_sees_its_card(client, kind, roles, expected, absent):
    english(client)
    user = make_user(make_org([kind]), roles)
    login(client, user)
    html = client.get("/accounts/dashboard").get_data(as_text=True)
    for text in expected:
        assert text in html
    for text in absent:
        assert text not in html


def test_platform_admin_sees_the_pending_count_and_unread_notifications(client):
    english(client)
    admin = platform_admin()
    make_org(verified=False)
    make_org(verified=False)
    make_org(verified=True)
    notify([Recipient(admin.id, admin.email, "en")], "test.kind", "Something happened")
    login(client, admin)
    html = client.get("/accounts/dashboard").get_data(as_text=True)
    assert "2 organizations wait for verification." in html
    assert "/accounts/admin/organizations?status=pending" in html
    assert "/accounts/admin/audit" in html and "/accounts/admin/calendar" in html
    assert "Something happened" in html


def test_dashboard_shows_verification_and_credit_status(client):
    english(client)
    org = make_org()
    login(client, make_user(org, [Role.BIDDER]))
    html = client.get("/accounts/dashboard").get_data(as_text=True)
    assert "Verified" in html and "Good standing" in html


def test_dashboard_needs_login(client):
    response = client.get("/accounts/dashboard")
    assert response.status_code in (302, 303) and "/accounts/login" in response.headers["Location"]
