"""Public pages of the shell: home, language switch."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import current_app, redirect, render_template, request, session, url_for

from core import bp


@bp.get("/")
def home():
    return render_template("core/home.html")


@bp.post("/lang")
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
    target = request.form.get("next") or request.referrer or url_for("core.home")
    parsed = urlparse(target)
    if parsed.netloc and parsed.netloc != request.host:
        target = url_for("core.home")
    return redirect(target, code=303)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}
