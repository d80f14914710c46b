"""Security headers, cookie flags, size limit, generic errors (ASVS 5.0 L2 rows of reference/security.md §1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.exceptions import TooManyRequests

ROOT = Path(__file__).resolve().parents[2]

# One HTML page, one JSON response, one static file, one API error.
RESPONSES = ["/", "/healthz", "/static/css/canal.css", "/api/v1/no-such-thing", "/no-such-page"]


def _csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value.strip()
    return directives


@pytest.mark.parametrize("path", RESPONSES)
def test_every_kind_of_response_carries_the_strict_csp(client, path):
    directives = _csp(client.get(path))
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe-inline" not in json.dumps(directives)


@pytest.mark.parametrize("path", RESPONSES)
def test_every_kind_of_response_has_nosniff_referrer_policy_and_vary_cookie(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in {"strict-origin-when-cross-origin", "no-referrer", "same-origin"}
    assert "cookie" in {v.strip().lower() for v in response.headers.get("Vary", "").split(",")}


@pytest.mark.parametrize("path", RESPONSES)
def test_no_hsts_in_development(client, path):
    assert "Strict-Transport-Security" not in client.get(path).headers


@pytest.mark.parametrize("path", RESPONSES)
def test_hsts_for_a_year_with_subdomains_when_configured(app, client, monkeypatch, path):
    monkeypatch.setitem(app.config, "HSTS", True)
    value = client.get(path).headers["Strict-Transport-Security"]
    max_age = int(value.split("max-age=")[1].split(";")[0])
    assert max_age >= 31536000
    assert "includesubdomains" in value.lower()


def _session_cookie(response, name: str) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "=")]
    assert cookies, f"no {name} cookie set"
    return cookies[0]


def test_session_cookie_is_httponly_and_samesite_lax_but_not_secure_in_development(app, client):
    # The home page renders forms with a CSRF token, which stores a secret in the session.
    cookie = _session_cookie(client.get("/"), app.config["SESSION_COOKIE_NAME"])
    attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert "httponly" in attrs
    assert "samesite=lax" in attrs
    assert "secure" not in attrs


def _production_probe(code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL"}}
    env.update(CANAL_ENV="production", SECRET_KEY="x" * 40, DATABASE_URL="sqlite://",
               CANAL_INSTANCE=str(Path(os.environ.get("TMPDIR", "/tmp")) / "canal-prod-probe"))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


PRODUCTION_PROBE = """
import json
from app import create_app
app = create_app()
client = app.test_client()
response = client.get("/")
print(json.dumps({
    "debug": app.debug,
    "secure_config": app.config["SESSION_COOKIE_SECURE"],
    "remember_secure": app.config.get("REMEMBER_COOKIE_SECURE"),
    "hsts": response.headers.get("Strict-Transport-Security"),
    "cookies": response.headers.getlist("Set-Cookie"),
    "status": response.status_code,
}))
"""


def test_production_config_sets_secure_cookies_hsts_and_no_debug():
    probe = _production_probe(PRODUCTION_PROBE)
    assert probe["debug"] is False
    assert probe["secure_config"] is True
    assert probe["remember_secure"] is True
    assert probe["hsts"] and "max-age=31536000" in probe["hsts"]
    session_cookies = [c for c in probe["cookies"] if "session" in c.split("=")[0]]
    assert session_cookies, probe
    for cookie in session_cookies:
        attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=lax"} <= attrs


def test_debug_is_off(app):
    assert app.debug is False


def test_oversized_post_gets_the_413_page(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    response = client.post("/lang", data={"lang": "en", "blob": "x" * 4096})
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'class="canal-error-code' in html and ">413<" in html
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_default_upload_limit_is_set():
    from config import Config

    assert Config.MAX_CONTENT_LENGTH and Config.MAX_CONTENT_LENGTH <= 100 * 1024 * 1024


def test_forced_exception_renders_the_500_page_without_a_stack_trace(app, client, monkeypatch):
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setitem(app.view_functions, "core.home", boom)
    response = client.get("/")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Traceback" not in html
    assert "hunter2" not in html and "RuntimeError" not in html
    assert ">500<" in html
    assert response.headers["Content-Security-Policy"]


def test_forced_exception_on_an_api_path_is_a_json_500(app, client, monkeypatch):
    endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == "/api/v1/openapi.json")

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setitem(app.view_functions, endpoint, boom)
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"]["code"] == "server_error"
    assert "secret internals" not in response.get_data(as_text=True)


def test_unknown_api_path_is_a_json_404_with_an_error_code(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"]["code"] == "not_found"
    assert body["error"]["message"]


def test_rate_limited_api_call_is_a_json_429(app, client, monkeypatch):
    endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == "/api/v1/openapi.json")

    def limited(*args, **kwargs):
        raise TooManyRequests()

    monkeypatch.setitem(app.view_functions, endpoint, limited)
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"


def test_html_pages_carry_no_inline_script_or_style(client):
    import re

    for path in ["/", "/no-such-page"]:
        html = client.get(path).get_data(as_text=True)
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts and all("src=" in tag for tag in scripts), scripts
        assert re.search(r"<script\b[^>]*>\s*[^<\s]", html) is None  # no inline script bodies
        assert " style=" not in html and "<style" not in html
        assert " on" + "click=" not in html.lower()
