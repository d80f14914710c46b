"""accounts views: dashboard."""

from accounts import bp  # noqa: F401

from flask import render_template


@bp.get("/dashboard")
def dashboard():
    return render_template("placeholder.html", title="Dashboard", platform="accounts")
