"""Key custodians' pages (share collection, the opening) and the public opening record.

Custodians need the key_custodian role and 2FA; collecting and presenting a share each
need a fresh TOTP code in the form. A collected share is shown once, in the response
to the collection itself: the code on the page and the share file as a `data:` link
(nothing kept on the server, the page is never cached).
"""

from __future__ import annotations

import base64

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from accounts.permissions import require_role
from accounts.states import Role
from core import clock
from core.errors import DomainError, ValidationError
from core.forms import apply_errors
from core.i18n import current_language
from procurement import bp, queries
from procurement.models import Tender
from procurement.services import keys, opening
from procurement.states import (
    BID_STATUS_LABELS,
    BOND_STATUS_LABELS,
    LOT_STATUS_LABELS,
    TENDER_STATUS_LABELS,
    time_status,
)

SHARE_FILE_MAX_BYTES = 64 * 1024

SHARE_STATUS_LABELS = {
    "to_collect": _l("To collect"),
    "collected": _l("Collected"),
    "confirmed": _l("Safekeeping confirmed"),
    "presented": _l("Presented"),
    "erased": _l("Used at the opening"),
}


class CodeForm(FlaskForm):
    code = StringField(_l("Authentication code"), validators=[InputRequired(), Length(max=20)],
                       description=_l("The current 6-digit code from your authenticator app."),
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class ConfirmForm(FlaskForm):
    pass


class PresentShareForm(FlaskForm):
    share = TextAreaField(_l("Key share code"), validators=[Optional(), Length(max=2000)],
                          description=_l("Type or paste the code, e.g. 2-7XK3Q-M0PAC-..."),
                          render_kw={"rows": 3, "autocomplete": "off", "spellcheck": "false"})
    share_file = FileField(_l("Or the share file"), description=_l("The .json file you downloaded at collection."))
    code = StringField(_l("Authentication code"), validators=[InputRequired(), Length(max=20)],
                       description=_l("The current 6-digit code from your authenticator app."),
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


def _me():
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _published_tender(tender_id: int) -> Tender:
    """A published tender with its sealing key (keys are made at publication)."""
    tender = queries.published_tender(tender_id)
    if tender.public_key is None:
        abort(404)
    return tender


def _my_tender(tender_id: int):
    tender = _published_tender(tender_id)
    try:
        custodian = keys.custodian_for(tender, _me())
    except DomainError:
        abort(404)
    return tender, custodian


custodian_required = require_role(Role.KEY_CUSTODIAN)


# --------------------------------------------------------------------------- list


@bp.get("/keys")
@custodian_required
def openings():
    rows = []
    for custodian, tender in keys.custodian_tenders(_me()):
        rows.append({
            "tender": tender,
            "custodian": custodian,
            "share_status": keys.share_status(custodian),
            "status": time_status(tender, clock.now()),
            "shares_open": opening.shares_accepted_now(tender),
        })
    return render_template(
        "procurement/custodians/openings.html", title=_("Key custody"), rows=rows,
        share_labels=SHARE_STATUS_LABELS, status_labels=TENDER_STATUS_LABELS, confirm_form=ConfirmForm(),
        two_factor=_me().two_factor_enabled,
    )


# --------------------------------------------------------------------------- collection


def _render_collect(tender, custodian, form, status=200):
    return render_template(
        "procurement/custodians/collect.html", title=_("Collect your key share"), tender=tender,
        custodian=custodian, share_status=keys.share_status(custodian), share_labels=SHARE_STATUS_LABELS,
        form=form, fingerprint=keys.fingerprint(tender), confirm_form=ConfirmForm(),
    ), status


@bp.route("/keys/<int:tender_id>/collect", methods=["GET", "POST"])
@custodian_required
def collect_share(tender_id: int):
    tender, custodian = _my_tender(tender_id)
    form = CodeForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _render_collect(tender, custodian, form, 200 if request.method == "GET" else 422)
    try:
        collected = keys.collect_share(tender, _me(), form.code.data)
    except ValidationError as exc:
        apply_errors(form, exc)
        return _render_collect(tender, custodian, form, 422)
    except DomainError as exc:
        flash(exc.message, "warning")
        return redirect(url_for("procurement.openings"), code=303)
    data_url = "data:application/json;base64," + base64.b64encode(collected.file_json.encode("utf-8")).decode("ascii")
    response = render_template(
        "procurement/custodians/collected.html", title=_("Your key share"), tender=tender, collected=collected,
        data_url=data_url, fingerprint=keys.fingerprint(tender), confirm_form=ConfirmForm(),
    )
    return response, 200, {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


@bp.post("/keys/<int:tender_id>/confirm")
@custodian_required
def confirm_safekeeping(tender_id: int):
    tender, _custodian = _my_tender(tender_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        keys.confirm_safekeeping(tender, _me())
        flash(_("Thank you: safekeeping of your key share is confirmed."), "success")
    except DomainError as exc:
        flash(exc.message, "warning")
    return redirect(url_for("procurement.openings"), code=303)


# --------------------------------------------------------------------------- the opening


def _render_present(tender, custodian, form, status=200):
    return render_template(
        "procurement/custodians/present.html", title=_("Present your key share"), tender=tender,
        custodian=custodian, form=form, progress=opening.progress(tender),
        shares_open=opening.shares_accepted_now(tender), fingerprint=keys.fingerprint(tender),
    ), status


@bp.route("/tenders/<int:tender_id>/opening/present", methods=["GET", "POST"])
@custodian_required
def present_share(tender_id: int):
    tender, custodian = _my_tender(tender_id)
    if tender.opened_at is not None:
        return redirect(url_for("procurement.opening_record", tender_id=tender.id), code=303)
    form = PresentShareForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _render_present(tender, custodian, form, 200 if request.method == "GET" else 422)
    share_input: str | bytes | None = (form.share.data or "").strip() or None
    upload = form.share_file.data
    if upload is not None and getattr(upload, "filename", ""):
        data = upload.stream.read(SHARE_FILE_MAX_BYTES + 1)
        if len(data) > SHARE_FILE_MAX_BYTES:
            form.share_file.errors = [_("This is not a key share file (too large).")]
            return _render_present(tender, custodian, form, 422)
        share_input = data
    if not share_input:
        form.share.errors = [_("Enter your key share code or choose your share file.")]
        return _render_present(tender, custodian, form, 422)
    try:
        result = opening.present_share(tender, _me(), share_input, totp_code=form.code.data)
    except ValidationError as exc:
        apply_errors(form, exc)
        return _render_present(tender, custodian, form, 422)
    except DomainError as exc:
        flash(exc.message, "warning")
        return redirect(url_for("procurement.present_share", tender_id=tender.id), code=303)
    if result.opened:
        flash(_("The bids have been opened. The opening record is published."), "success")
        return redirect(url_for("procurement.opening_record", tender_id=tender.id), code=303)
    flash(_("Your key share is accepted: %(received)s of %(needed)s shares received.",
            received=result.received, needed=result.needed), "success")
    return redirect(url_for("procurement.present_share", tender_id=tender.id), code=303)


# --------------------------------------------------------------------------- public record


def _display_lots(record: dict) -> list[dict]:
    zh = current_language().startswith("zh")
    lots = []
    for lot in record.get("lots", []):
        bids = []
        for bid in lot.get("bids", []):
            name = (bid.get("bidder_name_zh") if zh else bid.get("bidder_name_en")) or bid.get("bidder_name_zh") or \
                bid.get("bidder_name_en") or ""
            bids.append({**bid, "bidder_name": name})
        title = (lot.get("title_zh") if zh else lot.get("title_en")) or lot.get("title_zh") or lot.get("title_en")
        lots.append({**lot, "title": title or "", "bids": bids})
    return lots


@bp.get("/tenders/<int:tender_id>/opening")
def opening_record(tender_id: int):
    tender = _published_tender(tender_id)
    record = tender.opening_record
    return render_template(
        "procurement/opening_record.html", title=_("Opening record"), tender=tender, record=record,
        lots=_display_lots(record) if record else [], fingerprint=keys.fingerprint(tender),
        progress=opening.progress(tender), is_custodian=keys.is_custodian(tender, _me()),
        bond_labels=BOND_STATUS_LABELS, lot_labels=LOT_STATUS_LABELS, bid_labels=BID_STATUS_LABELS,
        status_labels=TENDER_STATUS_LABELS,
    )
