"""procurement views: clarifications (Q&A), amendments, supplier alerts.

- suppliers (bidder role): `ask_question` (with the supplier's own questions), `alerts`,
  `delete_alert`; the public Q&A and amendments are on the tender page (`tender_detail`);
- officers of the buyer: `questions_inbox`, `answer_question`, `amend_tender`.

The asking organization is shown only on the officer pages (and to the asking supplier
itself); another buyer's tender or question is a 404.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from werkzeug.wrappers import Response
from wtforms import BooleanField, DateTimeLocalField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from accounts.models import Organization
from accounts.permissions import current_org, get_for_org_or_404, require_role
from accounts.services.organizations import organizations_by_id
from accounts.states import Role
from core.clock import now as clock_now
from core.db import db
from core.errors import DomainError
from core.files import check_uploads
from core.forms import apply_errors
from core.i18n import local_datetime
from procurement import bp, queries
from procurement.forms import DATETIME_FORMAT, DOCUMENT_TYPES, to_utc
from procurement.models import Question, Tender
from procurement.services import alerts as alert_svc
from procurement.services import amendments as amendment_svc
from procurement.services import clarifications as clar_svc
from procurement.services import participants
from procurement.states import CATEGORY_LABELS, TENDER_STATUS_LABELS, Category, TenderStatus, time_status


def _me():
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _submit(form: FlaskForm, action: Callable[[], object], done: str, target: str,
            rename: dict[str, str] | None = None) -> tuple[Response | None, int]:
    """The POST side of a page with one form: (the redirect after ``action`` succeeded, 200), or
    (None, the status to render the page with: 200 on GET, 422 for an invalid form, the error's
    status with its fields on the form). Not-found and forbidden errors are raised as they are."""
    if request.method != "POST":
        return None, 200
    if not form.validate_on_submit():
        return None, 422
    try:
        action()
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        apply_errors(form, exc, rename)
        return None, exc.status
    flash(done, "success")
    return redirect(target, code=303), 200


def _deadline_rule(tender: Tender, now) -> dict:
    """What the answer and amend pages say about the notice rule (a change needs NOTICE_DAYS before the deadline)."""
    return {
        "move_required": amendment_svc.deadline_move_required(tender, now),
        "earliest": amendment_svc.earliest_new_deadline(now),
        "notice_days": amendment_svc.NOTICE_DAYS,
    }


def _tender_url(tender: Tender) -> str:
    return participants.tender_link(tender.id)


def _lot_labels(tender: Tender) -> dict[int, str]:
    from core.i18n import localized

    return {lot.id: _("Lot %(n)s: %(title)s", n=lot.number, title=localized(lot, "title")) for lot in tender.lots}


# --------------------------------------------------------------------------- forms


class AskForm(FlaskForm):
    lot_id = SelectField(_l("About"), choices=[], validators=[Optional()])
    text = TextAreaField(
        _l("Your question"),
        validators=[InputRequired(), Length(min=clar_svc.QUESTION_MIN_LENGTH, max=clar_svc.QUESTION_MAX_LENGTH)],
        description=_l("Your organization is not shown publicly: only the buyer's procurement officers see who asked."),
    )


class AnswerForm(FlaskForm):
    answer = TextAreaField(_l("Answer"), validators=[InputRequired(), Length(max=clar_svc.ANSWER_MAX_LENGTH)],
                           description=_l("The question and the answer are published without the asker."))
    new_submission_deadline = DateTimeLocalField(
        _l("New submission deadline (Beijing time)"), format=DATETIME_FORMAT, validators=[Optional()],
    )
    material = BooleanField(_l("Material change: bids already submitted must be resubmitted"))


class AmendForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the amendment"),
                           validators=[InputRequired(), Length(max=amendment_svc.REASON_MAX_LENGTH)],
                           description=_l("Published with the amendment."))
    submission_deadline = DateTimeLocalField(_l("New submission deadline (Beijing time)"), format=DATETIME_FORMAT,
                                             validators=[Optional()])
    opening_time = DateTimeLocalField(_l("New opening time (Beijing time)"), format=DATETIME_FORMAT,
                                      validators=[Optional()],
                                      description=_l("Leave empty to move the opening with the deadline."))
    enquiry_end = DateTimeLocalField(_l("New end of the enquiry period (Beijing time)"), format=DATETIME_FORMAT,
                                     validators=[Optional()])
    documents = MultipleFileField(_l("Documents to add"),
                                  description=_l("PDF, Word, Excel, ZIP or text files; each becomes part of the "
                                                 "new version."))
    remove_document_ids = SelectMultipleField(_l("Documents to remove"), coerce=int, choices=[],
                                              option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    material = BooleanField(_l("Material change: bids already submitted must be resubmitted"))


class AlertForm(FlaskForm):
    categories = SelectMultipleField(_l("Categories"), choices=[SelectChoice(c.value, CATEGORY_LABELS[c]) for c in Category],
                                     option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False),
                                     description=_l("None ticked: every category."))
    category_codes = StringField(_l("Category code prefixes"), validators=[Optional(), Length(max=400)],
                                 description=_l("Comma separated, e.g. A02, C16. Empty: any code."))
    keywords = StringField(_l("Keywords"), validators=[Optional(), Length(max=1000)],
                           description=_l("Comma separated, Chinese or English, e.g. 电脑, printer. One is enough; "
                                          "empty: any tender."))


# --------------------------------------------------------------------------- suppliers: asking


@bp.route("/tenders/<int:tender_id>/questions/new", methods=["GET", "POST"])
@require_role(Role.BIDDER)
def ask_question(tender_id: int):
    tender = queries.published_tender(tender_id)
    org = current_org()
    lots = _lot_labels(tender)
    form = AskForm()
    form.lot_id.choices = [SelectChoice("", _("The whole tender"))] + [SelectChoice(str(k), v) for k, v in lots.items()]
    done, status = _submit(
        form,
        lambda: clar_svc.ask(tender, _me(), org, form.text.data,
                             lot_id=int(form.lot_id.data) if form.lot_id.data else None),
        _("Your question was sent. The answer will be published on the tender page."),
        url_for("procurement.ask_question", tender_id=tender.id),
    )
    if done is not None:
        return done
    return render_template(
        "procurement/enquiries/ask.html",
        title=_("Ask a question"),
        tender=tender,
        form=form,
        can_ask=clar_svc.can_ask_now(tender),
        mine=clar_svc.questions_of_org(tender, org.id),
        lots=lots,
        tender_url=_tender_url(tender),
    ), status


# --------------------------------------------------------------------------- officers: inbox and answers


def _officer_question_or_404(question_id: int) -> tuple[Question, Tender]:
    question = db.get_or_404(Question, question_id)
    tender = get_for_org_or_404(Tender, question.tender_id, org_attr="buyer_org_id")
    return question, tender


@bp.get("/manage/questions")
@require_role(Role.PROCUREMENT_OFFICER)
def questions_inbox():
    org = current_org()
    tender_id = request.args.get("tender_id", type=int)
    if tender_id is not None:
        get_for_org_or_404(Tender, tender_id, org_attr="buyer_org_id")
    unanswered = clar_svc.officer_questions(org.id, tender_id, answered=False)
    answered = clar_svc.officer_questions(org.id, tender_id, answered=True)
    questions = unanswered + answered
    tenders = {t.id: t for t in db.session.scalars(
        sa.select(Tender).where(Tender.id.in_({q.tender_id for q in questions}))
    )} if questions else {}
    now = clock_now()
    return render_template(
        "procurement/enquiries/inbox.html",
        title=_("Questions from suppliers"),
        unanswered=unanswered,
        answered=answered,
        tenders=tenders,
        askers=organizations_by_id(q.asker_org_id for q in questions),
        late={t.id: amendment_svc.deadline_move_required(t, now) for t in tenders.values()},
        open_ids={t.id for t in tenders.values() if amendment_svc.can_amend_now(t, now)},
        filter_tender=tenders.get(tender_id) if tender_id else None,
        filter_tender_id=tender_id,
    )


@bp.route("/manage/questions/<int:question_id>/answer", methods=["GET", "POST"])
@require_role(Role.PROCUREMENT_OFFICER)
def answer_question(question_id: int):
    question, tender = _officer_question_or_404(question_id)
    form = AnswerForm()
    done, status = None, 200
    if question.answered_at is None:
        done, status = _submit(
            form,
            lambda: clar_svc.answer(question, _me(), form.answer.data,
                                    new_submission_deadline=to_utc(form.new_submission_deadline.data),
                                    material=bool(form.material.data)),
            _("The answer was published."),
            url_for("procurement.questions_inbox", tender_id=tender.id),
        )
    if done is not None:
        return done
    now = clock_now()
    return render_template(
        "procurement/enquiries/answer.html",
        title=_("Answer a question"),
        question=question,
        tender=tender,
        form=form,
        asker=db.session.get(Organization, question.asker_org_id),
        lots=_lot_labels(tender),
        can_answer=question.answered_at is None and amendment_svc.can_amend_now(tender, now),
        amendment=clar_svc.amendment_for(question),
        **_deadline_rule(tender, now),
    ), status


# --------------------------------------------------------------------------- officers: amendments


@bp.route("/manage/tenders/<int:tender_id>/amend", methods=["GET", "POST"])
@require_role(Role.PROCUREMENT_OFFICER)
def amend_tender(tender_id: int):
    tender = get_for_org_or_404(Tender, tender_id, org_attr="buyer_org_id")
    if tender.status == TenderStatus.DRAFT:
        flash(_("A draft is edited directly; amendments are for published tenders."), "info")
        target = url_for("procurement.edit_tender", tender_id=tender.id)
        return redirect(target, code=303)
    documents = amendment_svc.current_documents(tender)
    form = AmendForm()
    form.remove_document_ids.choices = [SelectChoice(d.id, d.title or str(d.id)) for d in documents]
    for name in ("submission_deadline", "opening_time", "enquiry_end"):
        value = getattr(tender, name)
        if value is not None:
            field = getattr(form, name)
            now_text = _("Now: %(when)s", when=local_datetime(value))
            field.description = f"{field.description} {now_text}" if field.description else now_text
    done, status = _submit(form, lambda: _do_amend(tender, form), _("The amendment was published."),
                           _tender_url(tender), rename={"file": "documents"})
    if done is not None:
        return done
    now = clock_now()
    return render_template(
        "procurement/enquiries/amend.html",
        title=_("Amend the tender"),
        tender=tender,
        form=form,
        documents=documents,
        amendments=amendment_svc.amendments_of(tender),
        amendable=amendment_svc.can_amend_now(tender, now),
        **_deadline_rule(tender, now),
        status_label=TENDER_STATUS_LABELS.get(time_status(tender, now), ""),
        enquiries_open=time_status(tender, now) == TenderStatus.ENQUIRIES,
    ), status


def _do_amend(tender: Tender, form: AmendForm) -> None:
    """The uploads are read and checked in memory (a refused one is named on the field);
    the service stores them with the amendment, after its rules, in its unit of work."""
    uploads = check_uploads(form.documents.data or [], allowed=DOCUMENT_TYPES)
    amendment_svc.amend(
        tender, _me(), form.reason.data,
        submission_deadline=to_utc(form.submission_deadline.data),
        opening_time=to_utc(form.opening_time.data),
        enquiry_end=to_utc(form.enquiry_end.data),
        add_documents=uploads,
        remove_document_ids=form.remove_document_ids.data or [],
        material=bool(form.material.data),
    )


# --------------------------------------------------------------------------- suppliers: alerts


@bp.route("/alerts", methods=["GET", "POST"])
@require_role(Role.BIDDER)
def alerts():
    form = AlertForm()
    done, status = _submit(
        form,
        lambda: alert_svc.subscribe(_me(), current_org(), form.categories.data or [],
                                    form.category_codes.data or "", form.keywords.data or ""),
        _("Alert saved: new tenders and amendments that match will be sent to you."),
        url_for("procurement.alerts"),
    )
    if done is not None:
        return done
    subscriptions = alert_svc.subscriptions_for(_me())
    return render_template(
        "procurement/enquiries/alerts.html",
        title=_("Tender alerts"),
        form=form,
        subscriptions=subscriptions,
        matches={s.id: alert_svc.recent_matches(s) for s in subscriptions},
        category_labels=CATEGORY_LABELS,
        delete_form=FlaskForm(),
        tender_url=_tender_url,
    ), status


@bp.post("/alerts/<int:subscription_id>/delete")
@require_role(Role.BIDDER)
def delete_alert(subscription_id: int):
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    alert_svc.delete(_me(), subscription_id)
    flash(_("Alert deleted."), "success")
    return redirect(url_for("procurement.alerts"), code=303)
