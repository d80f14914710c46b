"""accounts views: auth."""

from accounts import bp  # noqa: F401

from flask import render_template


@bp.get("/login")
def login():
    return render_template("placeholder.html", title="Login", platform="accounts")
