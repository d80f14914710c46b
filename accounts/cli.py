"""`flask accounts ...`: operator commands; `flask demo ...`: helpers for the demo
database made by `flask seed-demo`."""

from __future__ import annotations

import click
import pyotp

from accounts.models import User
from accounts.seed import DEMO_MARKER, is_demo_database
from accounts.services import twofactor
from accounts.services.auth import get_user_by_email
from core import clock
from core.errors import DomainError


@click.group("accounts")
def accounts_cli() -> None:
    """Account operations for platform operators."""


@accounts_cli.command("reset-2fa")
@click.argument("email")
@click.option("--reason", required=True, help="Why (recorded in the audit log), e.g. the support ticket.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset_2fa(email: str, reason: str, yes: bool) -> None:
    """Turn off a user's two-factor authentication (lost phone and recovery codes, or a
    secret that no longer opens after a SECRET_KEY change). Check who asks first."""
    user = _user(email)
    if not yes:
        click.confirm(f"Turn off two-factor authentication for {user.email}?", abort=True)
    try:
        twofactor.reset_two_factor(user, reason)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Two-factor authentication is off for {user.email}; their recovery codes are void. "
               "A role that needs it asks them to set it up at the next sign-in.")


def _user(email: str) -> User:
    user = get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email!r}.")
    return user


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
    user = _user(email)
    if not user.two_factor_enabled:
        raise click.ClickException(f"{user.email} does not use two-factor authentication.")
    if not user.totp_secret:
        raise click.ClickException(f"the TOTP secret of {user.email} no longer opens (SECRET_KEY changed?); "
                                   "`flask accounts reset-2fa` turns it off.")
    click.echo(pyotp.TOTP(user.totp_secret).at(clock.now()))
