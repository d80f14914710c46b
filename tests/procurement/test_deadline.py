"""The submission deadline, by the server clock: accepted one tick before, refused at it;
a submission racing the opening is either in the opening or refused, never lost."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core import clock
from core.db import db, for_update, unit_of_work
from core.errors import InvalidTransition
from procurement.models import Bid, Tender
from procurement.services import bids as svc
from procurement.states import BidStatus, TenderStatus
from tests.procurement.factories import make_supplier
from tests.procurement.test_bids import bidding_setup, full_bid, open_part

TICK = timedelta(microseconds=1)


def test_accepted_one_microsecond_before_the_deadline():
    _buyer, tender, _keys, org, user = bidding_setup()
    bid = full_bid(tender, org, user)
    clock.set_time(tender.submission_deadline - TICK)
    bid = svc.submit(bid, user)
    assert bid.status == BidStatus.SUBMITTED and bid.submitted_at == tender.submission_deadline - TICK
    assert bid.receipt["received_at"].endswith(".999999Z")


def test_refused_at_the_deadline_and_after():
    _buyer, tender, _keys, org, user = bidding_setup()
    bid = full_bid(tender, org, user)
    for moment in (tender.submission_deadline, tender.submission_deadline + timedelta(days=1)):
        clock.set_time(moment)
        with pytest.raises(InvalidTransition) as exc:
            svc.submit(bid, user)
        assert exc.value.code == "deadline_passed"
        with pytest.raises(InvalidTransition):
            svc.add_price(bid, user, tender.lots[0].id, 5)
        with pytest.raises(InvalidTransition):
            svc.start_bid(tender, user, org, [tender.lots[0].id])
    db.session.expire_all()
    assert db.session.get(Bid, bid.id).status == BidStatus.DRAFT and svc.current_bids(tender) == []


def test_a_cancelled_or_opened_tender_accepts_nothing():
    _buyer, tender, _keys, org, user = bidding_setup()
    bid = full_bid(tender, org, user)
    for status in (TenderStatus.CANCELLED, TenderStatus.OPENED):
        with unit_of_work():
            db.session.get(Tender, tender.id).status = status.value
        with pytest.raises(InvalidTransition) as exc:
            svc.submit(bid, user)
        assert exc.value.code == "tender_not_open"


def _one_round(app, tender_id: int, draft_id: int, user_id: int) -> dict:
    """One submission and one 'opening' started together; what each saw."""
    barrier = threading.Barrier(2)
    result: dict = {}

    def submitter():
        with app.app_context():
            try:
                barrier.wait()
                from accounts.models import User

                svc.submit(db.session.get(Bid, draft_id), db.session.get(User, user_id))
                result["submitted"] = True
            except InvalidTransition as exc:
                result["refused"] = exc.code
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                result["error"] = repr(exc)
            finally:
                db.session.remove()

    def opener():
        with app.app_context():
            try:
                barrier.wait()
                with unit_of_work():
                    row = db.session.scalars(for_update(sa.select(Tender).where(Tender.id == tender_id))).one()
                    db.session.refresh(row)
                    result["opened_with"] = {b.id for b in svc.current_bids(row)}
                    row.status = TenderStatus.OPENED.value
            except Exception as exc:  # noqa: BLE001
                result["open_error"] = repr(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submitter), threading.Thread(target=opener)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert "error" not in result and "open_error" not in result, result
    return result


def _race(app, rounds: int = 8):
    """Each round: a submission and an 'opening' (a transaction that locks the tender row,
    reads the current bids and moves the tender to opened) start together."""
    clock.set_time(None)
    _buyer, tender, _keys, _org, _user = bidding_setup()
    clock.set_time(tender.submission_deadline - timedelta(seconds=1))
    tender_id = tender.id
    outcomes = []
    for _ in range(rounds):
        with unit_of_work():
            db.session.get(Tender, tender_id).status = TenderStatus.TENDERING.value
        org, user = make_supplier()
        draft = full_bid(db.session.get(Tender, tender_id), org, user)
        draft_id, user_id = draft.id, user.id
        db.session.remove()
        result = _one_round(app, tender_id, draft_id, user_id)
        status = db.session.get(Bid, draft_id).status
        if result.get("submitted"):
            assert draft_id in result["opened_with"], "an accepted bid was left out of the opening"
            assert status == BidStatus.SUBMITTED
        else:
            assert result["refused"] == "tender_not_open" and status == BidStatus.DRAFT
            assert draft_id not in result["opened_with"]
        outcomes.append("in" if result.get("submitted") else "refused")
        db.session.remove()
    return outcomes


def test_a_submission_racing_the_opening_is_in_it_or_refused_on_postgresql(app, postgres_only):
    _race(app, rounds=12)  # each round asserts: accepted and in the opening, or refused and left a draft


def test_a_submission_racing_the_opening_is_in_it_or_refused_on_sqlite(app, is_postgres):
    if is_postgres:
        pytest.skip("SQLite variant")
    _race(app, rounds=4)


def test_concurrent_one_call_submissions_to_one_tender_all_succeed_on_postgresql(app, postgres_only):
    """A deadline rush: 8 suppliers (one of them with 3 submissions at once) submit through
    submit_complete_bid at the same moment. The tender row is only SHARE-locked, so nobody
    deadlocks or waits for the others; one bidder's racing submissions are serialized and
    leave exactly one current bid."""
    from accounts.models import Organization, User

    _buyer, tender, keys, _org, _user = bidding_setup()
    clock.set_time(tender.submission_deadline - timedelta(minutes=1))
    tender_id, lot_id = tender.id, tender.lots[0].id
    suppliers = [make_supplier() for _ in range(8)]
    jobs = [(org.id, user.id) for org, user in suppliers] + [(suppliers[0][0].id, suppliers[0][1].id)] * 2
    db.session.remove()
    barrier = threading.Barrier(len(jobs))
    results: dict[int, tuple] = {}

    def submitter(n: int, org_id: int, user_id: int) -> None:
        with app.app_context():
            try:
                row = db.session.get(Tender, tender_id)
                org, user = db.session.get(Organization, org_id), db.session.get(User, user_id)
                barrier.wait(timeout=30)
                bid = svc.submit_complete_bid(row.id, user, org, prices={lot_id: 1_000_000 + n},
                                              attachments=[svc.Attachment(f"p{n}.txt", b"proposal %d" % n)])
                results[n] = ("ok", org_id, bid.id)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                results[n] = ("error", org_id, repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submitter, args=(n, *job)) for n, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert all(r[0] == "ok" for r in results.values()) and len(results) == len(jobs), results

    current = svc.current_bids(db.session.get(Tender, tender_id))
    assert sorted(b.bidder_org_id for b in current) == sorted(org.id for org, _user in suppliers)
    first_org = suppliers[0][0].id
    racing = {r[2] for r in results.values() if r[1] == first_org}
    statuses = {b.id: b.status for b in db.session.scalars(sa.select(Bid).where(Bid.bidder_org_id == first_org))}
    assert set(statuses) == racing and sorted(statuses.values()).count(BidStatus.SUBMITTED) == 1
    assert sorted(statuses.values()).count(BidStatus.SUPERSEDED) == 2
    for bid in current:  # each sealed with its own (pre-allocated) id: opens, receipt = stored bytes
        parts = svc.live_parts(bid)
        assert [p["sha256"] for p in bid.receipt["parts"]] == [p.ciphertext_sha256 for p in parts]
        n = next(k for k, r in results.items() if r[2] == bid.id)
        assert open_part(keys, bid, parts[1]) == b"proposal %d" % n
