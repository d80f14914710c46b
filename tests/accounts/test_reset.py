"""Password reset by signed, expiring, single-use link sent by email."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from accounts.models import UserSession
from core import clock
from core.db import db
from core.notifications import SENT_MAIL, clear_sent_mail, last_email
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.helpers import login, post_form

NEW = "river lanterns at dusk 7"
SAME_ANSWER = b"If an account exists for that address"


def _request_link(client, email) -> str | None:
    clear_sent_mail()
    r = post_form(client, "/accounts/password/reset", {"email": email}, follow_redirects=True)
    assert r.status_code == 200 and SAME_ANSWER in r.data
    mail = last_email(email)
    if mail is None:
        return None
    match = re.search(r"https?://[^\s]+/accounts/password/reset/[^\s]+", mail["text"])
    assert match
    return match.group(0).split("localhost", 1)[1]


def _reset(client, path, password=NEW):
    return post_form(client, path, {"password": password, "confirm": password})


def test_reset_link_works_once(client, app):
    user = make_user()
    path = _request_link(client, user.email)
    assert path and client.get(path).status_code == 200
    r = _reset(client, path)
    assert r.status_code == 303
    assert login(app.test_client(), user, password=NEW).status_code == 303
    assert login(app.test_client(), user, password=DEFAULT_PASSWORD).status_code == 200
    # Second use of the same link fails: the password fingerprint changed.
    r = _reset(client, path, password="yet another passphrase 9")
    assert r.status_code == 302 and "/accounts/password/reset" in r.headers["Location"]
    assert login(app.test_client(), user, password=NEW).status_code == 303


def test_expired_link_fails(client, app):
    user = make_user()
    clock.set_time(clock.now())
    path = _request_link(client, user.email)
    clock.advance(timedelta(seconds=app.config["PASSWORD_RESET_MAX_AGE"] + 1))
    r = _reset(client, path)
    assert r.status_code == 302
    assert login(app.test_client(), user, password=NEW).status_code == 200


def test_tampered_link_fails(client):
    user = make_user()
    path = _request_link(client, user.email)
    r = client.get(path[:-3] + "xyz")
    assert r.status_code == 302


def test_unknown_email_gets_the_same_answer_and_no_mail(client):
    clear_sent_mail()
    assert _request_link(client, "nobody@example.test") is None
    assert not [m for m in SENT_MAIL if m["to"] == "nobody@example.test"]


def test_reset_signs_out_every_session_and_clears_lockout(client, app):
    user = make_user()
    other = app.test_client()
    login(other, user)
    path = _request_link(client, user.email)
    assert _reset(client, path).status_code == 303
    assert other.get("/accounts/security").status_code == 302
    rows = db.session.scalars(sa.select(UserSession).where(UserSession.user_id == user.id)).all()
    assert rows and all(r.revoked_at is not None for r in rows)


def test_reset_applies_password_policy(client):
    user = make_user()
    path = _request_link(client, user.email)
    r = _reset(client, path, password="password1234")
    assert r.status_code == 200 and b"too common" in r.data
    r = _reset(client, path, password="short")
    assert r.status_code == 200
