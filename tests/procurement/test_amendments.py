"""Amendments: the 15-day rule, versions, documents superseded, material flags, notices."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from accounts.states import Role
from core import clock
from core.db import db, unit_of_work
from core.errors import InvalidTransition, PermissionDenied, ValidationError
from core.files import check_upload
from core.models.audit import AuditEntry
from core.models.files import StoredFile
from procurement.models import Bid, DocumentDownload, TenderAmendment, TenderDocument
from procurement.services import alerts, clarifications
from procurement.services import amendments as svc
from procurement.services import tenders as tender_svc
from tests.factories import make_user
from tests.procurement.factories import PDF, inbox_of, make_buyer, make_supplier

pytestmark = pytest.mark.usefixtures("frozen_clock")


def _upload(name="addendum.pdf"):
    return check_upload(PDF, filename=name, allowed={"pdf"})


def _bid(tender, org, user, *, status="submitted", version=1):
    with unit_of_work():
        bid = Bid(tender_id=tender.id, bidder_org_id=org.id, created_by_id=user.id, status=status,
                  tender_version=version, lot_ids=[tender.lots[0].id], submitted_at=clock.now())
        db.session.add(bid)
    return bid


def test_moving_the_dates_versions_them(buyer, tender):
    old_deadline, old_opening = tender.submission_deadline, tender.opening_time
    new_deadline = old_deadline + timedelta(days=7)
    a = svc.amend(tender, buyer.officer, "More time for site visits", submission_deadline=new_deadline)
    assert a.number == 2 and tender.version == 2
    assert tender.submission_deadline == new_deadline and tender.opening_time == old_opening + timedelta(days=7)
    assert a.changes["submission_deadline"] == [old_deadline.isoformat(), new_deadline.isoformat()]
    assert a.changes["opening_time"] == [old_opening.isoformat(), (old_opening + timedelta(days=7)).isoformat()]
    b = svc.amend(tender, buyer.officer, "Enquiries longer", enquiry_end=tender.enquiry_end + timedelta(days=2))
    assert b.number == 3 and tender.version == 3 and "enquiry_end" in b.changes
    assert [x.number for x in svc.amendments_of(tender)] == [2, 3]
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "tender.amended")).first()
    assert entry.data["amendment_number"] == 2 and entry.actor_user_id == buyer.officer.id


def test_documents_are_superseded_not_deleted(buyer, tender):
    original = svc.current_documents(tender)[0]
    a = svc.amend(tender, buyer.officer, "Corrected specification",
                  add_documents=[(_upload("spec-v2.pdf"), "Specification v2")], remove_document_ids=[original.id])
    docs = db.session.scalars(sa.select(TenderDocument).where(TenderDocument.tender_id == tender.id)
                              .order_by(TenderDocument.id)).all()
    assert len(docs) == 2
    assert docs[0].removed_in_version == 2 and docs[0].version == 1
    assert docs[1].version == 2 and docs[1].removed_in_version is None and docs[1].title == "Specification v2"
    assert [d.id for d in svc.current_documents(tender)] == [docs[1].id]
    assert a.changes["documents_removed"] == [{"id": original.id, "title": original.title}]
    assert a.changes["documents_added"][0]["title"] == "Specification v2"


def _files_now(app) -> tuple[int, int]:
    """(stored file rows, files on disk)."""
    db.session.expire_all()
    on_disk = sum(1 for f in Path(app.config["FILES_DIR"]).rglob("*") if f.is_file())
    return db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile)), on_disk


def test_documents_are_stored_only_after_every_rule_passed_and_belong_to_the_new_version(app, buyer, tender,
                                                                                          monkeypatch):
    stored: list[str] = []
    real = tender_svc.store_bytes

    def counting(data, **kwargs):
        stored.append(kwargs["original_name"])
        return real(data, **kwargs)

    monkeypatch.setattr(tender_svc, "store_bytes", counting)
    before = _files_now(app)
    clock.set_time(tender.submission_deadline - timedelta(days=10))
    with pytest.raises(ValidationError):  # the 15-day rule: refused before any file is written
        svc.amend(tender, buyer.officer, "Late annex", add_documents=[_upload("annex.pdf")])
    outsider = make_user(buyer.org, [Role.BIDDER])
    with pytest.raises(PermissionDenied):
        svc.amend(tender, outsider, "Not mine", add_documents=[_upload("annex.pdf")],
                  submission_deadline=clock.now() + timedelta(days=20))
    assert stored == [] and _files_now(app) == before

    a = svc.amend(tender, buyer.officer, "Annex added", add_documents=[_upload("annex.pdf")],
                  submission_deadline=clock.now() + timedelta(days=20))
    doc = db.session.scalars(sa.select(TenderDocument).where(TenderDocument.version == 2)).one()
    file = db.session.get(StoredFile, doc.stored_file_id)
    assert stored == ["annex.pdf"] and doc.title == "annex.pdf" and a.changes["documents_added"] == [
        {"id": doc.id, "title": "annex.pdf"}]
    assert file.uploaded_by_id == buyer.officer.id and file.purpose == "tender_document"
    added = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "tender.document_added")).all()
    assert [e.data["document_id"] for e in added].count(doc.id) == 1  # its own entry, beside tender.amended


def test_a_failure_after_the_documents_were_stored_leaves_no_file(app, buyer, tender, monkeypatch):
    _bid(tender, *make_supplier())
    before = _files_now(app)

    def crash(*args, **kwargs):
        raise RuntimeError("flagging the bids failed")

    monkeypatch.setattr(svc, "_flag_bids", crash)
    with pytest.raises(RuntimeError):
        svc.amend(tender, buyer.officer, "Material change", add_documents=[_upload()], material=True)
    assert _files_now(app) == before
    assert [d.version for d in svc.current_documents(tender)] == [1]
    assert db.session.scalar(sa.select(sa.func.count(TenderAmendment.id))) == 0


def test_removing_every_document_or_an_unknown_one_is_refused(buyer, tender):
    doc = svc.current_documents(tender)[0]
    with pytest.raises(ValidationError) as exc:
        svc.amend(tender, buyer.officer, "Remove all", remove_document_ids=[doc.id])
    assert exc.value.code == "documents_missing"
    with pytest.raises(ValidationError) as exc:
        svc.amend(tender, buyer.officer, "Remove unknown", remove_document_ids=[doc.id + 1000])
    assert exc.value.code == "unknown_document"
    assert tender.version == 1 and db.session.scalar(sa.select(sa.func.count(TenderAmendment.id))) == 0


def test_within_15_days_of_the_deadline_the_deadline_must_move(buyer, tender):
    clock.set_time(tender.submission_deadline - timedelta(days=10))
    extra = _upload()
    with pytest.raises(ValidationError) as exc:
        svc.amend(tender, buyer.officer, "Late addendum", add_documents=[extra])
    assert exc.value.code == "deadline_must_move"
    with pytest.raises(ValidationError) as exc:
        svc.amend(tender, buyer.officer, "Late addendum", add_documents=[extra],
                  submission_deadline=clock.now() + timedelta(days=15) - timedelta(seconds=1))
    assert exc.value.code == "deadline_must_move"
    assert tender.version == 1
    a = svc.amend(tender, buyer.officer, "Late addendum", add_documents=[extra],
                  submission_deadline=clock.now() + timedelta(days=15))
    assert a.number == 2 and tender.submission_deadline == clock.now() + timedelta(days=15)


def test_more_than_15_days_before_the_deadline_no_move_is_needed(buyer, tender):
    clock.set_time(tender.submission_deadline - timedelta(days=15))
    a = svc.amend(tender, buyer.officer, "Early addendum", add_documents=[_upload()])
    assert "submission_deadline" not in a.changes


def test_other_refusals(buyer, tender):
    with pytest.raises(ValidationError) as exc:
        svc.amend(tender, buyer.officer, "", submission_deadline=tender.submission_deadline + timedelta(days=1))
    assert exc.value.code == "reason_required"
    with pytest.raises(ValidationError) as exc:
        svc.amend(tender, buyer.officer, "Nothing")
    assert exc.value.code == "nothing_to_change"
    with pytest.raises(ValidationError) as exc:
        svc.amend(tender, buyer.officer, "Earlier", submission_deadline=tender.submission_deadline - timedelta(days=1))
    assert exc.value.code == "deadline_earlier"
    with pytest.raises(ValidationError) as exc:
        svc.amend(tender, buyer.officer, "Opening early", opening_time=tender.submission_deadline - timedelta(hours=1))
    assert exc.value.code == "opening_before_deadline"
    with pytest.raises(PermissionDenied):
        svc.amend(tender, make_buyer().officer, "Not mine", submission_deadline=tender.submission_deadline + timedelta(days=1))
    clock.set_time(tender.submission_deadline)
    with pytest.raises(InvalidTransition) as exc:
        svc.amend(tender, buyer.officer, "After the deadline",
                  submission_deadline=tender.submission_deadline + timedelta(days=20))
    assert exc.value.code == "not_amendable"


def test_a_cancelled_tender_cannot_be_amended(buyer, tender):
    tender_svc.cancel(tender, buyer.officer, "Budget withdrawn")
    with pytest.raises(InvalidTransition):
        svc.amend(tender, buyer.officer, "Too late", submission_deadline=tender.submission_deadline + timedelta(days=1))


def test_a_material_amendment_flags_only_bids_submitted_before_it(buyer, tender):
    org1, u1 = make_supplier()
    org2, u2 = make_supplier()
    org3, u3 = make_supplier()
    earlier = _bid(tender, org1, u1)
    draft = _bid(tender, org2, u2, status="draft")
    withdrawn = _bid(tender, org3, u3, status="withdrawn")
    svc.amend(tender, buyer.officer, "Quantity changed", material=True,
              submission_deadline=tender.submission_deadline + timedelta(days=3))
    later = _bid(tender, org2, u2, version=2)
    svc.amend(tender, buyer.officer, "Typo fixed", material=False,
              submission_deadline=tender.submission_deadline + timedelta(days=1))
    for bid in (earlier, draft, withdrawn, later):
        db.session.refresh(bid)
    assert earlier.needs_resubmission is True
    assert draft.needs_resubmission is False and withdrawn.needs_resubmission is False
    assert later.needs_resubmission is False
    assert any("Resubmit" in n.title for n in inbox_of(u1))
    assert not any("Resubmit" in n.title for n in inbox_of(u2) + inbox_of(u3))
    # nothing about bids reaches the officer, nor the audit data
    assert inbox_of(buyer.officer) == []
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "tender.amended")).all()
    assert all("bid" not in str(sorted(e.data)).lower() for e in entries)


def test_a_material_amendment_also_flags_another_bidder_of_the_same_org(buyer, tender):
    org, author = make_supplier()
    colleague = make_user(org, [Role.BIDDER])
    _bid(tender, org, author)
    svc.amend(tender, buyer.officer, "Material", material=True,
              submission_deadline=tender.submission_deadline + timedelta(days=3))
    assert any("Resubmit" in n.title for n in inbox_of(colleague))


def test_downloaders_askers_and_subscribers_are_notified_others_not(buyer, tender):
    dl_org, downloader = make_supplier()
    ask_org, asker = make_supplier()
    sub_org, subscriber = make_supplier()
    _x, bystander = make_supplier()
    with unit_of_work():
        db.session.add(DocumentDownload(tender_id=tender.id, user_id=downloader.id, org_id=dl_org.id))
    clarifications.ask(tender, asker, ask_org, "A question before the amendment")
    alerts.subscribe(subscriber, sub_org, categories=["goods"], category_codes=[], keywords=["办公"])
    alerts.subscribe(downloader, dl_org, categories=[], category_codes=[], keywords=[])  # told once only
    svc.amend(tender, buyer.officer, "New date", submission_deadline=tender.submission_deadline + timedelta(days=2))
    for user in (downloader, asker, subscriber):
        inbox = inbox_of(user)
        assert len(inbox) == 1, user.email
        assert inbox[0].link == f"/procurement/tenders/{tender.id}" and "amended" in inbox[0].title
    assert inbox_of(bystander) == [] and inbox_of(buyer.officer) == []
