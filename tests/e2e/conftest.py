"""Browser tests: the real app served over HTTP in a background thread, driven by headless Chromium.

- The app is the suite's `app` fixture (tests/conftest.py): TestConfig with real CSRF, on a
  temporary SQLite *file* (or the PostgreSQL database of TEST_DATABASE_URL), tables created
  with create_all and emptied after every test. Factories called in the test write to the same
  database the server reads, so each test seeds exactly what it needs.
- The server is Werkzeug's threaded WSGI server on a free port of 127.0.0.1.
- Chromium is the Debian one (/usr/bin/chromium) driven by Playwright's bundled driver; no
  `playwright install`. Without /usr/bin/chromium every test here is skipped with a reason.
- `shot(page, name)` saves a full-page screenshot to tests/e2e/screenshots/NAME.png.
- Every page records browser console errors (CSP violations show up there) in
  `page.console_errors`; `assert_clean(page)` fails on any.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CANAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Browser UI language (with Debian's chromium-l10n; Linux Chromium reads LANGUAGE, see
    # the launch below): date inputs and file buttons render in Chinese like the pages.
    "--lang=zh-CN",
]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    missing = not Path(CHROMIUM).exists()
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not found: install Debian's chromium (see .ci/run)")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            if missing:
                item.add_marker(skip)


class LiveServer:
    def __init__(self, app) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="e2e-server", daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(app):
    # The browser sees the platform as users do: Chinese unless they switch (the rest of
    # the suite reads English pages).
    app.config["BABEL_DEFAULT_LOCALE"] = "zh_Hans_CN"
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                      env={**os.environ, "LANGUAGE": "zh_CN"})
        yield instance
        instance.close()


def _new_page(browser, live_server, locale: str = "zh-CN"):
    context = browser.new_context(
        base_url=live_server.url,
        locale=locale,
        timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.console_errors = []

    def on_console(msg):
        if msg.type == "error":
            page.console_errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: page.console_errors.append(f"pageerror: {exc}"))
    return context, page


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (own cookies) and page; base_url is the live server."""
    context, pg = _new_page(browser, live_server)
    yield pg
    context.close()


@pytest.fixture
def new_page(browser, live_server):
    """Factory for more independent users in one test: `p2 = new_page()`."""
    contexts = []

    def make(locale: str = "zh-CN"):
        context, pg = _new_page(browser, live_server, locale)
        contexts.append(context)
        return pg

    yield make
    for context in contexts:
        context.close()


def shot(page, name: str) -> Path:
    """Save a full-page screenshot as tests/e2e/screenshots/<name>.png and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_clean(page) -> None:
    """No console errors so far (CSP violations, failed scripts, JS exceptions)."""
    # Expected 4xx answers (a form with errors is a 422) are logged by Chromium as
    # "Failed to load resource"; tests check statuses themselves.
    errors = [e for e in page.console_errors if "favicon" not in e and "the server responded with a status of 4" not in e]
    assert not errors, f"browser console errors: {errors}"


@pytest.fixture
def screenshot():
    return shot
