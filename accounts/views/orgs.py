"""accounts views: registration, invitations, the organization profile, members, org switch."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts import bp
from accounts.forms.orgs import (
    AcceptInvitationForm,
    ConfirmForm,
    InvitationSignupForm,
    InviteForm,
    LicenceForm,
    OrganizationProfileForm,
    RegisterOrganizationForm,
    RolesForm,
    role_choices,
)
from accounts.models import Invitation, Membership, Organization
from accounts.permissions import current_membership, current_org, get_for_org_or_404, login_required, require_role
from accounts.services import members as members_svc
from accounts.services import organizations as orgs_svc
from accounts.services import registration as reg_svc
from accounts.states import ROLE_LABELS, Role
from core.db import db
from core.errors import DomainError
from core.extensions import limiter
from core.forms import apply_errors, flash_errors


def _me():
    return current_user._get_current_object() if current_user.is_authenticated else None  # type: ignore[attr-defined]


def _safe_next(default: str) -> str:
    target = request.form.get("next") or request.args.get("next") or request.referrer or default
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def _start_session(user) -> None:
    from accounts.auth import start_session

    start_session(user)


# --------------------------------------------------------------------------- registration


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("5/hour", methods=["POST"])
def register():
    form = RegisterOrganizationForm()
    if form.validate_on_submit():
        licence = None
        upload = form.licence.data
        if upload is not None and getattr(upload, "filename", ""):
            licence = (upload, upload.filename)
        data = reg_svc.NewOrganization(
            name_zh=form.name_zh.data,
            name_en=form.name_en.data or "",
            uscc=form.uscc.data,
            kinds=form.kinds.data or [],
            size_class=form.size_class.data,
            contact_phone=form.contact_phone.data or "",
            address=form.address.data or "",
            email=form.email.data,
            display_name=form.display_name.data,
            password=form.password.data,
            locale=form.locale.data,
            licence=licence,
        )
        try:
            org, user = reg_svc.register_organization(data)
        except DomainError as exc:
            if "file" in exc.fields:
                exc.fields["licence"] = exc.fields.pop("file")
            apply_errors(form, exc)
        else:
            _start_session(user)
            flash(_("Welcome! %(org)s is registered and waits for verification.", org=org.name_zh), "success")
            return redirect(url_for("accounts.dashboard"), code=303)
    status = 422 if form.errors else 200
    return render_template("accounts/register.html", form=form, title=_("Register an organization")), status


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token: str):
    inv = members_svc.find_invitation(token)
    problem = members_svc.invitation_problem(inv)
    if problem:
        return render_template("accounts/invitation.html", problem=problem, title=_("Invitation")), (
            404 if inv is None else 410
        )
    me = _me()
    signup = InvitationSignupForm(prefix="signup")
    accept = AcceptInvitationForm(prefix="accept")
    account_exists = reg_svc.email_taken(inv.email)
    if request.method == "POST":
        if me is not None and accept.validate_on_submit():
            members_svc.accept_invitation(token, me)
            flash(_("You joined %(org)s.", org=inv.organization.name_zh), "success")
            return redirect(url_for("accounts.dashboard"), code=303)
        if me is None and signup.validate_on_submit():
            try:
                user = members_svc.accept_invitation_new_user(
                    token, signup.display_name.data, signup.password.data, signup.locale.data
                )
            except DomainError as exc:
                apply_errors(signup, exc)
            else:
                _start_session(user)
                flash(_("Welcome! You joined %(org)s.", org=inv.organization.name_zh), "success")
                return redirect(url_for("accounts.dashboard"), code=303)
    return render_template(
        "accounts/invitation.html",
        inv=inv,
        org=inv.organization,
        role_labels=[ROLE_LABELS.get(Role(r), r) for r in inv.roles],
        signup=signup,
        accept=accept,
        me=me,
        account_exists=account_exists,
        title=_("Invitation"),
    ), (422 if signup.errors else 200)


# --------------------------------------------------------------------------- profile


@bp.route("/org", methods=["GET", "POST"])
@login_required
def org_profile():
    org = current_org()
    if org is None:
        return render_template("accounts/no_org.html", title=_("Organization")), 404
    membership = current_membership()
    is_admin = membership.has_role(Role.ORG_ADMIN)
    form = OrganizationProfileForm(obj=org) if is_admin else None
    if request.method == "POST":
        if not is_admin:
            abort(403)
        if form.validate_on_submit():
            values = {name: getattr(form, name).data or "" for name in orgs_svc.PROFILE_FIELDS}
            try:
                orgs_svc.update_profile(org, _me(), **values)
            except DomainError as exc:
                apply_errors(form, exc)
            else:
                flash(_("The organization profile is saved."), "success")
                return redirect(url_for("accounts.org_profile"), code=303)
    return render_template(
        "accounts/org_profile.html",
        org=org,
        form=form,
        is_admin=is_admin,
        licence_form=LicenceForm() if is_admin else None,
        confirm=ConfirmForm(),
        title=_("Organization profile"),
    ), (422 if form is not None and form.errors else 200)


@bp.post("/org/licence")
@require_role(Role.ORG_ADMIN)
def org_licence_upload():
    org = current_org()
    form = LicenceForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(url_for("accounts.org_profile"), code=303)
    upload = form.licence.data
    orgs_svc.attach_licence(org, _me(), upload, upload.filename or "licence")
    flash(_("The business licence is uploaded."), "success")
    return redirect(url_for("accounts.org_profile"), code=303)


@bp.post("/org/request-verification")
@require_role(Role.ORG_ADMIN)
def org_request_verification():
    ConfirmForm().validate_on_submit()
    orgs_svc.request_verification(current_org(), _me())
    flash(_("Verification requested. Platform administrators have been notified."), "success")
    return redirect(url_for("accounts.org_profile"), code=303)


@bp.get("/organizations/<int:org_id>/licence")
@login_required
def org_licence(org_id: int):
    """The licence file: for the organization's members and platform admins/auditors only."""
    org = db.session.get(Organization, org_id)
    if org is None or not orgs_svc.can_read_licence(_me(), org) or not org.licence_file_id:
        abort(404)
    from core.files import send_stored_file
    from core.models import StoredFile

    stored = db.session.get(StoredFile, org.licence_file_id)
    if stored is None:
        abort(404)
    return send_stored_file(stored, inline=request.args.get("inline") == "1")


