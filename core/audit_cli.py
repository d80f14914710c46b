"""`flask audit checkpoint` and `flask audit verify`."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from core import audit

audit_cli = AppGroup("audit", help="Tamper-evident audit log.")


@audit_cli.command("checkpoint")
def checkpoint_command() -> None:
    """Sign the current chain head and store the checkpoint."""
    cp = audit.checkpoint()
    click.echo(f"checkpoint {cp.id}: seq {cp.seq} head {cp.head_hash} signed by key {cp.key_id}")


@audit_cli.command("verify")
def verify_command() -> None:
    """Recompute the chain from seq 1 and check the signed checkpoints (exit 1 when broken)."""
    result = audit.verify_chain()
    if result.ok:
        click.echo(result.summary())
        return
    if result.first_broken_seq is not None:
        click.echo(f"first broken entry: seq {result.first_broken_seq} ({result.reason})", err=True)
    for problem in result.problems:
        click.echo(f"- {problem}", err=True)
    click.echo(result.summary(), err=True)
    sys.exit(1)
