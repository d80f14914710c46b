"""Request-level security: the CSRF exemption rule (the only one) and response headers."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Request, current_app, request

from core.extensions import csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

#: Endpoints of signed webhooks: authenticated by their signature, never by a cookie.
SIGNED_WEBHOOK_ENDPOINTS: set[str] = set()


def signed_webhook(endpoint: str) -> Callable:
    """Mark a view (by endpoint name) as a signed webhook, exempt from CSRF."""

    def decorator(view: Callable) -> Callable:
        SIGNED_WEBHOOK_ENDPOINTS.add(endpoint)
        return view

    return decorator


def bearer_token(req: Request) -> str | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def csrf_required(req: Request) -> bool:
    """The CSRF rule: every state-changing request authenticated by the session cookie.

    Exempt: safe methods; requests carrying an API token in the Authorization header
    (they are authenticated by that token alone, the cookie is ignored, see
    accounts.auth); and the signed webhooks listed in SIGNED_WEBHOOK_ENDPOINTS.
    """
    if req.method in SAFE_METHODS:
        return False
    if bearer_token(req) is not None:
        return False
    if req.endpoint in SIGNED_WEBHOOK_ENDPOINTS:
        return False
    return True


CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self' data:; connect-src 'self'; form-action 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def init_security(app: Flask) -> None:
    @app.before_request
    def _csrf_rule() -> None:
        if current_app.config.get("WTF_CSRF_ENABLED", True) and csrf_required(request):
            csrf.protect()

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if current_app.config.get("HSTS"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        # Pages differ per user: never let a shared cache serve one user's page to another.
        response.vary.add("Cookie")
        if request.endpoint and not request.endpoint.endswith("static") and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store" if _authenticated() else "no-cache"
        return response


def _authenticated() -> bool:
    from flask_login import current_user

    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:
        return False
