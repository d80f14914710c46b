"""Domain errors with stable codes, and the one handler that renders them (HTML or JSON)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Flask, flash, jsonify, redirect, render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    """A rule was broken. `code` is stable (for API clients); `message` is translatable."""

    code = "domain_error"
    status = 400
    default_message = _l("The request could not be completed.")

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str] | str] | None = None,
        status: int | None = None,
    ) -> None:
        self.message = str(message) if message is not None else str(self.default_message)
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = {k: ([v] if isinstance(v, str) else [str(x) for x in v]) for k, v in (fields or {}).items()}
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}


class ValidationError(DomainError):
    code = "validation_error"
    status = 422
    default_message = _l("Some fields are not valid.")


class PermissionDenied(DomainError):
    code = "forbidden"
    status = 403
    default_message = _l("You do not have permission to do this.")


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _l("Not found.")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = _l("This conflicts with the current state.")


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_message = _l("This action is not possible in the current state.")


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _safe_referrer() -> str | None:
    ref = request.referrer
    if not ref:
        return None
    parsed = urlparse(ref)
    if parsed.netloc and parsed.netloc != request.host:
        return None
    return ref


ERROR_TITLES = {
    400: _l("Bad request"),
    401: _l("Please log in"),
    403: _l("Access denied"),
    404: _l("Page not found"),
    405: _l("Method not allowed"),
    409: _l("Conflict"),
    413: _l("File too large"),
    422: _l("Invalid input"),
    429: _l("Too many requests"),
    500: _l("Server error"),
}


def render_error(status: int, message: str | None = None, code: str | None = None):
    title = str(ERROR_TITLES.get(status, ERROR_TITLES[400] if status < 500 else ERROR_TITLES[500]))
    message = message or title
    if wants_json():
        body = {"error": {"code": code or _code_for(status), "message": message, "fields": {}}}
        return jsonify(body), status
    template = f"errors/{status}.html" if status in (400, 403, 404, 413, 429, 500) else "errors/generic.html"
    return render_template(template, status=status, title=title, message=message), status


def _code_for(status: int) -> str:
    return {
        400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
        405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "validation_error",
        429: "rate_limited", 500: "server_error",
    }.get(status, "error")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(exc: DomainError):
        if wants_json():
            return jsonify(exc.to_dict()), exc.status
        if exc.status in (403, 404):
            return render_error(exc.status, exc.message, exc.code)
        flash(exc.message, "danger")
        if request.method != "GET":
            target = _safe_referrer()
            if target:
                return redirect(target, code=303)
        return render_error(exc.status, exc.message, exc.code)

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        if exc.code == 401 and not wants_json():
            return redirect(_login_url())
        description = None
        if exc.code in (400, 422) and getattr(exc, "description", None) and "CSRF" in str(exc.description):
            description = gettext("Your form expired or was sent from elsewhere. Please try again.")
        if exc.code == 422 and wants_json():
            data = getattr(exc, "data", None) or {}
            messages = data.get("messages") or {}
            fields: dict[str, Any] = {}
            for loc in messages.values():
                if isinstance(loc, dict):
                    fields.update(loc)
            body = {"error": {"code": "validation_error", "message": gettext("Some fields are not valid."), "fields": fields}}
            return jsonify(body), 422
        return render_error(exc.code, description)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return render_error(500, gettext("Something went wrong on our side. It has been logged."))


def _login_url() -> str:
    from flask import url_for

    try:
        return url_for("accounts.login", next=request.full_path)
    except Exception:  # pragma: no cover - accounts blueprint always present
        return "/"
