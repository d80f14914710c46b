"""accounts views: the dashboard, one card per role held in the current organization."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts import bp
from accounts.permissions import current_org, current_roles, login_required
from accounts.services import organizations as orgs_svc
from accounts.states import CREDIT_LABELS, ROLE_LABELS, VERIFICATION_LABELS, OrgKind, Role
from core import notifications
from core.db import db


@dataclass
class Card:
    role: str
    title: str
    text: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)
    badge: int | None = None


def _url(endpoint: str, fallback: str | None = None, **values) -> str:
    """url_for, or `fallback` while the page's area has not registered it yet."""
    try:
        return url_for(endpoint, **values)
    except Exception:  # noqa: BLE001 - werkzeug BuildError while another area is unfinished
        return fallback or url_for("core.home")


def _cards(roles: set[str], org) -> list[Card]:
    proc = _url("procurement.index")
    sme = _url("sme.index")
    logi = _url("logistics.index")
    cards: list[Card] = []
    is_platform = org is not None and org.has_kind(OrgKind.PLATFORM)

    def add(role, text, links, badge=None):
        cards.append(Card(role=role, title=str(ROLE_LABELS[Role(role)]), text=text, links=links, badge=badge))

    if Role.ORG_ADMIN in roles:
        add(Role.ORG_ADMIN, _("Keep your organization's profile, licence and members up to date."), [
            (_("Organization profile"), url_for("accounts.org_profile")),
            (_("Members and invitations"), url_for("accounts.org_members")),
        ])
    if Role.PLATFORM_ADMIN in roles and is_platform:
        pending = orgs_svc.pending_verification_count()
        add(Role.PLATFORM_ADMIN, _("%(n)d organizations wait for verification.", n=pending), [
            (_("Organizations to verify"), url_for("accounts.admin_organizations", status="pending")),
            (_("All organizations"), url_for("accounts.admin_organizations")),
            (_("Audit log"), _url("accounts.audit_log", "/accounts/admin/audit")),
            (_("Working-day calendar"), _url("accounts.calendar", "/accounts/admin/calendar")),
        ], badge=pending)
    if Role.AUDITOR in roles and is_platform:
        add(Role.AUDITOR, _("Read-only access to every record and the audit log."), [
            (_("Audit log"), _url("accounts.audit_log", "/accounts/admin/audit")),
            (_("Organizations"), url_for("accounts.admin_organizations")),
            (_("Ledger"), _url("payments.finance_accounts")),
        ])
    if Role.BIDDER in roles:
        add(Role.BIDDER, _("Find open tenders and prepare your bids before the deadline."), [
            (_("Open tenders"), _url("procurement.tenders", proc)),
            (_("My bids"), _url("procurement.my_bids", proc)),
        ])
    if Role.PROCUREMENT_OFFICER in roles:
        add(Role.PROCUREMENT_OFFICER, _("Prepare, publish and follow your tenders."), [
            (_("My tenders"), _url("procurement.my_tenders", proc)),
            (_("New tender"), _url("procurement.new_tender", proc)),
        ])
    if Role.KEY_CUSTODIAN in roles:
        add(Role.KEY_CUSTODIAN, _("Bid openings need your key share at the announced time."), [
            (_("Openings"), _url("procurement.openings", proc)),
        ])
    if Role.EVALUATOR in roles:
        add(Role.EVALUATOR, _("Score the bids of the evaluations you are assigned to."), [
            (_("Evaluations"), _url("procurement.evaluations", proc)),
        ])
    if Role.BUYER in roles:
        add(Role.BUYER, _("Buy IT services for your company; vouchers may pay part of it."), [
            (_("Marketplace"), _url("sme.marketplace", sme)),
            (_("My orders"), _url("sme.my_orders", sme)),
        ])
    if Role.PROVIDER_STAFF in roles:
        add(Role.PROVIDER_STAFF, _("Publish service listings and fulfil orders."), [
            (_("My listings"), _url("sme.my_listings", sme)),
            (_("Orders"), _url("sme.provider_orders", sme)),
        ])
    if Role.CARRIER_AGENT in roles:
        add(Role.CARRIER_AGENT, _("Report pick-ups and deliveries of your shipments."), [
            (_("Shipments"), _url("logistics.shipments", logi)),
        ])
    if Role.FINANCE in roles:
        add(Role.FINANCE, _("Payments, bonds, refunds and payouts of your organization."), [
            (_("Payments"), _url("payments.index", "/payments/")),
            *([(_("Ledger"), _url("payments.finance_accounts")),
               (_("Payouts"), _url("payments.finance_payouts")),
               (_("Reconciliation"), _url("payments.finance_reconciliation"))] if is_platform else []),
        ])
    if Role.REGULATOR in roles:
        add(Role.REGULATOR, _("Hear complaints about procurement procedures."), [
            (_("Complaints"), _url("procurement.complaints", proc)),
        ])
    return cards


@bp.get("/dashboard")
@login_required
def dashboard():
    org = current_org()
    roles = current_roles()
    unread = notifications.unread_count(current_user.id)
    latest = list(db.session.scalars(notifications.inbox_query(current_user.id, unread_only=True).limit(5)))
    return render_template(
        "accounts/dashboard.html",
        org=org,
        cards=_cards(roles, org),
        unread=unread,
        latest=latest,
        inbox_url=url_for("core.notifications_inbox"),
        labels={"verification": VERIFICATION_LABELS, "credit": CREDIT_LABELS},
        title=_("Dashboard"),
    )
