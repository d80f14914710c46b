"""The benchmarks' request shapes still match the app (cheap: no gunicorn, no load).

bench/deadline_rush.py and bench/tender_search.py build requests for APIs other people
own; these tests send one request of each shape through the test client so a changed
API shows up here rather than as a wall of 4xx in a benchmark run.
"""

from __future__ import annotations

import base64
import random
import sys
from pathlib import Path

from accounts.services.tokens import create_token
from core import clock
from core.db import db
from procurement.models import Bid
from procurement.states import BidStatus
from tests.procurement.factories import LOT_BUDGET, NOW, make_buyer, make_supplier, published_tender

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import deadline_rush  # noqa: E402
import tender_search  # noqa: E402


def test_rush_body_is_accepted_by_the_bids_api(client):
    clock.set_time(NOW)
    buyer = make_buyer()
    tender = published_tender(
        buyer, enquiry_end=None, evaluation_method="scored",
        lots=[dict(title_zh="计算机", title_en="Computers", budget=LOT_BUDGET, bond_amount=0, quantity=1, unit="set")],
        criteria=[dict(name_zh="价格", name_en="Price", weight=40, kind="price"),
                  dict(name_zh="技术", name_en="Technical", weight=60, kind="technical")],
    )
    org, user = make_supplier()
    _row, token = create_token(user, org.id, "bench")
    data = deadline_rush.attachment_bytes(20_000, random.Random(1))
    body = deadline_rush.bid_body([lot.id for lot in tender.lots], [c.id for c in tender.criteria], 1_000_000,
                                  base64.b64encode(data).decode("ascii"), "技术方案.pdf")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "bench-smoke-1",
               "Content-Type": "application/json", "Accept": "application/json"}
    resp = client.post(f"/api/v1/tenders/{tender.id}/bids", data=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    bid_id = deadline_rush.bid_id_of(resp.get_json())
    bid = db.session.get(Bid, bid_id)
    assert bid is not None and bid.bidder_org_id == org.id and bid.status == BidStatus.SUBMITTED


def test_bid_id_of_reads_the_usual_shapes():
    assert deadline_rush.bid_id_of({"id": 7}) == 7
    assert deadline_rush.bid_id_of({"bid": {"id": 8}}) == 8
    assert deadline_rush.bid_id_of({"error": {}}) is None


def test_search_queries_are_understood_and_the_page_finds_what_the_api_finds(client):
    """Every query of every kind answers 200, and the page (budgets in yuan) lists the same
    tenders as the API (budgets in fen) for the same query."""
    import re

    clock.set_time(NOW)
    buyer = make_buyer()
    for budget in (50_000_00, 100_000_000, 2_000_000_00):  # fen: 50k, 1M and 20M yuan
        published_tender(buyer, budget=budget)
    facts = {"ids": [1], "buyers": []}
    kinds = tender_search.build_queries(facts, "/api/v1/tenders", "/procurement/tenders", random.Random(3))
    for kind, urls in kinds.items():
        if kind == "pk" or kind.startswith("html-"):
            continue
        for i, url in enumerate(urls[:40]):
            resp = client.get(url)
            assert resp.status_code == 200, (kind, url, resp.status_code)
            if "html-" + kind not in kinds:
                continue
            page = client.get(kinds["html-" + kind][i])
            assert page.status_code == 200
            html = page.get_data(as_text=True)
            assert "is-invalid" not in html, kinds["html-" + kind][i]
            shown = {int(x) for x in re.findall(r'href="/procurement/tenders/(\d+)"', html)}
            assert shown == {t["id"] for t in resp.get_json()}, (url, kinds["html-" + kind][i])


def test_percentiles_nearest_rank():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import _harness

    values = list(range(1, 101))
    assert _harness.percentiles(values) == {50: 50, 95: 95, 99: 99}
    assert _harness.percentiles([5.0]) == {50: 5.0, 95: 5.0, 99: 5.0}
