"""The audit log and working-day calendar pages (platform admins and auditors)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from accounts.states import OrgKind, Role
from core import audit, calendar, signing
from core.db import db, unit_of_work
from core.models.audit import AuditEntry
from core.models.calendar import CalendarDay
from tests.factories import make_org, make_user
from tests.helpers import login, post_form

AUDIT_URL = "/accounts/admin/audit"
CAL_URL = "/accounts/admin/calendar"


@pytest.fixture(autouse=True)
def signing_key(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "PLATFORM_SIGNING_KEY_FILE", str(tmp_path / "platform.pem"))
    yield
    signing.clear_cache()


@pytest.fixture
def platform():
    return make_org([OrgKind.PLATFORM], name="Canal platform")


@pytest.fixture
def auditor(platform):
    return make_user(platform, [Role.AUDITOR])


@pytest.fixture
def admin(platform):
    return make_user(platform, [Role.PLATFORM_ADMIN])


def _entries():
    with unit_of_work():
        audit.record("order.created", "order", 17, {"amount_fen": 1000}, actor=audit.system("test"))
        audit.record("tender.published", "tender", 5, actor=audit.user_actor(1, 1, "officer@example.test"))


def _logged_in(client, user):
    response = login(client, user)
    assert response.status_code in (302, 303), response.status_code
    return client


def test_auditor_can_browse_the_audit_log(client, auditor):
    _entries()
    page = _logged_in(client, auditor).get(AUDIT_URL)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "order.created" in html and "tender.published" in html
    assert "officer@example.test" in html
    assert "Verify now" not in html  # admins only


def test_filters_narrow_the_entries(client, auditor):
    _entries()
    _logged_in(client, auditor)
    by_action = client.get(AUDIT_URL, query_string={"action": "tender."}).get_data(as_text=True)
    assert "tender.published" in by_action and "order.created" not in by_action
    by_object = client.get(AUDIT_URL, query_string={"obj_type": "order", "obj_id": "17"}).get_data(as_text=True)
    assert "order.created" in by_object and "tender.published" not in by_object
    by_actor = client.get(AUDIT_URL, query_string={"actor": "OFFICER@"}).get_data(as_text=True)
    assert "tender.published" in by_actor and "order.created" not in by_actor
    old = client.get(AUDIT_URL, query_string={"date_to": "2000-01-01"}).get_data(as_text=True)
    assert "order.created" not in old and "tender.published" not in old


def test_supplier_gets_403(client):
    supplier = make_user(make_org([OrgKind.SUPPLIER]), [Role.ORG_ADMIN, Role.BIDDER])
    _logged_in(client, supplier)
    assert client.get(AUDIT_URL).status_code == 403
    assert client.get(CAL_URL).status_code == 403


def test_auditor_role_outside_the_platform_organization_gets_403(client):
    outsider = make_user(make_org([OrgKind.BUYER]), [Role.AUDITOR])
    _logged_in(client, outsider)
    assert client.get(AUDIT_URL).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get(AUDIT_URL)
    assert response.status_code in (302, 303)
    assert "/accounts/login" in response.headers["Location"]


def test_admin_verifies_the_chain_and_auditor_may_not(client, admin, auditor):
    _entries()
    audit.checkpoint()
    _logged_in(client, admin)
    page = client.get(AUDIT_URL).get_data(as_text=True)
    assert "Verify now" in page
    done = post_form(client, AUDIT_URL + "/verify", follow_redirects=True)
    assert done.status_code == 200
    assert "Audit chain intact" in done.get_data(as_text=True)

    other = client.application.test_client()
    _logged_in(other, auditor)
    assert post_form(other, AUDIT_URL + "/verify").status_code == 403


def test_admin_adds_edits_and_deletes_a_calendar_day_each_audited(client, admin):
    _logged_in(client, admin)
    assert client.get(CAL_URL, query_string={"year": 2026}).status_code == 200
    added = post_form(client, CAL_URL, {"day": "2026-03-16", "kind": "holiday", "name_zh": "测试", "name_en": "Test day"})
    assert added.status_code == 303
    assert not calendar.is_working_day(date(2026, 3, 16))
    page = client.get(CAL_URL, query_string={"year": 2026, "edit": "2026-03-16"}).get_data(as_text=True)
    assert "Test day" in page
    post_form(client, CAL_URL, {"day": "2026-03-16", "kind": "makeup", "name_zh": "测试", "name_en": "Test day"})
    db.session.expire_all()
    assert db.session.get(CalendarDay, date(2026, 3, 16)).is_working_day
    removed = post_form(client, CAL_URL + "/2026-03-16/delete")
    assert removed.status_code == 303
    db.session.expire_all()
    assert db.session.get(CalendarDay, date(2026, 3, 16)) is None
    rows = db.session.execute(sa.select(AuditEntry.action, AuditEntry.actor_label).order_by(AuditEntry.seq)).all()
    calendar_rows = [r for r in rows if r.action.startswith("calendar.")]
    assert [r.action for r in calendar_rows] == ["calendar.day_set", "calendar.day_set", "calendar.day_removed"]
    assert all(r.actor_label == admin.email for r in calendar_rows)


def test_calendar_form_errors_are_shown_not_saved(client, admin):
    _logged_in(client, admin)
    response = post_form(client, CAL_URL, {"day": "not-a-date", "kind": "holiday"})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 0


def test_auditor_cannot_edit_the_calendar(client, auditor):
    _logged_in(client, auditor)
    assert client.get(CAL_URL).status_code == 403
    assert post_form(client, CAL_URL, {"day": "2026-03-16", "kind": "holiday"}).status_code == 403
