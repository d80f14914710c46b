"""Friendly error pages: every status renders its page, in Chinese (default) and English, with a way back."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale, gettext
from markupsafe import escape
from werkzeug import exceptions as wz

from core.errors import ERROR_TITLES

STATUSES = {
    400: wz.BadRequest,
    403: wz.Forbidden,
    404: wz.NotFound,
    413: wz.RequestEntityTooLarge,
    429: wz.TooManyRequests,
    500: wz.InternalServerError,
    405: wz.MethodNotAllowed,  # no own page: errors/generic.html
    409: wz.Conflict,  # generic
}
HELP = {
    400: "The request could not be understood. If you were sending a form, go back, reload the page and try again.",
    403: "Your account or your current organization does not have the role this page needs. If you belong to several organizations, switch to the right one in the header.",
    404: "The page may have moved, or the address may be mistyped. Try one of the platforms:",
    429: "You have made too many requests in a short time. Please wait a minute and try again.",
    500: "Nothing you did caused this. The problem has been logged; please try again in a few minutes.",
    405: "Go back and try again, or start from the home page.",
    409: "Go back and try again, or start from the home page.",
}
LOCALES = {"zh_Hans_CN": "zh-CN", "en": "en"}


def _raise(exc_class):
    def view(*args, **kwargs):
        if exc_class is wz.MethodNotAllowed:
            raise exc_class(valid_methods=["POST"])
        raise exc_class()

    return view


def _get_error_page(app, client, monkeypatch, status: int, locale: str):
    monkeypatch.setitem(app.view_functions, "core.healthz", _raise(STATUSES[status]))
    with client.session_transaction() as sess:
        sess["lang"] = locale
    return client.get("/healthz", headers={"Accept": "text/html"})


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", html)


@pytest.mark.parametrize("locale", sorted(LOCALES))
@pytest.mark.parametrize("status", sorted(STATUSES))
def test_error_status_renders_its_page_in_the_chosen_language(app, client, monkeypatch, status, locale):
    response = _get_error_page(app, client, monkeypatch, status, locale)

    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert f'<html lang="{LOCALES[locale]}"' in html
    assert 'id="error-title"' in html
    assert f'<p class="canal-error-code mb-2" aria-hidden="true">{status}</p>' in html
    with app.test_request_context(), force_locale(locale):
        title = str(ERROR_TITLES.get(status, ERROR_TITLES[400]))
        back = gettext("Back to the home page")
        help_text = gettext(HELP[status]) if status in HELP else None
    assert str(escape(title)) in html
    assert 'href="/">' in html and str(escape(back)) in _text(html)
    if help_text:
        assert str(escape(help_text)) in _text(html)
    assert "Traceback" not in html


def test_413_page_states_the_configured_limit(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 5 * 1024 * 1024)
    with client.session_transaction() as sess:
        sess["lang"] = "en"
    monkeypatch.setitem(app.view_functions, "core.healthz", _raise(wz.RequestEntityTooLarge))
    html = _text(client.get("/healthz").get_data(as_text=True))
    assert "larger than the limit of 5 MB" in html


def test_404_page_offers_the_three_platforms(client):
    html = client.get("/no-such-page").get_data(as_text=True)
    for href in ('href="/procurement/"', 'href="/sme/"', 'href="/logistics/"'):
        assert href in html


def test_error_page_keeps_the_message_given_by_the_handler(app, client, monkeypatch):
    from core.errors import PermissionDenied

    def denied():
        raise PermissionDenied("Only procurement officers can open bids.")

    monkeypatch.setitem(app.view_functions, "core.healthz", denied)
    response = client.get("/healthz", headers={"Accept": "text/html"})
    assert response.status_code == 403
    assert "Only procurement officers can open bids." in response.get_data(as_text=True)


def test_error_page_for_an_unexpected_exception_uses_the_generic_message_not_the_exception(app, client, monkeypatch):
    def boom():
        raise KeyError("internal-key-name")

    monkeypatch.setitem(app.view_functions, "core.healthz", boom)
    with client.session_transaction() as sess:
        sess["lang"] = "en"
    response = client.get("/healthz", headers={"Accept": "text/html"})
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "internal-key-name" not in html
    assert "Something went wrong on our side" in html
