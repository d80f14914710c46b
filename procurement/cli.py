"""`flask procurement ...` commands."""

from __future__ import annotations

from flask.cli import AppGroup

procurement_cli = AppGroup("procurement", help="E-tendering: receipts, openings.")


def init_app(app) -> None:
    # Modules that add commands to procurement_cli (imported here so they are registered).
    from procurement import cli_opening  # noqa: F401

    app.cli.add_command(procurement_cli)
