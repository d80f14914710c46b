"""Helpers for the organization/membership tests (H2)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from accounts.models import Organization, User
from accounts.states import OrgKind, Role
from core.db import db
from core.models import AuditEntry, Notification
from tests.factories import make_org, make_user

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00" + b"\x00" * 64
GOOD_PASSWORD = "Slender-West-Lake-88"


def english(client) -> None:
    with client.session_transaction() as sess:
        sess["lang"] = "en"


def platform_admin() -> User:
    org = make_org([OrgKind.PLATFORM], name="扬州平台")
    return make_user(org, [Role.PLATFORM_ADMIN, Role.ORG_ADMIN])


def platform_auditor(org: Organization | None = None) -> User:
    org = org or make_org([OrgKind.PLATFORM], name="扬州平台审计")
    return make_user(org, [Role.AUDITOR])


def audit_actions(obj_type: str | None = None, obj_id=None) -> list[str]:
    stmt = sa.select(AuditEntry).order_by(AuditEntry.seq)
    if obj_type:
        stmt = stmt.where(AuditEntry.obj_type == obj_type)
    if obj_id is not None:
        stmt = stmt.where(AuditEntry.obj_id == str(obj_id))
    return [e.action for e in db.session.scalars(stmt)]


def audit_entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def notifications_of(user: User) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)))


def reload(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


@pytest.fixture(autouse=True)
def _unlink_verifier(_app_context):
    """organizations.verified_by_id -> users and users.current_org_id -> organizations form a
    cycle that tests/conftest.py's table emptying (DELETE in dependency order) cannot break on
    SQLite: clear the back reference first."""
    yield
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.execute(sa.update(Organization).values(verified_by_id=None))