# --------------------------------------------------------------------------- members


def _members_page(invite_form=None, new_link: str | None = None, status: int = 200):
    org = current_org()
    roles = members_svc.grantable_roles(org)
    invite_form = invite_form or InviteForm(prefix="invite")
    invite_form.roles.choices = role_choices(roles)
    role_forms = {}
    for m in members_svc.members_of(org):
        f = RolesForm(prefix=f"m{m.id}", formdata=None, data={"roles": list(m.roles or [])})
        f.roles.choices = role_choices(roles)
        role_forms[m.id] = f
    return render_template(
        "accounts/members.html",
        org=org,
        members=members_svc.members_of(org),
        invitations=members_svc.pending_invitations(org),
        invite_form=invite_form,
        role_forms=role_forms,
        confirm=ConfirmForm(),
        new_link=new_link,
        role_labels=ROLE_LABELS,
        me=_me(),
        title=_("Members"),
    ), status


@bp.get("/org/members")
@require_role(Role.ORG_ADMIN)
def org_members():
    return _members_page()


@bp.post("/org/members/invite")
@require_role(Role.ORG_ADMIN)
def org_invite():
    org = current_org()
    form = InviteForm(prefix="invite")
    form.roles.choices = role_choices(members_svc.grantable_roles(org))
    if not form.validate_on_submit():
        return _members_page(form, status=422)
    try:
        _inv, token = members_svc.invite(org, _me(), form.email.data, form.roles.data)
    except DomainError as exc:
        apply_errors(form, exc)
        return _members_page(form, status=exc.status)
    flash(_("Invitation sent to %(email)s.", email=form.email.data), "success")
    # The link is shown once, on this response only (never stored in the session).
    return _members_page(InviteForm(prefix="invite", formdata=None), new_link=members_svc.invitation_url(token))


@bp.post("/org/members/<int:membership_id>/roles")
@require_role(Role.ORG_ADMIN)
def member_roles(membership_id: int):
    membership = get_for_org_or_404(Membership, membership_id)
    form = RolesForm(prefix=f"m{membership.id}")
    form.roles.choices = role_choices(members_svc.grantable_roles(membership.organization))
    if not form.validate_on_submit():
        flash(_("Choose at least one role."), "danger")
        return redirect(url_for("accounts.org_members"), code=303)
    members_svc.change_roles(membership, _me(), form.roles.data)
    flash(_("Roles of %(name)s saved.", name=membership.user.display_name), "success")
    return redirect(url_for("accounts.org_members"), code=303)


@bp.post("/org/members/<int:membership_id>/deactivate")
@require_role(Role.ORG_ADMIN)
def member_deactivate(membership_id: int):
    membership = get_for_org_or_404(Membership, membership_id)
    ConfirmForm().validate_on_submit()
    members_svc.deactivate_member(membership, _me())
    flash(_("%(name)s is deactivated and signed out.", name=membership.user.display_name), "success")
    return redirect(url_for("accounts.org_members"), code=303)


@bp.post("/org/invitations/<int:invitation_id>/revoke")
@require_role(Role.ORG_ADMIN)
def invitation_revoke(invitation_id: int):
    inv = get_for_org_or_404(Invitation, invitation_id)
    ConfirmForm().validate_on_submit()
    members_svc.revoke_invitation(inv, _me())
    flash(_("The invitation to %(email)s is revoked.", email=inv.email), "success")
    return redirect(url_for("accounts.org_members"), code=303)


# --------------------------------------------------------------------------- switch


@bp.post("/switch-org")
@login_required
def switch_org():
    try:
        org_id = int(request.form.get("org_id", ""))
    except ValueError:
        abort(404)
    members_svc.switch_org(_me(), org_id)
    return redirect(_safe_next(url_for("accounts.dashboard")), code=303)
