"""Payments fixtures: a localstripe peer per test session, a live server for webhooks.

- `localstripe` (session): scripts/localstripe_peer.py on a free port with a temporary
  state file (never localstripe's shared /tmp/localstripe.pickle, never the demo's
  instance/localstripe.pickle); the app is pointed at it (STRIPE_API_BASE, a test key,
  a webhook secret). Its state is wiped before each test using it (DELETE /_config/data).
- `stripe_live_server` (session): the app served by werkzeug in a thread, so localstripe
  can deliver its signed webhooks to /payments/webhooks/stripe.
- `payer_org`, `sign_webhook` helpers.

Other test folders (e.g. tests/e2e) can reuse them with
`from tests.payments.conftest import localstripe_peer_session  # noqa: F401` style imports
of the plain helpers `start_localstripe` / `stop_localstripe`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess  # noqa: S404 - our own launcher
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
TEST_STRIPE_KEY = "sk_test_canal_tests"  # noqa: S105 - a localstripe test key
TEST_WEBHOOK_SECRET = "whsec_canal_tests"  # noqa: S105 - tests only


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalStripe:
    url: str
    proc: subprocess.Popen
    state: Path

    def request(self, method: str, path: str, data: dict | None = None) -> int:
        body = None
        if data is not None:
            body = "&".join(f"{k}={urllib.request.quote(str(v))}" for k, v in data.items()).encode()
        req = urllib.request.Request(self.url + path, data=body, method=method)  # noqa: S310 - local peer
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local peer
            return resp.status

    def wipe(self) -> None:
        self.request("DELETE", "/_config/data")

    def register_webhook(self, hook_id: str, url: str, secret: str) -> None:
        self.request("POST", f"/_config/webhooks/{hook_id}", {"url": url, "secret": secret})


def start_localstripe(tmp_dir: Path) -> LocalStripe:
    port = free_port()
    state = tmp_dir / "localstripe.pickle"
    log = open(tmp_dir / "localstripe.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "scripts" / "localstripe_peer.py"), "--port", str(port),
         "--state", str(state), "--from-scratch"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"localstripe exited: see {tmp_dir / 'localstripe.log'}")
        try:
            with urllib.request.urlopen(url + "/js.stripe.com/v3/", timeout=1):  # noqa: S310
                break
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("localstripe did not start") from None
            time.sleep(0.1)
    return LocalStripe(url=url, proc=proc, state=state)


def stop_localstripe(peer: LocalStripe) -> None:
    peer.proc.terminate()
    try:
        peer.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        peer.proc.kill()
        peer.proc.wait()


@pytest.fixture(scope="session")
def localstripe_session(app, tmp_path_factory):
    peer = start_localstripe(tmp_path_factory.mktemp("localstripe"))
    saved = {k: app.config.get(k) for k in ("STRIPE_API_BASE", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")}
    app.config.update(STRIPE_API_BASE=peer.url, STRIPE_SECRET_KEY=TEST_STRIPE_KEY,
                      STRIPE_WEBHOOK_SECRET=TEST_WEBHOOK_SECRET)
    yield peer
    app.config.update(saved)
    stop_localstripe(peer)


@pytest.fixture
def localstripe(localstripe_session):
    """localstripe with an empty state (and no registered webhook)."""
    localstripe_session.wipe()
    return localstripe_session


class _LiveServer:
    def __init__(self, app) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="payments-live", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def stripe_live_server(app):
    server = _LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def payer_org():
    from tests.factories import make_org

    return make_org()


def sign_webhook(payload: dict | bytes, secret: str = TEST_WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, dict]:
    """A body and headers signed like Stripe (v1 = HMAC-SHA256 over "t.body")."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={ts},v1={sig}", "Content-Type": "application/json"}
