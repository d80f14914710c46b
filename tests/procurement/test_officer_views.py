"""Officer tender pages: create -> edit -> publish through the client (refusals shown),
documents, cancellation with a reason, organization scoping; procedure types admin."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from accounts.states import OrgKind, Role
from core import clock
from core.db import db
from core.models.audit import AuditEntry
from core.models.files import StoredFile
from procurement.models import ProcedureType, Tender, TenderDocument
from procurement.queries import TenderSearch, search_tenders
from procurement.services import tenders as svc
from tests.factories import make_org, make_user
from tests.helpers import login, post_form
from tests.procurement.factories import NOW, PDF, draft_tender, make_buyer, make_supplier, published_tender

NEW_URL = "/procurement/manage/tenders/new"

# The procurement forms give WTForms SelectChoice objects (tuples are deprecated).
pytestmark = pytest.mark.filterwarnings("error:Passing SelectField choices:DeprecationWarning")


@pytest.fixture(autouse=True)
def _frozen_clock():
    clock.set_time(NOW)
    yield
    clock.reset()


def _form(buyer, **overrides) -> dict:
    """A complete tender form (Beijing times; yuan amounts); the bond is 2% of the lot."""
    data = {
        "title_zh": "办公设备采购", "title_en": "Office equipment", "description_zh": "采购台式电脑",
        "description_en": "Desktop computers", "category": "goods", "category_code": "A0201",
        "budget": "1000000", "method": "open", "enquiry_end": "2026-03-12T10:00",
        "submission_deadline": "2026-04-01T10:00", "opening_time": "2026-04-01T11:00",
        "custodians": [str(u.id) for u in buyer.custodians], "custodian_threshold": "2",
        "evaluation_method": "lowest_price", "price_weight": "", "sme_deduction_pct": "10",
        "lots-0-title_zh": "台式电脑", "lots-0-title_en": "Desktops", "lots-0-budget": "1000000",
        "lots-0-bond_amount": "20000", "lots-0-quantity": "100", "lots-0-unit": "set",
        "lots-0-delivery_terms": "30 days",
    }
    data.update(overrides)
    return data


def _with_pdf(data: dict, name: str = "tender.pdf", content: bytes = PDF) -> dict:
    return {**data, "documents": (io.BytesIO(content), name)}


def _only_tender() -> Tender:
    return db.session.scalars(sa.select(Tender)).one()


def _text(response) -> str:
    return response.get_data(as_text=True)


# --------------------------------------------------------------------------- create / edit / publish


def test_new_tender_page_offers_the_orgs_custodians(client):
    buyer = make_buyer(2)
    other = make_buyer(1)
    login(client, buyer.officer)
    page = _text(client.get(NEW_URL))
    assert 'name="lots-0-title_zh"' in page and 'data-row-template="lots"' in page
    for custodian in buyer.custodians:
        assert f'value="{custodian.id}"' in page and custodian.email in page
        # every custodian of the organization is ticked on a new tender
        assert f'id="custodian-{custodian.id}" value="{custodian.id}" checked' in page
    assert other.custodians[0].email not in page
    assert "js/tenders.js" in page


@pytest.mark.parametrize("editing", [False, True])
def test_a_draft_and_its_documents_are_saved_together_or_not_at_all(client, monkeypatch, editing):
    buyer = make_buyer(2)
    login(client, buyer.officer)
    draft = draft_tender(buyer, documents=False) if editing else None
    real = svc.store_bytes
    calls: list[int] = []

    def refuse_the_second(data, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            from core.errors import ValidationError

            raise ValidationError("refused", fields={"documents": "refused"})
        return real(data, **kwargs)

    monkeypatch.setattr(svc, "store_bytes", refuse_the_second)
    url = f"/procurement/manage/tenders/{draft.id}/edit" if editing else NEW_URL
    files_dir = Path(client.application.config["FILES_DIR"])
    on_disk = sum(1 for f in files_dir.rglob("*") if f.is_file())
    data = {**_form(buyer, title_en="Changed title"),
            "documents": [(io.BytesIO(PDF), "one.pdf"), (io.BytesIO(PDF), "two.pdf")]}
    r = post_form(client, url, data, content_type="multipart/form-data")
    assert r.status_code == 422 and len(calls) == 2
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TenderDocument)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile)) == 0
    assert sum(1 for f in files_dir.rglob("*") if f.is_file()) == on_disk  # the first file went too
    if editing:
        assert db.session.get(Tender, draft.id).title_en != "Changed title"
    else:
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Tender)) == 0


def test_create_edit_publish_flow_with_a_refusal_shown(client):
    buyer = make_buyer(3)
    login(client, buyer.officer)
    # a bond of 3% of the lot budget: saved as a draft, refused at publication
    r = post_form(client, NEW_URL, _with_pdf(_form(buyer, **{"lots-0-bond_amount": "30000.50"})),
                  content_type="multipart/form-data")
    assert r.status_code == 303, _text(r)
    tender = _only_tender()
    assert r.headers["Location"].endswith(f"/procurement/manage/tenders/{tender.id}/edit")
    assert tender.status == "draft" and tender.budget == 100_000_000 and tender.lots[0].bond_amount == 3_000_050
    assert tender.submission_deadline == datetime(2026, 4, 1, 2, 0, tzinfo=UTC)  # 10:00 Beijing
    assert tender.enquiry_end == datetime(2026, 3, 12, 2, 0, tzinfo=UTC)
    assert {c.user_id for c in tender.custodians} == {u.id for u in buyer.custodians}
    assert len(tender.documents) == 1

    edit = _text(client.get(f"/procurement/manage/tenders/{tender.id}/edit"))
    assert 'value="30000.50"' in edit and 'value="2026-04-01T10:00"' in edit

    refused = post_form(client, f"/procurement/manage/tenders/{tender.id}/publish")
    assert refused.status_code == 422
    assert "Lot 1: the bid bond cannot exceed 2% of the lot budget." in _text(refused)
    assert "The tender was not published" in _text(refused)
    db.session.expire_all()
    assert db.session.get(Tender, tender.id).status == "draft"

    saved = post_form(client, f"/procurement/manage/tenders/{tender.id}/edit",
                      _form(buyer, **{"lots-0-bond_amount": "20000", "title_en": "Office equipment 2026"}),
                      content_type="multipart/form-data")
    assert saved.status_code == 303, _text(saved)
    db.session.expire_all()
    tender = db.session.get(Tender, tender.id)
    assert tender.lots[0].bond_amount == 2_000_000 and tender.title_en == "Office equipment 2026"

    published = post_form(client, f"/procurement/manage/tenders/{tender.id}/publish")
    assert published.status_code == 303
    assert published.headers["Location"].endswith(f"/procurement/tenders/{tender.id}")
    db.session.expire_all()
    tender = db.session.get(Tender, tender.id)
    assert tender.status == "active.enquiries" and tender.published_at == NOW
    # the public search finds it by its edited title
    assert [t.id for t in search_tenders(TenderSearch(q="equipment 2026")).items] == [tender.id]
    # a published tender is no longer editable
    again = client.get(f"/procurement/manage/tenders/{tender.id}/edit")
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/procurement/tenders/{tender.id}")


def test_publish_without_documents_names_the_missing_documents(client):
    buyer = make_buyer(2)
    login(client, buyer.officer)
    assert post_form(client, NEW_URL, _form(buyer), content_type="multipart/form-data").status_code == 303
    tender = _only_tender()
    refused = post_form(client, f"/procurement/manage/tenders/{tender.id}/publish")
    assert refused.status_code == 422
    assert "Upload the tender documents before publishing." in _text(refused)


def test_publish_too_soon_is_shown_next_to_the_deadline(client):
    buyer = make_buyer(2)
    login(client, buyer.officer)
    data = _with_pdf(_form(buyer, enquiry_end="", submission_deadline="2026-03-10T10:00",
                           opening_time="2026-03-10T11:00"))
    assert post_form(client, NEW_URL, data, content_type="multipart/form-data").status_code == 303
    refused = post_form(client, f"/procurement/manage/tenders/{_only_tender().id}/publish")
    page = _text(refused)
    assert refused.status_code == 422
    assert "at least 20 days after publication" in page
    assert page.rindex("at least 20 days after publication") > page.index('id="submission_deadline"')


def test_form_errors_are_shown_and_nothing_is_created(client):
    buyer = make_buyer(2)
    login(client, buyer.officer)
    r = post_form(client, NEW_URL, _form(buyer, title_zh="", budget="12.345", **{"lots-0-title_zh": "",
                                                                                "lots-0-title_en": ""}),
                  content_type="multipart/form-data")
    assert r.status_code == 422
    page = _text(r)
    assert "Enter an amount in yuan" in page and "Each lot needs a title." in page
    assert db.session.scalar(sa.select(sa.func.count(Tender.id))) == 0


def test_a_document_of_a_refused_type_is_refused(client):
    buyer = make_buyer(2)
    login(client, buyer.officer)
    r = post_form(client, NEW_URL, _with_pdf(_form(buyer), name="run.exe", content=b"MZ\x90\x00"),
                  content_type="multipart/form-data")
    assert r.status_code == 422 and "not accepted" in _text(r)
    assert db.session.scalar(sa.select(sa.func.count(Tender.id))) == 0


def test_lot_and_criterion_rows_can_be_added_and_removed(client):
    buyer = make_buyer(2)
    login(client, buyer.officer)
    data = _form(buyer, evaluation_method="scored", **{
        "lots-3-title_zh": "显示器", "lots-3-budget": "500000", "lots-3-bond_amount": "0",
        "lots-3-quantity": "50", "lots-3-unit": "台",
        "criteria-0-name_zh": "价格", "criteria-0-kind": "price", "criteria-0-weight": "40",
        "criteria-2-name_en": "Technical", "criteria-2-kind": "technical", "criteria-2-weight": "60",
        "criteria-5-name_zh": "", "criteria-5-weight": "",  # a blank row is ignored
    })
    assert post_form(client, NEW_URL, data, content_type="multipart/form-data").status_code == 303
    tender = _only_tender()
    assert [(lot.number, lot.title_zh) for lot in tender.lots] == [(1, "台式电脑"), (2, "显示器")]
    assert sorted(c.weight for c in tender.criteria) == [40, 60]
    # remove lot 1 and one criterion
    data = _form(buyer, evaluation_method="scored", **{"lots-0-title_zh": "显示器", "lots-0-title_en": "",
                                                       "lots-0-budget": "500000", "lots-0-bond_amount": "0",
                                                       "criteria-0-name_zh": "价格", "criteria-0-kind": "price",
                                                       "criteria-0-weight": "100"})
    r = post_form(client, f"/procurement/manage/tenders/{tender.id}/edit", data, content_type="multipart/form-data")
    assert r.status_code == 303
    db.session.expire_all()
    tender = db.session.get(Tender, tender.id)
    assert [(lot.number, lot.title_zh) for lot in tender.lots] == [(1, "显示器")]
    assert [(c.kind, c.weight) for c in tender.criteria] == [("price", 100)]


def test_a_draft_document_can_be_removed(client):
    buyer = make_buyer(2)
    tender = draft_tender(buyer)
    doc = tender.documents[0]
    login(client, buyer.officer)
    page = _text(client.get(f"/procurement/manage/tenders/{tender.id}/edit"))
    assert f'id="remove-doc-{doc.id}"' in page
    r = post_form(client, f"/procurement/manage/tenders/{tender.id}/documents/{doc.id}/remove")
    assert r.status_code == 303
    assert db.session.scalar(sa.select(sa.func.count(TenderDocument.id))) == 0
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "tender.document_removed"))


# --------------------------------------------------------------------------- cancel


def test_cancel_needs_a_reason_and_publishes_it(client):
    buyer = make_buyer(2)
    tender = published_tender(buyer)
    login(client, buyer.officer)
    url = f"/procurement/manage/tenders/{tender.id}/cancel"
    confirm = _text(client.get(url))
    assert "Cancelling cannot be undone" in confirm and 'name="reason"' in confirm
    empty = post_form(client, url, {"reason": ""})
    assert empty.status_code == 422
    db.session.expire_all()
    assert db.session.get(Tender, tender.id).status == "active.enquiries"
    done = post_form(client, url, {"reason": "The budget was withdrawn."})
    assert done.status_code == 303
    db.session.expire_all()
    row = db.session.get(Tender, tender.id)
    assert row.status == "cancelled" and row.cancel_reason == "The budget was withdrawn."
    assert "The budget was withdrawn." in _text(client.get(f"/procurement/tenders/{tender.id}"))


# --------------------------------------------------------------------------- scoping


def test_another_orgs_officer_gets_404(client):
    buyer = make_buyer(2)
    draft = draft_tender(buyer)
    live = published_tender(buyer)
    other = make_buyer(1)
    login(client, other.officer)
    assert client.get(f"/procurement/manage/tenders/{draft.id}/edit").status_code == 404
    assert post_form(client, f"/procurement/manage/tenders/{draft.id}/edit", _form(buyer)).status_code == 404
    assert post_form(client, f"/procurement/manage/tenders/{draft.id}/publish").status_code == 404
    assert client.get(f"/procurement/manage/tenders/{live.id}/cancel").status_code == 404
    assert post_form(client, f"/procurement/manage/tenders/{live.id}/cancel", {"reason": "x"}).status_code == 404
    doc = draft.documents[0]
    assert post_form(client, f"/procurement/manage/tenders/{draft.id}/documents/{doc.id}/remove").status_code == 404
    db.session.expire_all()
    assert db.session.get(Tender, draft.id).status == "draft"
    assert db.session.get(Tender, live.id).status == "active.enquiries"
    mine = _text(client.get("/procurement/manage/tenders"))
    assert f"/procurement/tenders/{live.id}" not in mine


def test_officer_pages_need_the_officer_role(client):
    _org, bidder = make_supplier()
    login(client, bidder)
    assert client.get("/procurement/manage/tenders").status_code == 403
    assert client.get(NEW_URL).status_code == 403


def test_my_tenders_lists_the_orgs_tenders_with_status(client):
    buyer = make_buyer(2)
    draft = draft_tender(buyer, title_en="Draft one")
    live = published_tender(buyer, title_en="Live one")
    login(client, buyer.officer)
    page = _text(client.get("/procurement/manage/tenders"))
    assert "Draft one" in page and "Live one" in page and "Enquiry period" in page
    assert f"/procurement/manage/tenders/{draft.id}/edit" in page
    assert f"/procurement/manage/tenders/{live.id}/edit" not in page
    only_drafts = _text(client.get("/procurement/manage/tenders?status=draft"))
    assert "Draft one" in only_drafts and "Live one" not in only_drafts


# --------------------------------------------------------------------------- procedure types


def _platform_admin():
    org = make_org(kinds=[OrgKind.PLATFORM])
    return make_user(org, [Role.PLATFORM_ADMIN])


def test_platform_admin_edits_a_procedure_type_audited(client):
    svc.seed_procedure_types()
    admin = _platform_admin()
    login(client, admin)
    page = _text(client.get("/procurement/admin/procedure-types"))
    assert "Open tender" in page and "公开招标" in page
    ptype = db.session.scalar(sa.select(ProcedureType).where(ProcedureType.code == "inquiry"))
    prefix = f"pt-{ptype.id}-"
    data = {prefix + "min_days": "5", prefix + "min_days_working": "y", prefix + "min_bids": "3",
            prefix + "committee_min": "3", prefix + "evaluation_methods": ["lowest_price"]}
    r = post_form(client, f"/procurement/admin/procedure-types/{ptype.id}", data)
    assert r.status_code == 303
    db.session.expire_all()
    row = db.session.get(ProcedureType, ptype.id)
    assert row.min_days == 5 and row.min_days_working and not row.bond_allowed
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "procedure_type.updated"))
    assert entry is not None and entry.data["changes"]["min_days"] == [3, 5]
    even = post_form(client, f"/procurement/admin/procedure-types/{ptype.id}",
                     {**data, prefix + "committee_min": "4"})
    assert even.status_code == 422 and "odd number" in _text(even)


def test_procedure_types_page_is_for_platform_admins_only(client):
    buyer = make_buyer(0)
    login(client, buyer.officer)
    assert client.get("/procurement/admin/procedure-types").status_code == 403
    with pytest.raises(Exception):  # noqa: B017 - the service refuses too
        svc.update_procedure_type(svc.procedure_for("open"), buyer.officer, min_days=1)
