"""`flask procurement ...` commands."""

from __future__ import annotations

from flask.cli import AppGroup

procurement_cli = AppGroup("procurement", help="E-tendering: receipts, openings.")


def init_app(app) -> None:
    app.cli.add_command(procurement_cli)
