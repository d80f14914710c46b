"""`flask demo ...`: helpers for the demo database made by `flask seed-demo`."""

from __future__ import annotations

import click
import pyotp
import sqlalchemy as sa

from accounts.models import User
from accounts.seed import DEMO_MARKER, is_demo_database
from core import clock
from core.db import db


@click.group("demo")
def demo_cli() -> None:
    """Demo helpers (only on a database made by `flask seed-demo`)."""


@demo_cli.command("otp")
@click.argument("email")
def demo_otp(email: str) -> None:
    """Print the current TOTP code of a demo user."""
    if not is_demo_database():
        raise click.ClickException(
            f"refused: this database was not made by `flask seed-demo` (no {DEMO_MARKER!r} setting)."
        )
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user with email {email!r}.")
    if not user.totp_secret or user.totp_enabled_at is None:
        raise click.ClickException(f"{user.email} does not use two-factor authentication.")
    click.echo(pyotp.TOTP(user.totp_secret).at(clock.now()))
