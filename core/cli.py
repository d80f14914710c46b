"""Project-wide CLI: `flask seed-demo` runs every area's seed in layer order."""

from __future__ import annotations

import importlib

import click
from flask import Flask

SEED_ORDER = ("core", "accounts", "payments", "logistics", "procurement", "sme")


def init_app(app: Flask) -> None:
    from core.audit_cli import audit_cli
    from core.idempotency import idempotency_cli
    from core.outbox import outbox_cli
    from core.search import search_cli

    app.cli.add_command(audit_cli)
    app.cli.add_command(idempotency_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(search_cli)

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Load demo data (idempotent, dates relative to now) and print the logins."""
        for name in SEED_ORDER:
            module = importlib.import_module(f"{name}.seed")
            module.run(echo=click.echo)
        click.echo("Demo data ready.")
