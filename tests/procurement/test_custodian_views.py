"""Custodian pages (collection once with TOTP, presenting shares) and the public opening record."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import timedelta

import pytest

from accounts.states import Role
from core import clock
from core.db import db
from procurement import sealing
from procurement.models import Tender
from procurement.services import keys
from tests.factories import make_user
from tests.helpers import fresh_totp, login, logout, post_form
from tests.procurement.factories import make_supplier, negotiated_tender
from tests.procurement.test_opening import collect_all, seal_bid

pytestmark = pytest.mark.usefixtures("frozen_clock")

KEYS_URL = "/procurement/keys"


@pytest.fixture
def tender(buyer):
    return negotiated_tender(buyer)


def _collect_url(tender):
    return f"/procurement/keys/{tender.id}/collect"


def _present_url(tender):
    return f"/procurement/tenders/{tender.id}/opening/present"


def _record_url(tender):
    return f"/procurement/tenders/{tender.id}/opening"


def test_custodian_home_lists_the_tender_with_share_status(client, buyer, tender):
    login(client, buyer.custodians[0])
    page = client.get(KEYS_URL)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Office equipment" in html and 'data-share-status="to_collect"' in html
    assert _collect_url(tender) in html


def test_key_custody_needs_the_custodian_role(client, tender):
    _org, bidder = make_supplier()
    login(client, bidder)
    assert client.get(KEYS_URL).status_code == 403
    assert client.get(_collect_url(tender)).status_code == 403


def test_another_custodian_cannot_reach_this_tenders_share(client, buyer, tender):
    stranger = make_user(buyer.org, [Role.KEY_CUSTODIAN])
    login(client, stranger)
    assert client.get(_collect_url(tender)).status_code == 404
    assert post_form(client, _collect_url(tender), {"code": fresh_totp(stranger)}).status_code == 404


def test_collect_shows_the_share_once_then_refuses(client, buyer, tender):
    user = buyer.custodians[0]
    login(client, user)
    form = client.get(_collect_url(tender)).get_data(as_text=True)
    assert "shown only once" in form
    page = post_form(client, _collect_url(tender), {"code": fresh_totp(user)})
    assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
    html = page.get_data(as_text=True)
    code = re.search(r'id="share-code">([^<]+)<', html).group(1).strip()
    share = sealing.parse_share(code)
    assert sealing.check_share(share, keys.commitments_of(db.session.get(Tender, tender.id)))
    data_url = re.search(r'id="share-file-link" href="data:application/json;base64,([^"]+)"', html).group(1)
    assert sealing.parse_share(base64.b64decode(data_url)) == share
    assert keys.custodian_for(tender, user).pending_share is None
    # a second attempt: refused with a clear message, the share is not shown again
    again = post_form(client, _collect_url(tender), {"code": fresh_totp(user)}, follow_redirects=True)
    text = again.get_data(as_text=True)
    assert "already collected" in text and code not in text
    assert code not in client.get(_collect_url(tender)).get_data(as_text=True)


def test_collect_requires_a_valid_totp_code(client, buyer, tender):
    user = buyer.custodians[1]
    login(client, user)
    page = post_form(client, _collect_url(tender), {"code": "000000"})
    assert page.status_code == 422 and "authentication code is not valid" in page.get_data(as_text=True)
    assert post_form(client, _collect_url(tender), {"code": ""}).status_code == 422
    assert keys.custodian_for(tender, user).pending_share is not None


def test_confirm_safekeeping_from_the_list(client, buyer, tender):
    user = buyer.custodians[0]
    login(client, user)
    post_form(client, _collect_url(tender), {"code": fresh_totp(user)})
    response = post_form(client, f"/procurement/keys/{tender.id}/confirm", {}, follow_redirects=True)
    assert "safekeeping of your key share is confirmed" in response.get_data(as_text=True)
    assert keys.custodian_for(tender, user).safekeeping_confirmed_at is not None
    assert 'data-share-status="confirmed"' in client.get(KEYS_URL).get_data(as_text=True)


def test_present_before_the_opening_is_refused_with_a_message(client, buyer, tender):
    codes = collect_all(tender, buyer.custodians)
    user = buyer.custodians[0]
    login(client, user)
    assert "The opening has not started" in client.get(_present_url(tender)).get_data(as_text=True)
    page = post_form(client, _present_url(tender), {"share": codes[0], "code": fresh_totp(user)})
    assert page.status_code == 422 and "The opening has not started" in page.get_data(as_text=True)


def test_custodians_open_and_the_record_shows_the_prices(client, buyer, tender):
    lot_id = tender.lots[0].id
    bidders = []
    for price in (812_345_67, 799_000_00, 905_000_00):
        org, _u = make_supplier()
        bidders.append(org)
        seal_bid(tender, org, prices={lot_id: price})
    codes = collect_all(tender, buyer.custodians)
    anonymous = client.get(_record_url(tender)).get_data(as_text=True)
    assert "Not yet opened" in anonymous and "¥799,000.00" not in anonymous
    clock.set_time(tender.opening_time + timedelta(minutes=1))

    first = buyer.custodians[0]
    login(client, first)
    response = post_form(client, _present_url(tender), {"share": codes[0], "code": fresh_totp(first)},
                         follow_redirects=True)
    assert "1 of 2 shares received" in response.get_data(as_text=True)
    logout(client)

    second = buyer.custodians[1]
    login(client, second)
    response = post_form(client, _present_url(tender), {"share": codes[1], "code": fresh_totp(second)})
    assert response.status_code == 303 and response.headers["Location"].endswith(_record_url(tender))
    logout(client)

    record = client.get(_record_url(tender)).get_data(as_text=True)
    assert "¥799,000.00" in record and "¥812,345.67" in record and "¥905,000.00" in record
    for org in bidders:
        assert org.name_en in record
    assert first.display_name in record and second.display_name in record
    assert buyer.custodians[2].display_name not in record


def test_present_with_the_share_file_and_a_wrong_share_named(client, buyer, tender):
    files = [keys.collect_share(tender, u, fresh_totp(u)).file_json for u in buyer.custodians]
    clock.set_time(tender.opening_time)
    user = buyer.custodians[0]
    login(client, user)
    wrong = post_form(client, _present_url(tender), {
        "share_file": (io.BytesIO(files[1].encode()), "share.json"), "code": fresh_totp(user)},
        content_type="multipart/form-data")
    assert wrong.status_code == 422
    assert "is not yours" in wrong.get_data(as_text=True)
    ok = post_form(client, _present_url(tender), {
        "share_file": (io.BytesIO(files[0].encode()), "share.json"), "code": fresh_totp(user)},
        content_type="multipart/form-data", follow_redirects=True)
    assert "1 of 2 shares received" in ok.get_data(as_text=True)
    assert json.loads(files[0])["format"] == "canal-key-share"


def test_present_needs_a_share_and_a_totp_code(client, buyer, tender):
    codes = collect_all(tender, buyer.custodians)
    clock.set_time(tender.opening_time)
    user = buyer.custodians[0]
    login(client, user)
    empty = post_form(client, _present_url(tender), {"share": "", "code": fresh_totp(user)})
    assert empty.status_code == 422 and "Enter your key share code" in empty.get_data(as_text=True)
    bad_totp = post_form(client, _present_url(tender), {"share": codes[0], "code": "111111"})
    assert bad_totp.status_code == 422 and "authentication code is not valid" in bad_totp.get_data(as_text=True)
    assert keys.custodian_for(tender, user).presented_share is None


def test_opening_record_of_a_draft_is_not_found(client, buyer):
    from tests.procurement.factories import draft_tender

    draft = draft_tender(buyer)
    assert client.get(_record_url(draft)).status_code == 404
