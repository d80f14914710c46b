#!/usr/bin/env python3
"""Run Canal locally: peer services, the Huey consumer and the web server, stopped together.

`make run` calls this after installing, compiling translations, migrating and seeding.

    .venv/bin/python scripts/run_local.py [--host 127.0.0.1] [--port 5000] [--debug]

Processes, started in this order and all stopped on Ctrl-C / SIGTERM or when any one exits:
  1. PEERS: local stand-ins for outside services (a hook: the payments area adds
     `localstripe` here when STRIPE_SECRET_KEY is unset); each may add environment
     variables (e.g. STRIPE_API_BASE) passed to the worker and the web server;
  2. the Huey consumer (`huey_consumer worker.huey -w 2 -k thread`);
  3. the Flask development server on http://127.0.0.1:5000 (threaded, no reloader;
     --debug turns on Flask's debug mode, which is only ever bound to 127.0.0.1).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess  # noqa: S404 - we start our own, fixed commands
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Peer:
    """A process started beside the app (e.g. a local Stripe-compatible server)."""

    name: str
    argv: list[str]
    #: environment variables given to the worker and the web server while this peer runs
    env: dict[str, str] = field(default_factory=dict)
    #: start the peer only when this returns True (e.g. no real credentials configured)
    when: Callable[[], bool] = lambda: True
    #: optional URL polled until it answers, before the app starts
    ready_url: str | None = None
    #: called with (environment, app URL) once the app answers, e.g. to register webhooks
    on_app_ready: Callable[[dict[str, str], str], None] | None = None


#: Hook for peer services. Example (payments area):
#:   PEERS.append(Peer("localstripe", [str(BIN / "localstripe"), "--port", "8420"],
#:                     env={"STRIPE_API_BASE": "http://127.0.0.1:8420"},
#:                     when=lambda: not os.environ.get("STRIPE_SECRET_KEY"),
#:                     ready_url="http://127.0.0.1:8420/"))
PEERS: list[Peer] = []


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _register_localstripe_webhook(env: dict[str, str], app_url: str) -> None:
    """Have localstripe send its signed payment_intent events to our webhook endpoint."""
    from urllib.parse import urlencode

    data = urlencode({
        "url": app_url + "payments/webhooks/stripe",
        "secret": env.get("STRIPE_WEBHOOK_SECRET", "whsec_canal_local"),
    }).encode()
    target = env["STRIPE_API_BASE"] + "/_config/webhooks/canal"
    request = urllib.request.Request(target, data=data, method="POST")  # noqa: S310 - loopback peer
    try:
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - our own loopback peer
        print("[run] localstripe webhooks -> " + app_url + "payments/webhooks/stripe", flush=True)
    except OSError as exc:
        print(f"[run] could not register localstripe webhooks: {exc}", file=sys.stderr, flush=True)


def _localstripe_peer() -> Peer:
    """payments: localstripe on a free port with its own state file (scripts/localstripe_peer.py),
    only when no real Stripe key is configured."""
    port = int(os.environ.get("LOCALSTRIPE_PORT") or _free_port())
    instance = Path(os.environ.get("CANAL_INSTANCE", ROOT / "instance"))
    base = f"http://127.0.0.1:{port}"
    return Peer(
        "localstripe",
        [sys.executable, str(ROOT / "scripts" / "localstripe_peer.py"), "--port", str(port),
         "--state", str(instance / "localstripe.pickle")],
        env={"STRIPE_API_BASE": base},
        when=lambda: not os.environ.get("STRIPE_SECRET_KEY"),
        on_app_ready=_register_localstripe_webhook,
        ready_url=f"{base}/js.stripe.com/v3/",
    )


PEERS.append(_localstripe_peer())


def worker_command() -> list[str]:
    return [str(BIN / "huey_consumer"), "worker.huey", "-w", "2", "-k", "thread", "-f", "-S"]


def web_command(host: str, port: int, debug: bool) -> list[str]:
    cmd = [sys.executable, "-m", "flask", "--app", "app"]
    if debug:
        cmd.append("--debug")
    cmd += ["run", "--host", host, "--port", str(port), "--with-threads", "--no-reload"]
    return cmd


class Supervisor:
    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.stopping = False

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        print(f"[run] starting {name}: {' '.join(argv)}", flush=True)
        # A new session: Ctrl-C reaches only this supervisor, which then stops the children in order.
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603
        self.procs.append((name, proc))
        return proc

    def stop(self, timeout: float = 10.0) -> None:
        if self.stopping:
            return
        self.stopping = True
        # Reverse order: web server first, then the worker, then the peers.
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                print(f"[run] stopping {name} (pid {proc.pid})", flush=True)
                # Huey's graceful signal is SIGINT (finish running tasks); the others take SIGTERM.
                proc.send_signal(signal.SIGINT if name == "worker" else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, proc in reversed(self.procs):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                print(f"[run] {name} did not stop in time, killing it", flush=True)
                proc.kill()
                proc.wait()

    def first_exited(self) -> tuple[str, int] | None:
        for name, proc in self.procs:
            code = proc.poll()
            if code is not None:
                return name, code
        return None


def wait_for(url: str, timeout: float, sup: Supervisor) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sup.first_exited():
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - local URL we built
                if resp.status < 500:
                    return True
        except Exception:  # noqa: S112 - not up yet
            time.sleep(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Canal locally (web server + Huey worker + peers).")
    parser.add_argument("--host", default=os.environ.get("CANAL_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--debug", action="store_true", default=os.environ.get("CANAL_DEBUG") == "1")
    parser.add_argument("--no-worker", action="store_true", help="do not start the Huey consumer")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("FLASK_APP", "app")
    env.setdefault("PYTHONUNBUFFERED", "1")
    sup = Supervisor()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    # SIGINT explicitly too: a process started in the background inherits SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)

    started: list[Peer] = []
    try:
        for peer in PEERS:
            if not peer.when():
                print(f"[run] skipping peer {peer.name}", flush=True)
                continue
            sup.start(peer.name, peer.argv, env)
            env.update(peer.env)
            started.append(peer)
            if peer.ready_url and not wait_for(peer.ready_url, 30, sup):
                print(f"[run] peer {peer.name} did not become ready", file=sys.stderr, flush=True)
                return 1
        if not args.no_worker:
            sup.start("worker", worker_command(), env)
        sup.start("web", web_command(args.host, args.port, args.debug), env)
        url = f"http://{args.host}:{args.port}/"
        if wait_for(url + "healthz", 60, sup):
            for peer in started:
                if peer.on_app_ready:
                    peer.on_app_ready(env, url)
            print(f"\n[run] Canal is running at {url}  (Ctrl-C stops everything)\n", flush=True)
        while True:
            exited = sup.first_exited()
            if exited:
                name, code = exited
                print(f"[run] {name} exited with code {code}; stopping the others", file=sys.stderr, flush=True)
                return code or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\n[run] shutting down", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sup.stop()


if __name__ == "__main__":
    sys.exit(main())
