"""Who may do what to an organization's objects.

Actors: the org's admin (right role), a member of the same org with the wrong role (403),
another organization's admin (404: its existence is not revealed), a platform admin and
an auditor (allowed where designed, else 403/404), and anonymous callers (sent to login).
"""

from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.services import members
from accounts.states import OrgKind, Role
from core.db import unit_of_work
from core.files import save_file
from tests.accounts.orgs_helpers import PDF, _unlink_verifier, platform_admin, platform_auditor  # noqa: F401
from tests.factories import make_org, make_user
from tests.helpers import login, post_form

ACTORS = ("org_admin", "same_org_wrong_role", "other_org_admin", "platform_admin", "auditor", "anonymous")


@pytest.fixture
def world():
    org = make_org([OrgKind.SUPPLIER], name="甲供应商")
    with unit_of_work():
        org.licence_file_id = save_file(PDF, filename="licence.pdf", allowed={"pdf"}, purpose="licence").id
    admin = make_user(org, [Role.ORG_ADMIN])
    bidder = make_user(org, [Role.BIDDER])
    target = make_user(org, [Role.BIDDER])
    other = make_org([OrgKind.SUPPLIER], name="乙供应商")
    padmin = platform_admin()
    auditor = platform_auditor(org=padmin.memberships[0].organization)
    inv, _token = members.invite(org, admin, "invitee@example.com", ["bidder"])
    return {
        "org": org,
        "membership_id": target.memberships[0].id,
        "invitation_id": inv.id,
        "actors": {
            "org_admin": admin,
            "same_org_wrong_role": bidder,
            "other_org_admin": make_user(other, [Role.ORG_ADMIN]),
            "platform_admin": padmin,
            "auditor": auditor,
            "anonymous": None,
        },
    }


def _expect(table: dict[str, int | str]) -> list[tuple[str, int | str]]:
    return [(actor, table[actor]) for actor in ACTORS]


CASES = {
    # (method, url template): {actor: expected status or "login"}
    ("GET", "/accounts/org/members"): {
        "org_admin": 200, "same_org_wrong_role": 403, "other_org_admin": 200, "platform_admin": 200,
        "auditor": 403, "anonymous": "login",
    },
    ("POST", "/accounts/org/members/{membership_id}/roles"): {
        "org_admin": 303, "same_org_wrong_role": 403, "other_org_admin": 404, "platform_admin": 404,
        "auditor": 403, "anonymous": "login",
    },
    ("POST", "/accounts/org/members/{membership_id}/deactivate"): {
        "org_admin": 303, "same_org_wrong_role": 403, "other_org_admin": 404, "platform_admin": 404,
        "auditor": 403, "anonymous": "login",
    },
    ("POST", "/accounts/org/invitations/{invitation_id}/revoke"): {
        "org_admin": 303, "same_org_wrong_role": 403, "other_org_admin": 404, "platform_admin": 404,
        "auditor": 403, "anonymous": "login",
    },
    ("GET", "/accounts/organizations/{org_id}/licence"): {
        "org_admin": 200, "same_org_wrong_role": 200, "other_org_admin": 404, "platform_admin": 200,
        "auditor": 200, "anonymous": "login",
    },
    ("GET", "/accounts/admin/organizations/{org_id}"): {
        "org_admin": 403, "same_org_wrong_role": 403, "other_org_admin": 403, "platform_admin": 200,
        "auditor": 200, "anonymous": "login",
    },
    ("GET", "/accounts/admin/organizations"): {
        "org_admin": 403, "same_org_wrong_role": 403, "other_org_admin": 403, "platform_admin": 200,
        "auditor": 200, "anonymous": "login",
    },
    ("POST", "/accounts/admin/organizations/{org_id}/credit"): {
        "org_admin": 403, "same_org_wrong_role": 403, "other_org_admin": 403, "platform_admin": 303,
        "auditor": 403, "anonymous": "login",
    },
}

PARAMS = [
    pytest.param(method, url, actor, expected, id=f"{method} {url} as {actor}")
    for (method, url), table in CASES.items()
    for actor, expected in _expect(table)
]


@pytest.mark.parametrize(("method", "url", "actor", "expected"), PARAMS)
def test_permission_matrix(client, world, method, url, actor, expected):
    user = world["actors"][actor]
    if user is not None:
        login(client, user)
    target = url.format(
        membership_id=world["membership_id"], invitation_id=world["invitation_id"], org_id=world["org"].id
    )
    data = {
        f"m{world['membership_id']}-roles": ["bidder", "finance"],
        "status": "warning",
        "reason": "late delivery",
    }
    response = client.get(target) if method == "GET" else post_form(client, target, data)
    if expected == "login":
        assert response.status_code in (302, 303)
        assert "/accounts/login" in response.headers["Location"]
    else:
        assert response.status_code == expected, response.get_data(as_text=True)[:500]


def test_refused_actors_change_nothing(client, world):
    mid = world["membership_id"]
    for actor in ("same_org_wrong_role", "other_org_admin", "platform_admin"):
        c = client.application.test_client()
        login(c, world["actors"][actor])
        post_form(c, f"/accounts/org/members/{mid}/roles", {f"m{mid}-roles": ["org_admin"]})
        post_form(c, f"/accounts/org/members/{mid}/deactivate")
    from core.db import db

    m = db.session.get(Membership, mid)
    db.session.refresh(m)
    assert m.roles == ["bidder"] and m.active
