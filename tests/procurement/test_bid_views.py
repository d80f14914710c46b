"""Bid pages through the Flask client: the workspace (lots, prices, answers, attachments,
remove, submit, withdraw, replace), my bids, receipt download, public verification."""

from __future__ import annotations

import copy
import io
import json
from datetime import timedelta

import sqlalchemy as sa

from accounts.states import Role
from core import clock, signing
from core.db import db
from procurement.models import Bid, BidPart
from procurement.services import bids as svc
from procurement.states import BidStatus
from tests.factories import make_user
from tests.helpers import csrf_token, login, post_form
from tests.procurement.factories import NOW, make_supplier
from tests.procurement.test_bids import bidding_setup, full_bid, open_part


def _ws(tender):
    return f"/procurement/tenders/{tender.id}/bid"


def _bids(org_id):
    return list(db.session.scalars(sa.select(Bid).where(Bid.bidder_org_id == org_id).order_by(Bid.id)))


def test_a_supplier_prepares_and_submits_a_bid_through_the_pages(client):
    _buyer, tender, keys, org, user = bidding_setup()
    login(client, user)
    page = client.get(_ws(tender))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Start my bid" in html and 'data-countdown="' in html and "lot-" in html

    r = post_form(client, _ws(tender) + "/lots", {"lots": [str(tender.lots[0].id)]})
    assert r.status_code == 303
    bid = _bids(org.id)[0]
    assert bid.status == BidStatus.DRAFT and bid.lot_ids == [tender.lots[0].id]
    assert client.get(_ws(tender)).get_data(as_text=True).count('name="lot_id"') == 1  # one per priced lot

    r = post_form(client, _ws(tender) + "/price", {"lot_id": str(tender.lots[0].id), "price": "12,345.67"})
    assert r.status_code == 303
    r = client.post(_ws(tender) + "/attachments", data={"csrf_token": csrf_token(client),
                                                         "file": (io.BytesIO(b"our proposal"), "proposal.txt")},
                    content_type="multipart/form-data")
    assert r.status_code == 303
    parts = svc.live_parts(bid)
    assert [p.name for p in parts] == ["price-lot-1", "proposal.txt"]
    assert json.loads(open_part(keys, bid, parts[0]))["price"] == 1_234_567
    assert open_part(keys, bid, parts[1]) == b"our proposal"

    html = client.get(_ws(tender)).get_data(as_text=True)
    assert "proposal.txt" in html and parts[1].ciphertext_sha256 in html
    assert "12,345.67" not in html and "1234567" not in html and "our proposal" not in html

    r = post_form(client, _ws(tender) + "/submit")
    assert r.status_code == 303
    html = client.get(_ws(tender)).get_data(as_text=True)
    assert "Your bid was submitted" in html and "Download the receipt" in html
    db.session.expire_all()
    assert db.session.get(Bid, bid.id).status == BidStatus.SUBMITTED

    receipt = client.get(f"/procurement/bids/{bid.id}/receipt.json")
    assert receipt.status_code == 200 and "attachment" in receipt.headers["Content-Disposition"]
    doc = json.loads(receipt.data)
    assert doc["tender_id"] == tender.id and [p["name"] for p in doc["parts"]] == ["price-lot-1", "proposal.txt"]

    mine = client.get("/procurement/bids").get_data(as_text=True)
    assert f"/procurement/bids/{bid.id}/receipt.json" in mine and "Submitted" in mine


