"""View-test helpers: the real login flow through the test client, CSRF tokens, API headers.

    from tests.helpers import login, logout, csrf_token, post_form, api_headers

    login(client, user)                      # password step, then the TOTP step if the user has 2FA
    post_form(client, "/accounts/...", {...})  # adds a valid csrf_token for the client's session
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pyotp
from flask import current_app
from itsdangerous import URLSafeTimedSerializer

from accounts.models import User
from core import clock
from core.db import db
from tests.factories import DEFAULT_PASSWORD

LOGIN_URL = "/accounts/login"
LOGIN_2FA_URL = "/accounts/login/2fa"
LOGOUT_URL = "/accounts/logout"


def csrf_token(client) -> str:
    """A valid CSRF token for the client's current session (creates the session secret if needed)."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    with client.session_transaction() as sess:
        raw = sess.get(field)
        if not raw:
            raw = secrets.token_hex(20)
            sess[field] = raw
    serializer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="wtf-csrf-token")
    return serializer.dumps(raw)


def post_form(client, url: str, data: dict | None = None, **kwargs):
    """POST a form with a valid CSRF token (as a browser would after loading the page)."""
    payload = dict(data or {})
    payload.setdefault("csrf_token", csrf_token(client))
    return client.post(url, data=payload, **kwargs)


def fresh_totp(user: User) -> str:
    """A TOTP code the server will accept now (by core.clock, not the wall clock).

    The server refuses a replayed time step and accepts the next step (valid_window=1),
    so a second login in the same 30 s gets the next step's code; a third one moves
    core.clock forward by 30 s (tests that log the same 2FA user in many times).
    """
    row = db.session.get(User, user.id)
    db.session.refresh(row)
    totp = pyotp.TOTP(row.totp_secret)
    step = int(clock.now().timestamp()) // 30
    last = row.totp_last_step
    while last is not None and last >= step + 1:
        clock.advance(timedelta(seconds=30))
        step = int(clock.now().timestamp()) // 30
    if last is None or last < step:
        return totp.at(step * 30)
    return totp.at((step + 1) * 30)


def login(client, user: User, password: str = DEFAULT_PASSWORD, totp: bool = True, follow_redirects: bool = False):
    """Sign `user` in through the real pages. Returns the last response.

    With 2FA and totp=True the TOTP step is completed too; with totp=False the response
    of the password step is returned (the session then holds only the pending marker).
    """
    response = post_form(client, LOGIN_URL, {"email": user.email, "password": password})
    row = db.session.get(User, user.id)
    if row is not None:
        db.session.refresh(row)
    if (
        totp
        and row is not None
        and row.two_factor_enabled
        and response.status_code in (302, 303)
        and LOGIN_2FA_URL in response.headers.get("Location", "")
    ):
        response = post_form(client, LOGIN_2FA_URL, {"code": fresh_totp(row)})
    if follow_redirects and response.status_code in (301, 302, 303):
        response = client.get(response.headers["Location"], follow_redirects=True)
    return response


def logout(client):
    return post_form(client, LOGOUT_URL)


def api_headers(token: str, **extra: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    headers.update(extra)
    return headers
