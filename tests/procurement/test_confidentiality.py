"""Confidentiality before the opening (DESIGN.md section 7, 招标投标法 22).

1. A plaintext marker put in a price, an answer, an attachment and an attachment's file
   name (through the pages and the API) is found nowhere: not in any column of any table (nor the SQLite file, nor a
   pg_dump on PostgreSQL), not in the file store, not in a temporary file, not in the
   logs (captured at DEBUG, SQL parameters included), not in the audit trail.
2. No other role (platform admin, the buyer's officer and custodian, platform finance,
   an auditor, another supplier) learns anything about the bids: every page and API
   answer they get is the same before and after two suppliers bid (so neither who nor
   how many), bid pages and receipts of others are 404/403, and the audit log names
   no bidder.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from flask import url_for

from accounts.services.tokens import create_token
from accounts.states import OrgKind, Role
from core.db import db
from core.models.audit import AuditEntry
from procurement.models import Bid
from procurement.services import bids as svc
from procurement.states import BidStatus
from tests.factories import make_org, make_user
from tests.helpers import api_headers, csrf_token, login, post_form
from tests.procurement.factories import make_supplier
from tests.procurement.test_bids import bidding_setup, open_part

CRITERIA = [dict(name_en="Price", weight=40, kind="price"), dict(name_en="Technical", weight=60, kind="technical")]


def _markers():
    price = 10**11 + secrets.randbelow(9 * 10**11)  # a 12-digit price in fen
    return {
        "price": price,
        "answer": "ANSWER-MARKER-" + secrets.token_hex(12),
        "attachment": "ATTACHMENT-MARKER-" + secrets.token_hex(12),
        "file_name": "FILENAME-MARKER-" + secrets.token_hex(12),
    }


def _needles(markers: dict) -> list[bytes]:
    price = markers["price"]
    out = [str(price).encode(), f"{price // 100}.{price % 100:02d}".encode(),
           markers["answer"].encode(), markers["attachment"].encode(), markers["file_name"].encode()]
    # the marker as it reads inside the base64 of any file that contains it: its encoding
    # depends on where it starts modulo 3, so one needle per alignment (the group the
    # preceding bytes share is skipped)
    for shift in (b"", b"\0", b"\0\0"):
        encoded = base64.b64encode(shift + markers["attachment"].encode())
        out.append(encoded[4:28] if shift else encoded[:24])
    return out


def _as_bytes(value) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    return str(value).encode("utf-8")


def _scan_database(needles: list[bytes]) -> list[str]:
    hits = []
    with db.engine.connect() as conn:
        for name in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{name}"')):
                for column, value in row._mapping.items():
                    raw = _as_bytes(value)
                    hits += [f"{name}.{column}" for n in needles if n in raw]
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        for suffix in ("", "-wal", "-journal"):
            path = Path(url.database + suffix)
            if path.exists():
                raw = path.read_bytes()
                hits += [f"sqlite file {path.name}" for n in needles if n in raw]
    elif url.get_backend_name() == "postgresql" and shutil.which("pg_dump"):
        dump_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
        dump = subprocess.run(["pg_dump", "--data-only", dump_url], capture_output=True, check=True).stdout
        assert b"tender_bid_parts" in dump  # the dump really holds the bids
        hits += ["pg_dump" for n in needles if n in dump]
    return hits


def _scan_dir(root: Path, needles: list[bytes], since: float | None = None) -> list[str]:
    hits = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            try:
                stat = path.stat()
                if since is not None and stat.st_mtime < since:
                    continue
                if stat.st_size > 200 * 1024 * 1024:
                    continue
                raw = path.read_bytes()
            except OSError:
                continue
            hits += [str(path) for n in needles if n in raw]
    return hits


def _bid_through_pages(client, tender, org, user, markers):
    login(client, user)
    post_form(client, f"/procurement/tenders/{tender.id}/bid/lots", {"lots": [str(tender.lots[0].id)]})
    price = markers["price"]
    post_form(client, f"/procurement/tenders/{tender.id}/bid/price",
              {"lot_id": str(tender.lots[0].id), "price": f"{price // 100}.{price % 100:02d}"})
    technical = [c for c in tender.criteria if c.kind == "technical"][0]
    post_form(client, f"/procurement/tenders/{tender.id}/bid/answers",
              {f"answer-{technical.id}": "Our approach: " + markers["answer"]})
    content = ("Technical proposal\n" + markers["attachment"] + "\n").encode()
    r = client.post(f"/procurement/tenders/{tender.id}/bid/attachments",
                    data={"csrf_token": csrf_token(client), "file": (io.BytesIO(content), markers["file_name"] + ".txt")},
                    content_type="multipart/form-data")
    assert r.status_code == 303
    r = post_form(client, f"/procurement/tenders/{tender.id}/bid/submit")
    assert r.status_code == 303
    bid = svc.submitted_of(tender, org.id)
    assert bid is not None and len(svc.live_parts(bid)) == 3
    return bid


def _bid_through_api(client, tender, org, user, markers):
    technical = [c for c in tender.criteria if c.kind == "technical"][0]
    content = ("API proposal\n" + markers["attachment"] + "\n").encode()
    body = {"prices": [{"lot_id": tender.lots[0].id, "price": markers["price"] + 1}],
            "answers": {str(technical.id): markers["answer"] + " (api)"},
            "attachments": [{"name": markers["file_name"] + "-api.txt", "content_base64": base64.b64encode(content).decode()}]}
    token = create_token(user, org.id, "api")[1]
    r = client.post(f"/api/v1/tenders/{tender.id}/bids", json=body,
                    headers=api_headers(token, **{"Idempotency-Key": "conf-1"}))
    assert r.status_code == 201, r.get_json()
    return db.session.get(Bid, r.get_json()["id"])


def test_a_plaintext_marker_is_found_nowhere(app, client, caplog):
    started = time.time() - 1
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    _buyer, tender, keys, org, user = bidding_setup(evaluation_method="scored", criteria=CRITERIA)
    markers = _markers()
    needles = _needles(markers)

    page_bid = _bid_through_pages(client, tender, org, user, markers)
    api_org, api_user = make_supplier()
    api_bid = _bid_through_api(app.test_client(), tender, api_org, api_user, markers)
    # the pages show the bidder its parts, never their content; the file name it gave is
    # read back (sealed at rest), in the workspace and in its receipt
    html = client.get(f"/procurement/tenders/{tender.id}/bid").get_data(as_text=True).encode()
    assert not [n for n in needles if n in html and n != markers["file_name"].encode()]
    assert (markers["file_name"] + ".txt").encode() in html
    assert [p["name"] for p in page_bid.receipt["parts"]][-1] == markers["file_name"] + ".txt"
    assert svc.check_receipt(page_bid.receipt).valid and svc.check_receipt(api_bid.receipt).valid
    assert svc.live_parts(api_bid)[-1].name == markers["file_name"] + "-api.txt"

    # sanity: the markers really went in (sealed)
    opened = {p.kind: open_part(keys, page_bid, p) for p in svc.live_parts(page_bid)}
    assert str(markers["price"]).encode() in opened["price"] and markers["answer"].encode() in opened["answers"]
    assert markers["attachment"].encode() in opened["attachment"]
    assert api_bid.status == BidStatus.SUBMITTED

    db.session.remove()
    assert _scan_database(needles) == []
    assert _scan_dir(Path(app.config["FILES_DIR"]), needles) == []
    assert _scan_dir(Path(tempfile.gettempdir()), needles, since=started) == []
    logged = caplog.text.encode("utf-8", "replace")
    for record in caplog.records:
        logged += _as_bytes(record.args) + _as_bytes(getattr(record, "exc_text", ""))
    assert len(logged) > 1000  # SQL was captured, with its parameters
    assert [n for n in needles if n in logged] == []


# --------------------------------------------------------------------------- other roles


def _normalize(text: str) -> str:
    text = re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", text)
    text = re.sub(r'(id|name)="csrf_token"[^>]*', "", text)
    text = re.sub(r'<meta name="csrf-token" content="[^"]*"', "", text)
    return text


def _urls(app, tender, role: str) -> list[str]:
    """Pages and API answers the role could look at (those that exist in the app now)."""
    wanted = [("procurement.tenders", {}), ("procurement.tender_detail", {"tender_id": tender.id}),
              ("procurement.opening_record", {"tender_id": tender.id}), ("procurement.my_bids", {}),
              ("procurement.bid_workspace", {"tender_id": tender.id}), ("procurement.verify_receipt", {}),
              ("procurement.bonds", {"tender_id": tender.id}), ("procurement.alerts", {})]
    if role == "officer":
        wanted += [("procurement.my_tenders", {}), ("procurement.questions_inbox", {}),
                   ("procurement.edit_tender", {"tender_id": tender.id}),
                   ("procurement.amend_tender", {"tender_id": tender.id})]
    if role == "custodian":
        wanted += [("procurement.openings", {})]
    if role == "finance":
        wanted += [("procurement.finance_bonds", {}), ("payments.index", {})]
    urls = []
    with app.test_request_context():
        for endpoint, args in wanted:
            if endpoint in app.view_functions:
                urls.append(url_for(endpoint, **args))
    return urls


API_URLS = ["/api/v1/tenders", "/api/v1/tenders/{id}", "/api/v1/tenders/{id}/bids", "/api/v1/tenders/{id}/questions"]


def _snapshot(client, token, urls, tender) -> dict[str, tuple[int, str]]:
    shot = {}
    for url in urls:
        r = client.get(url)
        assert r.status_code < 500, url
        shot[url] = (r.status_code, _normalize(r.get_data(as_text=True)))
    for url in API_URLS:
        url = url.format(id=tender.id)
        r = client.get(url, headers=api_headers(token))
        assert r.status_code < 500, url
        shot["api " + url] = (r.status_code, r.get_data(as_text=True))
    return shot


def test_no_other_role_learns_who_or_how_many_bid(app, client):
    buyer, tender, _keys, org, user = bidding_setup(evaluation_method="scored", criteria=CRITERIA)
    platform = make_org(kinds=[OrgKind.PLATFORM])
    other_org, other_supplier = make_supplier()
    viewers = {
        "platform_admin": (make_user(platform, [Role.PLATFORM_ADMIN]), platform),
        "auditor": (make_user(platform, [Role.AUDITOR]), platform),
        "finance": (make_user(platform, [Role.FINANCE]), platform),
        "officer": (buyer.officer, buyer.org),
        "custodian": (buyer.custodians[0], buyer.org),
        "other_supplier": (other_supplier, other_org),
    }
    sessions = {}
    for role, (viewer, viewer_org) in viewers.items():
        c = app.test_client()
        login(c, viewer)
        c.get("/")  # consume the one-off flashes of the login
        sessions[role] = (c, create_token(viewer, viewer_org.id, role)[1], _urls(app, tender, role))
    before = {role: _snapshot(c, token, urls, tender) for role, (c, token, urls) in sessions.items()}

    markers = _markers()
    bid = _bid_through_pages(client, tender, org, user, markers)
    api_org, api_user = make_supplier()
    api_bid = _bid_through_api(app.test_client(), tender, api_org, api_user, markers)

    after = {role: _snapshot(c, token, urls, tender) for role, (c, token, urls) in sessions.items()}
    for role in sessions:
        for url, answer in before[role].items():
            assert after[role][url] == answer, f"{role} sees a difference at {url}"

    # (the bidders' logins are audited like anyone's: logging in says nothing about bidding)
    secrets_of_bidders = [org.name_zh, org.name_en, api_org.name_zh, api_org.name_en,
                          bid.receipt["parts"][0]["sha256"], api_bid.receipt["parts"][0]["sha256"]]
    bid_entries = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.like("bid.%"))))
    assert bid_entries and all(e.actor_user_id is None and e.actor_org_id is None and e.obj_id is None
                               for e in bid_entries)
    for role, (c, token, _) in sessions.items():
        for b in (bid, api_bid):
            assert c.get(f"/procurement/bids/{b.id}/receipt.json").status_code in (403, 404)
            assert c.get(f"/api/v1/bids/{b.id}/receipt", headers=api_headers(token)).status_code in (403, 404)
            r = c.get(f"/api/v1/tenders/{tender.id}/bids/{b.id}", headers=api_headers(token))
            assert r.status_code in (403, 404)
        texts = [c.get(u).get_data(as_text=True) for u in ("/accounts/admin/audit", "/accounts/admin/audit?page=2")]
        for text in texts:
            for secret in secrets_of_bidders:
                assert secret not in text, (role, secret)
