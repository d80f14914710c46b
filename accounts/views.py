from flask import render_template

from accounts import bp


@bp.get("/login")
def login():
    return render_template("placeholder.html", title="Login", platform="accounts")


@bp.get("/dashboard")
def dashboard():
    return render_template("placeholder.html", title="Dashboard", platform="accounts")
