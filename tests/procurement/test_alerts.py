"""Supplier alerts (matching, subscriptions, new tender notices) and cancellation notices."""

from __future__ import annotations

import pytest

from core import clock
from core.db import db, unit_of_work
from core.errors import NotFound, PermissionDenied, ValidationError
from procurement.models import AlertSubscription, Bid, Bond, DocumentDownload, Tender
from procurement.services import alerts, clarifications, participants
from procurement.services import tenders as tender_svc
from tests.factories import make_user
from tests.procurement.factories import draft_tender, inbox_of, make_buyer, make_supplier, published_tender

pytestmark = pytest.mark.usefixtures("frozen_clock")


def _sub(categories=(), codes=(), keywords=()):
    return AlertSubscription(user_id=1, categories=list(categories), category_codes=list(codes),
                             keywords=list(keywords))


def _tender(**kw):
    fields = dict(title_zh="办公设备采购", title_en="Office equipment", description_zh="台式电脑和打印机",
                  description_en="Desktop computers and Printers", category="goods", category_code="A0201")
    fields.update(kw)
    return Tender(**fields)


# --------------------------------------------------------------------------- matching (pure)


def test_empty_subscription_matches_everything():
    assert alerts.matches(_sub(), _tender())


def test_category_matching():
    assert alerts.matches(_sub(categories=["goods", "works"]), _tender())
    assert not alerts.matches(_sub(categories=["services"]), _tender())


def test_category_code_prefix_matching():
    assert alerts.matches(_sub(codes=["A02"]), _tender())
    assert alerts.matches(_sub(codes=["a0201"]), _tender())
    assert not alerts.matches(_sub(codes=["A03"]), _tender())
    assert not alerts.matches(_sub(codes=["A020101"]), _tender())


def test_keyword_matching_chinese_and_english_case_insensitive():
    assert alerts.matches(_sub(keywords=["电脑"]), _tender())  # two-character Chinese term in the description
    assert alerts.matches(_sub(keywords=["办公"]), _tender())  # in the Chinese title
    assert alerts.matches(_sub(keywords=["PRINTERS"]), _tender())
    assert alerts.matches(_sub(keywords=["office"]), _tender())
    assert alerts.matches(_sub(keywords=["桌椅", "desktop"]), _tender())  # any keyword
    assert not alerts.matches(_sub(keywords=["桌椅", "furniture"]), _tender())


def test_every_criterion_must_match():
    assert alerts.matches(_sub(categories=["goods"], codes=["A02"], keywords=["电脑"]), _tender())
    assert not alerts.matches(_sub(categories=["goods"], codes=["A02"], keywords=["furniture"]), _tender())
    assert not alerts.matches(_sub(categories=["works"], codes=["A02"], keywords=["电脑"]), _tender())


# --------------------------------------------------------------------------- subscriptions


def test_subscribe_cleans_the_input_and_delete_is_own_only():
    org, bidder = make_supplier()
    sub = alerts.subscribe(bidder, org, ["goods", "goods"], " a02 , B01", "电脑，printer\n printer ")
    assert sub.categories == ["goods"] and sub.category_codes == ["A02", "B01"]
    assert sub.keywords == ["电脑", "printer"]
    assert [s.id for s in alerts.subscriptions_for(bidder)] == [sub.id]
    other_org, other = make_supplier()
    with pytest.raises(NotFound):
        alerts.delete(other, sub.id)
    alerts.delete(bidder, sub.id)
    assert alerts.subscriptions_for(bidder) == []
    assert db.session.get(AlertSubscription, sub.id).active is False


def test_subscribe_refusals():
    org, bidder = make_supplier()
    with pytest.raises(ValidationError) as exc:
        alerts.subscribe(bidder, org, ["furniture"])
    assert exc.value.code == "invalid_category"
    with pytest.raises(ValidationError) as exc:
        alerts.subscribe(bidder, org, keywords=["x" * 51])
    assert exc.value.code == "keywords_too_long"
    buyer = make_buyer()
    with pytest.raises(PermissionDenied):
        alerts.subscribe(buyer.custodians[0], buyer.org, keywords=["电脑"])


# --------------------------------------------------------------------------- notices


def test_a_publish_notifies_a_matching_subscriber_once(buyer):
    org, fan = make_supplier()
    _o2, other_fan = make_supplier()
    _o3, not_a_fan = make_supplier()
    alerts.subscribe(fan, org, ["goods"], ["A02"], ["电脑"])
    alerts.subscribe(fan, org, [], [], ["office"])  # matches too: still one notice
    alerts.subscribe(other_fan, _o2, [], [], ["Office"])
    alerts.subscribe(not_a_fan, _o3, ["services"])
    tender = draft_tender(buyer, description_zh="采购台式电脑")
    tender_svc.publish(tender, buyer.officer)  # notify_new_tender runs after the commit
    assert len(inbox_of(fan, alerts.KIND_ALERT)) == 1
    notice = inbox_of(fan)[0]
    assert notice.link == f"/procurement/tenders/{tender.id}" and "办公设备采购" in notice.title
    assert len(inbox_of(other_fan, alerts.KIND_ALERT)) == 1
    assert inbox_of(not_a_fan) == []
    alerts.notify_new_tender(tender.id)  # a second run sends nothing
    assert len(inbox_of(fan)) == 1


