"""Organization profile, licence, verification by platform admins, credit status."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest

from accounts.services import organizations as orgs
from accounts.states import CreditStatus, OrgKind, Role, Verification
from accounts.uscc import make_uscc
from core import clock, events
from core.db import db, unit_of_work
from core.errors import InvalidTransition, PermissionDenied, ValidationError
from core.files import save_file
from tests.accounts.orgs_helpers import (  # noqa: F401
    PDF,
    PNG,
    _unlink_verifier,
    audit_actions,
    audit_entries,
    english,
    notifications_of,
    platform_admin,
    platform_auditor,
    reload,
)
from tests.factories import make_org, make_user
from tests.helpers import csrf_token, login, post_form


def _pending_with_licence(**fields):
    org = make_org(verified=False, **fields)
    with unit_of_work():
        org.licence_file_id = save_file(PDF, filename="licence.pdf", allowed={"pdf"}, purpose="licence").id
    return org


# --------------------------------------------------------------------------- verification


def test_platform_admin_verifies_a_pending_org_with_audit_notice_and_event():
    admin = platform_admin()
    org = _pending_with_licence()
    org_admin = make_user(org, [Role.ORG_ADMIN])
    received = []

    def listener(sender, **payload):
        received.append(payload)

    events.organization_verified.connect(listener)
    try:
        orgs.verify(org, admin, note="licence checked")
    finally:
        events.organization_verified.disconnect(listener)

    org = reload(org)
    assert org.verification == Verification.VERIFIED
    assert org.verified_by_id == admin.id and org.verified_at is not None
    assert received == [{"org_id": org.id, "verified_by_id": admin.id}]
    entry = audit_entries("organization.verified")[0]
    assert entry.actor_user_id == admin.id and entry.data["from"] == "pending"
    assert [n.kind for n in notifications_of(org_admin)] == ["organization.verified"]


def test_verification_needs_the_licence():
    admin = platform_admin()
    org = make_org(verified=False)
    with pytest.raises(ValidationError):
        orgs.verify(org, admin)
    assert reload(org).verification == Verification.PENDING
    assert "organization.verified" not in audit_actions()


def test_only_platform_admins_verify():
    org = _pending_with_licence()
    own_admin = make_user(org, [Role.ORG_ADMIN])
    auditor = platform_auditor()
    for actor in (own_admin, auditor):
        with pytest.raises(PermissionDenied):
            orgs.verify(org, actor)
    assert reload(org).verification == Verification.PENDING


def test_reject_needs_a_reason_and_then_the_org_may_ask_again():
    admin = platform_admin()
    org = _pending_with_licence()
    org_admin = make_user(org, [Role.ORG_ADMIN])
    with pytest.raises(ValidationError):
        orgs.reject(org, admin, note="  ")
    orgs.reject(org, admin, note="The licence is unreadable")
    org = reload(org)
    assert org.verification == Verification.REJECTED
    assert org.verification_note == "The licence is unreadable"
    assert [n.kind for n in notifications_of(org_admin)] == ["organization.rejected"]

    # rejected -> verified is not in the transition table
    with pytest.raises(InvalidTransition):
        orgs.verify(org, admin)

    orgs.request_verification(org, org_admin)
    assert reload(org).verification == Verification.PENDING
    with pytest.raises(InvalidTransition):
        orgs.request_verification(org, org_admin)  # only after a rejection
    assert audit_actions("organization", org.id) == [
        "organization.rejected",
        "organization.verification_requested",
    ]
    assert "organization.verification_requested" in [n.kind for n in notifications_of(admin)]


def test_a_verified_org_cannot_be_verified_twice_but_can_be_sent_back_to_review():
    admin = platform_admin()
    org = _pending_with_licence()
    orgs.verify(org, admin)
    with pytest.raises(InvalidTransition):
        orgs.verify(org, admin)
    with pytest.raises(InvalidTransition):
        orgs.reject(org, admin, note="no")
    orgs.send_back_to_review(org, admin, note="licence revoked by the market regulator")
    assert reload(org).verification == Verification.PENDING


def test_verify_and_reject_through_the_admin_pages(client):
    admin = platform_admin()
    org = _pending_with_licence()
    login(client, admin)
    page = client.get(f"/accounts/admin/organizations/{org.id}")
    assert page.status_code == 200 and org.uscc in page.get_data(as_text=True)
    assert post_form(client, f"/accounts/admin/organizations/{org.id}/reject", {"note": ""}).status_code == 422
    response = post_form(client, f"/accounts/admin/organizations/{org.id}/verify", {"note": "ok"})
    assert response.status_code == 303
    assert reload(org).verification == Verification.VERIFIED


def test_admin_list_filters_by_status_kind_and_keyword(client):
    admin = platform_admin()
    make_org([OrgKind.SUPPLIER], name="扬州甲供应商", verified=False)
    make_org([OrgKind.SME], name="扬州乙中小企业", verified=True)
    carrier = make_org([OrgKind.CARRIER], name="扬州丙物流", verified=False, uscc=make_uscc(555123))
    login(client, admin)

    def names(query):
        html = client.get("/accounts/admin/organizations" + query).get_data(as_text=True)
        return {n for n in ("扬州甲供应商", "扬州乙中小企业", "扬州丙物流") if n in html}

    assert names("") == {"扬州甲供应商", "扬州乙中小企业", "扬州丙物流"}
    assert names("?status=pending") == {"扬州甲供应商", "扬州丙物流"}
    assert names("?kind=sme") == {"扬州乙中小企业"}
    assert names("?q=物流") == {"扬州丙物流"}
    assert names("?q=" + carrier.uscc[-6:].lower()) == {"扬州丙物流"}
    assert names("?status=pending&kind=supplier") == {"扬州甲供应商"}


# --------------------------------------------------------------------------- credit


def test_debarment_lasts_until_its_date_inclusive():
    admin = platform_admin()
    org = make_org()
    clock.set_time(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))  # 12:00 in Yangzhou
    until = date(2026, 3, 10)
    orgs.set_credit_status(org, admin, CreditStatus.DEBARRED, "False documents", until=until)
    org = reload(org)
    assert org.is_debarred()
    clock.set_time(datetime(2026, 3, 10, 15, 59, tzinfo=UTC))  # 23:59 local on the last day
    assert org.is_debarred()
    clock.set_time(datetime(2026, 3, 10, 16, 0, tzinfo=UTC))  # midnight local: over
    assert not org.is_debarred()
    entry = audit_entries("organization.credit_changed")[0]
    assert entry.data["status"] == "debarred" and entry.data["until"] == "2026-03-10"


def test_credit_status_rules():
    admin = platform_admin()
    org = make_org()
    owner = make_user(org, [Role.ORG_ADMIN])
    with pytest.raises(ValidationError) as missing_date:
        orgs.set_credit_status(org, admin, CreditStatus.DEBARRED, "reason")
    assert "until" in missing_date.value.fields
    with pytest.raises(ValidationError):
        orgs.set_credit_status(org, admin, CreditStatus.DEBARRED, "reason", until=clock.today_local() - timedelta(days=1))
    with pytest.raises(ValidationError):
        orgs.set_credit_status(org, admin, CreditStatus.WARNING, "")
    with pytest.raises(PermissionDenied):
        orgs.set_credit_status(org, owner, CreditStatus.GOOD, "I am good")
    orgs.set_credit_status(org, admin, CreditStatus.DEBARRED, "r", until=clock.today_local() + timedelta(days=5))
    orgs.set_credit_status(org, admin, CreditStatus.WARNING, "late delivery")
    org = reload(org)
    assert org.credit_status == "warning" and org.debarred_until is None and not org.is_debarred()
    assert [n.kind for n in notifications_of(owner)] == ["organization.credit_changed"] * 2


def test_credit_form_through_the_admin_page(client):
    admin = platform_admin()
    org = make_org()
    login(client, admin)
    until = (clock.today_local() + timedelta(days=30)).isoformat()
    bad = post_form(client, f"/accounts/admin/organizations/{org.id}/credit", {"status": "debarred", "reason": "x"})
    assert bad.status_code == 422
    ok = post_form(
        client, f"/accounts/admin/organizations/{org.id}/credit", {"status": "debarred", "until": until, "reason": "x"}
    )
    assert ok.status_code == 303
    assert reload(org).is_debarred()


# --------------------------------------------------------------------------- profile


@pytest.mark.parametrize(
    ("tax_number", "ok"),
    [
        ("91350100M000100Y43", True),  # a valid USCC
        ("91350100M000100Y44", True),  # 18 characters: accepted as an older number
        ("320102123456789", True),  # 15-character legacy number
        ("32010219800101123X12", True),  # 20 characters (individual business)
        ("", True),
        ("1234", False),
        ("3201021234567890", False),  # 16
        ("91350100M000100Y4!", False),
    ],
)
def test_tax_number_shapes(tax_number, ok):
    assert (orgs.tax_number_problem(tax_number) is None) is ok


def test_org_admin_edits_profile_bank_and_invoice(client):
    org = make_org()
    admin = make_user(org, [Role.ORG_ADMIN])
    login(client, admin)
    data = {
        "name_zh": "扬州新名称有限公司",
        "name_en": "Yangzhou New Name Co., Ltd.",
        "size_class": "medium",
        "contact_phone": "13812345678",
        "address": "扬州市",
        "bank_name": "中国银行扬州分行",
        "bank_account_name": "扬州新名称有限公司",
        "bank_account_number": "6217 0000 1234 5678",
        "invoice_title": "扬州新名称有限公司",
        "tax_number": org.uscc,
    }
    assert post_form(client, "/accounts/org", data).status_code == 303
    org = reload(org)
    assert org.name_zh == "扬州新名称有限公司" and org.size_class == "medium"
    assert org.bank_account_number == "6217000012345678"
    entry = audit_entries("organization.updated")[0]
    assert "bank_account_number" in entry.data["fields"]
    assert "6217000012345678" not in str(entry.data) and "13812345678" not in str(entry.data)


def test_profile_rejects_a_bad_tax_number_on_its_field(client):
    english(client)
    org = make_org()
    login(client, make_user(org, [Role.ORG_ADMIN]))
    response = post_form(client, "/accounts/org", {"name_zh": "x", "size_class": "small", "tax_number": "1234"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "A tax number is the 18-character unified social credit code" in html
    assert reload(org).tax_number == ""


def test_members_without_admin_role_only_read_the_profile(client):
    org = make_org()
    bidder = make_user(org, [Role.BIDDER])
    login(client, bidder)
    assert client.get("/accounts/org").status_code == 200
    assert post_form(client, "/accounts/org", {"name_zh": "hijack", "size_class": "small"}).status_code == 403
    assert reload(org).name_zh != "hijack"


def test_unverified_org_sees_the_banner(client):
    english(client)
    org = make_org(verified=False)
    login(client, make_user(org, [Role.ORG_ADMIN]))
    html = client.get("/accounts/dashboard").get_data(as_text=True)
    assert "not verified yet" in html and "cannot bid" in html
    verified = make_org()
    other = make_user(verified, [Role.ORG_ADMIN])
    client2 = client.application.test_client()
    english(client2)
    login(client2, other)
    assert "not verified yet" not in client2.get("/accounts/dashboard").get_data(as_text=True)


def test_licence_upload_replace_and_request_again(client):
    admin = platform_admin()
    org = make_org(verified=False)
    owner = make_user(org, [Role.ORG_ADMIN])
    login(client, owner)
    r = client.post(
        "/accounts/org/licence",
        data={"csrf_token": csrf_token(client), "licence": (io.BytesIO(PDF), "licence.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    first = reload(org).licence_file_id
    assert first
    download = client.get(f"/accounts/organizations/{org.id}/licence")
    assert download.status_code == 200 and download.data == PDF

    orgs.reject(reload(org), admin, note="blurred")
    r = client.post(
        "/accounts/org/licence",
        data={"csrf_token": csrf_token(client), "licence": (io.BytesIO(PNG), "licence.png")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    assert reload(org).licence_file_id != first
    assert post_form(client, "/accounts/org/request-verification").status_code == 303
    assert reload(org).verification == Verification.PENDING
    assert audit_actions("organization", org.id).count("organization.licence_uploaded") == 2


def test_a_licence_of_the_wrong_type_is_refused(client):
    org = make_org(verified=False)
    login(client, make_user(org, [Role.ORG_ADMIN]))
    r = client.post(
        "/accounts/org/licence",
        data={"csrf_token": csrf_token(client), "licence": (io.BytesIO(b"MZ\x90\x00" * 20), "licence.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code in (303, 422)
    assert reload(org).licence_file_id is None


def test_a_user_without_an_active_membership_is_told_so(client):
    english(client)
    org = make_org()
    user = make_user(org, [Role.BIDDER])
    login(client, user)
    membership = user.memberships[0]
    with unit_of_work():
        db.session.get(type(membership), membership.id).active = False
    response = client.get("/accounts/org")
    assert response.status_code == 404 and "not an active member" in response.get_data(as_text=True)
    assert "not an active member" in client.get("/accounts/dashboard").get_data(as_text=True)


def test_active_membership_and_role_of_a_user_in_an_organization(app):
    from accounts.models import Membership

    buyer = make_org(kinds=[OrgKind.BUYER])
    other = make_org(kinds=[OrgKind.BUYER])
    officer = make_user(buyer, [Role.PROCUREMENT_OFFICER])
    assert orgs.active_membership(officer, buyer.id).org_id == buyer.id
    assert orgs.has_active_role(officer, buyer.id, Role.PROCUREMENT_OFFICER)
    assert orgs.has_active_role(officer, buyer.id, Role.FINANCE, Role.PROCUREMENT_OFFICER)  # any of them
    assert not orgs.has_active_role(officer, buyer.id, Role.FINANCE)
    assert orgs.active_membership(officer, other.id) is None and not orgs.has_active_role(officer, other.id, Role.PROCUREMENT_OFFICER)
    assert orgs.active_membership(None, buyer.id) is None and orgs.active_membership(officer, None) is None
    with unit_of_work():
        db.session.scalars(db.select(Membership).where(Membership.user_id == officer.id)).one().active = False
    assert orgs.active_membership(officer, buyer.id) is None
    assert not orgs.has_active_role(officer, buyer.id, Role.PROCUREMENT_OFFICER)
