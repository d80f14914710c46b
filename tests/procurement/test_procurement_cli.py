"""`flask procurement recovery-keygen | open-with-recovery | verify-receipt`."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime

import pytest

from core import clock
from core.db import db
from procurement import sealing
from procurement.models import Bid, Tender
from procurement.services import keys
from procurement.states import BidStatus, TenderStatus
from tests.helpers import fresh_totp
from tests.procurement.factories import make_supplier, negotiated_tender
from tests.procurement.test_opening import collect_all, seal_bid

pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def tender(buyer):
    return negotiated_tender(buyer)


def test_recovery_keygen_writes_a_private_key_0600_and_never_overwrites(runner, tmp_path):
    out = tmp_path / "keys"
    result = runner.invoke(args=["procurement", "recovery-keygen", "--out", str(out)])
    assert result.exit_code == 0, result.output
    private, public = out / "recovery_private.pem", out / "recovery_public.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    raw = sealing.public_key_raw_from_pem(public.read_bytes())
    assert sealing.key_fingerprint(raw) in result.output
    again = runner.invoke(args=["procurement", "recovery-keygen", "--out", str(out)])
    assert again.exit_code != 0 and "not overwriting" in again.output


def test_open_with_recovery_opens_with_k_minus_one_codes(runner, buyer, tender):
    lot_id = tender.lots[0].id
    bids = [seal_bid(tender, make_supplier()[0], prices={lot_id: p}) for p in (100_00, 200_00, 300_00)]
    codes = collect_all(tender, buyer.custodians)
    clock.set_time(tender.opening_time)
    key = str(keys.dev_recovery_private_key_path())
    result = runner.invoke(args=["procurement", "open-with-recovery", str(tender.id), "--key", key,
                                 "--share", codes[1]])
    assert result.exit_code == 0, result.output
    assert "Bids opened: 3" in result.output and "status opened" in result.output
    stored = db.session.get(Tender, tender.id)
    db.session.refresh(stored)
    assert stored.status == TenderStatus.OPENED and stored.opening_record["via"] == "recovery"
    for bid in bids:
        row = db.session.get(Bid, bid.id)
        db.session.refresh(row)
        assert row.status == BidStatus.OPENED


def test_open_with_recovery_accepts_a_share_file(runner, buyer, tender, tmp_path):
    share_file = keys.collect_share(tender, buyer.custodians[0], fresh_totp(buyer.custodians[0])).file_json
    path = tmp_path / "share.json"
    path.write_text(share_file)
    clock.set_time(tender.opening_time)
    result = runner.invoke(args=["procurement", "open-with-recovery", str(tender.id), "--key",
                                 str(keys.dev_recovery_private_key_path()), "--share-file", str(path)])
    assert result.exit_code == 0, result.output


def test_open_with_recovery_refuses_too_few_or_early_or_wrong(runner, buyer, tender, tmp_path):
    codes = collect_all(tender, buyer.custodians)
    key = str(keys.dev_recovery_private_key_path())
    early = runner.invoke(args=["procurement", "open-with-recovery", str(tender.id), "--key", key, "--share", codes[0]])
    assert early.exit_code == 1 and "opening_not_started" in early.output
    clock.set_time(tender.opening_time)
    alone = runner.invoke(args=["procurement", "open-with-recovery", str(tender.id), "--key", key])
    assert alone.exit_code == 1 and "not_enough_shares" in alone.output
    wrong_key = tmp_path / "wrong.pem"
    wrong_key.write_bytes(sealing.generate_recovery_keypair()[0])
    wrong = runner.invoke(args=["procurement", "open-with-recovery", str(tender.id), "--key", str(wrong_key),
                                "--share", codes[0]])
    assert wrong.exit_code == 1 and "recovery_failed" in wrong.output
    assert db.session.get(Tender, tender.id).opened_at is None


def _receipt():
    return sealing.make_receipt(7, 42, [1], datetime(2026, 3, 5, 1, 0, tzinfo=UTC), [("price-1", "ab" * 32, 120)])


def test_verify_receipt_valid_exit_0(runner, tmp_path):
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(_receipt()))
    result = runner.invoke(args=["procurement", "verify-receipt", str(path)])
    assert result.exit_code == 0 and result.output.startswith("valid")
    assert "ab" * 32 in result.output


def test_verify_receipt_tampered_or_garbage_exit_1(runner, tmp_path):
    receipt = _receipt()
    receipt["parts"][0]["sha256"] = "cd" * 32
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    result = runner.invoke(args=["procurement", "verify-receipt", str(path)])
    assert result.exit_code == 1 and result.output.startswith("invalid")
    path.write_text("not json")
    assert runner.invoke(args=["procurement", "verify-receipt", str(path)]).exit_code == 1


def test_verify_receipt_signed_by_another_key_is_invalid(runner, tmp_path, monkeypatch):
    from core import signing

    receipt = _receipt()
    other = tmp_path / "other.pem"
    monkeypatch.setattr(signing, "key_path", lambda: str(other))
    forged = sealing.make_receipt(7, 42, [1], datetime(2026, 3, 5, 1, 0, tzinfo=UTC), [("price-1", "ab" * 32, 120)])
    monkeypatch.undo()
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    assert sealing.verify_receipt(forged)  # self-consistent...
    result = runner.invoke(args=["procurement", "verify-receipt", str(path)])
    assert result.exit_code == 1  # ...but not signed by this platform
    assert receipt["signature"]["key_id"] != forged["signature"]["key_id"]