def test_an_amendment_notifies_matching_subscribers_but_not_twice_a_downloader(buyer):
    from datetime import timedelta

    from procurement.services import amendments

    tender = published_tender(buyer)
    org, fan = make_supplier()
    _o2, fan_who_downloaded = make_supplier()
    _o3, not_a_fan = make_supplier()
    alerts.subscribe(fan, org, ["goods"])
    alerts.subscribe(fan_who_downloaded, _o2, [], [], ["office"])
    alerts.subscribe(not_a_fan, _o3, ["services"])
    tender_svc.record_download(tender, fan_who_downloaded, _o2)
    amendments.amend(tender, buyer.officer, "Deadline extended",
                     submission_deadline=tender.submission_deadline + timedelta(days=5))
    fan_notes = inbox_of(fan, alerts.KIND_ALERT)
    assert len(fan_notes) == 1 and fan_notes[0].link == f"/procurement/tenders/{tender.id}"
    assert inbox_of(fan_who_downloaded, alerts.KIND_ALERT) == []  # told once, as a downloader
    assert len(inbox_of(fan_who_downloaded)) == 1
    assert inbox_of(not_a_fan) == []


def test_a_draft_or_invitation_tender_alerts_no_outsider(buyer):
    invited_org, invited = make_supplier()
    outsider_org, outsider = make_supplier()
    alerts.subscribe(invited, invited_org)
    alerts.subscribe(outsider, outsider_org)
    draft = draft_tender(buyer)
    alerts.notify_new_tender(draft.id)
    assert inbox_of(invited) == []
    published_tender(buyer, method="invitation", invitees=[invited_org.id])
    assert len(inbox_of(invited)) == 1 and inbox_of(outsider) == []


def test_recent_matches_lists_open_tenders_matching(buyer):
    org, fan = make_supplier()
    tender = published_tender(buyer)
    sub = alerts.subscribe(fan, org, keywords=["office"])
    miss = alerts.subscribe(fan, org, keywords=["furniture"])
    assert [t.id for t in alerts.recent_matches(sub)] == [tender.id]
    assert alerts.recent_matches(miss) == []
    # past its deadline the tender takes no bids: not listed, though its stored status
    # is still the published one (the clock, not a sweep, decides)
    clock.set_time(tender.submission_deadline)
    assert alerts.recent_matches(sub) == []


# --------------------------------------------------------------------------- cancellation


def test_cancellation_notifies_every_participant_once(buyer):
    tender = published_tender(buyer)
    dl_org, downloader = make_supplier()
    ask_org, asker = make_supplier()
    bond_org, _bond_user = make_supplier()
    bid_org, bidder = make_supplier()
    _x, bystander = make_supplier()
    with unit_of_work():
        db.session.add(DocumentDownload(tender_id=tender.id, user_id=downloader.id, org_id=dl_org.id))
        db.session.add(DocumentDownload(tender_id=tender.id, user_id=asker.id, org_id=ask_org.id))
        db.session.add(Bond(tender_id=tender.id, lot_id=tender.lots[0].id, supplier_org_id=bond_org.id,
                            kind="guarantee", amount=100, reference="BOND-TEST-1"))
        db.session.add(Bid(tender_id=tender.id, bidder_org_id=bid_org.id, created_by_id=bidder.id,
                           status="withdrawn", tender_version=1))
    clarifications.ask(tender, asker, ask_org, "A question before cancelling")
    bond_colleague = make_user(bond_org, ["bidder"])
    tender_svc.cancel(tender, buyer.officer, "Budget withdrawn")
    for user in (downloader, asker, _bond_user, bond_colleague, bidder):
        inbox = inbox_of(user, participants.KIND_PARTICIPATION)
        assert len(inbox) == 1, user.email
        assert "Budget withdrawn" in inbox[0].body and "cancelled" in inbox[0].title.lower()
    assert inbox_of(bystander) == [] and inbox_of(buyer.officer) == []


def test_participants_user_ids_by_kind(buyer):
    tender = published_tender(buyer)
    dl_org, downloader = make_supplier()
    with unit_of_work():
        db.session.add(DocumentDownload(tender_id=tender.id, user_id=downloader.id, org_id=dl_org.id))
    assert participants.user_ids(tender) == {downloader.id}
    assert participants.user_ids(tender, downloaders=False) == set()