def test_refusals_are_shown_as_clear_messages(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    login(client, user)
    r = post_form(client, _ws(tender) + "/price", {"lot_id": str(tender.lots[0].id), "price": "100"},
                  follow_redirects=True)
    assert "Choose your lots first" in r.get_data(as_text=True)
    post_form(client, _ws(tender) + "/lots", {"lots": [str(lot.id) for lot in tender.lots]})
    for typed, message in (("abc", "Enter an amount in yuan, e.g. 1200.50."), ("12.345", "Enter an amount in yuan"),
                           ("", "Enter a price in yuan above zero, e.g. 1200.50."),
                           ("  ", "Enter a price in yuan above zero, e.g. 1200.50."),
                           ("¥", "Enter an amount in yuan, e.g. 1200.50."),
                           ("-5", "The amount must be more than zero."), ("0", "The amount must be more than zero.")):
        r = post_form(client, _ws(tender) + "/price", {"lot_id": str(tender.lots[0].id), "price": typed},
                      follow_redirects=True)
        assert message in r.get_data(as_text=True), typed
    assert not [p for p in _bids(org.id)[0].parts if p.kind == "price"]  # nothing sealed
    post_form(client, _ws(tender) + "/price", {"lot_id": str(tender.lots[0].id), "price": "100"})
    r = post_form(client, _ws(tender) + "/submit", follow_redirects=True)
    assert "Lot 2 has no price yet." in r.get_data(as_text=True)
    r = client.post(_ws(tender) + "/attachments", data={"csrf_token": csrf_token(client),
                                                         "file": (io.BytesIO(b"MZ.."), "virus.exe")},
                    content_type="multipart/form-data", follow_redirects=True)
    assert "Files of this type are not accepted" in r.get_data(as_text=True)
    clock.set_time(tender.submission_deadline)
    login(client, user)  # the session of 30 days ago has expired
    r = post_form(client, _ws(tender) + "/submit", follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "The submission deadline has passed: nothing is accepted any more." in html
    assert _bids(org.id)[0].status == BidStatus.DRAFT


def test_remove_part_replace_and_withdraw_through_the_pages(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    old = svc.submit(full_bid(tender, org, user), user)
    login(client, user)
    post_form(client, _ws(tender) + "/lots", {"lots": [str(tender.lots[0].id)]})
    draft = svc.draft_of(tender, org.id)
    assert draft is not None and draft.id != old.id
    post_form(client, _ws(tender) + "/price", {"lot_id": str(tender.lots[0].id), "price": "99"})
    client.post(_ws(tender) + "/attachments", data={"csrf_token": csrf_token(client),
                                                     "file": (io.BytesIO(b"x"), "x.txt")},
                content_type="multipart/form-data")
    extra = [p for p in svc.live_parts(draft) if p.name == "x.txt"][0]
    assert post_form(client, _ws(tender) + f"/parts/{extra.id}/remove").status_code == 303
    assert db.session.get(BidPart, extra.id).removed_at is not None
    html = client.get(_ws(tender)).get_data(as_text=True)
    assert "Submit as replacement" in html
    post_form(client, _ws(tender) + "/submit")
    db.session.expire_all()
    assert db.session.get(Bid, old.id).status == BidStatus.SUPERSEDED
    assert db.session.get(Bid, draft.id).status == BidStatus.SUBMITTED
    post_form(client, _ws(tender) + "/withdraw")
    db.session.expire_all()
    assert db.session.get(Bid, draft.id).status == BidStatus.WITHDRAWN
    mine = client.get("/procurement/bids").get_data(as_text=True)
    assert "Withdrawn" in mine and "Replaced" in mine


def test_resubmission_flag_is_shown(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    bid = svc.submit(full_bid(tender, org, user), user)
    from core.db import unit_of_work

    with unit_of_work():
        db.session.get(Bid, bid.id).needs_resubmission = True
    login(client, user)
    html = client.get(_ws(tender)).get_data(as_text=True)
    assert "A material amendment was published after your bid" in html


def test_enquiry_period_note_and_ineligibility_message(client):
    _buyer, tender, _keys, org, user = bidding_setup(tendering=False, enquiry_end=NOW + timedelta(days=10))
    login(client, user)
    html = client.get(_ws(tender)).get_data(as_text=True)
    assert "enquiry period is still running" in html and "bid-submit" not in html
    from core.db import unit_of_work

    with unit_of_work():
        db.session.merge(org).verification = "pending"
    html = client.get(_ws(tender)).get_data(as_text=True)
    assert "must be verified" in html and "Start my bid" not in html


def test_other_organizations_bids_and_receipts_are_404_and_wrong_roles_403(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    bid = svc.submit(full_bid(tender, org, user), user)
    other_org, other = make_supplier()
    login(client, other)
    assert client.get(f"/procurement/bids/{bid.id}/receipt.json").status_code == 404
    html = client.get(_ws(tender)).get_data(as_text=True)
    assert bid.receipt["parts"][0]["sha256"] not in html and "Your submitted bid" not in html
    assert "/receipt.json" not in client.get("/procurement/bids").get_data(as_text=True)
    client.post("/accounts/logout", data={"csrf_token": csrf_token(client)})
    finance = make_user(org, [Role.FINANCE])
    login(client, finance)
    assert client.get(_ws(tender)).status_code == 403
    assert client.get("/procurement/bids").status_code == 403


def test_anonymous_users_are_sent_to_login_for_bid_pages(client):
    _buyer, tender, _keys, _org, _user = bidding_setup()
    assert client.get(_ws(tender)).status_code in (302, 401)
    assert client.get("/procurement/bids").status_code in (302, 401)


def _verify(client, **data):
    data.setdefault("csrf_token", csrf_token(client))
    return client.post("/procurement/receipts/verify", data=data, content_type="multipart/form-data")


def test_public_receipt_verification_page(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    receipt = svc.submit(full_bid(tender, org, user), user).receipt
    page = client.get("/procurement/receipts/verify")
    assert page.status_code == 200 and signing.key_id() in page.get_data(as_text=True)

    ok = _verify(client, receipt_json=json.dumps(receipt))
    html = ok.get_data(as_text=True)
    assert ok.status_code == 200 and 'id="receipt-valid"' in html
    assert receipt["parts"][0]["sha256"] in html and signing.key_id() in html

    upload = _verify(client, receipt_file=(io.BytesIO(json.dumps(receipt).encode()), "receipt.json"))
    assert 'id="receipt-valid"' in upload.get_data(as_text=True)

    tampered = copy.deepcopy(receipt)
    tampered["parts"][0]["sha256"] = "f" * 64
    bad = _verify(client, receipt_json=json.dumps(tampered))
    assert bad.status_code == 422 and 'id="receipt-invalid"' in bad.get_data(as_text=True)
    garbage = _verify(client, receipt_json="{not json")
    assert garbage.status_code == 422 and "not valid JSON" in garbage.get_data(as_text=True)
    no_csrf = client.post("/procurement/receipts/verify", data={"receipt_json": json.dumps(receipt)})
    assert no_csrf.status_code == 400


def test_verify_receipt_cli(app, tmp_path):
    _buyer, tender, _keys, org, user = bidding_setup()
    receipt = svc.submit(full_bid(tender, org, user), user).receipt
    good = tmp_path / "r.json"
    good.write_text(json.dumps(receipt))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["procurement", "verify-receipt", str(good)])
    assert result.exit_code == 0 and "valid" in result.output.lower() and receipt["parts"][0]["sha256"] in result.output
    receipt["received_at"] = "2026-01-01T00:00:00.000000Z"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(receipt))
    result = runner.invoke(args=["procurement", "verify-receipt", str(bad)])
    assert result.exit_code == 1 and "invalid" in result.output.lower()


# --------------------------------------------------------------------------- display details


def _speak(client, lang: str) -> None:
    import flask_babel

    post_form(client, "/lang", {"lang": lang})
    flask_babel.refresh()  # forget the locale cached in the test's long-lived app context


def test_bid_pages_show_titles_in_the_readers_language(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    receipt = svc.submit(full_bid(tender, org, user), user).receipt
    login(client, user)
    _speak(client, "zh_Hans_CN")
    zh_pages = [client.get(_ws(tender)).get_data(as_text=True), client.get("/procurement/bids").get_data(as_text=True),
                _verify(client, receipt_json=json.dumps(receipt)).get_data(as_text=True)]
    for html in zh_pages:
        assert "办公设备采购" in html and "Office equipment" not in html
    assert "台式电脑" in zh_pages[0] and "Desktops" not in zh_pages[0]
    _speak(client, "en")
    en_pages = [client.get(_ws(tender)).get_data(as_text=True), client.get("/procurement/bids").get_data(as_text=True),
                _verify(client, receipt_json=json.dumps(receipt)).get_data(as_text=True)]
    for html in en_pages:
        assert "Office equipment" in html and "办公设备采购" not in html
    assert "Desktops" in en_pages[0] and "台式电脑" not in en_pages[0]


def test_workspace_countdown_runs_on_the_server_clock(client):
    _buyer, tender, _keys, _org, user = bidding_setup()
    clock.set_time(NOW + timedelta(hours=3))  # the server's clock, whatever the browser's says
    login(client, user)
    html = client.get(_ws(tender)).get_data(as_text=True)
    assert f'data-countdown="{tender.submission_deadline.isoformat()}"' in html
    assert f'data-server-now="{(NOW + timedelta(hours=3)).isoformat()}"' in html


def test_part_sizes_are_labelled_file_size_and_sealed_size(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    bid = full_bid(tender, org, user, attachment=("offer.txt", b"our technical offer"))
    price, attachment = svc.live_parts(bid)
    login(client, user)
    html = client.get(_ws(tender)).get_data(as_text=True)
    assert "File size" in html and "Sealed size" in html
    rows = html.split('class="bid-part"')[1:]
    assert len(rows) == 2
    # the price is padded before sealing: its plaintext size is not shown
    assert '<td class="bid-part-file-size"><span aria-label="not applicable">—</span></td>' in rows[0]
    assert f"{price.size} bytes" not in rows[0].split("bid-part-sealed-size")[0]
    assert f'<td class="bid-part-sealed-size">{len(price.ciphertext)} bytes</td>' in rows[0]
    assert f'<td class="bid-part-file-size">{len(b"our technical offer")} bytes</td>' in rows[1]
    assert f'<td class="bid-part-sealed-size">{len(attachment.ciphertext)} bytes</td>' in rows[1]

    # the receipt and the verify page give the sealed size: the same number as the workspace
    receipt = svc.submit(bid, user).receipt
    assert [p["size"] for p in receipt["parts"]] == [len(price.ciphertext), len(attachment.ciphertext)]
    page = _verify(client, receipt_json=json.dumps(receipt)).get_data(as_text=True)
    assert f"sealed size {len(attachment.ciphertext)} bytes" in page


def test_withdrawing_and_removing_a_part_ask_for_confirmation(client):
    _buyer, tender, _keys, org, user = bidding_setup()
    svc.submit(full_bid(tender, org, user), user)
    full_bid(tender, org, user, prices=(99_00,))  # a replacement draft with a removable part
    login(client, user)
    html = client.get(_ws(tender)).get_data(as_text=True)
    withdraw = html.split('bid/withdraw"')[1].split(">")[0]
    assert 'data-confirm="Withdraw this bid?' in withdraw
    remove = html.split('/remove"')[1].split(">")[0]
    assert 'data-confirm="Remove price-lot-1 from your draft?"' in remove


def test_a_receipt_download_before_submission_is_404_and_one_that_no_longer_opens_is_409(app, client, monkeypatch):
    from tests.helpers import api_headers
    from tests.procurement.test_bids_api import _token

    _buyer, tender, _keys, org, user = bidding_setup()
    draft = full_bid(tender, org, user)
    login(client, user)
    token = _token(user, org)
    assert client.get(f"/procurement/bids/{draft.id}/receipt.json").status_code == 404
    assert client.get(f"/api/v1/bids/{draft.id}/receipt", headers=api_headers(token)).status_code == 404
    bid = svc.submit(draft, user)
    assert client.get(f"/procurement/bids/{bid.id}/receipt.json").status_code == 200
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-rotated-secret")  # the old key dropped, no fallback
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", ["test-secret"])
    assert client.get(f"/api/v1/bids/{bid.id}/receipt", headers=api_headers(token)).status_code == 200
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])
    with app.app_context():  # the bid loaded afresh, under the new key only
        r = client.get(f"/api/v1/bids/{bid.id}/receipt", headers=api_headers(token))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "receipt_unreadable"
