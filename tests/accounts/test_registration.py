"""Registration of a new organization with its first user, through the page."""

from __future__ import annotations

import io

import sqlalchemy as sa

from accounts.models import Membership, Organization, User
from accounts.states import Role, Verification
from accounts.uscc import make_uscc
from core.db import db
from core.models import StoredFile
from tests.accounts.orgs_helpers import (  # noqa: F401
    GOOD_PASSWORD,
    PNG,
    _unlink_verifier,
    audit_actions,
    english,
    notifications_of,
    platform_admin,
)
from tests.factories import make_org
from tests.helpers import csrf_token

URL = "/accounts/register"


def _form(client, **overrides):
    data = {
        "csrf_token": csrf_token(client),
        "name_zh": "扬州市运河软件有限公司",
        "name_en": "Yangzhou Canal Software Co., Ltd.",
        "uscc": make_uscc(777001),
        "kinds": ["supplier", "provider"],
        "size_class": "small",
        "contact_phone": "0514-87000000",
        "address": "扬州市邗江区文昌西路 1 号",
        "email": "Founder@Canal-Soft.example.com",
        "display_name": "王小明",
        "password": GOOD_PASSWORD,
        "password2": GOOD_PASSWORD,
        "locale": "zh_Hans_CN",
    }
    data.update(overrides)
    return data


def test_register_page_explains_the_licence_rule(client):
    english(client)
    page = client.get(URL)
    assert page.status_code == 200
    assert "required before a platform administrator can verify" in page.get_data(as_text=True)


def test_registration_creates_pending_org_with_its_admin_and_signs_in(client):
    admin = platform_admin()
    response = client.post(URL, data=_form(client))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/accounts/dashboard")

    org = db.session.scalar(sa.select(Organization).where(Organization.uscc == make_uscc(777001)))
    assert org.verification == Verification.PENDING
    assert org.kinds == ["supplier", "provider"]
    user = db.session.scalar(sa.select(User).where(User.email == "founder@canal-soft.example.com"))
    membership = db.session.scalar(sa.select(Membership).where(Membership.user_id == user.id))
    assert membership.org_id == org.id and membership.roles == [Role.ORG_ADMIN.value]
    assert user.current_org_id == org.id
    assert user.password_hash.startswith("$argon2id$")

    dashboard = client.get("/accounts/dashboard")
    assert dashboard.status_code == 200
    assert "扬州市运河软件有限公司" in dashboard.get_data(as_text=True)

    assert "organization.registered" in audit_actions("organization", org.id)
    assert [n.kind for n in notifications_of(admin)] == ["organization.registered"]


def test_registration_stores_an_optional_licence(client):
    data = _form(client, licence=(io.BytesIO(PNG), "licence.png"))
    response = client.post(URL, data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    org = db.session.scalar(sa.select(Organization).where(Organization.uscc == make_uscc(777001)))
    stored = db.session.get(StoredFile, org.licence_file_id)
    assert stored.purpose == "licence" and stored.content_type == "image/png"


def test_wrong_uscc_is_an_error_on_the_uscc_field(client):
    english(client)
    code = make_uscc(777001)
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    response = client.post(URL, data=_form(client, uscc=wrong))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    uscc_block = html[html.index('for="uscc"') : html.index('id="kinds-0"')]
    assert "is-invalid" in uscc_block
    assert "The check character of this unified social credit code is wrong" in uscc_block
    assert db.session.scalar(sa.select(sa.func.count(Organization.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_uscc_of_wrong_length_names_the_length(client):
    english(client)
    response = client.post(URL, data=_form(client, uscc="9132100012345"))
    assert response.status_code == 422
    assert "A unified social credit code has 18 characters." in response.get_data(as_text=True)


def test_duplicate_uscc_is_refused_and_suggests_an_invitation(client):
    english(client)
    existing = make_org(uscc=make_uscc(777001))
    response = client.post(URL, data=_form(client))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    uscc_block = html[html.index('for="uscc"') : html.index('id="kinds-0"')]
    assert "already registered" in uscc_block and "invite" in uscc_block
    assert db.session.scalar(sa.select(sa.func.count(Organization.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0
    assert existing.id


def test_only_self_registering_kinds_are_accepted(client):
    response = client.post(URL, data=_form(client, kinds=["platform"]))
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count(Organization.id))) == 0


def test_weak_or_mismatched_passwords_are_refused(client):
    english(client)
    weak = client.post(URL, data=_form(client, password="short", password2="short"))
    assert weak.status_code == 422
    assert "at least 8 characters" in weak.get_data(as_text=True)
    mismatch = client.post(URL, data=_form(client, password2=GOOD_PASSWORD + "x"))
    assert mismatch.status_code == 422
    assert "The two passwords differ." in mismatch.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_registration_is_rate_limited_per_address(client):
    for n in range(5):
        response = client.post(URL, data=_form(client, uscc="bad"))
        assert response.status_code == 422, n
    assert client.post(URL, data=_form(client, uscc="bad")).status_code == 429
    assert client.get(URL).status_code == 200
